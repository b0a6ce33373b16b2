//! The activation worker's rules: wait for the slot, take a permit, activate at the carrier
//! (idempotent by purchase id), store the line, email the QR code. Every step is safe to
//! repeat, so a duplicate delivery or a crash between steps ends with one active line.

use std::sync::Arc;
use std::time::Duration;

use crate::app::Deps;
use crate::app::activation_line::{SLEEP_AT_MOST_MS, delay_until};
use crate::domain::activation::{Activation, FulfilTask, Job, Line, Status};
use crate::domain::throttle::WaitUntil;
use crate::domain::time::rfc3339;
use crate::ports::{Attachment, Carrier, CarrierError, Mailer, Minter, OutgoingEmail, Unavailable};

/// A worker holds a job this long at most (longer than the function's 30 s timeout, shorter
/// than the queue's 180 s visibility timeout, after which a crashed job comes back).
const CLAIM_MS: i64 = 60_000;
/// A failed email is retried after this long; the activation stands meanwhile.
const EMAIL_RETRY_SECONDS: u32 = 30;

/// What the activation-worker function holds: the shared ports, and the carrier, the mailer
/// and the minter that only it may use.
#[derive(Clone)]
pub struct Worker {
    pub deps: Deps,
    pub carrier: Arc<dyn Carrier>,
    pub mailer: Arc<dyn Mailer>,
    pub minter: Arc<dyn Minter>,
    /// Real carrier failures before a job is parked on the dead-letter queue.
    pub max_attempts: u32,
}

/// What became of one delivered job. Every variant acknowledges the message; an `Err` from
/// [`process`] leaves it for SQS to deliver again.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Activated,
    AlreadyDone,
    /// Not its time yet, or no permit: sent again with a delay (not a failed receive).
    Waiting {
        delay_seconds: u32,
    },
    /// The carrier failed; retried later with one more attempt counted.
    Retrying {
        attempts: u32,
    },
    /// Failed for good: marked failed and parked on the dead-letter queue.
    DeadLettered,
    Emailed,
}

fn now_ms(w: &Worker) -> i64 {
    w.deps.clock.now_unix_ms()
}

async fn sleep_ms(ms: i64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
    }
}

async fn send_later(w: &Worker, job: &Job, at_ms: i64) -> Result<Handled, Unavailable> {
    let delay_seconds = delay_until(at_ms, now_ms(w));
    w.deps.queue.send(job, delay_seconds).await?;
    Ok(Handled::Waiting { delay_seconds })
}

pub async fn process(w: &Worker, job: &Job) -> Result<Handled, Unavailable> {
    let Some(activation) = w
        .deps
        .activations
        .activation(&job.uid, &job.purchase_id)
        .await?
    else {
        // The record is written before any job is sent: a job without one is not ours.
        return Err(Unavailable::new(
            "activation",
            format!("no activation for purchase {}", job.purchase_id),
        ));
    };
    match activation.status {
        Status::Active if activation.emailed => return Ok(Handled::AlreadyDone),
        Status::Active => return email(w, job, &activation).await,
        Status::Failed => return Ok(Handled::AlreadyDone),
        _ => {}
    }

    // Its slot: sleep if it is close, else come back just before it.
    let early = job.slot_ms - now_ms(w);
    if early > SLEEP_AT_MOST_MS {
        return send_later(w, job, job.slot_ms).await;
    }
    sleep_ms(early).await;

    // One worker per job: a duplicate delivery finds the claim taken and stops here, before
    // it could spend a permit or call the carrier.
    let Some(_claimed) = w
        .deps
        .activations
        .claim_activation(&job.uid, &job.purchase_id, now_ms(w), CLAIM_MS)
        .await?
    else {
        return Ok(Handled::AlreadyDone);
    };

    // The hard promise: a permit against the recorded starts, taken right before the call.
    let permit = loop {
        match w
            .deps
            .throttle
            .take_permit(&w.deps.limits, w.deps.clock.as_ref())
            .await?
        {
            Ok(permit) => break permit,
            Err(WaitUntil(at)) if at - now_ms(w) <= SLEEP_AT_MOST_MS => {
                sleep_ms(at - now_ms(w)).await
            }
            Err(WaitUntil(at)) => {
                let ahead = w
                    .deps
                    .activations
                    .jobs_ahead(job.ticket)
                    .await
                    .unwrap_or_default();
                tracing::info!(
                    "[RATE LIMITED] uid {} | Wait: {}min | Queue Pos: {}",
                    job.uid.short(),
                    (at - now_ms(w)).div_euclid(60_000) + 1,
                    ahead + 1
                );
                w.deps
                    .activations
                    .release_activation(&job.uid, &job.purchase_id, Some(at))
                    .await?;
                return send_later(w, job, at).await;
            }
        }
    };
    tracing::info!(
        "[ACTIVATION ALLOWED] uid {} | Usage: {}/{} ({:.1}%)",
        job.uid.short(),
        permit.used,
        permit.limit,
        f64::from(permit.used) * 100.0 / f64::from(permit.limit.max(1))
    );

    let number = activation.requested_number.as_deref();
    match w.carrier.activate(&job.purchase_id, &job.uid, number).await {
        Ok(line) => {
            let at = rfc3339(w.deps.clock.now_unix());
            let activation = w
                .deps
                .activations
                .complete_activation(&job.uid, &job.purchase_id, &line, &at)
                .await?;
            tracing::info!(uid = %job.uid.short(), purchase = %job.purchase_id, "eSIM active");
            w.deps
                .usage
                .track_line(&crate::domain::usage::TrackedLine {
                    uid: job.uid.clone(),
                    iccid: line.iccid.clone(),
                })
                .await?;
            // What was bought before the line existed (data, add-ons) goes onto it now.
            w.deps
                .queue
                .send_fulfilment(&FulfilTask {
                    fulfil_for: job.uid.clone(),
                    receipt_for: None,
                    invoice_url: None,
                })
                .await?;
            match email(w, job, &activation).await? {
                Handled::Emailed => Ok(Handled::Activated),
                other => Ok(other),
            }
        }
        Err(e) => failed(w, job, e).await,
    }
}

async fn failed(w: &Worker, job: &Job, e: CarrierError) -> Result<Handled, Unavailable> {
    let attempts = job.attempts + 1;
    w.deps
        .activations
        .release_activation(&job.uid, &job.purchase_id, None)
        .await?;
    tracing::warn!(uid = %job.uid.short(), purchase = %job.purchase_id, attempts, error = %e, "carrier call failed");
    if attempts >= w.max_attempts {
        let reason = format!("{e}, {attempts} times");
        w.deps
            .activations
            .fail_activation(&job.uid, &job.purchase_id, &reason)
            .await?;
        w.deps
            .queue
            .dead_letter(
                &Job {
                    attempts,
                    ..job.clone()
                },
                &reason,
            )
            .await?;
        tracing::error!(uid = %job.uid.short(), purchase = %job.purchase_id, "activation failed for good");
        return Ok(Handled::DeadLettered);
    }
    // Exponential backoff: 2, 4, 8 ... seconds. The retry still needs a permit.
    let backoff_ms = 1000 * 2i64.pow(attempts.min(9));
    let retry = Job {
        attempts,
        ..job.clone()
    };
    send_later(w, &retry, now_ms(w) + backoff_ms).await?;
    Ok(Handled::Retrying { attempts })
}

/// Emails the QR code once (the purchase id is the idempotency key). A failure never undoes
/// the activation: the email is retried on its own.
async fn email(w: &Worker, job: &Job, activation: &Activation) -> Result<Handled, Unavailable> {
    let Some(line) = &activation.line else {
        return Ok(Handled::AlreadyDone);
    };
    let to = w.deps.users.user(&job.uid).await?.and_then(|u| u.email);
    let Some(to) = to else {
        tracing::warn!(uid = %job.uid.short(), "no email address for the activation email");
        return Ok(Handled::AlreadyDone);
    };
    let message =
        activation_email(to, line, &job.purchase_id).map_err(|e| Unavailable::new("qr", e))?;
    if let Err(e) = w.mailer.send(&message).await {
        tracing::warn!(uid = %job.uid.short(), error = %e, "activation email failed; retrying later");
        w.deps.queue.send(job, EMAIL_RETRY_SECONDS).await?;
        return Ok(Handled::Waiting {
            delay_seconds: EMAIL_RETRY_SECONDS,
        });
    }
    w.deps
        .activations
        .mark_emailed(&job.uid, &job.purchase_id)
        .await?;
    Ok(Handled::Emailed)
}

/// The inline QR code's `Content-ID` in the activation email.
pub const QR_CONTENT_ID: &str = "esim-qr";

fn activation_email(
    to: crate::domain::users::Email,
    line: &Line,
    purchase_id: &str,
) -> Result<OutgoingEmail, crate::domain::qr::QrError> {
    let lpa = line.lpa();
    let png = crate::domain::qr::png(&lpa)?;
    let ios_url = crate::domain::lpa::ActivationCode::parse(&lpa)
        .map(|code| code.ios_install_url())
        .unwrap_or_default();
    let values = [
        ("phone", line.phone_number.as_str()),
        ("iccid", line.iccid.as_str()),
        ("lpa", lpa.as_str()),
        ("ios_url", ios_url.as_str()),
        ("smdp", line.smdp_address.as_str()),
        ("matching_id", line.activation_code.as_str()),
    ];
    let mut message = crate::app::mail::email(
        &crate::app::mail::ESIM_ACTIVE,
        to,
        &values,
        format!("dotm-activation-email-{purchase_id}"),
    );
    message.attachments.push(Attachment {
        filename: "dotm-esim-qr.png".into(),
        content_type: "image/png".into(),
        content: png,
        content_id: Some(QR_CONTENT_ID.into()),
    });
    Ok(message)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::adapters::memory::MemoryWorld;
    use crate::app::esim::{ActivationAnswer, status_answer};
    use crate::app::payments::apply_event;
    use crate::domain::users::{Email, Uid, User};
    use crate::ports::{Clock, ThrottleStore};

    async fn paid(world: &MemoryWorld, n: usize) -> Vec<Job> {
        let deps = world.deps();
        for i in 0..n {
            let uid = Uid::parse(&format!("user-{i}")).unwrap();
            let user = User {
                uid: uid.clone(),
                email: Some(Email::parse(&format!("user{i}@example.com")).unwrap()),
                contact_email: None,
                created_at: "t".into(),
                stripe_customer_id: None,
                wallet: None,
                roles: vec![],
            };
            deps.users.create_user(&user).await.unwrap();
            let event = crate::adapters::memory::paid_event(
                &deps,
                &format!("evt_{i}"),
                &format!("in_{i}"),
                uid.as_str(),
            )
            .await;
            apply_event(&deps, &event, 0).await.unwrap();
        }
        let sent = std::mem::take(&mut *world.queue.sent.lock().unwrap());
        sent.into_iter().map(|(job, _)| job).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_in_its_slot_activates_emails_and_is_done() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        let handled = process(&world.worker(), &jobs[0]).await.unwrap();
        assert_eq!(handled, Handled::Activated);
        let a = world.activations.all().remove(0);
        assert_eq!(a.status, Status::Active);
        assert!(a.emailed && a.queue.is_none());
        assert_eq!(world.mailer.sent.lock().unwrap()[0].0, "user0@example.com");
        let ActivationAnswer::Active {
            lpa_code, qr_code, ..
        } = status_answer(&world.deps(), &a).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(lpa_code.as_deref(), Some("LPA:1$smdp.test$CODE-in-0"));
        assert!(qr_code.is_some_and(|q| q.starts_with("data:image/png;base64,")));
        // Delivered again: nothing more happens.
        assert_eq!(
            process(&world.worker(), &jobs[0]).await.unwrap(),
            Handled::AlreadyDone
        );
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 1);
        assert_eq!(world.mailer.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_early_job_waits_without_failing() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 7).await;
        // The seventh's slot is a window away: it is sent again with a delay, not failed.
        let handled = process(&world.worker(), &jobs[6]).await.unwrap();
        let Handled::Waiting { delay_seconds } = handled else {
            panic!("{handled:?}")
        };
        assert!(delay_seconds >= 8, "{delay_seconds}");
        let resent = world.queue.sent.lock().unwrap().clone();
        assert_eq!(resent.len(), 1);
        assert_eq!(resent[0].0.attempts, 0, "waiting is not an attempt");
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_without_a_permit_goes_back_in_line_with_a_new_eta() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        // Five carrier calls just started elsewhere: the window is full for 10 s.
        for _ in 0..5 {
            world
                .throttle
                .take_permit(&world.limits, world.clock.as_ref())
                .await
                .unwrap()
                .unwrap();
        }
        let handled = process(&world.worker(), &jobs[0]).await.unwrap();
        assert!(matches!(handled, Handled::Waiting { .. }), "{handled:?}");
        let a = world.activations.all().remove(0);
        assert_eq!(a.status, Status::Queued);
        assert_eq!(a.queue.as_deref(), Some(crate::domain::activation::WAITING));
        assert_eq!(
            a.slot_ms,
            Some(world.clock.now_unix_ms() + 10_100),
            "the ETA follows the freed permit"
        );
        assert_eq!(a.attempts, 0, "waiting is no attempt");
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn carrier_failures_retry_then_dead_letter() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 2).await;
        world.carrier.fail_next.store(2, Ordering::SeqCst);
        let mut job = jobs[0].clone();
        for expected in 1..=2 {
            assert_eq!(
                process(&world.worker(), &job).await.unwrap(),
                Handled::Retrying { attempts: expected }
            );
            job = world.queue.sent.lock().unwrap().pop().unwrap().0;
            world.clock.advance_ms(20_000);
        }
        assert_eq!(
            process(&world.worker(), &job).await.unwrap(),
            Handled::Activated
        );

        world.carrier.refuse.store(true, Ordering::SeqCst);
        let mut job = jobs[1].clone();
        for _ in 0..2 {
            process(&world.worker(), &job).await.unwrap();
            job = world.queue.sent.lock().unwrap().pop().unwrap().0;
            world.clock.advance_ms(20_000);
        }
        assert_eq!(
            process(&world.worker(), &job).await.unwrap(),
            Handled::DeadLettered
        );
        let failed = world
            .activations
            .all()
            .into_iter()
            .find(|a| a.purchase_id == "in_1")
            .unwrap();
        assert_eq!(failed.status, Status::Failed);
        assert!(failed.failed_reason.unwrap().contains("refused"));
        assert_eq!(world.queue.dead.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_mail_failure_keeps_the_line_and_retries_the_email() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        world.mailer.fail_next.store(1, Ordering::SeqCst);
        let handled = process(&world.worker(), &jobs[0]).await.unwrap();
        assert!(matches!(handled, Handled::Waiting { .. }), "{handled:?}");
        assert_eq!(world.activations.all()[0].status, Status::Active);
        let retry = world.queue.sent.lock().unwrap().pop().unwrap().0;
        assert_eq!(retry.attempts, 0, "an email retry is no carrier attempt");
        assert_eq!(
            process(&world.worker(), &retry).await.unwrap(),
            Handled::Emailed
        );
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 1);
    }
}
