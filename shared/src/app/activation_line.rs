//! The line of paid activations waiting for the carrier: putting a purchase in line (a slot
//! reserved at enqueue), when its job should arrive, and the public numbers about the line.

use serde::Serialize;

use crate::app::Deps;
use crate::domain::activation::{Activation, Job, Status};
use crate::domain::purchases::Purchase;
use crate::domain::time::rfc3339;
use crate::ports::Unavailable;

/// SQS delays are whole seconds, at most 15 minutes.
pub const MAX_DELAY_SECONDS: i64 = 900;
/// Closer than this to its start, a job sleeps in the worker instead of being re-sent.
pub const SLEEP_AT_MOST_MS: i64 = 2_500;

/// Whole seconds to delay a message so it arrives just before `at_ms` (never late).
pub fn delay_until(at_ms: i64, now_ms: i64) -> u32 {
    let seconds = (at_ms - now_ms - SLEEP_AT_MOST_MS / 2).div_euclid(1000);
    seconds.clamp(0, MAX_DELAY_SECONDS) as u32
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
    enqueue_line(deps, purchase, resend, false).await
}

/// [`enqueue`], for a paid eSIM or (`beta`) a beta program line: the same queue, the same
/// throttle, the same promise of 100 an hour.
pub async fn enqueue_line(
    deps: &Deps,
    purchase: &Purchase,
    resend: bool,
    beta: bool,
) -> Result<Activation, Unavailable> {
    let now_ms = deps.clock.now_unix_ms();
    let fresh = Activation {
        beta,
        ..Activation::pending(
            purchase.uid.clone(),
            purchase.purchase_id.clone(),
            rfc3339(deps.clock.now_unix()),
        )
    };
    let activation = deps.activations.create_activation(&fresh).await?;
    put_in_line(deps, activation, resend, now_ms).await
}

/// A pending activation gets its slot and its job; a queued one its job again if `resend`.
async fn put_in_line(
    deps: &Deps,
    mut activation: Activation,
    resend: bool,
    now_ms: i64,
) -> Result<Activation, Unavailable> {
    let mut send = resend && activation.status == Status::Queued;
    if activation.status == Status::Pending {
        let reservation = deps.throttle.reserve_slot(&deps.limits, now_ms).await?;
        activation = deps
            .activations
            .queue_activation(&activation.uid, &activation.purchase_id, reservation)
            .await?;
        send = activation.reservation() == Some(reservation);
    }
    if send && let Some(r) = activation.reservation() {
        let job = Job {
            purchase_id: activation.purchase_id.clone(),
            uid: activation.uid.clone(),
            ticket: r.ticket,
            slot_ms: r.slot_ms,
            attempts: 0,
            watch: false,
        };
        deps.queue
            .send(&job, delay_until(r.slot_ms, now_ms))
            .await?;
        tracing::info!(uid = %activation.uid.short(), ticket = r.ticket, slot_ms = r.slot_ms, "activation queued");
    }
    Ok(activation)
}

/// An operator's redrive of one job: a failed activation is put in line again from the start
/// (a new slot, attempts counted from zero). `None` when it was not failed (nothing to do: an
/// active line stays as it is, a waiting one has its job).
pub async fn reopen(
    deps: &Deps,
    uid: &crate::domain::users::Uid,
    purchase_id: &str,
) -> Result<Option<Activation>, Unavailable> {
    let Some(pending) = deps.activations.reopen_activation(uid, purchase_id).await? else {
        return Ok(None);
    };
    let now_ms = deps.clock.now_unix_ms();
    Ok(Some(put_in_line(deps, pending, false, now_ms).await?))
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
        // One decimal, for people (not money).
        capacity_used_percentage: (f64::from(used) * 1000.0 / f64::from(limit)).round() / 10.0,
        slots_available: limit.saturating_sub(used),
        estimated_wait_minutes: (wait_ms + 59_999) / 60_000,
        queue_length: deps.activations.waiting_jobs().await?,
        failed_jobs: deps.queue.dead_letters().await?,
    })
}

/// The stats of the last few seconds: the endpoint is public, and each fresh answer costs a
/// count query and a queue attribute read. Per instance; a few seconds old at most.
pub struct StatsCache {
    ttl_ms: i64,
    last: std::sync::Mutex<Option<(i64, Stats)>>,
}

impl StatsCache {
    pub fn new(ttl_seconds: i64) -> StatsCache {
        StatsCache {
            ttl_ms: ttl_seconds * 1000,
            last: std::sync::Mutex::new(None),
        }
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_ms / 1000
    }

    pub async fn get(&self, deps: &Deps) -> Result<Stats, Unavailable> {
        let now = deps.clock.now_unix_ms();
        let cached = self
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| now - at < self.ttl_ms)
            .map(|(_, s)| s.clone());
        if let Some(stats) = cached {
            return Ok(stats);
        }
        let fresh = stats(deps).await?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, fresh.clone()));
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stats_are_read_once_per_few_seconds() {
        let world = crate::adapters::memory::MemoryWorld::new();
        let deps = world.deps();
        let cache = StatsCache::new(5);
        assert_eq!(cache.get(&deps).await.unwrap().queue_length, 0);
        let uid = crate::domain::users::Uid::parse("ada").unwrap();
        let waiting = crate::domain::activation::Activation {
            queue: Some(crate::domain::activation::WAITING.into()),
            ..crate::domain::activation::Activation::pending(uid, "p1".into(), "t".into())
        };
        deps.activations.create_activation(&waiting).await.unwrap();
        world.clock.advance_ms(4_999);
        assert_eq!(cache.get(&deps).await.unwrap().queue_length, 0);
        world.clock.advance_ms(1);
        assert_eq!(cache.get(&deps).await.unwrap().queue_length, 1);
    }

    #[test]
    fn a_job_arrives_just_before_its_slot_and_never_waits_past_sqs_limits() {
        assert_eq!(delay_until(0, 0), 0);
        assert_eq!(delay_until(10_000, 0), 8);
        assert_eq!(delay_until(10_000_000, 0), 900);
        assert_eq!(delay_until(-5_000, 0), 0);
    }
}
