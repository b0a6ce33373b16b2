//! `activate_esim`: one function behind the MCP tool and `POST /api/esim/activate`.
//!
//! The identity comes from the verified token only. Without a paid `esim_beta` purchase the
//! person gets the one open $1 invoice (made once, however many calls race); with one, the
//! purchase. The activation issue turns `paid` into queued/active.

use std::sync::Arc;

use serde::Serialize;

use crate::activations::{Activation, Job, Status};
use crate::catalog;
use crate::money::Cents;
use crate::ports::{
    Activations, Billing, Clock, CreateUserError, Ledger, Queue, Rewards, Store, ThrottleStore,
    Unavailable, rfc3339, rfc3339_ms,
};
use crate::purchases::{OpenInvoice, Purchase};
use crate::rewards::CashbackRate;
use crate::throttle::ThrottleConfig;
use crate::users::{Identity, User};

pub const ESIM_PRODUCT: &str = "esim_beta";

/// Everything the use cases need, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub activations: Arc<dyn Activations>,
    pub throttle: Arc<dyn ThrottleStore>,
    pub queue: Arc<dyn Queue>,
    pub billing: Arc<dyn Billing>,
    pub clock: Arc<dyn Clock>,
    pub limits: ThrottleConfig,
    pub rewards: Arc<dyn Rewards>,
    pub ledger: Arc<dyn Ledger>,
    /// DOTM per USD of cashback.
    pub cashback: CashbackRate,
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
        lpa_code: String,
        /// `data:image/png;base64,...`
        qr_code: String,
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
            crate::token::credit_signup(deps, &user).await?;
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
        let activation = enqueue(deps, &paid, false).await?;
        return Ok(status_answer(deps, &activation).await?);
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

/// The current state without starting anything new: no user, invoice or customer is created.
pub async fn activation_status(
    deps: &Deps,
    identity: &Identity,
) -> Result<ActivationAnswer, ActivationError> {
    let purchases = deps.store.purchases(&identity.uid).await?;
    if let Some(paid) = purchases.into_iter().find(|p| p.product_id == ESIM_PRODUCT) {
        let activation = enqueue(deps, &paid, false).await?;
        return Ok(status_answer(deps, &activation).await?);
    }
    if let Some(open) = deps.store.open_invoice(&identity.uid, ESIM_PRODUCT).await? {
        return Ok(payment_required(open));
    }
    Ok(ActivationAnswer::NotStarted {
        message: "No eSIM activation yet: call activate_esim to get the $1.00 invoice.".into(),
    })
}

/// Puts a paid eSIM purchase in line, once: records the activation, reserves its slot and
/// sends its job. Safe to repeat (a Stripe retry after a crash finishes what was left): the
/// job is sent when this call reserved the slot, or when `resend` asks (the caller cannot
/// know whether an earlier attempt sent it; a duplicate job is harmless).
pub async fn enqueue(
    deps: &Deps,
    purchase: &Purchase,
    resend: bool,
) -> Result<Activation, Unavailable> {
    let now_ms = deps.clock.now_unix_ms();
    let fresh = Activation::pending(
        purchase.uid.clone(),
        purchase.purchase_id.clone(),
        rfc3339(deps.clock.now_unix()),
    );
    let mut activation = deps.activations.create_activation(&fresh).await?;
    let mut send = resend && activation.status == Status::Queued;
    if activation.status == Status::Pending {
        let reservation = deps.throttle.reserve_slot(&deps.limits, now_ms).await?;
        activation = deps
            .activations
            .queue_activation(&purchase.uid, &purchase.purchase_id, reservation)
            .await?;
        send = activation.reservation() == Some(reservation);
    }
    if send && let Some(r) = activation.reservation() {
        let job = Job {
            purchase_id: purchase.purchase_id.clone(),
            uid: purchase.uid.clone(),
            ticket: r.ticket,
            slot_ms: r.slot_ms,
            attempts: 0,
            email_only: false,
        };
        deps.queue
            .send(&job, crate::worker::delay_until(r.slot_ms, now_ms))
            .await?;
        tracing::info!(uid = %purchase.uid.short(), ticket = r.ticket, slot_ms = r.slot_ms, "activation queued");
    }
    Ok(activation)
}

/// What the person sees of an activation.
pub async fn status_answer(deps: &Deps, a: &Activation) -> Result<ActivationAnswer, Unavailable> {
    let now = deps.clock.now_unix();
    Ok(match (a.status, &a.line) {
        (Status::Active, Some(line)) => ActivationAnswer::Active {
            purchase_id: a.purchase_id.clone(),
            phone_number: line.phone_number.clone(),
            iccid: line.iccid.clone(),
            lpa_code: line.lpa(),
            qr_code: crate::qr::data_url(&line.lpa()).map_err(|e| Unavailable::new("qr", e))?,
            activated_at: a.activated_at.clone().unwrap_or_default(),
            message: format!(
                "Your DOT eSIM is active: {}. Scan the QR code (also emailed to you) in your phone's eSIM settings, or enter {}.",
                line.phone_number,
                line.lpa()
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
            let now_ms = deps.clock.now_unix_ms();
            ActivationAnswer::Queued {
                purchase_id: a.purchase_id.clone(),
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
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::fakes::{FakeWorld, paid_event};
    use crate::payments::{Outcome, apply_event};
    use crate::users::{Email, Uid};

    fn ada() -> Identity {
        Identity {
            uid: Uid::parse("ada-uid").unwrap(),
            email: Some(Email::parse("ada@example.com").unwrap()),
        }
    }

    #[tokio::test]
    async fn the_first_call_sends_one_invoice_and_later_calls_reuse_it() {
        let world = FakeWorld::new();
        let deps = world.deps();
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
        assert_eq!(world.billing.invoice_calls.load(Ordering::SeqCst), 1);
        assert_eq!(world.billing.customer_calls.load(Ordering::SeqCst), 1);
        let json = serde_json::to_value(&first).unwrap();
        assert_eq!(json["status"], "payment_required");
        assert_eq!(json["amount"], serde_json::json!(1.0));
    }

    #[tokio::test]
    async fn payment_queues_the_activation_at_once_and_only_once() {
        let world = FakeWorld::new();
        let deps = world.deps();
        activate_esim(&deps, &ada()).await.unwrap();
        let event = paid_event("evt_1", "in_ada-uid_esim_beta", "ada-uid");
        let outcome = apply_event(&deps, &event, 1_795_608_200).await.unwrap();
        assert!(matches!(outcome, Outcome::Recorded { .. }), "{outcome:?}");
        assert_eq!(
            world.queue.sent.lock().unwrap().len(),
            1,
            "queued by the webhook"
        );
        let answer = activate_esim(&deps, &ada()).await.unwrap();
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
        assert_eq!(purchase_id, "in_ada-uid_esim_beta");
        assert_eq!(
            world.queue.sent.lock().unwrap().len(),
            1,
            "asking again sends nothing"
        );
    }

    #[tokio::test]
    async fn positions_follow_payment_order() {
        let world = FakeWorld::new();
        let deps = world.deps();
        for i in 0..7 {
            let event = paid_event(
                &format!("evt_{i}"),
                &format!("in_{i}"),
                &format!("user-{i}"),
            );
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
        let world = FakeWorld::new();
        let deps = world.deps();
        let event = paid_event("evt_1", "in_1", "ada-uid");
        assert!(matches!(
            apply_event(&deps, &event, 0).await.unwrap(),
            Outcome::Recorded { .. }
        ));
        assert_eq!(
            apply_event(&deps, &event, 0).await.unwrap(),
            Outcome::Duplicate
        );
        let twin = paid_event("evt_2", "in_1", "ada-uid");
        assert_eq!(
            apply_event(&deps, &twin, 0).await.unwrap(),
            Outcome::AlreadyRecorded
        );
        assert_eq!(world.store.purchase_count(), 1);
        assert_eq!(world.activations.all().len(), 1);
    }

    #[tokio::test]
    async fn foreign_and_other_events_are_ignored() {
        let world = FakeWorld::new();
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
        assert!(matches!(outcome, Outcome::Ignored(_)), "{outcome:?}");
        assert_eq!(world.store.purchase_count(), 0);
        assert!(apply_event(&deps, b"{}", 0).await.is_err());
    }

    #[tokio::test]
    async fn without_an_email_there_is_no_invoice() {
        let world = FakeWorld::new();
        let nobody = Identity {
            uid: Uid::parse("phone-only").unwrap(),
            email: None,
        };
        assert!(matches!(
            activate_esim(&world.deps(), &nobody).await,
            Err(ActivationError::NoEmail)
        ));
        assert_eq!(world.billing.invoice_calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_email_belongs_to_one_account() {
        let world = FakeWorld::new();
        let deps = world.deps();
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

    #[tokio::test]
    async fn status_before_anything_starts_nothing() {
        let world = FakeWorld::new();
        let answer = activation_status(&world.deps(), &ada()).await.unwrap();
        assert!(matches!(answer, ActivationAnswer::NotStarted { .. }));
        assert_eq!(world.billing.invoice_calls.load(Ordering::SeqCst), 0);
    }
}

/// Public numbers about the activation line; no personal data.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub current_hour_activations: u32,
    pub max_per_hour: u32,
    pub window_seconds: i64,
    pub capacity_used_percentage: f64,
    pub slots_available: u32,
    pub estimated_wait_minutes: i64,
    pub queue_length: u64,
    pub failed_jobs: u64,
}

pub async fn stats(deps: &Deps) -> Result<Stats, Unavailable> {
    let now_ms = deps.clock.now_unix_ms();
    let state = deps.throttle.throttle().await?;
    let used = state.used(&deps.limits, now_ms);
    let limit = deps.limits.limit.max(1);
    let wait_ms = (state.next_slot(&deps.limits, now_ms) - now_ms).max(0);
    Ok(Stats {
        current_hour_activations: used,
        max_per_hour: limit,
        window_seconds: deps.limits.window_ms / 1000,
        // One decimal, for people.
        capacity_used_percentage: (f64::from(used) * 1000.0 / f64::from(limit)).round() / 10.0,
        slots_available: limit.saturating_sub(used),
        estimated_wait_minutes: (wait_ms + 59_999) / 60_000,
        queue_length: deps.activations.waiting_jobs().await?,
        failed_jobs: deps.queue.dead_letters().await?,
    })
}
