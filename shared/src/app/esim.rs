//! The DOT eSIM: `activate_esim` (the MCP tool and `POST /api/esim/activate`) and its state.
//!
//! The identity comes from the verified token only. Without a paid `esim_beta` purchase the
//! person gets the one open $1 invoice (made once, however many calls race); with one, the
//! state of its activation. Asking for the state ([`status`]) never writes anything.

use schemars::JsonSchema;
use serde::Serialize;

use crate::app::accounts::{self, AccountError};
use crate::app::{Deps, activation_line};
use crate::domain::activation::{Activation, Status};
use crate::domain::catalog;
use crate::domain::money::Cents;
use crate::domain::nanp::AreaCode;
use crate::domain::orders::{ClaimState, PaymentClaim, Pays};
use crate::domain::purchases::{OpenInvoice, Purchase};
use crate::domain::time::{rfc3339, rfc3339_ms};
use crate::domain::users::Identity;
use crate::ports::{InvoiceLine, Invoicing, Unavailable};

pub const ESIM_PRODUCT: &str = "esim_beta";

#[derive(Debug, thiserror::Error)]
pub enum EsimError {
    #[error(
        "DOTM needs a verified email address to send the invoice and the eSIM: verify the email of your sign-in account (or add one) and try again"
    )]
    NoEmail,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// What the person sees, one object whatever the status (also the MCP output schema).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ActivationAnswer {
    PaymentRequired {
        product_id: &'static str,
        invoice_id: String,
        invoice_url: String,
        /// Dollars; `amount_cents` is exact.
        #[serde(serialize_with = "Cents::serialize_dollars")]
        #[schemars(with = "f64")]
        amount: Cents,
        amount_cents: u64,
        currency: String,
        message: String,
    },
    /// Paid and waiting for the carrier. `position` 1 is next in line.
    Queued {
        purchase_id: String,
        position: u64,
        jobs_ahead: u64,
        /// RFC 3339 with milliseconds: when its carrier call should start.
        eta: String,
        /// The same, in Unix milliseconds.
        eta_ms: i64,
        eta_seconds: i64,
        message: String,
    },
    Active {
        purchase_id: String,
        phone_number: String,
        iccid: String,
        /// The activation code (SGP.22). Always given by the API; an MCP client with MCP Apps
        /// gets it in the install card's `_meta` instead.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lpa_code: Option<String>,
        /// One-tap install on iOS 17.4+.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ios_install_url: Option<String>,
        /// `data:image/png;base64,...` (the API; MCP clients get an image block or the card).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qr_code: Option<String>,
        activated_at: String,
        message: String,
    },
    Failed {
        purchase_id: String,
        reason: String,
        next_steps: String,
    },
    /// `activation_status` before any `activate_esim`.
    NotStarted { message: String },
}

/// `area_code`: the area code the person wants their number in (kept on the profile; the worker
/// asks the carrier for it when it makes the line, if the carrier offers it then).
pub async fn activate(
    deps: &Deps,
    invoicing: &dyn Invoicing,
    identity: &Identity,
    area_code: Option<&AreaCode>,
) -> Result<ActivationAnswer, EsimError> {
    if identity.anonymous {
        return Err(AccountError::Anonymous.into());
    }
    let user = accounts::find_or_create_user(deps, identity).await?;
    if let Some(code) = area_code
        && user.area_code.as_deref() != Some(code.as_str())
    {
        deps.users.set_area_code(&user.uid, code.as_str()).await?;
    }
    if let Some(paid) = paid_esim(deps, identity).await? {
        // A purchase whose enqueue crashed half-way is finished here (activating is a write).
        let activation = activation_line::enqueue(deps, &paid, false).await?;
        return Ok(status_answer(deps, &activation).await?);
    }
    if let Some(open) = deps.purchases.open_invoice(&user.uid, ESIM_PRODUCT).await? {
        return Ok(payment_required(open));
    }
    // Only a verified, claimed address is mailed an invoice.
    if user.email.is_none() {
        return Err(EsimError::NoEmail);
    }
    let customer = accounts::stripe_customer(deps, invoicing, &user).await?;
    let product = catalog::find(ESIM_PRODUCT)
        .ok_or_else(|| Unavailable::new("catalog", "esim_beta is missing from the catalog"))?;
    let scope = format!("{}-{ESIM_PRODUCT}", user.uid);
    let line = InvoiceLine {
        description: product.name.to_owned(),
        amount_cents: product.price_cents.get(),
    };
    let metadata = [
        ("firebase_uid", user.uid.as_str()),
        ("product", ESIM_PRODUCT),
    ];
    let draft = invoicing
        .draft_invoice(
            &customer,
            &scope,
            &format!("DOTM {}", product.name),
            &[line],
            &metadata,
        )
        .await?;
    // The claim exists before anyone can pay: the webhook grants only what it finds here.
    deps.orders
        .save_claim(&PaymentClaim {
            invoice_id: draft.clone(),
            uid: user.uid.clone(),
            customer_id: customer,
            amount_cents: product.price_cents.get(),
            currency: "usd".into(),
            pays: Pays::Esim,
            state: ClaimState::Open,
        })
        .await?;
    let sent = invoicing.send_invoice(&draft, &scope).await?;
    let invoice = OpenInvoice {
        invoice_id: sent.invoice_id,
        hosted_url: sent.invoice_url,
        product_id: ESIM_PRODUCT.to_owned(),
        amount_cents: sent.amount_cents,
        currency: "usd".into(),
        created_at: rfc3339(deps.clock.now_unix()),
    };
    let stored = deps
        .purchases
        .save_open_invoice(&user.uid, &invoice)
        .await?;
    tracing::info!(uid = %user.uid.short(), invoice = %stored.invoice_id, "eSIM invoice sent");
    Ok(payment_required(stored))
}

async fn paid_esim(deps: &Deps, identity: &Identity) -> Result<Option<Purchase>, Unavailable> {
    let purchases = deps.purchases.purchases(&identity.uid).await?;
    Ok(purchases.into_iter().find(|p| p.includes(ESIM_PRODUCT)))
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

/// The current state, read only: no user, invoice, customer, slot or job is created.
pub async fn status(deps: &Deps, identity: &Identity) -> Result<ActivationAnswer, EsimError> {
    if let Some(paid) = paid_esim(deps, identity).await? {
        return Ok(
            match deps
                .activations
                .activation(&identity.uid, &paid.purchase_id)
                .await?
            {
                Some(activation) => status_answer(deps, &activation).await?,
                // Paid, and the webhook has not put it in line yet: behind everyone waiting.
                None => not_yet_in_line(deps, &paid).await?,
            },
        );
    }
    if let Some(open) = deps
        .purchases
        .open_invoice(&identity.uid, ESIM_PRODUCT)
        .await?
    {
        return Ok(payment_required(open));
    }
    Ok(ActivationAnswer::NotStarted {
        message: "No eSIM activation yet: call activate_esim to get the $1.00 invoice.".into(),
    })
}

async fn not_yet_in_line(deps: &Deps, paid: &Purchase) -> Result<ActivationAnswer, Unavailable> {
    let now_ms = deps.clock.now_unix_ms();
    let jobs_ahead = deps.activations.waiting_jobs().await?;
    let state = deps.throttle.throttle().await?;
    Ok(queued(
        &paid.purchase_id,
        jobs_ahead,
        state.next_slot(&deps.limits, now_ms),
        now_ms,
    ))
}

fn queued(purchase_id: &str, jobs_ahead: u64, slot_ms: i64, now_ms: i64) -> ActivationAnswer {
    ActivationAnswer::Queued {
        purchase_id: purchase_id.to_owned(),
        position: jobs_ahead + 1,
        jobs_ahead,
        eta: rfc3339_ms(slot_ms),
        eta_ms: slot_ms,
        eta_seconds: ((slot_ms - now_ms).max(0) + 999) / 1000,
        message: format!(
            "Paid. Your eSIM is number {} in line and should be active around {} UTC; we email the QR code as soon as it is.",
            jobs_ahead + 1,
            rfc3339(slot_ms.div_euclid(1000))
        ),
    }
}

/// What the person sees of an activation.
/// Said when the person asked for an area code the carrier had no numbers in.
fn area_code_note(a: &Activation) -> String {
    match a.carrier_call.as_ref() {
        Some(call)
            if call.area_code_wanted.is_some() && call.area_code_wanted != call.area_code_asked =>
        {
            format!(
                " The carrier had no numbers in area code {}, so it chose this one.",
                call.area_code_wanted.as_deref().unwrap_or_default()
            )
        }
        _ => String::new(),
    }
}

pub async fn status_answer(deps: &Deps, a: &Activation) -> Result<ActivationAnswer, Unavailable> {
    let now = deps.clock.now_unix();
    Ok(match (a.status, &a.line) {
        (Status::Active, Some(line)) => ActivationAnswer::Active {
            purchase_id: a.purchase_id.clone(),
            phone_number: line.phone_number.clone(),
            iccid: line.iccid.clone(),
            lpa_code: Some(line.lpa()),
            ios_install_url: line.code().ok().map(|c| c.ios_install_url()),
            qr_code: Some(crate::domain::qr::data_url(&line.lpa()).map_err(|e| Unavailable::new("qr", e))?),
            activated_at: a.activated_at.clone().unwrap_or_default(),
            message: format!(
                "Your DOT eSIM is active: {}. Scan the QR code (also emailed to you) in your phone's eSIM settings, or enter {}.{}",
                line.phone_number,
                line.lpa(),
                area_code_note(a)
            ),
        },
        (Status::Failed, _) => ActivationAnswer::Failed {
            purchase_id: a.purchase_id.clone(),
            reason: a.failed_reason.clone().unwrap_or_else(|| "the carrier could not activate the line".into()),
            next_steps: "Our team has been alerted and will activate your eSIM or refund the $1.00; you do not need to pay again.".into(),
        },
        _ => {
            let (jobs_ahead, slot_ms) = match (a.status, a.ticket) {
                (Status::Queued, Some(ticket)) => (deps.activations.jobs_ahead(ticket).await?, a.slot_ms.unwrap_or(now * 1000)),
                // Being activated now (or retried after a carrier hiccup).
                _ => (0, now * 1000),
            };
            queued(&a.purchase_id, jobs_ahead, slot_ms, deps.clock.now_unix_ms())
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::adapters::memory::{MemoryWorld, paid_event};
    use crate::app::payments::{Outcome, apply_event};
    use crate::domain::users::{Email, Uid};
    use crate::ports::UserStore;

    fn ada() -> Identity {
        Identity::verified(
            Uid::parse("ada-uid").unwrap(),
            Some(Email::parse("ada@example.com").unwrap()),
        )
    }

    #[tokio::test]
    async fn the_first_call_sends_one_invoice_and_later_calls_reuse_it() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let first = activate(&deps, world.invoicing.as_ref(), &ada(), None)
            .await
            .unwrap();
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
        let again = activate(&deps, world.invoicing.as_ref(), &ada(), None)
            .await
            .unwrap();
        assert!(matches!(again, ActivationAnswer::PaymentRequired { .. }));
        assert_eq!(world.invoicing.invoice_calls.load(Ordering::SeqCst), 1);
        assert_eq!(world.invoicing.customer_calls.load(Ordering::SeqCst), 1);
        let json = serde_json::to_value(&first).unwrap();
        assert_eq!(json["status"], "payment_required");
        assert_eq!(json["amount"], serde_json::json!(1.0));
    }

    #[tokio::test]
    async fn payment_queues_the_activation_at_once_and_only_once() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        activate(&deps, world.invoicing.as_ref(), &ada(), None)
            .await
            .unwrap();
        let event = paid_event(&deps, "evt_1", "in_ada-uid-esim_beta", "ada-uid").await;
        let outcome = apply_event(&deps, &event, 1_795_608_200).await.unwrap();
        assert!(matches!(outcome, Outcome::Recorded { .. }), "{outcome:?}");
        assert_eq!(
            world.queue.sent.lock().unwrap().len(),
            1,
            "queued by the webhook"
        );
        let answer = activate(&deps, world.invoicing.as_ref(), &ada(), None)
            .await
            .unwrap();
        let ActivationAnswer::Queued {
            position,
            jobs_ahead,
            purchase_id,
            ..
        } = answer
        else {
            panic!("{answer:?}")
        };
        assert_eq!((position, jobs_ahead), (1, 0));
        assert_eq!(purchase_id, "in_ada-uid-esim_beta");
        assert_eq!(
            world.queue.sent.lock().unwrap().len(),
            1,
            "asking again sends nothing"
        );
    }

    #[tokio::test]
    async fn positions_follow_payment_order() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        for i in 0..7 {
            let event = paid_event(
                &deps,
                &format!("evt_{i}"),
                &format!("in_{i}"),
                &format!("user-{i}"),
            )
            .await;
            apply_event(&deps, &event, 0).await.unwrap();
        }
        for i in 0..7u64 {
            let a = deps
                .activations
                .activation(
                    &Uid::parse(&format!("user-{i}")).unwrap(),
                    &format!("in_{i}"),
                )
                .await
                .unwrap()
                .unwrap();
            let ActivationAnswer::Queued {
                position,
                eta_seconds,
                ..
            } = status_answer(&deps, &a).await.unwrap()
            else {
                panic!()
            };
            assert_eq!(position, i + 1);
            // Five per ten seconds: the sixth and seventh wait for the window.
            assert_eq!(eta_seconds >= 10, i >= 5, "job {i}: eta {eta_seconds}");
        }
    }

    #[tokio::test]
    async fn an_event_twice_or_a_twin_event_records_one_purchase() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let event = paid_event(&deps, "evt_1", "in_1", "ada-uid").await;
        assert!(matches!(
            apply_event(&deps, &event, 0).await.unwrap(),
            Outcome::Recorded { .. }
        ));
        assert_eq!(
            apply_event(&deps, &event, 0).await.unwrap(),
            Outcome::Duplicate
        );
        let twin = paid_event(&deps, "evt_2", "in_1", "ada-uid").await;
        assert_eq!(
            apply_event(&deps, &twin, 0).await.unwrap(),
            Outcome::AlreadyRecorded
        );
        assert_eq!(world.purchases.purchase_count(), 1);
        assert_eq!(world.activations.all().len(), 1);
    }

    #[tokio::test]
    async fn other_events_are_ignored_and_foreign_invoices_unmatched() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let other = br#"{"id":"evt_9","type":"invoice.finalized","data":{"object":{}}}"#;
        assert!(matches!(
            apply_event(&deps, other, 0).await.unwrap(),
            Outcome::Ignored(_)
        ));
        let foreign = serde_json::json!({"id": "evt_8", "type": "invoice.paid", "data": {"object": {
            "id": "in_x", "amount_paid": 500, "currency": "usd", "created": 1, "metadata": {}}}});
        let outcome = apply_event(&deps, foreign.to_string().as_bytes(), 0)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Unmatched(_)), "{outcome:?}");
        assert_eq!(world.purchases.purchase_count(), 0);
        assert!(apply_event(&deps, b"{}", 0).await.is_err());
    }

    #[tokio::test]
    async fn without_an_email_there_is_no_invoice() {
        let world = MemoryWorld::new();
        let nobody = Identity::verified(Uid::parse("phone-only").unwrap(), None);
        assert!(matches!(
            activate(&world.deps(), world.invoicing.as_ref(), &nobody, None).await,
            Err(EsimError::NoEmail)
        ));
        assert_eq!(world.invoicing.invoice_calls.load(Ordering::SeqCst), 0);
        let unverified = Identity {
            unverified_email: Some(Email::parse("who@example.com").unwrap()),
            ..Identity::verified(Uid::parse("who").unwrap(), None)
        };
        assert!(matches!(
            activate(&world.deps(), world.invoicing.as_ref(), &unverified, None).await,
            Err(EsimError::NoEmail)
        ));
        let anonymous = Identity {
            anonymous: true,
            ..Identity::verified(Uid::parse("anon").unwrap(), None)
        };
        assert!(matches!(
            activate(&world.deps(), world.invoicing.as_ref(), &anonymous, None).await,
            Err(EsimError::Account(AccountError::Anonymous))
        ));
        assert_eq!(world.invoicing.invoice_calls.load(Ordering::SeqCst), 0);
        assert_eq!(world.invoicing.customer_calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn status_before_anything_starts_nothing() {
        let world = MemoryWorld::new();
        let answer = status(&world.deps(), &ada()).await.unwrap();
        assert!(matches!(answer, ActivationAnswer::NotStarted { .. }));
        assert_eq!(world.invoicing.invoice_calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn status_of_a_paid_esim_not_yet_in_line_writes_nothing() {
        use crate::ports::PurchaseStore;
        let world = MemoryWorld::new();
        let deps = world.deps();
        let paid = Purchase {
            uid: ada().uid,
            purchase_id: "in_1".into(),
            product_id: ESIM_PRODUCT.into(),
            items: Vec::new(),
            order_id: None,
            amount_cents: 100,
            currency: "usd".into(),
            paid_at: rfc3339(0),
            event_id: "evt_1".into(),
        };
        world.purchases.record_purchase(&paid).await.unwrap();
        let answer = status(&deps, &ada()).await.unwrap();
        assert!(
            matches!(answer, ActivationAnswer::Queued { position: 1, .. }),
            "{answer:?}"
        );
        assert!(world.activations.all().is_empty(), "no activation recorded");
        assert!(world.queue.sent.lock().unwrap().is_empty(), "no job sent");
        assert!(
            world.users.user(&ada().uid).await.unwrap().is_none(),
            "no user created"
        );
    }
}
