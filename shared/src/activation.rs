//! `activate_esim`: one function behind the MCP tool and `POST /api/esim/activate`.
//!
//! The identity comes from the verified token only. Without a paid `esim_beta` purchase the
//! person gets the one open $1 invoice (made once, however many calls race); with one, the
//! purchase. The activation issue turns `paid` into queued/active.

use std::sync::Arc;

use serde::Serialize;

use crate::catalog;
use crate::money::Cents;
use crate::ports::{Billing, Clock, CreateUserError, Store, Unavailable};
use crate::purchases::{OpenInvoice, Purchase};
use crate::users::{Identity, User};

pub const ESIM_PRODUCT: &str = "esim_beta";

/// Everything the use cases need, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub billing: Arc<dyn Billing>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error(
        "your account has no email address; add one to your sign-in account to receive the invoice and the eSIM"
    )]
    NoEmail,
    #[error(transparent)]
    EmailTaken(#[from] EmailTaken),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
#[error("this email address already belongs to another DOTM account")]
pub struct EmailTaken;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ActivationAnswer {
    PaymentRequired {
        product_id: &'static str,
        invoice_id: String,
        invoice_url: String,
        #[serde(serialize_with = "Cents::serialize_dollars")]
        amount: Cents,
        amount_cents: u64,
        currency: String,
        message: String,
    },
    Paid {
        purchase_id: String,
        product_id: String,
        amount_cents: u64,
        currency: String,
        paid_at: String,
        message: String,
    },
}

/// Finds the caller's user, creating it (and claiming its email) on the first call.
pub async fn find_or_create_user(
    deps: &Deps,
    identity: &Identity,
) -> Result<User, ActivationError> {
    if let Some(user) = deps.store.user(&identity.uid).await? {
        return Ok(user);
    }
    let user = User {
        uid: identity.uid.clone(),
        email: identity.email.clone(),
        created_at: crate::ports::rfc3339(deps.clock.now_unix()),
        stripe_customer_id: None,
        wallet: None,
        roles: Vec::new(),
    };
    match deps.store.create_user(&user).await {
        Ok(user) => {
            tracing::info!(uid = %user.uid.short(), "user created");
            Ok(user)
        }
        Err(CreateUserError::EmailTaken) => Err(EmailTaken.into()),
        Err(CreateUserError::Unavailable(e)) => Err(e.into()),
    }
}

pub async fn activate_esim(
    deps: &Deps,
    identity: &Identity,
) -> Result<ActivationAnswer, ActivationError> {
    let user = find_or_create_user(deps, identity).await?;
    let purchases = deps.store.purchases(&user.uid).await?;
    if let Some(paid) = purchases.into_iter().find(|p| p.product_id == ESIM_PRODUCT) {
        return Ok(paid_answer(paid));
    }
    if let Some(open) = deps.store.open_invoice(&user.uid, ESIM_PRODUCT).await? {
        return Ok(payment_required(open));
    }
    let email = user
        .email
        .as_ref()
        .or(identity.email.as_ref())
        .ok_or(ActivationError::NoEmail)?;
    let customer = match &user.stripe_customer_id {
        Some(id) => id.clone(),
        None => {
            let id = deps.billing.customer(&user.uid, email).await?;
            deps.store.set_stripe_customer(&user.uid, &id).await?
        }
    };
    let product = catalog::find(ESIM_PRODUCT)
        .ok_or_else(|| Unavailable::new("catalog", "esim_beta is missing from the catalog"))?;
    let invoice = deps.billing.invoice(&customer, &user.uid, product).await?;
    let stored = deps.store.save_open_invoice(&user.uid, &invoice).await?;
    tracing::info!(uid = %user.uid.short(), invoice = %stored.invoice_id, "eSIM invoice sent");
    Ok(payment_required(stored))
}

fn payment_required(open: OpenInvoice) -> ActivationAnswer {
    let amount = open.amount();
    ActivationAnswer::PaymentRequired {
        product_id: ESIM_PRODUCT,
        message: format!(
            "Pay the {} eSIM activation invoice at {}; the eSIM is activated as soon as the payment arrives, and its QR code is emailed to you.",
            amount.display(),
            open.hosted_url
        ),
        amount,
        amount_cents: amount.get(),
        invoice_id: open.invoice_id,
        invoice_url: open.hosted_url,
        currency: open.currency,
    }
}

fn paid_answer(p: Purchase) -> ActivationAnswer {
    ActivationAnswer::Paid {
        message: format!(
            "Your {} eSIM activation payment arrived on {}; the activation is on its way.",
            p.amount().display(),
            p.paid_at
        ),
        purchase_id: p.purchase_id,
        product_id: p.product_id,
        amount_cents: p.amount_cents,
        currency: p.currency,
        paid_at: p.paid_at,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::fakes::{FixedClock, MemoryBilling, MemoryStore};
    use crate::payments::{Outcome, apply_event};
    use crate::users::{Email, Uid};

    fn deps() -> (Deps, Arc<MemoryBilling>, Arc<MemoryStore>) {
        let billing = Arc::new(MemoryBilling::default());
        let store = Arc::new(MemoryStore::default());
        let deps = Deps {
            store: store.clone(),
            billing: billing.clone(),
            clock: Arc::new(FixedClock::at(1_795_608_000)),
        };
        (deps, billing, store)
    }

    fn ada() -> Identity {
        Identity {
            uid: Uid::parse("ada-uid").unwrap(),
            email: Some(Email::parse("ada@example.com").unwrap()),
        }
    }

    fn paid_event(event_id: &str, invoice_id: &str, uid: &str) -> Vec<u8> {
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

    #[tokio::test]
    async fn the_first_call_sends_one_invoice_and_later_calls_reuse_it() {
        let (deps, billing, _) = deps();
        let first = activate_esim(&deps, &ada()).await.unwrap();
        let ActivationAnswer::PaymentRequired {
            invoice_url,
            amount_cents,
            ..
        } = &first
        else {
            panic!("{first:?}")
        };
        assert_eq!(*amount_cents, 100);
        assert!(invoice_url.starts_with("https://"));
        let again = activate_esim(&deps, &ada()).await.unwrap();
        assert!(matches!(again, ActivationAnswer::PaymentRequired { .. }));
        assert_eq!(billing.invoice_calls.load(Ordering::SeqCst), 1);
        assert_eq!(billing.customer_calls.load(Ordering::SeqCst), 1);
        let json = serde_json::to_value(&first).unwrap();
        assert_eq!(json["status"], "payment_required");
        assert_eq!(json["amount"], serde_json::json!(1.0));
    }

    #[tokio::test]
    async fn after_payment_the_answer_is_paid() {
        let (deps, _, store) = deps();
        activate_esim(&deps, &ada()).await.unwrap();
        let event = paid_event("evt_1", "in_ada-uid_esim_beta", "ada-uid");
        let outcome = apply_event(store.as_ref(), &event, 1_795_608_200)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Recorded { .. }), "{outcome:?}");
        let answer = activate_esim(&deps, &ada()).await.unwrap();
        let ActivationAnswer::Paid {
            purchase_id,
            paid_at,
            ..
        } = answer
        else {
            panic!("{answer:?}")
        };
        assert_eq!(purchase_id, "in_ada-uid_esim_beta");
        assert_eq!(paid_at, "2026-11-25T12:01:40Z");
    }

    #[tokio::test]
    async fn an_event_twice_or_a_twin_event_records_one_purchase() {
        let (_, _, store) = deps();
        let event = paid_event("evt_1", "in_1", "ada-uid");
        assert!(matches!(
            apply_event(store.as_ref(), &event, 0).await.unwrap(),
            Outcome::Recorded { .. }
        ));
        assert_eq!(
            apply_event(store.as_ref(), &event, 0).await.unwrap(),
            Outcome::Duplicate
        );
        let twin = paid_event("evt_2", "in_1", "ada-uid");
        assert_eq!(
            apply_event(store.as_ref(), &twin, 0).await.unwrap(),
            Outcome::AlreadyRecorded
        );
        assert_eq!(store.purchase_count(), 1);
    }

    #[tokio::test]
    async fn foreign_and_other_events_are_ignored() {
        let (_, _, store) = deps();
        let other = br#"{"id":"evt_9","type":"invoice.finalized","data":{"object":{}}}"#;
        assert!(matches!(
            apply_event(store.as_ref(), other, 0).await.unwrap(),
            Outcome::Ignored(_)
        ));
        let foreign = serde_json::json!({"id": "evt_8", "type": "invoice.paid", "data": {"object": {
            "id": "in_x", "amount_paid": 500, "currency": "usd", "created": 1, "metadata": {}}}});
        let outcome = apply_event(store.as_ref(), foreign.to_string().as_bytes(), 0)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Ignored(_)), "{outcome:?}");
        assert_eq!(store.purchase_count(), 0);
        assert!(apply_event(store.as_ref(), b"{}", 0).await.is_err());
    }

    #[tokio::test]
    async fn without_an_email_there_is_no_invoice() {
        let (deps, billing, _) = deps();
        let nobody = Identity {
            uid: Uid::parse("phone-only").unwrap(),
            email: None,
        };
        assert!(matches!(
            activate_esim(&deps, &nobody).await,
            Err(ActivationError::NoEmail)
        ));
        assert_eq!(billing.invoice_calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_email_belongs_to_one_account() {
        let (deps, _, _) = deps();
        activate_esim(&deps, &ada()).await.unwrap();
        let impostor = Identity {
            uid: Uid::parse("other-uid").unwrap(),
            email: Some(Email::parse("ADA@example.com").unwrap()),
        };
        assert!(matches!(
            activate_esim(&deps, &impostor).await,
            Err(ActivationError::EmailTaken(_))
        ));
    }
}
