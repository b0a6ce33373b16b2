//! Use cases by business name, over the ports. Each function's wiring hands them [`Deps`]
//! (what every function holds: the table, the queue, the clock, the limits) plus the few
//! provider ports that use case needs, passed by argument so a function that never sends an
//! invoice or mints a token never holds the client that would.

use std::sync::Arc;

use crate::domain::rewards::CashbackRate;
use crate::domain::throttle::ThrottleConfig;
use crate::ports::{
    ActivationStore, Clock, JobQueue, PaymentEventStore, PurchaseStore, RewardStore, ThrottleStore,
    UserStore,
};

pub mod accounts;
pub mod activation_line;
pub mod activation_worker;
pub mod esim;
pub mod oauth;
pub mod payments;
pub mod rewards;

/// What every function's use cases share, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub users: Arc<dyn UserStore>,
    pub purchases: Arc<dyn PurchaseStore>,
    pub events: Arc<dyn PaymentEventStore>,
    pub activations: Arc<dyn ActivationStore>,
    pub throttle: Arc<dyn ThrottleStore>,
    pub rewards: Arc<dyn RewardStore>,
    pub queue: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
    pub limits: ThrottleConfig,
    /// DOTM per USD of cashback.
    pub cashback: CashbackRate,
}
