//! Refunds and disputes take back what a payment granted: entitlements revoked (the worker then
//! turns features off and reverses data top-ups), the order marked, rewards not yet minted
//! cancelled. A line already activated stays active (the activation is a service rendered);
//! minted DOTM cannot be taken back from a wallet and stays minted.
//!
//! Refunds and disputes name the payment (its payment intent), never the invoice: since Stripe
//! API version `2025-03-31.basil` only an `invoice_payment` ties the two, and its
//! `invoice_payment.paid` event may come after the refund. So the tie is stored when it comes
//! (`PAYMENT#<id>`), and a take-back that finds none is held on the payment until it does.
//! Stripe's word about the payment is then checked against our claim for the invoice.

use serde::Deserialize;

use super::{Event, EventError, Outcome};
use crate::app::Deps;
use crate::domain::activation::FulfilTask;
use crate::domain::orders::{ClaimState, HeldTakeback, OrderStatus, PaymentClaim, Pays, Takeback};
use crate::domain::rewards::RewardStatus;
use crate::domain::time::rfc3339;
use crate::ports::Unavailable;

#[derive(Debug, Deserialize)]
struct Charge {
    id: String,
    #[serde(default)]
    payment_intent: Option<String>,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    refunded: bool,
}

#[derive(Debug, Deserialize)]
struct Dispute {
    id: String,
    charge: String,
    #[serde(default)]
    payment_intent: Option<String>,
}

/// Stripe's `invoice_payment`: the only tie between a payment and the invoice it paid since
/// API version `2025-03-31.basil` removed `invoice.charge` and `charge.invoice`.
#[derive(Debug, Deserialize)]
struct InvoicePayment {
    id: String,
    invoice: String,
    payment: AssociatedPayment,
}

/// `payment_intent` when `type` is `payment_intent`; `charge` only for a charge made without
/// one (Stripe surfaces the intent when there is one).
#[derive(Debug, Deserialize)]
struct AssociatedPayment {
    #[serde(default)]
    payment_intent: Option<String>,
    #[serde(default)]
    charge: Option<String>,
}

/// The id a payment is known by in every object that names it: its payment intent, else (a
/// charge made without one) the charge.
fn payment_id<'a>(payment_intent: Option<&'a str>, charge: &'a str) -> &'a str {
    payment_intent.unwrap_or(charge)
}

/// Where a take-back waits for the claim of the invoice its payment paid (a renewal's, before
/// the renewal's `invoice.paid` wrote it).
pub(super) fn held_on_invoice(invoice_id: &str) -> String {
    format!("invoice:{invoice_id}")
}

/// A renewal's claim just written: revoked at once when a refund or dispute of its payment was
/// held for it (nothing was granted from it yet). True when it was.
pub(super) async fn revoke_if_held(deps: &Deps, claim: &PaymentClaim) -> Result<bool, Unavailable> {
    let Some(held) = deps
        .orders
        .held_takeback(&held_on_invoice(&claim.invoice_id))
        .await?
    else {
        return Ok(false);
    };
    if held
        .customer_id
        .as_deref()
        .is_some_and(|c| c != claim.customer_id)
    {
        return Ok(false);
    }
    deps.orders
        .settle_claim(&claim.invoice_id, ClaimState::Open, ClaimState::Revoked)
        .await
}

/// `invoice_payment.paid`: remembers which invoice the payment paid, and applies a refund or
/// dispute that came first. Recorded for any invoice (a renewal's claim is written later, by
/// its `invoice.paid`); a take-back then checks our claim, never Stripe's word alone.
pub(super) async fn invoice_payment_paid(
    deps: &Deps,
    event: &Event,
) -> Result<Outcome, EventError> {
    let paid: InvoicePayment = event.object()?;
    let Some(payment) = paid
        .payment
        .payment_intent
        .as_deref()
        .or(paid.payment.charge.as_deref())
    else {
        return Ok(Outcome::Ignored(format!(
            "invoice payment {} names no payment intent or charge",
            paid.id
        )));
    };
    deps.orders.save_payment(payment, &paid.invoice).await?;
    // Written before looking: a take-back held meanwhile looks again after holding.
    if let Some(held) = deps.orders.held_takeback(payment).await?
        && let Some(outcome) = apply(deps, payment, &held).await?
    {
        return Ok(outcome);
    }
    Ok(Outcome::Applied(format!(
        "payment {payment} paid invoice {}",
        paid.invoice
    )))
}

pub(super) async fn refunded(deps: &Deps, event: &Event) -> Result<Outcome, EventError> {
    let charge: Charge = event.object()?;
    if !charge.refunded {
        return Ok(Outcome::Ignored(format!(
            "charge {} is partly refunded: nothing is taken back",
            charge.id
        )));
    }
    let payment = payment_id(charge.payment_intent.as_deref(), &charge.id);
    let held = HeldTakeback {
        takeback: Takeback::Refunded,
        customer_id: charge.customer.clone(),
    };
    apply_or_hold(deps, payment, &held).await
}

pub(super) async fn disputed(deps: &Deps, event: &Event) -> Result<Outcome, EventError> {
    let dispute: Dispute = event.object()?;
    let payment = payment_id(dispute.payment_intent.as_deref(), &dispute.charge);
    // The disputed amount leaves our balance when the dispute opens, so the grant goes then.
    let held = HeldTakeback {
        takeback: Takeback::Disputed,
        customer_id: None,
    };
    let outcome = apply_or_hold(deps, payment, &held).await?;
    tracing::info!(dispute = %dispute.id, payment, "dispute opened");
    Ok(outcome)
}

/// Takes the grant back now when the payment's invoice is known, else holds the take-back for
/// `invoice_payment.paid`. Hold, then look again: of two events handled at once, each writes
/// before it reads, so at least one of them sees the other (applying twice changes nothing).
async fn apply_or_hold(
    deps: &Deps,
    payment: &str,
    held: &HeldTakeback,
) -> Result<Outcome, EventError> {
    if let Some(outcome) = apply(deps, payment, held).await? {
        return Ok(outcome);
    }
    deps.orders.hold_takeback(payment, held).await?;
    if let Some(outcome) = apply(deps, payment, held).await? {
        return Ok(outcome);
    }
    Ok(Outcome::Ignored(format!(
        "payment {payment} is not tied to an invoice yet: held until its invoice_payment.paid"
    )))
}

/// None while no `invoice_payment` has told us the payment's invoice.
async fn apply(
    deps: &Deps,
    payment: &str,
    held: &HeldTakeback,
) -> Result<Option<Outcome>, Unavailable> {
    let Some(invoice_id) = deps.orders.payment_invoice(payment).await? else {
        return Ok(None);
    };
    let claim = match deps.orders.claim(&invoice_id).await? {
        Some(claim) => claim,
        None => {
            // A renewal's claim is written by its `invoice.paid`, which may come later: hold
            // the take-back on the invoice too, then look again (`claim_for` writes the claim
            // before it looks for one held).
            deps.orders
                .hold_takeback(&held_on_invoice(&invoice_id), held)
                .await?;
            match deps.orders.claim(&invoice_id).await? {
                Some(claim) => claim,
                None => {
                    return Ok(Some(Outcome::Ignored(format!(
                        "payment {payment} paid nothing of DOTM's yet (invoice {invoice_id}): held until it does"
                    ))));
                }
            }
        }
    };
    if held
        .customer_id
        .as_deref()
        .is_some_and(|c| c != claim.customer_id)
    {
        return Ok(Some(Outcome::Ignored(format!(
            "payment {payment} is another customer's"
        ))));
    }
    let (status, reason, done) = match held.takeback {
        Takeback::Refunded => (
            OrderStatus::Refunded,
            "the payment was refunded",
            "refunded",
        ),
        Takeback::Disputed => (OrderStatus::Disputed, "the payment is disputed", "disputed"),
    };
    take_back(deps, &claim, status, reason).await?;
    Ok(Some(Outcome::Applied(format!(
        "invoice {} {done}",
        claim.invoice_id
    ))))
}

async fn take_back(
    deps: &Deps,
    claim: &PaymentClaim,
    status: OrderStatus,
    reason: &str,
) -> Result<(), Unavailable> {
    let orders = deps.orders.as_ref();
    // Open too: a refund that overtakes its payment makes the later `invoice.paid` grant nothing.
    if !orders
        .settle_claim(&claim.invoice_id, ClaimState::Paid, ClaimState::Revoked)
        .await?
    {
        orders
            .settle_claim(&claim.invoice_id, ClaimState::Open, ClaimState::Revoked)
            .await?;
    }
    deps.entitlements
        .revoke(&claim.uid, &claim.invoice_id)
        .await?;
    if let Pays::Order { order_id } = &claim.pays {
        let now = rfc3339(deps.clock.now_unix());
        orders
            .set_order_status(
                &claim.uid,
                order_id,
                &[OrderStatus::Open, OrderStatus::Paid],
                status,
                &now,
            )
            .await?;
    }
    let founding = format!("founding#{}", claim.invoice_id);
    for reward in deps.rewards.rewards(&claim.uid).await? {
        let from_this = reward.key == claim.invoice_id || reward.key == founding;
        if from_this && reward.status == RewardStatus::Pending {
            deps.rewards
                .settle(&reward, RewardStatus::Refused, None, Some(reason))
                .await?;
        }
    }
    deps.queue
        .send_fulfilment(&FulfilTask {
            fulfil_for: claim.uid.clone(),
            receipt_for: None,
            invoice_url: None,
        })
        .await?;
    tracing::warn!(uid = %claim.uid.short(), invoice = %claim.invoice_id, reason, "payment taken back");
    Ok(())
}
