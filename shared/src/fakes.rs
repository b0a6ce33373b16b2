//! In-memory stand-ins for the ports, for unit tests of logic only. The real adapters are
//! tested against the local stack.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::activation::Deps;
use crate::activations::{Activation, Job, Line, Status, WAITING};
use crate::catalog::Service;
use crate::ports::{
    Activations, AuthError, Billing, Carrier, CarrierError, Clock, CreateUserError,
    IdentityVerifier, Ledger, Mailer, MintOutcome, OutgoingEmail, Queue, Rewards, Store,
    ThrottleStore, Unavailable,
};
use crate::purchases::{OpenInvoice, Purchase};
use crate::rewards::{CashbackRate, Reward, RewardStatus, Wei};
use crate::throttle::{Permit, Reservation, ThrottleConfig, ThrottleState, WaitUntil};
use crate::users::{Email, Identity, Uid, User};
use crate::wallet::Wallet;
use crate::worker::WorkerDeps;

#[derive(Default)]
struct Tables {
    users: HashMap<String, User>,
    emails: HashMap<String, String>,
    invoices: HashMap<(String, String), OpenInvoice>,
    purchases: HashMap<String, Purchase>,
    events: HashMap<String, i64>,
}

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn purchase_count(&self) -> usize {
        self.tables().purchases.len()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn user(&self, uid: &Uid) -> Result<Option<User>, Unavailable> {
        Ok(self.tables().users.get(uid.as_str()).cloned())
    }

    async fn create_user(&self, user: &User) -> Result<User, CreateUserError> {
        let mut t = self.tables();
        if let Some(existing) = t.users.get(user.uid.as_str()) {
            return Ok(existing.clone());
        }
        if let Some(email) = &user.email {
            match t.emails.get(email.as_str()) {
                Some(owner) if owner != user.uid.as_str() => {
                    return Err(CreateUserError::EmailTaken);
                }
                _ => {}
            }
            t.emails
                .insert(email.as_str().to_owned(), user.uid.to_string());
        }
        t.users.insert(user.uid.to_string(), user.clone());
        Ok(user.clone())
    }

    async fn set_stripe_customer(
        &self,
        uid: &Uid,
        customer_id: &str,
    ) -> Result<String, Unavailable> {
        let mut t = self.tables();
        let user = t
            .users
            .get_mut(uid.as_str())
            .ok_or_else(|| Unavailable::new("store", "no such user"))?;
        Ok(user
            .stripe_customer_id
            .get_or_insert_with(|| customer_id.to_owned())
            .clone())
    }

    async fn open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
    ) -> Result<Option<OpenInvoice>, Unavailable> {
        Ok(self
            .tables()
            .invoices
            .get(&(uid.to_string(), product_id.to_owned()))
            .cloned())
    }

    async fn save_open_invoice(
        &self,
        uid: &Uid,
        invoice: &OpenInvoice,
    ) -> Result<OpenInvoice, Unavailable> {
        let mut t = self.tables();
        Ok(t.invoices
            .entry((uid.to_string(), invoice.product_id.clone()))
            .or_insert_with(|| invoice.clone())
            .clone())
    }

    async fn close_open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
        invoice_id: &str,
    ) -> Result<(), Unavailable> {
        let mut t = self.tables();
        let key = (uid.to_string(), product_id.to_owned());
        if t.invoices
            .get(&key)
            .is_some_and(|i| i.invoice_id == invoice_id)
        {
            t.invoices.remove(&key);
        }
        Ok(())
    }

    async fn set_wallet(&self, uid: &Uid, wallet: &Wallet) -> Result<(), Unavailable> {
        let mut t = self.tables();
        let user = t
            .users
            .get_mut(uid.as_str())
            .ok_or_else(|| Unavailable::new("store", "no such user"))?;
        user.wallet = Some(wallet.to_string());
        Ok(())
    }

    async fn record_purchase(&self, purchase: &Purchase) -> Result<bool, Unavailable> {
        let mut t = self.tables();
        let key = format!("{}#{}", purchase.uid, purchase.purchase_id);
        if t.purchases.contains_key(&key) {
            return Ok(false);
        }
        t.purchases.insert(key, purchase.clone());
        Ok(true)
    }

    async fn purchases(&self, uid: &Uid) -> Result<Vec<Purchase>, Unavailable> {
        let mut list: Vec<Purchase> = self
            .tables()
            .purchases
            .values()
            .filter(|p| &p.uid == uid)
            .cloned()
            .collect();
        list.sort_by(|a, b| b.paid_at.cmp(&a.paid_at));
        Ok(list)
    }

    async fn event_seen(&self, event_id: &str) -> Result<bool, Unavailable> {
        Ok(self.tables().events.contains_key(event_id))
    }

    async fn mark_event_seen(&self, event_id: &str, now_unix: i64) -> Result<(), Unavailable> {
        self.tables().events.insert(event_id.to_owned(), now_unix);
        Ok(())
    }
}

/// Counts calls; makes one customer per uid and one invoice per uid and product, as Stripe
/// does with our idempotency keys.
#[derive(Default)]
pub struct MemoryBilling {
    pub customer_calls: AtomicUsize,
    pub invoice_calls: AtomicUsize,
}

#[async_trait]
impl Billing for MemoryBilling {
    async fn customer(&self, uid: &Uid, _email: &Email) -> Result<String, Unavailable> {
        self.customer_calls.fetch_add(1, Ordering::SeqCst);
        Ok(format!("cus_{uid}"))
    }

    async fn invoice(
        &self,
        customer_id: &str,
        uid: &Uid,
        product: &Service,
    ) -> Result<OpenInvoice, Unavailable> {
        self.invoice_calls.fetch_add(1, Ordering::SeqCst);
        Ok(OpenInvoice {
            invoice_id: format!("in_{uid}_{}", product.id),
            hosted_url: format!("https://invoice.example/{customer_id}/{}", product.id),
            product_id: product.id.to_owned(),
            amount_cents: product.price_cents.get(),
            currency: "usd".into(),
            created_at: "2026-11-25T00:00:00Z".into(),
        })
    }
}

/// Accepts tokens of the form `uid:<uid>:<email>`.
pub struct PlainVerifier;

#[async_trait]
impl IdentityVerifier for PlainVerifier {
    async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let mut parts = token.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("uid"), Some(uid), email) => Ok(Identity {
                uid: Uid::parse(uid).map_err(|e| AuthError::Invalid(e.to_string()))?,
                email: email.and_then(|e| Email::parse(e).ok()),
            }),
            _ => Err(AuthError::Invalid("not a test token".into())),
        }
    }
}

pub struct FixedClock(pub AtomicI64);

impl FixedClock {
    /// At `unix` seconds.
    pub fn at(unix: i64) -> Self {
        FixedClock(AtomicI64::new(unix * 1000))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_unix_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
pub struct MemoryActivations {
    rows: Mutex<HashMap<String, Activation>>,
}

impl MemoryActivations {
    fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Activation>> {
        self.rows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn change(
        &self,
        uid: &Uid,
        purchase_id: &str,
        f: impl FnOnce(&mut Activation),
    ) -> Result<Activation, Unavailable> {
        let mut rows = self.rows();
        let row = rows
            .get_mut(&format!("{uid}#{purchase_id}"))
            .ok_or_else(|| Unavailable::new("activations", "no such activation"))?;
        f(row);
        Ok(row.clone())
    }

    pub fn all(&self) -> Vec<Activation> {
        self.rows().values().cloned().collect()
    }
}

#[async_trait]
impl Activations for MemoryActivations {
    async fn create_activation(&self, a: &Activation) -> Result<Activation, Unavailable> {
        Ok(self
            .rows()
            .entry(format!("{}#{}", a.uid, a.purchase_id))
            .or_insert_with(|| a.clone())
            .clone())
    }

    async fn activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<Option<Activation>, Unavailable> {
        Ok(self.rows().get(&format!("{uid}#{purchase_id}")).cloned())
    }

    async fn activations(&self, uid: &Uid) -> Result<Vec<Activation>, Unavailable> {
        Ok(self
            .rows()
            .values()
            .filter(|a| &a.uid == uid)
            .cloned()
            .collect())
    }

    async fn queue_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        r: Reservation,
    ) -> Result<Activation, Unavailable> {
        self.change(uid, purchase_id, |a| {
            if a.ticket.is_none() {
                a.ticket = Some(r.ticket);
                a.slot_ms = Some(r.slot_ms);
                a.queue = Some(WAITING.into());
                a.status = Status::Queued;
            }
        })
    }

    async fn claim_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<Activation>, Unavailable> {
        let mut claimed = false;
        let a = self.change(uid, purchase_id, |a| {
            let free = match a.status {
                Status::Pending | Status::Queued => true,
                Status::Activating => a.claimed_until_ms < now_ms,
                Status::Active | Status::Failed => false,
            };
            if free {
                a.status = Status::Activating;
                a.queue = None;
                a.attempts += 1;
                a.claimed_until_ms = now_ms + lease_ms;
                claimed = true;
            }
        })?;
        Ok(claimed.then_some(a))
    }

    async fn release_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        wait_until_ms: Option<i64>,
    ) -> Result<(), Unavailable> {
        self.change(uid, purchase_id, |a| {
            a.claimed_until_ms = 0;
            if let Some(at) = wait_until_ms {
                a.status = Status::Queued;
                a.queue = Some(WAITING.into());
                a.slot_ms = Some(at);
                a.attempts = a.attempts.saturating_sub(1);
            }
        })
        .map(|_| ())
    }

    async fn complete_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        line: &Line,
        at: &str,
    ) -> Result<Activation, Unavailable> {
        self.change(uid, purchase_id, |a| {
            if a.status != Status::Active {
                a.status = Status::Active;
                a.line = Some(line.clone());
                a.activated_at = Some(at.to_owned());
                a.queue = None;
            }
        })
    }

    async fn fail_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        reason: &str,
    ) -> Result<(), Unavailable> {
        self.change(uid, purchase_id, |a| {
            if a.status != Status::Active {
                a.status = Status::Failed;
                a.failed_reason = Some(reason.to_owned());
                a.queue = None;
            }
        })
        .map(|_| ())
    }

    async fn mark_emailed(&self, uid: &Uid, purchase_id: &str) -> Result<(), Unavailable> {
        self.change(uid, purchase_id, |a| a.emailed = true)
            .map(|_| ())
    }

    async fn jobs_ahead(&self, ticket: u64) -> Result<u64, Unavailable> {
        Ok(self
            .rows()
            .values()
            .filter(|a| a.queue.is_some() && a.ticket.is_some_and(|t| t < ticket))
            .count() as u64)
    }

    async fn waiting_jobs(&self) -> Result<u64, Unavailable> {
        Ok(self.rows().values().filter(|a| a.queue.is_some()).count() as u64)
    }
}

#[derive(Default)]
pub struct MemoryThrottle {
    state: Mutex<ThrottleState>,
}

#[async_trait]
impl ThrottleStore for MemoryThrottle {
    async fn throttle(&self) -> Result<ThrottleState, Unavailable> {
        Ok(self.state.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    async fn reserve_slot(
        &self,
        cfg: &ThrottleConfig,
        now_ms: i64,
    ) -> Result<Reservation, Unavailable> {
        Ok(self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reserve(cfg, now_ms))
    }

    async fn take_permit(
        &self,
        cfg: &ThrottleConfig,
        clock: &dyn Clock,
    ) -> Result<Result<Permit, WaitUntil>, Unavailable> {
        let now_ms = clock.now_unix_ms();
        Ok(self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_permit(cfg, now_ms))
    }
}

/// Records what was sent, with its delay.
#[derive(Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<(Job, u32)>>,
    pub dead: Mutex<Vec<Job>>,
    pub mints: Mutex<Vec<Uid>>,
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, job: &Job, delay_seconds: u32) -> Result<(), Unavailable> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((job.clone(), delay_seconds));
        Ok(())
    }

    async fn dead_letter(&self, job: &Job, _reason: &str) -> Result<(), Unavailable> {
        self.dead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(job.clone());
        Ok(())
    }

    async fn dead_letters(&self) -> Result<u64, Unavailable> {
        Ok(self.dead.lock().unwrap_or_else(|p| p.into_inner()).len() as u64)
    }

    async fn send_mint(&self, uid: &Uid) -> Result<(), Unavailable> {
        self.mints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(uid.clone());
        Ok(())
    }
}

/// One line per purchase id; fails the next `fail_next` calls.
#[derive(Default)]
pub struct MemoryCarrier {
    pub calls: AtomicUsize,
    pub fail_next: AtomicUsize,
    pub refuse: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Carrier for MemoryCarrier {
    async fn activate(&self, purchase_id: &str, _uid: &Uid) -> Result<Line, CarrierError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.refuse.load(Ordering::SeqCst) {
            return Err(CarrierError::Refused("422 invalid plan".into()));
        }
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(CarrierError::Failed("503".into()));
        }
        Ok(Line {
            phone_number: "+15550100100".into(),
            iccid: "8901000000000000001".into(),
            smdp_address: "smdp.test".into(),
            activation_code: format!("CODE-{purchase_id}"),
        })
    }
}

#[derive(Default)]
pub struct MemoryMailer {
    pub sent: Mutex<Vec<(String, String)>>,
    pub fail_next: AtomicUsize,
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), Unavailable> {
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Unavailable::new("mail", "503"));
        }
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((email.to.as_str().to_owned(), email.idempotency_key.clone()));
        Ok(())
    }
}

/// Every port faked, shared by the use cases under test.
pub struct FakeWorld {
    pub store: Arc<MemoryStore>,
    pub activations: Arc<MemoryActivations>,
    pub throttle: Arc<MemoryThrottle>,
    pub queue: Arc<MemoryQueue>,
    pub billing: Arc<MemoryBilling>,
    pub carrier: Arc<MemoryCarrier>,
    pub mailer: Arc<MemoryMailer>,
    pub clock: Arc<FixedClock>,
    pub limits: ThrottleConfig,
    pub rewards: Arc<MemoryRewards>,
    pub ledger: Arc<MemoryLedger>,
}

impl FakeWorld {
    pub fn new() -> Self {
        FakeWorld {
            store: Arc::default(),
            activations: Arc::default(),
            throttle: Arc::default(),
            queue: Arc::default(),
            billing: Arc::default(),
            carrier: Arc::default(),
            mailer: Arc::default(),
            clock: Arc::new(FixedClock::at(1_795_608_000)),
            limits: ThrottleConfig {
                limit: 5,
                window_ms: 10_000,
            },
            rewards: Arc::default(),
            ledger: Arc::default(),
        }
    }

    pub fn deps(&self) -> Deps {
        Deps {
            store: self.store.clone(),
            activations: self.activations.clone(),
            throttle: self.throttle.clone(),
            queue: self.queue.clone(),
            billing: self.billing.clone(),
            clock: self.clock.clone(),
            limits: self.limits,
            rewards: self.rewards.clone(),
            ledger: self.ledger.clone(),
            cashback: CashbackRate::default(),
        }
    }

    pub fn worker(&self) -> WorkerDeps {
        WorkerDeps {
            store: self.store.clone(),
            activations: self.activations.clone(),
            throttle: self.throttle.clone(),
            queue: self.queue.clone(),
            carrier: self.carrier.clone(),
            mailer: self.mailer.clone(),
            clock: self.clock.clone(),
            limits: self.limits,
            max_attempts: 3,
            rewards: self.rewards.clone(),
            ledger: self.ledger.clone(),
        }
    }
}

impl Default for FakeWorld {
    fn default() -> Self {
        FakeWorld::new()
    }
}

/// A Stripe `invoice.paid` event body for a DOTM eSIM invoice.
pub fn paid_event(event_id: &str, invoice_id: &str, uid: &str) -> Vec<u8> {
    serde_json::json!({
        "id": event_id, "type": "invoice.paid",
        "data": {"object": {
            "id": invoice_id, "amount_paid": 100, "currency": "usd", "created": 1_795_608_000,
            "status_transitions": {"paid_at": 1_795_608_100},
            "metadata": {"firebase_uid": uid, "product": "esim_beta"}
        }}
    })
    .to_string()
    .into_bytes()
}

#[derive(Default)]
pub struct MemoryRewards {
    rows: Mutex<Vec<Reward>>,
    wallets: Mutex<HashMap<String, Wallet>>,
    lease: Mutex<Option<(String, i64)>>,
}

impl MemoryRewards {
    pub fn wallet_of(&self, uid: &Uid) -> Option<Wallet> {
        self.wallets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid.as_str())
            .copied()
    }
}

#[async_trait]
impl Rewards for MemoryRewards {
    async fn credit(&self, reward: &Reward) -> Result<bool, Unavailable> {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        if rows
            .iter()
            .any(|r| r.uid == reward.uid && r.key == reward.key)
        {
            return Ok(false);
        }
        rows.push(reward.clone());
        Ok(true)
    }

    async fn rewards(&self, uid: &Uid) -> Result<Vec<Reward>, Unavailable> {
        Ok(self
            .rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|r| &r.uid == uid)
            .cloned()
            .collect())
    }

    async fn settle(
        &self,
        reward: &Reward,
        status: RewardStatus,
        tx_hash: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), Unavailable> {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = rows.iter_mut().find(|r| {
            r.uid == reward.uid && r.key == reward.key && r.status == RewardStatus::Pending
        }) {
            r.status = status;
            r.tx_hash = tx_hash.map(str::to_owned);
            r.reason = reason.map(str::to_owned);
        }
        Ok(())
    }

    async fn acquire_minter(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, Unavailable> {
        let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        match &*lease {
            Some((h, until)) if h != holder && *until >= now_ms => Ok(false),
            _ => {
                *lease = Some((holder.to_owned(), now_ms + lease_ms));
                Ok(true)
            }
        }
    }

    async fn release_minter(&self, holder: &str) -> Result<(), Unavailable> {
        let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        if lease.as_ref().is_some_and(|(h, _)| h == holder) {
            *lease = None;
        }
        Ok(())
    }
}

/// A chain in memory: balances, a supply cap, once-only reward ids.
pub struct MemoryLedger {
    pub cap: Wei,
    state: Mutex<(HashMap<String, Wei>, Wei, std::collections::HashSet<String>)>,
    pub mints: AtomicUsize,
}

impl MemoryLedger {
    pub fn with_cap(cap: Wei) -> Self {
        MemoryLedger {
            cap,
            state: Mutex::default(),
            mints: AtomicUsize::new(0),
        }
    }
}

impl Default for MemoryLedger {
    fn default() -> Self {
        MemoryLedger::with_cap(Wei::dotm(10_333_333))
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn mint(
        &self,
        to: &Wallet,
        amount: Wei,
        reward_id: &str,
    ) -> Result<MintOutcome, Unavailable> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (balances, total, paid) = &mut *state;
        if paid.contains(reward_id) {
            return Ok(MintOutcome::AlreadyPaid);
        }
        let remaining = Wei(self.cap.0.saturating_sub(total.0));
        if amount.0 > remaining.0 {
            return Ok(MintOutcome::OverCap { remaining });
        }
        paid.insert(reward_id.to_owned());
        *total = *total + amount;
        let balance = balances.entry(to.to_string()).or_default();
        *balance = *balance + amount;
        let n = self.mints.fetch_add(1, Ordering::SeqCst);
        Ok(MintOutcome::Minted {
            tx_hash: format!("0x{n:064x}"),
        })
    }

    async fn balance(&self, of: &Wallet) -> Result<Wei, Unavailable> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(state.0.get(&of.to_string()).copied().unwrap_or_default())
    }

    async fn supply(&self) -> Result<(Wei, Wei), Unavailable> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok((state.1, Wei(self.cap.0.saturating_sub(state.1.0))))
    }
}
