//! The activation worker's rules: wait for the slot, take a permit, activate at the carrier
//! (idempotent by purchase id), store the line, email the QR code. Every step is safe to
//! repeat, so a duplicate delivery or a crash between steps ends with one active line.

use std::sync::Arc;
use std::time::Duration;

use crate::app::Deps;
use crate::app::activation_line::{SLEEP_AT_MOST_MS, delay_until};
use crate::app::carrier_line::{self, Halt};
use crate::domain::activation::{Activation, CarrierCall, FulfilTask, Job, Line, Status};
use crate::domain::throttle::{Permit, WaitUntil};
use crate::domain::time::rfc3339;
use crate::ports::{
    Attachment, Carrier, CarrierError, LinePlan, LineRequest, Mailer, OutgoingEmail, Unavailable,
};

/// A worker holds a job this long at most: longer than the function's 30 s timeout (so two
/// live workers never hold it), short enough that a job whose worker died resumes within a
/// minute (its watch arrives just after).
pub const CLAIM_MS: i64 = 35_000;
/// A job's watch arrives this long after the claim is taken.
const WATCH_DELAY_SECONDS: u32 = (CLAIM_MS / 1000 + 1) as u32;
/// A queued job whose slot passed this long ago with nobody working on it lost its message.
const LOST_AFTER_MS: i64 = 10_000;
/// A worker waits this long at most for a permit before it sends the job back in line.
const PERMIT_WAIT_MS: i64 = 5_000;
/// A job whose line went to another purchase of the same person settles again this much later.
const IN_PROGRESS_RETRY_SECONDS: u32 = 5;
/// A failed email is retried after this long; the activation stands meanwhile.
const EMAIL_RETRY_SECONDS: u32 = 30;

/// What the activation-worker function holds: the shared ports, and the carrier and the
/// mailer that only it may use.
#[derive(Clone)]
pub struct Worker {
    pub deps: Deps,
    pub carrier: Arc<dyn Carrier>,
    /// Features, top-ups, reversals, usage readings (see `ports::LineServices`).
    pub line_services: Arc<dyn crate::ports::LineServices>,
    pub mailer: Arc<dyn Mailer>,
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
    /// The carrier failed; back in line at the end, with one more attempt counted.
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

/// Sends the job to arrive just before `at_ms`, as its slot.
async fn send_later(w: &Worker, job: &Job, at_ms: i64) -> Result<Handled, Unavailable> {
    let delay_seconds = delay_until(at_ms, now_ms(w));
    let later = Job {
        slot_ms: at_ms,
        watch: false,
        ..job.clone()
    };
    w.deps.queue.send(&later, delay_seconds).await?;
    Ok(Handled::Waiting { delay_seconds })
}

/// True when nobody is working on a job that should be: its worker died holding the claim,
/// or its slot passed long ago and no message came for it.
fn abandoned(a: &Activation, now_ms: i64) -> bool {
    match a.status {
        Status::Activating => a.claimed_until_ms < now_ms,
        Status::Queued => a.slot_ms.is_some_and(|slot| slot + LOST_AFTER_MS < now_ms),
        _ => false,
    }
}

pub async fn process(w: &Worker, message: &Job) -> Result<Handled, Unavailable> {
    let Some(activation) = w
        .deps
        .activations
        .activation(&message.uid, &message.purchase_id)
        .await?
    else {
        // The record is written before any job is sent: a job without one is not ours.
        return Err(Unavailable::new(
            "activation",
            format!("no activation for purchase {}", message.purchase_id),
        ));
    };
    match activation.status {
        Status::Active if activation.emailed => return Ok(Handled::AlreadyDone),
        Status::Active => return email(w, message, &activation).await,
        Status::Failed | Status::Pending => return Ok(Handled::AlreadyDone),
        _ => {}
    }
    // The record says where the job stands; a message is only a reminder of it. Each new
    // place in line is sent before it is recorded, so a copy that does not match the record
    // is an old one and its newer self is on the queue.
    let Some(place) = activation.reservation() else {
        return Ok(Handled::AlreadyDone);
    };
    if message.watch {
        let now = now_ms(w);
        if (message.ticket, message.slot_ms) != (place.ticket, place.slot_ms) {
            // The job moved on (back in line, or at the end of it): its next claim has a
            // watch of its own.
            return Ok(Handled::AlreadyDone);
        }
        if !abandoned(&activation, now) {
            // Still in a worker's hands, or waiting for its own message: look again once that
            // should be over. (A queue that caps delays, as the test stack's does, brings the
            // watch back early; it just goes round again.)
            let again = match activation.status {
                Status::Activating => activation.claimed_until_ms + 1_000,
                _ => place.slot_ms + LOST_AFTER_MS + 1_000,
            };
            let delay_seconds = ((again - now).max(1_000) as u64).div_ceil(1000) as u32;
            w.deps.queue.send(message, delay_seconds).await?;
            return Ok(Handled::Waiting { delay_seconds });
        }
        tracing::warn!(uid = %message.uid.short(), purchase = %message.purchase_id, "resuming a job its worker left");
    } else if (message.ticket, message.slot_ms) > (place.ticket, place.slot_ms) {
        // A newer place than the record's: sent an instant before it was recorded. Come back
        // once it is (places only grow: a new ticket, or a later slot for the same one).
        w.deps.queue.send(message, 1).await?;
        return Ok(Handled::Waiting { delay_seconds: 1 });
    } else if (message.ticket, message.slot_ms) != (place.ticket, place.slot_ms) {
        return Ok(Handled::AlreadyDone);
    }
    let job = Job {
        ticket: place.ticket,
        slot_ms: place.slot_ms,
        watch: false,
        ..message.clone()
    };

    // Its slot: sleep if it is close, else come back just before it.
    let early = job.slot_ms - now_ms(w);
    if early > SLEEP_AT_MOST_MS {
        return send_later(w, &job, job.slot_ms).await;
    }
    // From here this worker holds the job; its watch resumes it if the worker dies (asleep,
    // waiting for a permit, or in the carrier call).
    w.deps
        .queue
        .send(
            &Job {
                watch: true,
                ..job.clone()
            },
            WATCH_DELAY_SECONDS + (early.max(0) as u64).div_ceil(1000) as u32,
        )
        .await?;
    sleep_ms(early).await;

    // One worker per job: a duplicate delivery finds the claim taken and stops here, before
    // it could spend a permit or call the carrier.
    let Some(claimed) = w
        .deps
        .activations
        .claim_activation(&job.uid, &job.purchase_id, now_ms(w), CLAIM_MS)
        .await?
    else {
        return Ok(Handled::AlreadyDone);
    };
    match at_the_carrier(w, &job, &claimed).await {
        Ok(handled) => Ok(handled),
        Err(Halt::Carrier(e)) => carrier_error(w, &job, e).await,
        Err(Halt::Store(e)) => Err(e),
    }
}

/// The claimed job at the carrier (see `app::carrier_line` for why this makes one line per
/// purchase without an idempotency key): the person's end user, their lines, an earlier call
/// settled, else a permit, the call recorded, the call.
async fn at_the_carrier(w: &Worker, job: &Job, claimed: &Activation) -> Result<Handled, Halt> {
    let person = carrier_line::person(w.carrier.as_ref(), w.deps.users.as_ref(), &job.uid).await?;
    let end_user_id = person.end_user_id;
    // Look before calling: an earlier call of ours (a worker that died, an answer that timed
    // out) may have made the line. The listing also opens the connection the call will use,
    // so a permitted call reaches the carrier within the throttle's guard.
    let listed = w.carrier.lines(&end_user_id).await?;
    if let Some(call) = &claimed.carrier_call
        && let Some(line) =
            carrier_line::settle(w.deps.activations.as_ref(), claimed, call, &listed).await?
    {
        tracing::info!(uid = %job.uid.short(), purchase = %job.purchase_id, "the carrier made this line in an earlier call");
        return Ok(activated(w, job, line).await?);
    }
    let area_code = carrier_line::area_code(
        w.carrier.as_ref(),
        person.area_code.as_deref(),
        claimed.beta,
    )
    .await?;

    let permit = match permit(w, job).await? {
        Ok(permit) => permit,
        Err(back_in_line) => return Ok(back_in_line),
    };
    tracing::info!(
        "[ACTIVATION ALLOWED] uid {} | Usage: {}/{} ({:.1}%)",
        job.uid.short(),
        permit.used,
        permit.limit,
        f64::from(permit.used) * 100.0 / f64::from(permit.limit.max(1))
    );
    let call = CarrierCall {
        end_user_id: end_user_id.clone(),
        started_at_ms: now_ms(w),
        lines_before: listed.into_iter().map(|l| l.line.line_id).collect(),
        area_code_wanted: person.area_code,
        area_code_asked: area_code.clone(),
    };
    if !w
        .deps
        .activations
        .record_carrier_call(&job.uid, &job.purchase_id, claimed.claimed_until_ms, &call)
        .await?
    {
        // The claim ran out (a slow store): whoever holds the job now calls, not us.
        return Ok(Handled::AlreadyDone);
    }
    let request = LineRequest {
        end_user_id,
        plan: if claimed.beta {
            LinePlan::Beta
        } else {
            LinePlan::Esim
        },
        area_code,
    };
    let made = w.carrier.make_line(&request).await?;
    if w.deps
        .activations
        .attribute_line(&made.line.line_id, &job.uid, &job.purchase_id)
        .await?
    {
        return Ok(activated(w, job, made.line).await?);
    }
    // A purchase of the same person settling its own unsettled call took this line as its
    // own; the line that call made (if any) is ours to settle on: look again in a moment.
    tracing::warn!(uid = %job.uid.short(), purchase = %job.purchase_id, "the line made was attributed to another purchase; settling again");
    w.deps.queue.send(job, IN_PROGRESS_RETRY_SECONDS).await?;
    w.deps
        .activations
        .release_activation(&job.uid, &job.purchase_id, None)
        .await?;
    Ok(Handled::Waiting {
        delay_seconds: IN_PROGRESS_RETRY_SECONDS,
    })
}

/// The hard promise: a permit against the recorded starts, taken right before the call and
/// waited for a few seconds at most. Else the job goes back in line (sent first, then
/// recorded) with the time the gate gave as its new ETA.
async fn permit(w: &Worker, job: &Job) -> Result<Result<Permit, Handled>, Unavailable> {
    let give_up_at = now_ms(w) + PERMIT_WAIT_MS;
    loop {
        let at = match w
            .deps
            .throttle
            .take_permit(&w.deps.limits, job.ticket, w.deps.clock.as_ref())
            .await?
        {
            // The start is recorded at the time the permit was decided; a store slow to confirm
            // it would leave less of the guard than the call needs to reach the carrier. Such a
            // permit is not used (nothing is sent, so the licence is only the safer for it).
            Ok(permit) if now_ms(w) - permit.at_ms <= w.deps.limits.send_within_ms() => {
                return Ok(Ok(permit));
            }
            Ok(permit) => {
                tracing::warn!(uid = %job.uid.short(), late_ms = now_ms(w) - permit.at_ms, "permit confirmed too late to send within the guard; not calling");
                let now = now_ms(w);
                if now >= give_up_at {
                    let waiting = send_later(w, job, now).await?;
                    w.deps
                        .activations
                        .release_activation(&job.uid, &job.purchase_id, Some(now))
                        .await?;
                    return Ok(Err(waiting));
                }
                continue;
            }
            Err(WaitUntil(at)) => at,
        };
        if at - now_ms(w) <= SLEEP_AT_MOST_MS && at <= give_up_at {
            sleep_ms(at - now_ms(w)).await;
            continue;
        }
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
        let waiting = send_later(w, job, at).await?;
        w.deps
            .activations
            .release_activation(&job.uid, &job.purchase_id, Some(at))
            .await?;
        return Ok(Err(waiting));
    }
}

/// The carrier made the line: record it, track its data, fulfil what waited for it, mail it.
async fn activated(w: &Worker, job: &Job, line: Line) -> Result<Handled, Unavailable> {
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

/// What the carrier's answer means for the job: a refusal is final (asking again would spend a
/// permit for the same answer); any other failure is retried from the end of the line, a
/// bounded number of times (the retry settles first: the failed call may have made the line).
async fn carrier_error(w: &Worker, job: &Job, e: CarrierError) -> Result<Handled, Unavailable> {
    match e {
        CarrierError::Refused(_) | CarrierError::AlreadyExists | CarrierError::NotSupported(_) => {
            fail_for_good(w, job, job.attempts + 1, &e).await
        }
        CarrierError::Failed(_) => {
            let attempts = job.attempts + 1;
            tracing::warn!(uid = %job.uid.short(), purchase = %job.purchase_id, attempts, error = %e, "carrier call failed");
            if attempts >= w.max_attempts {
                return fail_for_good(w, job, attempts, &e).await;
            }
            // Back in line at the end, no sooner than the backoff (2, 4, 8 ... s): the
            // retry needs a permit, and taking one reserved for someone else would push
            // everyone behind past the time they were told.
            let backoff_ms = 1000 * 2i64.pow(attempts.min(9));
            let place = w
                .deps
                .throttle
                .reserve_slot(&w.deps.limits, now_ms(w) + backoff_ms)
                .await?;
            let retry = Job {
                attempts,
                ticket: place.ticket,
                ..job.clone()
            };
            send_later(w, &retry, place.slot_ms).await?;
            w.deps
                .activations
                .requeue_activation(&job.uid, &job.purchase_id, place)
                .await?;
            Ok(Handled::Retrying { attempts })
        }
    }
}

async fn fail_for_good(
    w: &Worker,
    job: &Job,
    attempts: u32,
    e: &CarrierError,
) -> Result<Handled, Unavailable> {
    let reason = match e {
        CarrierError::Refused(_) => e.to_string(),
        _ => format!("{e}, {attempts} times"),
    };
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
    tracing::error!(uid = %job.uid.short(), purchase = %job.purchase_id, error = %e, "activation failed for good");
    Ok(Handled::DeadLettered)
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
    if let Err(e) = crate::app::mail::deliver(w.mailer.as_ref(), &message).await {
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
    use crate::domain::purchases::Purchase;
    use crate::domain::users::Email;
    use crate::ports::{ActivationStore, Carrier, Clock, ThrottleStore, UserStore};

    async fn paid(world: &MemoryWorld, n: usize) -> Vec<Job> {
        let deps = world.deps();
        for i in 0..n {
            let uid = world
                .register(&format!("user-{i}"), &format!("user{i}@example.com"))
                .await;
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
        assert_eq!(lpa_code.as_deref(), Some("LPA:1$smdp.test$CODE-1"));
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

    /// The last message sent that is not a watch.
    fn last_job(world: &MemoryWorld) -> Job {
        let sent = world.queue.sent.lock().unwrap();
        sent.iter().rev().find(|(j, _)| !j.watch).unwrap().0.clone()
    }

    fn activation_of(world: &MemoryWorld, purchase: &str) -> Activation {
        world
            .activations
            .all()
            .into_iter()
            .find(|a| a.purchase_id == purchase)
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_without_a_permit_goes_back_in_line_with_a_new_eta() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        // Five carrier calls just started elsewhere: the window is full for 10 s.
        for ticket in 100..105 {
            world
                .throttle
                .take_permit(&world.limits, ticket, world.clock.as_ref())
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
            Some(world.clock.now_unix_ms() + 10_500),
            "the ETA follows the freed permit (and the guard)"
        );
        assert_eq!(a.attempts, 0, "waiting is no attempt");
        assert_eq!(
            last_job(&world).slot_ms,
            a.slot_ms.unwrap(),
            "sent as recorded"
        );
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 0);
        // The old message, delivered again, is a stale copy: nothing happens.
        assert_eq!(
            process(&world.worker(), &jobs[0]).await.unwrap(),
            Handled::AlreadyDone
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_call_goes_to_the_end_of_the_line_then_dead_letters() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 2).await;
        world.carrier.fail_next.store(2, Ordering::SeqCst);
        let mut job = jobs[0].clone();
        for expected in 1..=2 {
            assert_eq!(
                process(&world.worker(), &job).await.unwrap(),
                Handled::Retrying { attempts: expected }
            );
            let retry = last_job(&world);
            assert!(
                retry.ticket > jobs[1].ticket,
                "behind everyone already in line"
            );
            let a = activation_of(&world, "in_0");
            assert_eq!(
                (a.ticket, a.slot_ms),
                (Some(retry.ticket), Some(retry.slot_ms))
            );
            assert_eq!(a.status, Status::Queued);
            // The copy it replaced is stale now.
            assert_eq!(
                process(&world.worker(), &job).await.unwrap(),
                Handled::AlreadyDone
            );
            job = retry;
            world.clock.advance_ms(20_000);
        }
        assert_eq!(
            process(&world.worker(), &job).await.unwrap(),
            Handled::Activated
        );
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 3);

        world.carrier.fail_next.store(3, Ordering::SeqCst);
        let mut job = jobs[1].clone();
        for _ in 0..2 {
            process(&world.worker(), &job).await.unwrap();
            job = last_job(&world);
            world.clock.advance_ms(20_000);
        }
        assert_eq!(
            process(&world.worker(), &job).await.unwrap(),
            Handled::DeadLettered
        );
        let failed = activation_of(&world, "in_1");
        assert_eq!(failed.status, Status::Failed);
        assert!(failed.failed_reason.unwrap().contains("3 times"));
        assert_eq!(world.queue.dead.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_that_arrives_before_its_place_is_recorded_comes_back() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        let ahead = Job {
            ticket: jobs[0].ticket + 7,
            ..jobs[0].clone()
        };
        world.queue.sent.lock().unwrap().clear();
        assert_eq!(
            process(&world.worker(), &ahead).await.unwrap(),
            Handled::Waiting { delay_seconds: 1 }
        );
        assert_eq!(world.queue.sent.lock().unwrap().clone(), vec![(ahead, 1)]);
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_final_at_once() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        world.carrier.refuse.store(true, Ordering::SeqCst);
        assert_eq!(
            process(&world.worker(), &jobs[0]).await.unwrap(),
            Handled::DeadLettered
        );
        assert_eq!(
            world.carrier.calls.load(Ordering::SeqCst),
            1,
            "one permit spent"
        );
        let a = activation_of(&world, "in_0");
        assert_eq!(a.status, Status::Failed);
        assert!(a.failed_reason.unwrap().contains("refused"));
        assert_eq!(world.queue.dead.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_line_made_before_the_answer_was_lost_is_looked_up_not_made_again() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        world.carrier.lose_answers.store(1, Ordering::SeqCst);
        assert_eq!(
            process(&world.worker(), &jobs[0]).await.unwrap(),
            Handled::Retrying { attempts: 1 }
        );
        world.clock.advance_ms(20_000);
        let before = world.throttle.throttle().await.unwrap().starts.len();
        assert_eq!(
            process(&world.worker(), &last_job(&world)).await.unwrap(),
            Handled::Activated
        );
        assert_eq!(
            world.carrier.calls.load(Ordering::SeqCst),
            1,
            "no second call"
        );
        assert_eq!(
            world.throttle.throttle().await.unwrap().starts.len(),
            before,
            "a lookup takes no permit"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_activation_email_refused_for_good_is_not_retried() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        world.mailer.refuse_next.store(1, Ordering::SeqCst);
        assert_eq!(
            process(&world.worker(), &jobs[0]).await.unwrap(),
            Handled::Activated
        );
        assert!(world.mailer.sent.lock().unwrap().is_empty());
        assert!(
            activation_of(&world, "in_0").emailed,
            "settled, not retried"
        );
        assert!(
            world
                .queue
                .sent
                .lock()
                .unwrap()
                .iter()
                .all(|(j, _)| j.watch),
            "no email retry queued"
        );
        // A failure that may pass is retried.
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        world.mailer.fail_next.store(1, Ordering::SeqCst);
        assert_eq!(
            process(&world.worker(), &jobs[0]).await.unwrap(),
            Handled::Waiting {
                delay_seconds: EMAIL_RETRY_SECONDS
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_person_becomes_one_end_user_found_again_by_email() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        // An earlier attempt made the end user and crashed before recording it.
        let earlier = world
            .carrier
            .create_end_user(&crate::ports::NewEndUser {
                first_name: "DOTM".into(),
                last_name: "Customer".into(),
                email: Some(Email::parse("user0@example.com").unwrap()),
            })
            .await
            .unwrap();
        assert_eq!(
            process(&world.worker(), &jobs[0]).await.unwrap(),
            Handled::Activated
        );
        assert_eq!(
            world.carrier.end_users.lock().unwrap().len(),
            1,
            "no second end user"
        );
        let user = world.users.user(&jobs[0].uid).await.unwrap().unwrap();
        assert_eq!(user.carrier_end_user_id.as_deref(), Some(earlier.as_str()));
        assert_eq!(world.carrier.lines.lock().unwrap()[&earlier].len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn two_purchases_of_one_person_whose_answers_were_lost_get_one_line_each() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        // A second activation of the same person (a beta line), in line behind the first.
        let deps = world.deps();
        let beta = Purchase {
            purchase_id: "beta-1".into(),
            ..deps
                .purchases
                .purchases(&jobs[0].uid)
                .await
                .unwrap()
                .remove(0)
        };
        crate::app::activation_line::enqueue_line(&deps, &beta, true, true)
            .await
            .unwrap();
        let beta_job = last_job(&world);
        world.carrier.lose_answers.store(2, Ordering::SeqCst);
        for job in [&jobs[0], &beta_job] {
            assert!(matches!(
                process(&world.worker(), job).await.unwrap(),
                Handled::Retrying { attempts: 1 }
            ));
        }
        assert_eq!(world.carrier.all_lines().len(), 2, "both calls made a line");
        // Both settle: the lines made are found, each attributed once, no third call.
        let retries: Vec<Job> = {
            let sent = world.queue.sent.lock().unwrap();
            let mut latest: Vec<Job> = Vec::new();
            for (job, _) in sent.iter().filter(|(j, _)| !j.watch && j.attempts == 1) {
                latest.retain(|j| j.purchase_id != job.purchase_id);
                latest.push(job.clone());
            }
            latest
        };
        assert_eq!(retries.len(), 2);
        world.clock.advance_ms(20_000);
        for job in &retries {
            assert_eq!(
                process(&world.worker(), job).await.unwrap(),
                Handled::Activated
            );
        }
        assert_eq!(
            world.carrier.calls.load(Ordering::SeqCst),
            2,
            "no second call"
        );
        let lines: Vec<String> = world
            .activations
            .all()
            .into_iter()
            .map(|a| a.line.unwrap().line_id)
            .collect();
        assert_eq!(lines.len(), 2);
        assert_ne!(lines[0], lines[1], "one line each");
        // The beta line asked for an area code the carrier offers.
        let asked = world.carrier.area_codes_asked.lock().unwrap().clone();
        assert!(
            asked.values().any(|a| a.as_deref() == Some("212")),
            "{asked:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_whose_worker_died_is_resumed_by_its_watch() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        let job = &jobs[0];
        // A worker claims the job and dies before calling the carrier.
        let now = world.clock.now_unix_ms();
        world
            .activations
            .claim_activation(&job.uid, &job.purchase_id, now, CLAIM_MS)
            .await
            .unwrap()
            .unwrap();
        let watch = Job {
            watch: true,
            ..job.clone()
        };
        // Its message comes again while the claim holds: nothing happens; the watch, come
        // early (a queue that caps delays), goes round again to arrive after the claim.
        assert_eq!(
            process(&world.worker(), job).await.unwrap(),
            Handled::AlreadyDone
        );
        world.queue.sent.lock().unwrap().clear();
        assert_eq!(
            process(&world.worker(), &watch).await.unwrap(),
            Handled::Waiting { delay_seconds: 36 }
        );
        assert_eq!(
            world.queue.sent.lock().unwrap().clone(),
            vec![(watch.clone(), 36)]
        );
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 0);
        // The watch arrives after the claim ran out: the job resumes and activates once.
        world
            .clock
            .advance_ms(i64::from(WATCH_DELAY_SECONDS) * 1000);
        assert_eq!(
            process(&world.worker(), &watch).await.unwrap(),
            Handled::Activated
        );
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            process(&world.worker(), &watch).await.unwrap(),
            Handled::AlreadyDone
        );
    }

    /// A throttle store whose first grant is confirmed late (a slow write).
    struct SlowFirstGrant {
        inner: Arc<crate::adapters::memory::MemoryThrottle>,
        clock: Arc<crate::adapters::memory::FixedClock>,
        slow: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl ThrottleStore for SlowFirstGrant {
        async fn throttle(&self) -> Result<crate::domain::throttle::ThrottleState, Unavailable> {
            self.inner.throttle().await
        }
        async fn reserve_slot(
            &self,
            cfg: &crate::domain::throttle::ThrottleConfig,
            now_ms: i64,
        ) -> Result<crate::domain::throttle::Reservation, Unavailable> {
            self.inner.reserve_slot(cfg, now_ms).await
        }
        async fn take_permit(
            &self,
            cfg: &crate::domain::throttle::ThrottleConfig,
            ticket: u64,
            clock: &dyn Clock,
        ) -> Result<Result<Permit, WaitUntil>, Unavailable> {
            let granted = self.inner.take_permit(cfg, ticket, clock).await;
            if self.slow.swap(false, Ordering::SeqCst) {
                self.clock.advance_ms(cfg.send_within_ms() + 1);
            }
            granted
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_permit_confirmed_too_late_is_not_used_for_the_call() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        let slow = Arc::new(SlowFirstGrant {
            inner: world.throttle.clone(),
            clock: world.clock.clone(),
            slow: std::sync::atomic::AtomicBool::new(true),
        });
        let worker = Worker {
            deps: Deps {
                throttle: slow,
                ..world.deps()
            },
            ..world.worker()
        };
        assert_eq!(
            process(&worker, &jobs[0]).await.unwrap(),
            Handled::Activated
        );
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            world.throttle.throttle().await.unwrap().starts.len(),
            2,
            "the late permit is spent, and a second one is taken for the call"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_of_a_job_that_went_well_does_nothing() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        assert_eq!(
            process(&world.worker(), &jobs[0]).await.unwrap(),
            Handled::Activated
        );
        let sent = world.queue.sent.lock().unwrap().clone();
        let (watch, delay) = sent.iter().find(|(j, _)| j.watch).cloned().unwrap();
        assert_eq!(delay, WATCH_DELAY_SECONDS);
        world.clock.advance_ms(i64::from(delay) * 1000);
        assert_eq!(
            process(&world.worker(), &watch).await.unwrap(),
            Handled::AlreadyDone
        );
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 1);
        assert_eq!(world.mailer.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_mail_failure_keeps_the_line_and_retries_the_email() {
        let world = MemoryWorld::new();
        let jobs = paid(&world, 1).await;
        world.mailer.fail_next.store(1, Ordering::SeqCst);
        let handled = process(&world.worker(), &jobs[0]).await.unwrap();
        assert!(matches!(handled, Handled::Waiting { .. }), "{handled:?}");
        assert_eq!(world.activations.all()[0].status, Status::Active);
        let retry = last_job(&world);
        assert_eq!(retry.attempts, 0, "an email retry is no carrier attempt");
        assert_eq!(
            process(&world.worker(), &retry).await.unwrap(),
            Handled::Emailed
        );
        assert_eq!(world.carrier.calls.load(Ordering::SeqCst), 1);
    }
}
