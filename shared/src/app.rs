//! Use cases by business name, over the ports. Each function's wiring hands them [`Deps`]
//! (what every function holds: the table, the queue, the clock, the limits) plus the few
//! provider ports that use case needs, passed by argument so a function that never sends an
//! invoice or mints a token never holds the client that would.

use std::sync::Arc;

use crate::domain::rewards::CashbackRate;
use crate::domain::throttle::ThrottleConfig;
use crate::domain::users::Uid;
use crate::ports::{
    ActivationStore, BetaStore, Clock, EntitlementStore, HandoffStore, JobQueue, OrderStore,
    PaymentEventStore, PurchaseStore, RandomSource, RewardStore, SubscriptionStore, ThrottleStore,
    UsageStore, UserStore,
};

pub mod account;
pub mod accounts;
pub mod activation_line;
pub mod activation_worker;
pub mod beta;
pub mod carrier_line;
pub mod esim;
pub mod fulfilment;
pub mod handoff;
pub mod mail;
pub mod notices;
pub mod oauth;
pub mod orders;
pub mod payments;
pub mod redrive;
pub mod rewards;
pub mod subscriptions;
pub mod usage;

/// What every function's use cases share, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub users: Arc<dyn UserStore>,
    pub purchases: Arc<dyn PurchaseStore>,
    pub events: Arc<dyn PaymentEventStore>,
    pub activations: Arc<dyn ActivationStore>,
    pub throttle: Arc<dyn ThrottleStore>,
    pub rewards: Arc<dyn RewardStore>,
    pub orders: Arc<dyn OrderStore>,
    pub subscriptions: Arc<dyn SubscriptionStore>,
    pub entitlements: Arc<dyn EntitlementStore>,
    pub beta: Arc<dyn BetaStore>,
    /// Payment links, single-use markers.
    pub handoff: Arc<dyn HandoffStore>,
    /// Each line's last data reading.
    pub usage: Arc<dyn UsageStore>,
    /// Link nonces, phone numbers.
    pub random: Arc<dyn RandomSource>,
    pub queue: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
    pub limits: ThrottleConfig,
    /// DOTM per USD of cashback.
    pub cashback: CashbackRate,
    /// The carrier is asked for a line's data at most this often.
    pub usage_refresh_seconds: i64,
    /// False when the carrier offers no usage readings (OXIO: `CARRIER_LINE_SERVICES=none`).
    pub carrier_usage: bool,
    /// Who has the `admin` role (operators grant it in config: `ADMIN_UIDS`).
    pub admins: Arc<[Uid]>,
}
