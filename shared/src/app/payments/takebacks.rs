//! Refunds and disputes take back what a payment granted: entitlements revoked (the worker then
//! turns features off and reverses data top-ups), the order marked, rewards not yet minted
//! cancelled. A line already activated stays active (the activation is a service rendered);
//! minted DOTM cannot be taken back from a wallet and stays minted.

use serde::Deserialize;

use super::{Event, EventError, Outcome};
use crate::app::Deps;
use crate::domain::activation::FulfilTask;
use crate::domain::orders::{ClaimState, OrderStatus, PaymentClaim, Pays};
use crate::domain::rewards::RewardStatus;
use crate::domain::time::rfc3339;
use crate::ports::Unavailable;

#[derive(Debug, Deserialize)]
struct Charge {
    id: String,
    #[serde(default)]
    invoice: Option<String>,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    refunded: bool,
}

#[derive(Debug, Deserialize)]
struct Dispute {
    id: String,
    charge: String,
}

/// The claim a charge paid: from our record of the charge, else the charge's own invoice
/// (a refund can arrive before the `invoice.paid` that told us the charge).
async fn claim_of(
    deps: &Deps,
    charge_id: &str,
    invoice: Option<&str>,
) -> Result<Option<PaymentClaim>, Unavailable> {
    let invoice_id = match deps.orders.charge_invoice(charge_id).await? {
        Some(id) => id,
        None => match invoice {
            Some(id) => id.to_owned(),
            None => return Ok(None),
        },
    };
    deps.orders.claim(&invoice_id).await
}

pub(super) async fn refunded(deps: &Deps, event: &Event) -> Result<Outcome, EventError> {
    let charge: Charge = event.object()?;
    let Some(claim) = claim_of(deps, &charge.id, charge.invoice.as_deref()).await? else {
        return Ok(Outcome::Ignored(format!(
            "charge {} paid nothing of DOTM's",
            charge.id
        )));
    };
    if charge
        .customer
        .as_deref()
        .is_some_and(|c| c != claim.customer_id)
    {
        return Ok(Outcome::Ignored(format!(
            "charge {} is another customer's",
            charge.id
        )));
    }
    if !charge.refunded {
        return Ok(Outcome::Ignored(format!(
            "charge {} is partly refunded: nothing is taken back",
            charge.id
        )));
    }
    take_back(
        deps,
        &claim,
        OrderStatus::Refunded,
        "the payment was refunded",
    )
    .await?;
    Ok(Outcome::Applied(format!(
        "invoice {} refunded",
        claim.invoice_id
    )))
}

pub(super) async fn disputed(deps: &Deps, event: &Event) -> Result<Outcome, EventError> {
    let dispute: Dispute = event.object()?;
    let Some(claim) = claim_of(deps, &dispute.charge, None).await? else {
        return Ok(Outcome::Ignored(format!(
            "dispute {} is about no payment of DOTM's",
            dispute.id
        )));
    };
    // The disputed amount leaves our balance when the dispute opens, so the grant goes then.
    take_back(
        deps,
        &claim,
        OrderStatus::Disputed,
        "the payment is disputed",
    )
    .await?;
    Ok(Outcome::Applied(format!(
        "invoice {} disputed",
        claim.invoice_id
    )))
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
