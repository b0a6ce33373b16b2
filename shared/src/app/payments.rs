//! Payment events (Stripe webhooks, their signature already checked by `web`): what a paid
//! invoice records, credits and puts in line.

use serde::Deserialize;

use crate::app::esim::ESIM_PRODUCT;
use crate::app::{Deps, activation_line, rewards};
use crate::domain::purchases::Purchase;
use crate::domain::time::rfc3339;
use crate::domain::users::Uid;
use crate::ports::Unavailable;

/// The fields of a Stripe event we use. Unknown fields are ignored, so a newer API version
/// does not break the webhook.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct PaidInvoice {
    id: String,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    amount_paid: u64,
    currency: String,
    #[serde(default)]
    status_transitions: Transitions,
    created: i64,
}

#[derive(Debug, Default, Deserialize)]
struct Transitions {
    paid_at: Option<i64>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Recorded { uid: Uid, purchase_id: String },
    AlreadyRecorded,
    Duplicate,
    Ignored(String),
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the event is not a Stripe event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Applies one verified event. Safe to run twice and in any order: the purchase is a
/// conditional write keyed by invoice id, and the event is marked seen only after it.
pub async fn apply_event(deps: &Deps, payload: &[u8], now: i64) -> Result<Outcome, EventError> {
    let events = deps.events.as_ref();
    let event: Event =
        serde_json::from_slice(payload).map_err(|e| EventError::Malformed(e.to_string()))?;
    if events.event_seen(&event.id).await? {
        return Ok(Outcome::Duplicate);
    }
    let outcome = match event.kind.as_str() {
        "invoice.paid" => record_paid_invoice(deps, &event).await?,
        other => Outcome::Ignored(format!("{other} events need nothing")),
    };
    events.mark_event_seen(&event.id, now).await?;
    Ok(outcome)
}

async fn record_paid_invoice(deps: &Deps, event: &Event) -> Result<Outcome, EventError> {
    let store = deps.purchases.as_ref();
    let invoice: PaidInvoice = serde_json::from_value(event.data.object.clone())
        .map_err(|e| EventError::Malformed(format!("invoice.paid without an invoice: {e}")))?;
    let (Some(uid), Some(product)) = (
        invoice.metadata.get("firebase_uid"),
        invoice.metadata.get("product"),
    ) else {
        return Ok(Outcome::Ignored(format!(
            "invoice {} was not made by DOTM",
            invoice.id
        )));
    };
    let Ok(uid) = Uid::parse(uid) else {
        return Ok(Outcome::Ignored(format!(
            "invoice {} has a malformed firebase_uid",
            invoice.id
        )));
    };
    let purchase = Purchase {
        uid: uid.clone(),
        purchase_id: invoice.id.clone(),
        product_id: product.clone(),
        amount_cents: invoice.amount_paid,
        currency: invoice.currency.clone(),
        paid_at: rfc3339(
            invoice
                .status_transitions
                .paid_at
                .unwrap_or(invoice.created),
        ),
        event_id: event.id.clone(),
    };
    let fresh = store.record_purchase(&purchase).await?;
    store.close_open_invoice(&uid, product, &invoice.id).await?;
    rewards::credit_purchase(deps, &purchase).await?;
    if purchase.product_id == ESIM_PRODUCT {
        // Queued at once: the person need not come back and say "I paid". Not `fresh` means
        // an earlier delivery may have crashed before sending the job, so send it again.
        activation_line::enqueue(deps, &purchase, !fresh).await?;
    }
    if fresh {
        tracing::info!(uid = %uid.short(), purchase = %invoice.id, product = %product, "purchase recorded");
        Ok(Outcome::Recorded {
            uid,
            purchase_id: invoice.id,
        })
    } else {
        Ok(Outcome::AlreadyRecorded)
    }
}
