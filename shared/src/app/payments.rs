//! Payment events (Stripe webhooks, their signature already checked by `web`): what a paid
//! invoice records, grants, credits and puts in line; refunds, disputes and subscription
//! changes are in [`takebacks`] and [`crate::app::subscriptions`].
//!
//! A paid invoice does something only when it matches a claim DOTM wrote before the invoice
//! could be paid (or a renewal of a subscription DOTM made), for that person's customer, in
//! USD, for at least the claimed amount. Metadata is never read: anyone can write it.

use serde::Deserialize;

use crate::app::{Deps, activation_line, rewards, subscriptions};
use crate::domain::activation::FulfilTask;
use crate::domain::entitlements::Entitlement;
use crate::domain::money::Cents;
use crate::domain::orders::UnmatchedPayment;
use crate::domain::orders::{ClaimState, ESIM, Order, OrderStatus, PaymentClaim, Pays};
use crate::domain::purchases::Purchase;
use crate::domain::subscriptions::SubscriptionStatus;
use crate::domain::time::rfc3339;
use crate::domain::users::Uid;
use crate::ports::Unavailable;

pub mod takebacks;

/// The fields of a Stripe event we use. Unknown fields are ignored, so a newer API version
/// does not break the webhook.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

impl Event {
    pub(crate) fn object<T: for<'de> Deserialize<'de>>(&self) -> Result<T, EventError> {
        serde_json::from_value(self.data.object.clone())
            .map_err(|e| EventError::Malformed(format!("{} without its object: {e}", self.kind)))
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PaidInvoice {
    pub id: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub amount_paid: u64,
    pub currency: String,
    #[serde(default)]
    status_transitions: Transitions,
    created: i64,
    #[serde(default)]
    subscription: Option<String>,
    #[serde(default)]
    parent: Option<Parent>,
    #[serde(default)]
    billing_reason: Option<String>,
    #[serde(default)]
    lines: Option<Lines>,
    #[serde(default)]
    hosted_invoice_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Transitions {
    paid_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Parent {
    #[serde(default)]
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Deserialize)]
struct SubscriptionDetails {
    subscription: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Lines {
    data: Vec<LineItem>,
}

#[derive(Debug, Deserialize)]
struct LineItem {
    period: Option<Period>,
}

#[derive(Debug, Deserialize)]
struct Period {
    end: i64,
}

impl PaidInvoice {
    /// Older API versions name it at the top, newer ones under `parent`.
    pub(crate) fn subscription_id(&self) -> Option<&str> {
        self.subscription.as_deref().or_else(|| {
            self.parent
                .as_ref()?
                .subscription_details
                .as_ref()?
                .subscription
                .as_deref()
        })
    }

    fn period_end(&self) -> Option<i64> {
        self.lines
            .as_ref()?
            .data
            .iter()
            .filter_map(|l| l.period.as_ref().map(|p| p.end))
            .max()
    }
}

/// The Stripe events DOTM acts on. The webhook endpoint is registered for exactly these
/// (`make stripe-setup` reads [`Handled::ALL`]); any other type is acknowledged and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    InvoicePaid,
    /// Ties a payment intent to its invoice: refunds and disputes name only the former.
    InvoicePaymentPaid,
    InvoicePaymentFailed,
    ChargeRefunded,
    DisputeCreated,
    SubscriptionUpdated,
    SubscriptionDeleted,
}

impl Handled {
    pub const ALL: [Handled; 7] = [
        Handled::InvoicePaid,
        Handled::InvoicePaymentPaid,
        Handled::InvoicePaymentFailed,
        Handled::ChargeRefunded,
        Handled::DisputeCreated,
        Handled::SubscriptionUpdated,
        Handled::SubscriptionDeleted,
    ];

    /// Stripe's name of the event type.
    pub const fn event_type(self) -> &'static str {
        match self {
            Handled::InvoicePaid => "invoice.paid",
            Handled::InvoicePaymentPaid => "invoice_payment.paid",
            Handled::InvoicePaymentFailed => "invoice.payment_failed",
            Handled::ChargeRefunded => "charge.refunded",
            Handled::DisputeCreated => "charge.dispute.created",
            Handled::SubscriptionUpdated => "customer.subscription.updated",
            Handled::SubscriptionDeleted => "customer.subscription.deleted",
        }
    }

    pub fn of(event_type: &str) -> Option<Handled> {
        Handled::ALL
            .into_iter()
            .find(|h| h.event_type() == event_type)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Recorded {
        uid: Uid,
        purchase_id: String,
    },
    AlreadyRecorded,
    Duplicate,
    /// A payment that matched nothing of ours: recorded for operators, granted nothing.
    Unmatched(String),
    /// Something was taken back or changed (refund, dispute, subscription state).
    Applied(String),
    Ignored(String),
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the event is not a Stripe event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Applies one verified event. Safe to run twice and in any order: every write is conditional
/// or idempotent, and the event is marked seen only after all of them.
pub async fn apply_event(deps: &Deps, payload: &[u8], now: i64) -> Result<Outcome, EventError> {
    let events = deps.events.as_ref();
    let event: Event =
        serde_json::from_slice(payload).map_err(|e| EventError::Malformed(e.to_string()))?;
    if events.event_seen(&event.id).await? {
        return Ok(Outcome::Duplicate);
    }
    let outcome = match Handled::of(&event.kind) {
        Some(Handled::InvoicePaid) => paid_invoice(deps, &event).await?,
        Some(Handled::InvoicePaymentPaid) => takebacks::invoice_payment_paid(deps, &event).await?,
        Some(Handled::InvoicePaymentFailed) => failed_invoice(deps, &event).await?,
        Some(Handled::ChargeRefunded) => takebacks::refunded(deps, &event).await?,
        Some(Handled::DisputeCreated) => takebacks::disputed(deps, &event).await?,
        Some(Handled::SubscriptionUpdated | Handled::SubscriptionDeleted) => {
            subscriptions::apply_provider_state(deps, &event).await?
        }
        None => Outcome::Ignored(format!("{} events need nothing", event.kind)),
    };
    events.mark_event_seen(&event.id, now).await?;
    Ok(outcome)
}

/// Our claim for the invoice: written when DOTM made it, or now for a renewal Stripe made for
/// a subscription of ours.
async fn claim_for(
    deps: &Deps,
    invoice: &PaidInvoice,
) -> Result<Option<PaymentClaim>, Unavailable> {
    if let Some(claim) = deps.orders.claim(&invoice.id).await? {
        return Ok(Some(claim));
    }
    let renewal = invoice.billing_reason.as_deref() == Some("subscription_cycle");
    let Some(sub_id) = invoice.subscription_id().filter(|_| renewal) else {
        return Ok(None);
    };
    let Some(sub) = deps.subscriptions.subscription(sub_id).await? else {
        return Ok(None);
    };
    deps.orders
        .save_claim(&PaymentClaim {
            invoice_id: invoice.id.clone(),
            uid: sub.uid.clone(),
            customer_id: sub.customer_id.clone(),
            amount_cents: sub.price_cents,
            currency: "usd".into(),
            pays: Pays::Subscription {
                subscription_id: sub.subscription_id,
                order_id: sub.order_id,
                service_id: sub.service_id,
            },
            state: ClaimState::Open,
        })
        .await?;
    // Written before looking, as a take-back that found no claim holds before it looks again.
    if let Some(claim) = deps.orders.claim(&invoice.id).await? {
        takebacks::revoke_if_held(deps, &claim).await?;
    }
    deps.orders.claim(&invoice.id).await
}

/// Why a paid invoice does not pay its claim, if it does not.
fn mismatch(claim: &PaymentClaim, invoice: &PaidInvoice) -> Option<String> {
    if invoice.customer.as_deref() != Some(claim.customer_id.as_str()) {
        return Some("paid by another customer than the one DOTM invoiced".into());
    }
    if !invoice.currency.eq_ignore_ascii_case(&claim.currency) {
        return Some(format!(
            "paid in {}, not {}",
            invoice.currency.to_uppercase(),
            claim.currency.to_uppercase()
        ));
    }
    if invoice.amount_paid < claim.amount_cents {
        return Some(format!(
            "paid {} of {}",
            Cents(invoice.amount_paid).display(),
            Cents(claim.amount_cents).display()
        ));
    }
    None
}

async fn unmatched(
    deps: &Deps,
    event: &Event,
    invoice: &PaidInvoice,
    reason: String,
) -> Result<Outcome, Unavailable> {
    // `metric` makes a CloudWatch metric filter (and an alarm) out of these lines.
    tracing::warn!(metric = "unmatched_payment", invoice = %invoice.id, amount_paid = invoice.amount_paid, currency = %invoice.currency, reason = %reason, "payment matched no order: nothing granted");
    deps.orders
        .record_unmatched(&UnmatchedPayment {
            invoice_id: invoice.id.clone(),
            event_id: event.id.clone(),
            customer_id: invoice.customer.clone(),
            amount_paid: invoice.amount_paid,
            currency: invoice.currency.clone(),
            reason: reason.clone(),
            at: rfc3339(deps.clock.now_unix()),
        })
        .await?;
    Ok(Outcome::Unmatched(format!(
        "invoice {}: {reason}",
        invoice.id
    )))
}

async fn paid_invoice(deps: &Deps, event: &Event) -> Result<Outcome, EventError> {
    let invoice: PaidInvoice = event.object()?;
    let Some(claim) = claim_for(deps, &invoice).await? else {
        let reason = "no order or subscription of DOTM is paid by this invoice".to_owned();
        return Ok(unmatched(deps, event, &invoice, reason).await?);
    };
    if let Some(reason) = mismatch(&claim, &invoice) {
        return Ok(unmatched(deps, event, &invoice, reason).await?);
    }
    if claim.state == ClaimState::Revoked {
        return Ok(Outcome::Ignored(format!(
            "invoice {} was refunded or disputed before its payment arrived",
            invoice.id
        )));
    }
    let (order, items) = match &claim.pays {
        Pays::Esim => (None, vec![ESIM.to_owned()]),
        Pays::Order { order_id } => {
            let order = deps
                .orders
                .order(&claim.uid, order_id)
                .await?
                .ok_or_else(|| Unavailable::new("orders", "a claimed order is missing"))?;
            let items = order.one_time().map(|l| l.service_id.clone()).collect();
            (Some(order), items)
        }
        Pays::Subscription { service_id, .. } => (None, vec![service_id.clone()]),
    };
    let purchase = Purchase {
        uid: claim.uid.clone(),
        purchase_id: invoice.id.clone(),
        product_id: items.first().cloned().unwrap_or_default(),
        items,
        order_id: order.as_ref().map(|o| o.order_id.clone()),
        // What DOTM asked: cashback is never paid on an overpayment.
        amount_cents: claim.amount_cents,
        currency: claim.currency.clone(),
        paid_at: rfc3339(
            invoice
                .status_transitions
                .paid_at
                .unwrap_or(invoice.created),
        ),
        event_id: event.id.clone(),
    };
    let fresh = deps.purchases.record_purchase(&purchase).await?;
    deps.orders
        .settle_claim(&invoice.id, ClaimState::Open, ClaimState::Paid)
        .await?;
    match &claim.pays {
        Pays::Esim => {
            deps.purchases
                .close_open_invoice(&claim.uid, ESIM, &invoice.id)
                .await?;
            // Queued at once: the person need not come back and say "I paid". Not `fresh`
            // means an earlier delivery may have crashed before sending the job: send again.
            activation_line::enqueue(deps, &purchase, !fresh).await?;
        }
        Pays::Order { .. } => {
            if let Some(order) = &order {
                fulfil_order(deps, order, &purchase, fresh).await?;
            }
        }
        Pays::Subscription {
            subscription_id,
            order_id,
            service_id,
        } => {
            let period_end = invoice.period_end().unwrap_or(0);
            deps.subscriptions
                .extend_subscription(&claim.uid, subscription_id, period_end)
                .await?;
            let now = rfc3339(deps.clock.now_unix());
            if let Some(line) =
                crate::domain::catalog::find(service_id).map(|s| crate::domain::orders::OrderLine {
                    service_id: s.id.to_owned(),
                    name: s.name.to_owned(),
                    quantity: 1,
                    unit_cents: claim.amount_cents,
                    amount_cents: claim.amount_cents,
                    billing: s.billing.label().to_owned(),
                })
                && let Some(entitlement) =
                    Entitlement::for_line(&claim.uid, &invoice.id, &line, order_id, &now)
            {
                deps.entitlements
                    .grant(&Entitlement {
                        subscription_id: Some(subscription_id.clone()),
                        until: (period_end > 0).then_some(period_end),
                        ..entitlement
                    })
                    .await?;
            }
            // An order of subscriptions only is paid with its first invoice.
            if invoice.billing_reason.as_deref() == Some("subscription_create") {
                let order = deps.orders.order(&claim.uid, order_id).await?;
                if order.is_some_and(|o| o.one_time().next().is_none()) {
                    deps.orders
                        .set_order_status(
                            &claim.uid,
                            order_id,
                            &[OrderStatus::Open],
                            OrderStatus::Paid,
                            &now,
                        )
                        .await?;
                }
            }
        }
    }
    rewards::credit_purchase(deps, &purchase).await?;
    // The worker holds the carrier and the mailer: it puts the grant on the line and mails
    // the receipt (each keyed, so a second request changes nothing).
    deps.queue
        .send_fulfilment(&FulfilTask {
            fulfil_for: claim.uid.clone(),
            receipt_for: Some(invoice.id.clone()),
            invoice_url: invoice.hosted_invoice_url.clone(),
        })
        .await?;
    if fresh {
        tracing::info!(uid = %claim.uid.short(), purchase = %invoice.id, "purchase recorded");
        Ok(Outcome::Recorded {
            uid: claim.uid,
            purchase_id: invoice.id,
        })
    } else {
        Ok(Outcome::AlreadyRecorded)
    }
}

async fn fulfil_order(
    deps: &Deps,
    order: &Order,
    purchase: &Purchase,
    fresh: bool,
) -> Result<(), Unavailable> {
    let now = rfc3339(deps.clock.now_unix());
    for line in order.one_time() {
        if let Some(e) = Entitlement::for_line(
            &order.uid,
            &purchase.purchase_id,
            line,
            &order.order_id,
            &now,
        ) {
            deps.entitlements.grant(&e).await?;
        }
    }
    deps.orders
        .set_order_status(
            &order.uid,
            &order.order_id,
            &[OrderStatus::Open],
            OrderStatus::Paid,
            &now,
        )
        .await?;
    // The same cart may now be bought again as a new order.
    deps.orders
        .unbind_request(
            &order.uid,
            &format!("cart#{}", order.fingerprint),
            &order.order_id,
        )
        .await?;
    if order.has(ESIM) {
        activation_line::enqueue(deps, purchase, !fresh).await?;
    }
    Ok(())
}

async fn failed_invoice(deps: &Deps, event: &Event) -> Result<Outcome, EventError> {
    let invoice: PaidInvoice = event.object()?;
    let Some(sub) = invoice.subscription_id() else {
        return Ok(Outcome::Ignored(format!(
            "invoice {} failed; it is not a subscription's",
            invoice.id
        )));
    };
    let Some(ours) = deps.subscriptions.subscription(sub).await? else {
        return Ok(Outcome::Ignored(format!(
            "subscription {sub} is not DOTM's"
        )));
    };
    if invoice.customer.as_deref() != Some(ours.customer_id.as_str()) {
        return Ok(Outcome::Ignored(format!(
            "invoice {} is another customer's",
            invoice.id
        )));
    }
    // What was paid lasts to the end of its period; Stripe retries, then cancels.
    deps.subscriptions
        .set_subscription_state(
            &ours.uid,
            &ours.subscription_id,
            Some(SubscriptionStatus::PastDue),
            ours.cancel_at_period_end,
            event.created,
        )
        .await?;
    Ok(Outcome::Applied(format!(
        "subscription {} is past due",
        ours.subscription_id
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryWorld, paid_event};
    use crate::ports::OrderStore;

    fn invoice_event(id: &str, invoice: serde_json::Value) -> Vec<u8> {
        serde_json::json!({"id": id, "type": "invoice.paid", "created": 1, "data": {"object": invoice}})
            .to_string()
            .into_bytes()
    }

    #[tokio::test]
    async fn metadata_alone_grants_nothing_and_is_left_for_operators() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        // The reported attack: a hand-made $0.01 invoice naming someone and the eSIM.
        let forged = invoice_event(
            "evt_1",
            serde_json::json!({
            "id": "in_forged", "customer": "cus_ada", "amount_paid": 1, "currency": "usd",
            "created": 1, "metadata": {"firebase_uid": "ada", "product": "esim_beta"}}),
        );
        let outcome = apply_event(&deps, &forged, 0).await.unwrap();
        assert!(matches!(outcome, Outcome::Unmatched(_)), "{outcome:?}");
        assert_eq!(world.purchases.purchase_count(), 0);
        assert!(world.activations.all().is_empty());
        let unmatched = world.orders.unmatched().await.unwrap();
        assert_eq!(unmatched.len(), 1);
        assert_eq!(unmatched[0].invoice_id, "in_forged");
    }

    #[tokio::test]
    async fn our_invoice_paid_short_in_another_currency_or_by_another_customer_grants_nothing() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        // The claim DOTM wrote for in_1: $1.00 USD from cus_ada.
        let _ = paid_event(&deps, "evt_0", "in_1", "ada").await;
        let cases = [
            ("cus_ada", 99, "usd", "paid $0.99 of $1.00"),
            ("cus_ada", 100, "eur", "paid in EUR, not USD"),
            ("cus_eve", 100, "usd", "another customer"),
        ];
        for (i, (customer, paid, currency, why)) in cases.into_iter().enumerate() {
            let event = invoice_event(
                &format!("evt_{i}x"),
                serde_json::json!({
                "id": "in_1", "customer": customer, "amount_paid": paid,
                "currency": currency, "created": 1}),
            );
            let outcome = apply_event(&deps, &event, 0).await.unwrap();
            match outcome {
                Outcome::Unmatched(reason) => assert!(reason.contains(why), "{reason}"),
                other => panic!("{customer} {paid} {currency}: {other:?}"),
            }
        }
        assert_eq!(world.purchases.purchase_count(), 0);
        assert_eq!(
            world.orders.claim("in_1").await.unwrap().map(|c| c.state),
            Some(ClaimState::Open)
        );
    }

    fn order_for(items: &[(&str, u32)]) -> crate::app::orders::OrderRequest {
        crate::app::orders::OrderRequest {
            items: items
                .iter()
                .map(|(id, q)| crate::domain::orders::ItemRequest {
                    service_id: (*id).into(),
                    quantity: Some(*q),
                })
                .collect(),
            shipping_address: None,
        }
    }

    fn paid(event: &str, invoice: &str, amount: u64) -> Vec<u8> {
        invoice_event(
            event,
            serde_json::json!({
            "id": invoice, "customer": "cus_ada", "amount_paid": amount, "currency": "usd",
            "created": 1}),
        )
    }

    /// `invoice_payment.paid` as Stripe sends it: the payment intent `pi_<invoice>` paid it.
    fn tie(event_id: &str, invoice: &str) -> Vec<u8> {
        event(
            event_id,
            "invoice_payment.paid",
            serde_json::json!({
            "id": format!("inpay_{invoice}"), "object": "invoice_payment", "invoice": invoice,
            "amount_paid": 2100, "currency": "usd", "status": "paid",
            "payment": {"type": "payment_intent", "payment_intent": format!("pi_{invoice}")}}),
        )
    }

    fn refund(event_id: &str, invoice: &str, customer: &str) -> Vec<u8> {
        event(
            event_id,
            "charge.refunded",
            serde_json::json!({
            "id": format!("ch_{invoice}"), "object": "charge", "customer": customer,
            "payment_intent": format!("pi_{invoice}"), "amount": 2100,
            "amount_refunded": 2100, "refunded": true}),
        )
    }

    fn event(id: &str, kind: &str, object: serde_json::Value) -> Vec<u8> {
        serde_json::json!({"id": id, "type": kind, "created": 2, "data": {"object": object}})
            .to_string()
            .into_bytes()
    }

    fn ada() -> crate::domain::users::Identity {
        crate::domain::users::Identity::verified(
            Uid::parse("ada").unwrap(),
            Some(crate::domain::users::Email::parse("ada@example.com").unwrap()),
        )
    }

    #[tokio::test]
    async fn a_refund_that_overtakes_its_payment_makes_the_payment_grant_nothing() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let request = order_for(&[("global_data_10gb", 1)]);
        let order =
            crate::app::orders::place(&deps, world.invoicing.as_ref(), &ada(), request, None)
                .await
                .unwrap();
        let invoice = order.payments[0].payment.invoice.invoice_id.clone();
        // Stripe's events in the order they may come: the refund first, then the tie between
        // the refunded payment and the invoice, then the invoice's payment.
        let outcome = apply_event(&deps, &refund("evt_r", &invoice, "cus_ada"), 0)
            .await
            .unwrap();
        assert!(
            matches!(&outcome, Outcome::Ignored(why) if why.contains("held")),
            "{outcome:?}"
        );
        let outcome = apply_event(&deps, &tie("evt_t", &invoice), 0)
            .await
            .unwrap();
        assert!(
            matches!(&outcome, Outcome::Applied(what) if what.contains("refunded")),
            "{outcome:?}"
        );
        let outcome = apply_event(&deps, &paid("evt_p", &invoice, 2100), 0)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Ignored(_)), "{outcome:?}");
        assert_eq!(world.purchases.purchase_count(), 0);
        assert!(
            deps.entitlements
                .entitlements(&ada().uid)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            world.activations.all().is_empty(),
            "no eSIM for a refunded order"
        );
    }

    #[tokio::test]
    async fn paid_twice_and_refunded_twice_is_paid_and_refunded_once() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let request = order_for(&[("global_data_10gb", 2)]);
        let order =
            crate::app::orders::place(&deps, world.invoicing.as_ref(), &ada(), request, None)
                .await
                .unwrap();
        let invoice = order.payments[0].payment.invoice.invoice_id.clone();
        for id in ["evt_1", "evt_2"] {
            apply_event(&deps, &paid(id, &invoice, 4100), 0)
                .await
                .unwrap();
        }
        assert_eq!(world.purchases.purchase_count(), 1);
        let granted = deps.entitlements.entitlements(&ada().uid).await.unwrap();
        assert_eq!(
            granted.len(),
            2,
            "data and the eSIM it brought: {granted:?}"
        );
        let cashback = deps.rewards.rewards(&ada().uid).await.unwrap();
        assert_eq!(cashback.iter().filter(|r| r.key == invoice).count(), 1);
        for id in ["evt_t1", "evt_t2"] {
            apply_event(&deps, &tie(id, &invoice), 0).await.unwrap();
        }
        for id in ["evt_3", "evt_4"] {
            apply_event(&deps, &refund(id, &invoice, "cus_ada"), 0)
                .await
                .unwrap();
        }
        let after = deps.entitlements.entitlements(&ada().uid).await.unwrap();
        assert!(after.iter().all(|e| e.revoked), "{after:?}");
        let order = deps
            .orders
            .order(&ada().uid, &order.order_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(order.status, OrderStatus::Refunded);
        let refused = deps.rewards.rewards(&ada().uid).await.unwrap();
        assert!(
            refused
                .iter()
                .filter(|r| r.key == invoice)
                .all(|r| r.status == crate::domain::rewards::RewardStatus::Refused)
        );
    }

    #[tokio::test]
    async fn a_refund_of_another_customers_payment_takes_nothing_back() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let order = crate::app::orders::place(
            &deps,
            world.invoicing.as_ref(),
            &ada(),
            order_for(&[("global_data_10gb", 1)]),
            None,
        )
        .await
        .unwrap();
        let invoice = order.payments[0].payment.invoice.invoice_id.clone();
        apply_event(&deps, &paid("evt_p", &invoice, 2100), 0)
            .await
            .unwrap();
        apply_event(&deps, &tie("evt_t", &invoice), 0)
            .await
            .unwrap();
        let outcome = apply_event(&deps, &refund("evt_r", &invoice, "cus_eve"), 0)
            .await
            .unwrap();
        assert!(
            matches!(&outcome, Outcome::Ignored(why) if why.contains("another customer")),
            "{outcome:?}"
        );
        let granted = deps.entitlements.entitlements(&ada().uid).await.unwrap();
        assert!(
            !granted.is_empty() && granted.iter().all(|e| !e.revoked),
            "{granted:?}"
        );
    }

    /// `Handled::ALL` is what the webhook endpoint is registered for: each type in it must reach
    /// a handler (which then refuses an empty object), and a type outside it must not.
    #[tokio::test]
    async fn every_registered_event_type_has_a_handler_and_no_other_type_does() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        for (i, handled) in Handled::ALL.into_iter().enumerate() {
            let kind = handled.event_type();
            assert_eq!(Handled::of(kind), Some(handled));
            let empty = event(&format!("evt_{i}"), kind, serde_json::json!({}));
            let outcome = apply_event(&deps, &empty, 0).await;
            assert!(
                matches!(outcome, Err(EventError::Malformed(_))),
                "{kind}: {outcome:?}"
            );
        }
        let mut kinds: Vec<_> = Handled::ALL.iter().map(|h| h.event_type()).collect();
        kinds.dedup();
        assert_eq!(kinds.len(), Handled::ALL.len());
        for other in [
            "charge.dispute.closed",
            "invoice.finalized",
            "payment_intent.succeeded",
        ] {
            let outcome = apply_event(&deps, &event(other, other, serde_json::json!({})), 0).await;
            assert!(
                matches!(&outcome, Ok(Outcome::Ignored(why)) if why.contains("need nothing")),
                "{other}: {outcome:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_renewal_refunded_before_its_invoice_paid_grants_nothing() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        deps.subscriptions
            .create_subscription(&crate::domain::subscriptions::Subscription {
                subscription_id: "sub_1".into(),
                uid: ada().uid,
                service_id: "vpn_access".into(),
                order_id: "ord_1".into(),
                customer_id: "cus_ada".into(),
                price_cents: 800,
                status: SubscriptionStatus::Active,
                cancel_at_period_end: false,
                paid_until: 0,
                state_at: 0,
                created_at: "2026-12-01T00:00:00Z".into(),
            })
            .await
            .unwrap();
        // The tie and the refund first: no claim exists yet for a renewal.
        apply_event(&deps, &tie("evt_t", "in_renew"), 0)
            .await
            .unwrap();
        let outcome = apply_event(&deps, &refund("evt_r", "in_renew", "cus_ada"), 0)
            .await
            .unwrap();
        assert!(
            matches!(&outcome, Outcome::Ignored(why) if why.contains("held")),
            "{outcome:?}"
        );
        let renewal = invoice_event(
            "evt_p",
            serde_json::json!({
            "id": "in_renew", "customer": "cus_ada", "amount_paid": 800, "currency": "usd",
            "created": 1, "billing_reason": "subscription_cycle",
            "parent": {"type": "subscription_details",
                       "subscription_details": {"subscription": "sub_1"}},
            "lines": {"data": [{"period": {"end": 1_800_000_000}}]}}),
        );
        let outcome = apply_event(&deps, &renewal, 0).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Ignored(why) if why.contains("refunded or disputed")),
            "{outcome:?}"
        );
        assert_eq!(world.purchases.purchase_count(), 0);
        assert!(
            deps.entitlements
                .entitlements(&ada().uid)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
