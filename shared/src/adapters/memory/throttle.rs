//! `ThrottleStore` in memory: one state, changed under a lock instead of a condition.

use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::throttle::{Permit, Reservation, ThrottleConfig, ThrottleState, WaitUntil};
use crate::ports::{Clock, ThrottleStore, Unavailable};

#[derive(Default)]
pub struct MemoryThrottle {
    state: Mutex<ThrottleState>,
}

#[async_trait]
impl ThrottleStore for MemoryThrottle {
    async fn throttle(&self) -> Result<ThrottleState, Unavailable> {
        Ok(lock(&self.state).clone())
    }

    async fn reserve_slot(
        &self,
        cfg: &ThrottleConfig,
        now_ms: i64,
    ) -> Result<Reservation, Unavailable> {
        Ok(lock(&self.state).reserve(cfg, now_ms))
    }

    async fn take_permit(
        &self,
        cfg: &ThrottleConfig,
        ticket: u64,
        clock: &dyn Clock,
    ) -> Result<Result<Permit, WaitUntil>, Unavailable> {
        let now_ms = clock.now_unix_ms();
        Ok(lock(&self.state).take_permit(cfg, ticket, now_ms))
    }
}
