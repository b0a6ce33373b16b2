//! `PaymentEventStore` in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::ports::{PaymentEventStore, Unavailable};

#[derive(Default)]
pub struct MemoryPaymentEvents {
    seen: Mutex<HashMap<String, i64>>,
}

#[async_trait]
impl PaymentEventStore for MemoryPaymentEvents {
    async fn event_seen(&self, event_id: &str) -> Result<bool, Unavailable> {
        Ok(lock(&self.seen).contains_key(event_id))
    }

    async fn mark_event_seen(&self, event_id: &str, now_unix: i64) -> Result<(), Unavailable> {
        lock(&self.seen).insert(event_id.to_owned(), now_unix);
        Ok(())
    }
}
