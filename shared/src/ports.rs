//! What the use cases need from the outside world, and the records those traits carry.
//! `adapters` implements each against its real service and in memory (`adapters::memory`);
//! one contract suite per port (`shared/tests/contracts`) holds both to the same behaviour.

use async_trait::async_trait;

use crate::domain::activation::{Activation, FulfilTask, Job, Line, NoticeTask, UsageTask};
use crate::domain::catalog::Service;
use crate::domain::oauth::{
    AccessClaims, ClientMetadataDocument, CodeGrant, OAuthClient, RefreshGrant,
};
use crate::domain::orders::InvoiceRef;
use crate::domain::purchases::{OpenInvoice, Purchase};

mod beta;
mod carrier;
mod commerce;
mod handoff;
mod rate_limit;
mod usage;
use crate::domain::rewards::{Reward, RewardStatus, Wei};
use crate::domain::throttle::{Permit, Reservation, ThrottleConfig, ThrottleState, WaitUntil};
use crate::domain::users::{Email, Identity, Uid, User};
use crate::domain::wallet::Wallet;
pub use beta::BetaStore;
pub use carrier::{
    Carrier, CarrierError, CarrierLine, LinePlan, LineRef, LineRequest, LineServices, NewEndUser,
};
pub use commerce::{
    EntitlementStore, InvoiceLine, NewSubscription, OrderStore, RequestKey, SubscriptionStore,
};
pub use handoff::HandoffStore;
pub use rate_limit::RateLimitStore;
pub use usage::UsageStore;

/// A dependency failed; the caller sees a generic 503, operators see the cause (with its
/// whole chain, see [`Unavailable::chain`]) in the logs.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {cause}")]
pub struct Unavailable {
    pub what: &'static str,
    #[source]
    pub cause: Box<dyn std::error::Error + Send + Sync>,
}

impl Unavailable {
    pub fn new(
        what: &'static str,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Unavailable {
            what,
            cause: cause.into(),
        }
    }

    /// The cause and every error beneath it, for the logs only.
    pub fn chain(&self) -> String {
        let mut text = self.cause.to_string();
        let mut next = self.cause.source();
        while let Some(e) = next {
            text.push_str(": ");
            text.push_str(&e.to_string());
            next = e.source();
        }
        text
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("the email address is already used by another account")]
    EmailTaken,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// `USER#<uid>` / `PROFILE` and the unique email claims.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn user(&self, uid: &Uid) -> Result<Option<User>, Unavailable>;
    /// Creates the profile and claims its email in one transaction. When the profile already
    /// exists (a concurrent first call won), returns the stored one.
    async fn create_user(&self, user: &User) -> Result<User, CreateUserError>;
    /// Sets the Stripe customer once; returns the id stored (ours or an earlier one).
    async fn set_stripe_customer(
        &self,
        uid: &Uid,
        customer_id: &str,
    ) -> Result<String, Unavailable>;
    async fn set_wallet(&self, uid: &Uid, wallet: &Wallet) -> Result<(), Unavailable>;
    /// The area code the person wants their next line in (replaces an earlier wish).
    async fn set_area_code(&self, uid: &Uid, area_code: &str) -> Result<(), Unavailable>;
    /// Stores the person's OXIO end user unless one is stored; returns the stored one.
    async fn set_carrier_end_user(
        &self,
        uid: &Uid,
        end_user_id: &str,
    ) -> Result<String, Unavailable>;
    /// Claims a (verified) email for an existing profile that has none, in one transaction;
    /// answers the stored profile (already with an email: unchanged).
    async fn claim_email(&self, uid: &Uid, email: &Email) -> Result<User, CreateUserError>;
}

/// What people bought, and the one open invoice per person and product.
#[async_trait]
pub trait PurchaseStore: Send + Sync {
    async fn open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
    ) -> Result<Option<OpenInvoice>, Unavailable>;
    /// Saves the open invoice unless one is there; returns the stored one.
    async fn save_open_invoice(
        &self,
        uid: &Uid,
        invoice: &OpenInvoice,
    ) -> Result<OpenInvoice, Unavailable>;
    /// Forgets the open invoice of `product_id` if it is `invoice_id` (it was paid).
    async fn close_open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
        invoice_id: &str,
    ) -> Result<(), Unavailable>;
    /// Writes the purchase unless it exists; true when this call wrote it.
    async fn record_purchase(&self, purchase: &Purchase) -> Result<bool, Unavailable>;
    /// The user's purchases, newest first.
    async fn purchases(&self, uid: &Uid) -> Result<Vec<Purchase>, Unavailable>;
}

/// Which payment provider events were applied (webhooks arrive at least once).
#[async_trait]
pub trait PaymentEventStore: Send + Sync {
    async fn event_seen(&self, event_id: &str) -> Result<bool, Unavailable>;
    /// Marks a provider event processed (kept 30 days).
    async fn mark_event_seen(&self, event_id: &str, now_unix: i64) -> Result<(), Unavailable>;
}

/// The payment provider's invoices and subscriptions (Stripe). Every call is keyed by our own
/// ids (`scope`): a retry or a racing twin gets the first call's result.
#[async_trait]
pub trait Invoicing: Send + Sync {
    /// The user's customer at the payment provider, created once per uid.
    async fn customer(&self, uid: &Uid, email: &Email) -> Result<String, Unavailable>;
    /// A draft invoice of `lines` in USD, made once per `scope`; answers its id. Nobody can
    /// pay it before [`Invoicing::send_invoice`].
    async fn draft_invoice(
        &self,
        customer_id: &str,
        scope: &str,
        description: &str,
        lines: &[InvoiceLine],
        metadata: &[(&str, &str)],
    ) -> Result<String, Unavailable>;
    /// Finalizes and emails a draft; answers its link and amount.
    async fn send_invoice(&self, invoice_id: &str, scope: &str) -> Result<InvoiceRef, Unavailable>;
    /// A subscription to a recurring service billed by emailed invoice, made once per `scope`;
    /// its first invoice is a draft for [`Invoicing::send_invoice`].
    async fn subscribe(
        &self,
        customer_id: &str,
        scope: &str,
        service: &'static Service,
        metadata: &[(&str, &str)],
    ) -> Result<NewSubscription, Unavailable>;
    /// Ends it at the end of the paid period.
    async fn cancel_at_period_end(&self, subscription_id: &str) -> Result<(), Unavailable>;
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("sign-in required: send a Firebase ID token as `Authorization: Bearer <token>`")]
    Missing,
    #[error("the ID token was refused: {0}")]
    Invalid(String),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[async_trait]
pub trait IdentityVerifier: Send + Sync {
    async fn verify(&self, token: &str) -> Result<Identity, AuthError>;
}

pub trait Clock: Send + Sync {
    fn now_unix_ms(&self) -> i64;

    fn now_unix(&self) -> i64 {
        self.now_unix_ms().div_euclid(1000)
    }
}

#[async_trait]
pub trait ActivationStore: Send + Sync {
    /// Writes the activation unless one exists for the purchase; returns the stored one.
    async fn create_activation(&self, activation: &Activation) -> Result<Activation, Unavailable>;
    async fn activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<Option<Activation>, Unavailable>;
    async fn activations(&self, uid: &Uid) -> Result<Vec<Activation>, Unavailable>;
    /// Puts a pending activation in line with its reservation, unless it already has one;
    /// returns the stored activation.
    async fn queue_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        reservation: Reservation,
    ) -> Result<Activation, Unavailable>;
    /// Claims the job for one worker until `now_ms + lease_ms`: out of the waiting line, one
    /// more attempt. `None` when another worker holds a live claim (a duplicate delivery).
    async fn claim_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<Activation>, Unavailable>;
    /// Gives the claim up so the job's next delivery can take it: after a failed call, or,
    /// with `wait_until_ms`, back in line (queued, with that new ETA) when no permit is free.
    async fn release_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        wait_until_ms: Option<i64>,
    ) -> Result<(), Unavailable>;
    /// Puts an activation whose carrier call failed back in line at the end (a new ticket and
    /// slot, so no one behind it is pushed past their ETA); attempts stand. `None` unless its
    /// worker still had it (activating).
    async fn requeue_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        r: Reservation,
    ) -> Result<Option<Activation>, Unavailable>;
    /// Stores the line and marks it active, unless it already is; returns the stored one.
    async fn complete_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        line: &Line,
        at: &str,
    ) -> Result<Activation, Unavailable>;
    /// Records, before the call, the line-creation call this worker is about to make (see
    /// [`crate::domain::activation::CarrierCall`]): only while its claim (taken at
    /// `claimed_until_ms`) is still the one stored, so a worker that lost the job never calls.
    /// False when it did not hold it.
    async fn record_carrier_call(
        &self,
        uid: &Uid,
        purchase_id: &str,
        claimed_until_ms: i64,
        call: &crate::domain::activation::CarrierCall,
    ) -> Result<bool, Unavailable>;
    /// Gives the carrier line `line_id` to this purchase, unless another purchase has it
    /// (`CARRIER_LINE#<line id>`, a conditional put): true when it is this purchase's. A line
    /// belongs to one purchase for ever.
    async fn attribute_line(
        &self,
        line_id: &str,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<bool, Unavailable>;
    /// Marks it failed with a reason the person can read, unless it is active.
    async fn fail_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        reason: &str,
    ) -> Result<(), Unavailable>;
    async fn mark_emailed(&self, uid: &Uid, purchase_id: &str) -> Result<(), Unavailable>;
    /// An operator's redrive: a failed activation becomes pending again (attempts, claim and
    /// place in line reset), so it can be put in line anew. `None` unless it was failed.
    async fn reopen_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<Option<Activation>, Unavailable>;
    /// Waiting activations with a smaller ticket.
    async fn jobs_ahead(&self, ticket: u64) -> Result<u64, Unavailable>;
    async fn waiting_jobs(&self) -> Result<u64, Unavailable>;
}

/// The one throttle item, changed only by conditional writes.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    async fn throttle(&self) -> Result<ThrottleState, Unavailable>;
    async fn reserve_slot(
        &self,
        cfg: &ThrottleConfig,
        now_ms: i64,
    ) -> Result<Reservation, Unavailable>;
    /// Takes a permit for the job with `ticket` at the clock's time, read again on every
    /// conflicting round so the recorded start is never older than the call it allows. A
    /// refusal is recorded as a hold, so earlier tickets go first.
    async fn take_permit(
        &self,
        cfg: &ThrottleConfig,
        ticket: u64,
        clock: &dyn Clock,
    ) -> Result<Result<Permit, WaitUntil>, Unavailable>;
}

/// The activation queue (SQS): activation jobs and mint requests.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends the job to the activation queue, visible after `delay_seconds` (at most 900).
    async fn send(&self, job: &Job, delay_seconds: u32) -> Result<(), Unavailable>;
    /// Parks a job that failed for good on the dead-letter queue.
    async fn dead_letter(&self, job: &Job, reason: &str) -> Result<(), Unavailable>;
    /// Jobs on the dead-letter queue.
    async fn dead_letters(&self) -> Result<u64, Unavailable>;
    /// Up to 10 messages of the dead-letter queue, hidden from others for a minute.
    async fn take_dead_letters(&self) -> Result<Vec<DeadLetter>, Unavailable>;
    /// Removes a message [`JobQueue::take_dead_letters`] gave.
    async fn drop_dead_letter(&self, receipt: &str) -> Result<(), Unavailable>;
    /// Asks the worker to mint the user's pending rewards.
    async fn send_mint(&self, uid: &Uid) -> Result<(), Unavailable>;
    /// Asks the worker to put the user's entitlements on their line (and mail a receipt).
    async fn send_fulfilment(&self, task: &FulfilTask) -> Result<(), Unavailable>;
    /// Asks the worker to send a transactional email.
    async fn send_notice(&self, task: &NoticeTask) -> Result<(), Unavailable>;
    /// Asks the worker to read a line's data from the carrier (it holds the carrier key).
    async fn send_usage(&self, task: &UsageTask) -> Result<(), Unavailable>;
}

/// A message parked on the dead-letter queue: the job, if it is one.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub job: Option<Job>,
    pub receipt: String,
}

pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
    /// Set for an image the HTML shows inline (`<img src="cid:...">`): mail clients drop
    /// `data:` images, so the QR code travels as a related part.
    pub content_id: Option<String>,
}

pub struct OutgoingEmail {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<Attachment>,
    /// The same key never sends twice.
    pub idempotency_key: String,
}

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A 4xx other than 429: the provider refused this email for good (a sender domain not
    /// verified, a bad address); sending it again would get the same answer. Its reason is kept.
    #[error("the mail provider refused the email ({0})")]
    Refused(String),
    /// 429, 5xx, no answer: the same email may go through later.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError>;
}

/// DOTM rewards as records, and the lease that lets one minter send at a time.
#[async_trait]
pub trait RewardStore: Send + Sync {
    /// Credits the reward unless it was credited before; true when this call credited it.
    async fn credit(&self, reward: &Reward) -> Result<bool, Unavailable>;
    async fn rewards(&self, uid: &Uid) -> Result<Vec<Reward>, Unavailable>;
    /// Records the end of a pending reward: minted (with its transaction) or refused.
    async fn settle(
        &self,
        reward: &Reward,
        status: RewardStatus,
        tx_hash: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), Unavailable>;
    /// Takes the minter lease for `lease_ms` unless another holder has it; true when taken.
    async fn acquire_minter(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, Unavailable>;
    async fn release_minter(&self, holder: &str) -> Result<(), Unavailable>;
    /// Claims the one new-member bonus a wallet address can receive; true when it is (or
    /// already was) `uid`'s.
    async fn claim_wallet_bonus(&self, wallet: &Wallet, uid: &Uid) -> Result<bool, Unavailable>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MintOutcome {
    Minted {
        tx_hash: String,
    },
    /// The contract has paid this reward id before.
    AlreadyPaid,
    /// Minting it would pass the supply cap.
    OverCap {
        remaining: Wei,
    },
}

/// Sends DOTM: only the function that holds the minter key has one.
#[async_trait]
pub trait Minter: Send + Sync {
    async fn mint(
        &self,
        to: &Wallet,
        amount: Wei,
        reward_id: &str,
    ) -> Result<MintOutcome, Unavailable>;
}

/// Reads DOTM balances: no key, nothing to sign.
#[async_trait]
pub trait Balances: Send + Sync {
    async fn balance(&self, of: &Wallet) -> Result<Wei, Unavailable>;
}

/// The authorization server's records: clients, single-use codes, rotating refresh tokens.
/// Codes and refresh tokens are stored by hash only, with a TTL.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    async fn client(&self, client_id: &str) -> Result<Option<OAuthClient>, Unavailable>;
    async fn register_client(&self, client: &OAuthClient) -> Result<(), Unavailable>;
    async fn save_code(&self, hash: &str, grant: &CodeGrant) -> Result<(), Unavailable>;
    async fn code(&self, hash: &str) -> Result<Option<CodeGrant>, Unavailable>;
    /// Deletes the code if it is still there; true when this call took it (single use).
    async fn take_code(&self, hash: &str) -> Result<bool, Unavailable>;
    async fn save_refresh(&self, hash: &str, grant: &RefreshGrant) -> Result<(), Unavailable>;
    async fn refresh(&self, hash: &str) -> Result<Option<RefreshGrant>, Unavailable>;
    /// Marks it used; true when this call did (false: it was used before, a replay).
    async fn use_refresh(&self, hash: &str) -> Result<bool, Unavailable>;
    async fn revoke_family(&self, family: &str, now_unix: i64) -> Result<(), Unavailable>;
    async fn family_revoked(&self, family: &str) -> Result<bool, Unavailable>;
}

/// Signs DOTM access tokens: only the authorization server (the API function) holds the key.
pub trait TokenSigner: Send + Sync {
    fn sign(&self, claims: &AccessClaims) -> Result<String, Unavailable>;
    /// The public keys that verify what it signs (JWKS).
    fn jwks(&self) -> serde_json::Value;
}

/// Verifies DOTM access tokens (the MCP function): signature, issuer, audience, expiry.
#[async_trait]
pub trait AccessTokenVerifier: Send + Sync {
    async fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<AccessClaims, AuthError>;
}

/// Fetches Client ID Metadata Documents; the error says why one cannot be used.
#[async_trait]
pub trait ClientMetadataFetcher: Send + Sync {
    async fn fetch(&self, url: &str) -> Result<ClientMetadataDocument, String>;
}

/// Unguessable tokens: codes, refresh tokens, client ids.
pub trait RandomSource: Send + Sync {
    /// 32 random bytes, base64url.
    fn token(&self) -> Result<String, Unavailable>;
}
