//! The commerce ports: orders and what pays for them, subscriptions, entitlements, and the
//! payment provider's side of each.

use async_trait::async_trait;

use super::Unavailable;
use crate::domain::entitlements::Entitlement;
use crate::domain::orders::{CardStatus, ClaimState, Order, OrderPayment, OrderStatus};
use crate::domain::orders::{HeldTakeback, PaymentClaim, UnmatchedPayment};
use crate::domain::subscriptions::{Subscription, SubscriptionStatus};
use crate::domain::users::Uid;

/// What a request key (an `Idempotency-Key`, or the cart itself) was first used for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestKey {
    pub fingerprint: String,
    pub order_id: String,
}

/// Orders, the claims that say which invoice pays what, and the payments that matched nothing.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Binds `key` to `claim` unless it is bound; returns the binding stored (ours or the first).
    /// `ttl_seconds`: how long the key is remembered.
    async fn bind_request(
        &self,
        uid: &Uid,
        key: &str,
        claim: &RequestKey,
        now_unix: i64,
        ttl_seconds: i64,
    ) -> Result<RequestKey, Unavailable>;
    /// Forgets a binding if it still names `order_id` (its order was paid: the next identical
    /// request is a new order).
    async fn unbind_request(&self, uid: &Uid, key: &str, order_id: &str)
    -> Result<(), Unavailable>;
    /// Writes the order unless it exists; returns the stored one.
    async fn create_order(&self, order: &Order) -> Result<Order, Unavailable>;
    async fn order(&self, uid: &Uid, order_id: &str) -> Result<Option<Order>, Unavailable>;
    /// Newest first.
    async fn orders(&self, uid: &Uid) -> Result<Vec<Order>, Unavailable>;
    /// Records the order's invoices (set once: a retry writes the same ones).
    async fn set_payments(
        &self,
        uid: &Uid,
        order_id: &str,
        payments: &[OrderPayment],
    ) -> Result<(), Unavailable>;
    /// Moves the order from one of `from` to `to`; false when it was not in `from`.
    async fn set_order_status(
        &self,
        uid: &Uid,
        order_id: &str,
        from: &[OrderStatus],
        to: OrderStatus,
        at: &str,
    ) -> Result<bool, Unavailable>;
    async fn set_card_status(
        &self,
        uid: &Uid,
        order_id: &str,
        card: &CardStatus,
    ) -> Result<bool, Unavailable>;
    /// Writes the claim unless one exists for the invoice.
    async fn save_claim(&self, claim: &PaymentClaim) -> Result<(), Unavailable>;
    async fn claim(&self, invoice_id: &str) -> Result<Option<PaymentClaim>, Unavailable>;
    /// Moves the claim from `from` to `to`; false when it was not in `from`.
    async fn settle_claim(
        &self,
        invoice_id: &str,
        from: ClaimState,
        to: ClaimState,
    ) -> Result<bool, Unavailable>;
    /// Remembers which invoice a payment paid (`payment_id`: Stripe's payment intent, or the
    /// charge of a payment without one), as Stripe's `invoice_payment` says: refunds and
    /// disputes name the payment, never the invoice. The first answer stays.
    async fn save_payment(&self, payment_id: &str, invoice_id: &str) -> Result<(), Unavailable>;
    async fn payment_invoice(&self, payment_id: &str) -> Result<Option<String>, Unavailable>;
    /// Keeps a take-back whose payment's invoice is not known yet; the first one stays.
    async fn hold_takeback(&self, payment_id: &str, held: &HeldTakeback)
    -> Result<(), Unavailable>;
    async fn held_takeback(&self, payment_id: &str) -> Result<Option<HeldTakeback>, Unavailable>;
    /// Keyed by invoice and event: recording one twice keeps one.
    async fn record_unmatched(&self, payment: &UnmatchedPayment) -> Result<(), Unavailable>;
    /// Newest first.
    async fn unmatched(&self) -> Result<Vec<UnmatchedPayment>, Unavailable>;
}

#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Writes it unless it exists (by id); returns the stored one.
    async fn create_subscription(&self, sub: &Subscription) -> Result<Subscription, Unavailable>;
    /// Finds one by the provider's id, whoever it belongs to.
    async fn subscription(
        &self,
        subscription_id: &str,
    ) -> Result<Option<Subscription>, Unavailable>;
    async fn subscriptions(&self, uid: &Uid) -> Result<Vec<Subscription>, Unavailable>;
    /// Extends the paid period to `paid_until` (never shortens it) and marks it active.
    async fn extend_subscription(
        &self,
        uid: &Uid,
        subscription_id: &str,
        paid_until: i64,
    ) -> Result<(), Unavailable>;
    /// Records the provider's state as of `as_of` (unix seconds), unless a later state was
    /// recorded; `status: None` keeps ours. A canceled subscription stays canceled.
    async fn set_subscription_state(
        &self,
        uid: &Uid,
        subscription_id: &str,
        status: Option<SubscriptionStatus>,
        cancel_at_period_end: bool,
        as_of: i64,
    ) -> Result<(), Unavailable>;
}

#[async_trait]
pub trait EntitlementStore: Send + Sync {
    /// Writes it unless it exists (by invoice and service); true when this call wrote it.
    async fn grant(&self, entitlement: &Entitlement) -> Result<bool, Unavailable>;
    async fn entitlements(&self, uid: &Uid) -> Result<Vec<Entitlement>, Unavailable>;
    /// Revokes everything `invoice_id` granted.
    async fn revoke(&self, uid: &Uid, invoice_id: &str) -> Result<(), Unavailable>;
    /// Ends a subscription's entitlements at `at` (unix seconds) if they ran longer.
    async fn end_subscription(
        &self,
        uid: &Uid,
        subscription_id: &str,
        at: i64,
    ) -> Result<(), Unavailable>;
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    pub description: String,
    pub amount_cents: u64,
}

/// A subscription the provider made, with its first invoice (still a draft).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub subscription_id: String,
    pub first_invoice_id: String,
}
