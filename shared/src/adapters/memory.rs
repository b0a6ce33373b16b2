//! The ports in memory: first-class adapters beside the real ones, held to the same contract
//! tests (`shared/tests/contracts`), used to test the use cases and the function crates
//! without a network. Behind the `memory` feature, so no Lambda binary links them.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::app::Deps;
use crate::app::activation_worker::Worker;
use crate::app::oauth::AuthServer;
use crate::domain::oauth::Sealer;
use crate::domain::orders::{ClaimState, PaymentClaim, Pays};
use crate::domain::rewards::CashbackRate;
use crate::domain::throttle::ThrottleConfig;
use crate::domain::users::Uid;
use crate::wiring::{ApiPorts, McpPorts};

pub mod activations;
pub mod beta;
pub mod carrier;
pub mod clock;
pub mod handoff;
pub mod invoicing;
pub mod ledger;
pub mod mailer;
pub mod oauth;
pub mod orders;
pub mod payment_events;
pub mod purchases;
pub mod queue;
pub mod rate_limit;
pub mod rewards;
pub mod subscriptions;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod verifier;

pub use activations::MemoryActivations;
pub use beta::MemoryBeta;
pub use carrier::{MemoryCarrier, MemoryLineServices};
pub use clock::FixedClock;
pub use handoff::{MemoryHandoff, MemoryUsage};
pub use invoicing::MemoryInvoicing;
pub use ledger::MemoryLedger;
pub use mailer::MemoryMailer;
pub use oauth::MemoryOAuth;
pub use orders::MemoryOrders;
pub use payment_events::MemoryPaymentEvents;
pub use purchases::MemoryPurchases;
pub use queue::MemoryQueue;
pub use rate_limit::MemoryRateLimits;
pub use rewards::MemoryRewards;
pub use subscriptions::{MemoryEntitlements, MemorySubscriptions};
pub use throttle::MemoryThrottle;
pub use tokens::{CountingRandom, MemoryAccessVerifier, MemoryClientMetadata, MemorySigner};
pub use users::MemoryUsers;
pub use verifier::PlainVerifier;

/// A poisoned lock only means another test thread panicked; the data is still what it was.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every port in memory, for the use cases under test.
pub struct MemoryWorld {
    pub users: Arc<MemoryUsers>,
    pub purchases: Arc<MemoryPurchases>,
    pub events: Arc<MemoryPaymentEvents>,
    pub activations: Arc<MemoryActivations>,
    pub throttle: Arc<MemoryThrottle>,
    pub rewards: Arc<MemoryRewards>,
    pub orders: Arc<MemoryOrders>,
    pub subscriptions: Arc<MemorySubscriptions>,
    pub entitlements: Arc<MemoryEntitlements>,
    pub beta: Arc<MemoryBeta>,
    pub handoff: Arc<MemoryHandoff>,
    pub usage: Arc<MemoryUsage>,
    pub rate_limits: Arc<MemoryRateLimits>,
    pub random: Arc<CountingRandom>,
    pub queue: Arc<MemoryQueue>,
    pub invoicing: Arc<MemoryInvoicing>,
    pub carrier: Arc<MemoryCarrier>,
    pub line_services: Arc<MemoryLineServices>,
    pub mailer: Arc<MemoryMailer>,
    pub ledger: Arc<MemoryLedger>,
    pub oauth: Arc<MemoryOAuth>,
    pub documents: Arc<MemoryClientMetadata>,
    pub clock: Arc<FixedClock>,
    pub limits: ThrottleConfig,
}

impl MemoryWorld {
    pub fn new() -> Self {
        MemoryWorld {
            users: Arc::default(),
            purchases: Arc::default(),
            events: Arc::default(),
            activations: Arc::default(),
            throttle: Arc::default(),
            rewards: Arc::default(),
            orders: Arc::default(),
            subscriptions: Arc::default(),
            entitlements: Arc::default(),
            beta: Arc::default(),
            handoff: Arc::default(),
            usage: Arc::default(),
            rate_limits: Arc::default(),
            random: Arc::default(),
            queue: Arc::default(),
            invoicing: Arc::default(),
            carrier: Arc::default(),
            line_services: Arc::default(),
            mailer: Arc::default(),
            ledger: Arc::default(),
            oauth: Arc::default(),
            documents: Arc::default(),
            clock: Arc::new(FixedClock::at(1_795_608_000)),
            limits: ThrottleConfig {
                limit: 5,
                window_ms: 10_000,
            },
        }
    }

    pub fn deps(&self) -> Deps {
        Deps {
            users: self.users.clone(),
            purchases: self.purchases.clone(),
            events: self.events.clone(),
            activations: self.activations.clone(),
            throttle: self.throttle.clone(),
            rewards: self.rewards.clone(),
            orders: self.orders.clone(),
            subscriptions: self.subscriptions.clone(),
            entitlements: self.entitlements.clone(),
            beta: self.beta.clone(),
            handoff: self.handoff.clone(),
            usage: self.usage.clone(),
            random: self.random.clone(),
            queue: self.queue.clone(),
            clock: self.clock.clone(),
            limits: self.limits,
            cashback: CashbackRate::default(),
            usage_refresh_seconds: crate::domain::usage::CARRIER_ASK_SECONDS,
            carrier_usage: true,
            admins: Arc::from([Uid::parse(ADMIN).unwrap_or_else(|_| unreachable!())]),
        }
    }

    /// The authorization server on these ports; ID tokens as [`PlainVerifier`] reads them.
    pub fn auth_server(&self) -> AuthServer {
        AuthServer {
            store: self.oauth.clone(),
            signer: Arc::new(MemorySigner),
            identities: Arc::new(PlainVerifier),
            sealer: Sealer::new(b"memory-state-key-memory-state-key"),
            clock: self.clock.clone(),
            random: Arc::new(CountingRandom::default()),
            documents: self.documents.clone(),
            allow_loopback_documents: false,
        }
    }

    /// What the `api` function holds, in memory (no public base URL: the `Host` decides).
    pub fn api_ports(&self) -> ApiPorts {
        ApiPorts {
            deps: self.deps(),
            invoicing: self.invoicing.clone(),
            balances: self.ledger.clone(),
            verifier: Arc::new(PlainVerifier),
            oauth: self.auth_server(),
            public_base_url: None,
            signin_url: Some("http://sandbox.test/signin".into()),
            limiter: self.limiter(),
            stats: Arc::new(crate::app::activation_line::StatsCache::new(5)),
        }
    }

    /// The public rate limit on these ports (100 per minute, nobody exempt).
    pub fn limiter(&self) -> Arc<crate::web::rate_limit::Limiter> {
        Arc::new(crate::web::rate_limit::Limiter {
            store: self.rate_limits.clone(),
            clock: self.clock.clone(),
            rule: crate::domain::rate_limit::RateLimit::per_minute(100),
            exempt: Arc::from([]),
        })
    }

    /// What the `mcp` function holds, in memory.
    pub fn mcp_ports(&self) -> McpPorts {
        McpPorts {
            deps: self.deps(),
            invoicing: self.invoicing.clone(),
            verifier: Arc::new(PlainVerifier),
            access: Arc::new(MemoryAccessVerifier(self.clock.clone())),
            public_base_url: None,
            request_state: crate::domain::oauth::Sealer::new(b"memory-world-request-state-key-32b"),
            limiter: self.limiter(),
        }
    }

    pub fn worker(&self) -> Worker {
        Worker {
            deps: self.deps(),
            carrier: self.carrier.clone(),
            line_services: self.line_services.clone(),
            mailer: self.mailer.clone(),
            max_attempts: 3,
        }
    }

    /// A registered person with a verified email (what `activate_esim` leaves behind).
    pub async fn register(&self, uid: &str, email: &str) -> Uid {
        let uid = Uid::parse(uid).unwrap_or_else(|_| unreachable!("a test uid"));
        let user = crate::domain::users::User {
            uid: uid.clone(),
            email: crate::domain::users::Email::parse(email).ok(),
            contact_email: None,
            created_at: "2026-12-01T00:00:00Z".into(),
            stripe_customer_id: None,
            wallet: None,
            roles: vec![],
            carrier_end_user_id: None,
            area_code: None,
        };
        let _ = crate::ports::UserStore::create_user(self.users.as_ref(), &user).await;
        uid
    }

    pub fn reward_minter(&self) -> crate::app::rewards::RewardMinter {
        crate::app::rewards::RewardMinter {
            deps: self.deps(),
            minter: self.ledger.clone(),
        }
    }
}

impl Default for MemoryWorld {
    fn default() -> Self {
        MemoryWorld::new()
    }
}

/// The uid [`MemoryWorld::deps`] lists as an admin.
pub const ADMIN: &str = "admin-uid";

/// A Stripe `invoice.paid` event body for a DOTM eSIM invoice, with the claim DOTM writes when
/// it makes such an invoice (unless one is there: the invoice came from `activate_esim`).
pub async fn paid_event(deps: &Deps, event_id: &str, invoice_id: &str, uid: &str) -> Vec<u8> {
    let customer = format!("cus_{uid}");
    if let Ok(owner) = Uid::parse(uid) {
        let claim = PaymentClaim {
            invoice_id: invoice_id.to_owned(),
            uid: owner,
            customer_id: customer.clone(),
            amount_cents: 100,
            currency: "usd".into(),
            pays: Pays::Esim,
            state: ClaimState::Open,
        };
        let _ = deps.orders.save_claim(&claim).await;
    }
    serde_json::json!({
        "id": event_id, "type": "invoice.paid",
        "data": {"object": {
            "id": invoice_id, "customer": customer, "amount_paid": 100, "currency": "usd",
            "created": 1_795_608_000,
            "status_transitions": {"paid_at": 1_795_608_100},
            "metadata": {"firebase_uid": uid, "product": "esim_beta"}
        }}
    })
    .to_string()
    .into_bytes()
}
