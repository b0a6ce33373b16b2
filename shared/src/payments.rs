//! Stripe webhooks: the signature check (over the raw body) and what a paid invoice records.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::activation::{Deps, ESIM_PRODUCT, enqueue};
use crate::ports::{Unavailable, rfc3339};
use crate::purchases::Purchase;
use crate::users::Uid;

/// Stripe's default: a signature older (or newer) than this is a replay.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("no v1 signature matches the payload")]
    NoMatch,
    #[error("the signature timestamp is outside the {TOLERANCE_SECONDS} s tolerance")]
    Stale,
}

/// Verifies `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]` as Stripe documents it:
/// HMAC-SHA256 of `"<t>.<raw body>"`, any matching `v1` passes (secret rotation), other
/// schemes (`v0`) are ignored, and `t` must be within the tolerance of `now`.
pub fn verify_signature(
    payload: &[u8],
    header: Option<&str>,
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoMatch);
    }
    let matches = signatures.iter().any(|sig| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        mac.verify_slice(sig).is_ok() // constant time
    });
    if !matches {
        return Err(SignatureError::NoMatch);
    }
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

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
    let store = deps.store.as_ref();
    let event: Event =
        serde_json::from_slice(payload).map_err(|e| EventError::Malformed(e.to_string()))?;
    if store.event_seen(&event.id).await? {
        return Ok(Outcome::Duplicate);
    }
    let outcome = match event.kind.as_str() {
        "invoice.paid" => record_paid_invoice(deps, &event).await?,
        other => Outcome::Ignored(format!("{other} events need nothing")),
    };
    store.mark_event_seen(&event.id, now).await?;
    Ok(outcome)
}

async fn record_paid_invoice(deps: &Deps, event: &Event) -> Result<Outcome, EventError> {
    let store = deps.store.as_ref();
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
    crate::token::credit_purchase(deps, &purchase).await?;
    if purchase.product_id == ESIM_PRODUCT {
        // Queued at once: the person need not come back and say "I paid". Not `fresh` means
        // an earlier delivery may have crashed before sending the job, so send it again.
        enqueue(deps, &purchase, !fresh).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    #[test]
    fn a_valid_signature_passes() {
        let header = format!("t=1000,v1={}", sign("whsec_a", 1000, BODY));
        assert_eq!(
            verify_signature(BODY, Some(&header), "whsec_a", 1000),
            Ok(())
        );
        assert_eq!(
            verify_signature(BODY, Some(&header), "whsec_a", 1300),
            Ok(())
        );
    }

    #[test]
    fn any_matching_v1_passes_and_v0_is_ignored() {
        let header = format!(
            "t=1000,v0=abcd,v1={},v1={}",
            sign("old", 1000, BODY),
            sign("whsec_a", 1000, BODY)
        );
        assert_eq!(
            verify_signature(BODY, Some(&header), "whsec_a", 1000),
            Ok(())
        );
    }

    #[test]
    fn forged_tampered_stale_and_missing_are_refused() {
        let good = sign("whsec_a", 1000, BODY);
        let forged = format!("t=1000,v1={}", sign("guess", 1000, BODY));
        assert_eq!(
            verify_signature(BODY, Some(&forged), "whsec_a", 1000),
            Err(SignatureError::NoMatch)
        );
        let header = format!("t=1000,v1={good}");
        let tampered = br#"{"id":"evt_1","type":"invoice.paid","x":1}"#;
        assert_eq!(
            verify_signature(tampered, Some(&header), "whsec_a", 1000),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_signature(BODY, Some(&header), "whsec_a", 1301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(BODY, None, "whsec_a", 1000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(BODY, Some("t=1000"), "whsec_a", 1000),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_signature(BODY, Some("garbage"), "whsec_a", 1000),
            Err(SignatureError::Malformed)
        );
        let moved = format!("t=1001,v1={good}");
        assert_eq!(
            verify_signature(BODY, Some(&moved), "whsec_a", 1000),
            Err(SignatureError::NoMatch)
        );
    }
}
