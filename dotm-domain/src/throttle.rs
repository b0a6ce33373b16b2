//! The carrier licence: never more than `limit` activations start in any rolling window.
//!
//! Reserve at enqueue, gate at call time (DESIGN §5). A paid job reserves a *slot* when it is
//! queued: its ticket (queue order) and the time it may start, which is its ETA. At call time
//! the worker takes a *permit* against the ring of actual start times; that check is the hard
//! promise, so a late cluster is re-delayed rather than let through. Pure: the store applies
//! these changes to one item with a conditional write.
//!
//! Head of line: a job refused a permit leaves a *hold* (its ticket and when it was told to
//! come back), and no later ticket gets a permit while an earlier one holds. So jobs that
//! queued up behind a full window start in payment order, not in whichever order their
//! retries happen to land. A hold its job does not come
//! back for within [`HOLD_GRACE_MS`] is dropped: no job waits on a job that died.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    pub limit: u32,
    pub window_ms: i64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            limit: 100,
            window_ms: 3_600_000,
        }
    }
}

impl ThrottleConfig {
    /// Slots are spread a little apart so jobs start one after another, in ticket order.
    fn spacing_ms(&self) -> i64 {
        (self.window_ms / i64::from(self.limit.max(1)) / 4).clamp(1, 200)
    }

    /// A slot leaves this much room after the window it waits for, so a job that started a
    /// few milliseconds after its own slot does not push the next one out of its ETA.
    fn margin_ms(&self) -> i64 {
        self.guard_ms() + (self.window_ms / 20).clamp(0, 250)
    }

    /// The gate counts starts in a window this much longer than the licence's, so the time
    /// between taking a permit and the carrier seeing the call can never let one more in.
    /// The worker keeps that time inside the guard: it opens the connection before taking the
    /// permit and gives up a call that is not sent within it ([`ThrottleConfig::send_within`]).
    pub fn guard_ms(&self) -> i64 {
        (self.window_ms / 20).clamp(0, 2_000)
    }

    /// How long a permitted call may take to reach the carrier: half the guard.
    pub fn send_within(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.send_within_ms() as u64)
    }

    /// The same, in ms: also how late a permit may come back from the store to be used.
    pub fn send_within_ms(&self) -> i64 {
        (self.guard_ms() / 2).max(1)
    }
}

/// A hold is honoured this long past the time its job was told to come back.
pub const HOLD_GRACE_MS: i64 = 3_000;
/// Holds kept at most (the item must stay small); the latest tickets go first.
const MAX_HOLDS: usize = 2_000;

/// A job refused a permit: it comes back at `at` and goes before every later ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub ticket: u64,
    pub at: i64,
}

/// `THROTTLE#activation` / `STATE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleState {
    /// The most recent `limit` reserved slots (ms), ascending.
    pub reserved: Vec<i64>,
    /// The most recent `limit` actual carrier call starts (ms), ascending.
    pub starts: Vec<i64>,
    /// The next queue ticket.
    pub next_ticket: u64,
    /// Jobs refused a permit and still coming back, by ticket.
    #[serde(default)]
    pub held: Vec<Hold>,
    /// Optimistic-concurrency version of the item.
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub ticket: u64,
    pub slot_ms: i64,
}

/// A permit: this call is the `used`-th start in the current window, recorded as starting
/// at `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    pub used: u32,
    pub limit: u32,
    pub at_ms: i64,
}

/// No permit now; the earliest time one frees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitUntil(pub i64);

fn keep_last(times: &mut Vec<i64>, n: usize) {
    if times.len() > n {
        times.drain(..times.len() - n);
    }
}

impl ThrottleState {
    pub fn reserve(&mut self, cfg: &ThrottleConfig, now_ms: i64) -> Reservation {
        let limit = cfg.limit.max(1) as usize;
        let mut slot = now_ms;
        if let Some(last) = self.reserved.last() {
            slot = slot.max(last + cfg.spacing_ms());
        }
        if self.reserved.len() >= limit {
            // The limit-th most recent slot must have left the window.
            slot = slot
                .max(self.reserved[self.reserved.len() - limit] + cfg.window_ms + cfg.margin_ms());
        }
        self.reserved.push(slot);
        keep_last(&mut self.reserved, limit);
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.version += 1;
        Reservation {
            ticket,
            slot_ms: slot,
        }
    }

    fn starts_in_window(&self, cfg: &ThrottleConfig, now_ms: i64) -> impl Iterator<Item = &i64> {
        self.starts
            .iter()
            .filter(move |s| **s > now_ms - cfg.window_ms)
    }

    /// Grants ticket `ticket` a start at `now_ms` if fewer than `limit` started in the
    /// (guarded) window ending now and no earlier ticket is holding. A refusal leaves a hold
    /// and says when to come back: when as many permits have freed as there are earlier
    /// holds, plus this one.
    pub fn take_permit(
        &mut self,
        cfg: &ThrottleConfig,
        ticket: u64,
        now_ms: i64,
    ) -> Result<Permit, WaitUntil> {
        let limit = cfg.limit.max(1);
        let guarded = ThrottleConfig {
            window_ms: cfg.window_ms + cfg.guard_ms(),
            ..*cfg
        };
        let before = self.held.clone();
        self.held
            .retain(|h| h.ticket != ticket && h.at + HOLD_GRACE_MS >= now_ms);
        let ahead: Vec<i64> = self
            .held
            .iter()
            .filter(|h| h.ticket < ticket)
            .map(|h| h.at)
            .collect();
        let in_window: Vec<i64> = self.starts_in_window(&guarded, now_ms).copied().collect();
        let free = (limit as usize).saturating_sub(in_window.len());
        if free > 0 && ahead.is_empty() {
            self.starts.push(now_ms);
            self.starts.sort_unstable();
            keep_last(&mut self.starts, limit as usize);
            self.version += 1;
            return Ok(Permit {
                used: in_window.len() as u32 + 1,
                limit,
                at_ms: now_ms,
            });
        }
        // This job's turn comes once the earlier holds have had theirs: when `ahead + 1`
        // permits have freed (`free` already have); if enough are free already, just after
        // the last earlier hold is due.
        let needed = (ahead.len() + 1).saturating_sub(free);
        let turn = if needed == 0 || in_window.is_empty() {
            ahead
                .iter()
                .max()
                .map_or(now_ms, |at| at + cfg.spacing_ms())
        } else {
            let rounds = ((needed - 1) / in_window.len()) as i64;
            in_window[(needed - 1) % in_window.len()] + guarded.window_ms * (rounds + 1)
        };
        let at = turn.max(now_ms + 1);
        let hold = Hold { ticket, at };
        let at_index = self.held.partition_point(|h| h.ticket < ticket);
        self.held.insert(at_index, hold);
        self.held.truncate(MAX_HOLDS);
        if self.held != before {
            self.version += 1;
        }
        Err(WaitUntil(at))
    }

    /// Starts in the window ending now.
    pub fn used(&self, cfg: &ThrottleConfig, now_ms: i64) -> u32 {
        self.starts_in_window(cfg, now_ms).count() as u32
    }

    /// When a job queued now would start.
    pub fn next_slot(&self, cfg: &ThrottleConfig, now_ms: i64) -> i64 {
        self.clone().reserve(cfg, now_ms).slot_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_PER_TEN: ThrottleConfig = ThrottleConfig {
        limit: 5,
        window_ms: 10_000,
    };

    /// The largest number of `starts` in any window of `window_ms`.
    fn busiest_window(starts: &[i64], window_ms: i64) -> usize {
        starts
            .iter()
            .map(|s| {
                starts
                    .iter()
                    .filter(|t| **t >= *s && **t < s + window_ms)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_burst_gets_ordered_slots_l_per_window() {
        let mut state = ThrottleState::default();
        let slots: Vec<Reservation> = (0..12)
            .map(|_| state.reserve(&FIVE_PER_TEN, 1_000))
            .collect();
        assert_eq!(
            slots.iter().map(|r| r.ticket).collect::<Vec<_>>(),
            (0..12).collect::<Vec<_>>()
        );
        assert!(
            slots.windows(2).all(|w| w[0].slot_ms < w[1].slot_ms),
            "strictly increasing"
        );
        assert_eq!(slots[0].slot_ms, 1_000);
        assert!(slots[4].slot_ms < 2_000, "the first five start at once");
        assert!(
            slots[5].slot_ms >= 1_000 + 10_000,
            "the sixth waits for the first to leave the window"
        );
        let times: Vec<i64> = slots.iter().map(|r| r.slot_ms).collect();
        assert!(busiest_window(&times, 10_000) <= 5);
    }

    #[test]
    fn permits_never_exceed_the_limit_in_any_window() {
        let mut state = ThrottleState::default();
        let mut granted = Vec::new();
        // One job asks every 300 ms for a minute, late and early alike.
        for i in 0..200 {
            let now = 1_000 + i * 300;
            if state.take_permit(&FIVE_PER_TEN, 7, now).is_ok() {
                granted.push(now);
            }
        }
        assert!(busiest_window(&granted, 10_000) <= 5);
        assert!(
            granted.len() >= 5 * 6,
            "the licence is used, not wasted: {}",
            granted.len()
        );
    }

    #[test]
    fn a_refusal_says_when_the_next_permit_frees() {
        let mut state = ThrottleState::default();
        for (ticket, t) in [0, 100, 200, 300, 400].into_iter().enumerate() {
            assert!(state.take_permit(&FIVE_PER_TEN, ticket as u64, t).is_ok());
        }
        // Free 10 s after the first start, plus the 500 ms guard.
        assert_eq!(
            state.take_permit(&FIVE_PER_TEN, 5, 500),
            Err(WaitUntil(10_500))
        );
        assert!(state.take_permit(&FIVE_PER_TEN, 5, 10_499).is_err());
        assert!(state.take_permit(&FIVE_PER_TEN, 5, 10_500).is_ok());
        assert!(state.held.is_empty(), "a granted hold is gone");
        // Usage (for stats) counts the licence's own window: 0 to 400 have left it.
        assert_eq!(state.used(&FIVE_PER_TEN, 10_500), 1);
    }

    #[test]
    fn refused_jobs_start_in_ticket_order_whoever_comes_back_first() {
        let mut state = ThrottleState::default();
        for (ticket, t) in [0, 100, 200, 300, 400].into_iter().enumerate() {
            state.take_permit(&FIVE_PER_TEN, ticket as u64, t).unwrap();
        }
        // Tickets 7, 6 and 5 are refused, in that order; each is told 10_500.
        for ticket in [7, 6, 5] {
            assert_eq!(
                state.take_permit(&FIVE_PER_TEN, ticket, 500),
                Err(WaitUntil(10_500))
            );
        }
        // One permit frees at 10_500. 7 and 6 come back first: it is kept for 5, and each is
        // told its turn, 6 before 7.
        let WaitUntil(seven) = state.take_permit(&FIVE_PER_TEN, 7, 10_500).unwrap_err();
        let WaitUntil(six) = state.take_permit(&FIVE_PER_TEN, 6, 10_500).unwrap_err();
        assert!(state.take_permit(&FIVE_PER_TEN, 5, 10_500).is_ok());
        assert!(six < seven, "{six} {seven}");
        assert!(state.take_permit(&FIVE_PER_TEN, 7, six).is_err());
        assert!(state.take_permit(&FIVE_PER_TEN, 6, six).is_ok());
        assert!(state.take_permit(&FIVE_PER_TEN, 7, seven).is_ok());
    }

    #[test]
    fn a_hold_whose_job_never_comes_back_stops_holding() {
        let one_per_100s = ThrottleConfig {
            limit: 1,
            window_ms: 100_000,
        };
        let mut state = ThrottleState::default();
        state.take_permit(&one_per_100s, 0, 0).unwrap();
        let WaitUntil(at) = state.take_permit(&one_per_100s, 1, 10).unwrap_err();
        assert_eq!(at, 102_000);
        // Ticket 1 died. Ticket 2 waits for it until the grace runs out, then goes.
        assert!(state.take_permit(&one_per_100s, 2, at).is_err());
        assert!(
            state
                .take_permit(&one_per_100s, 2, at + HOLD_GRACE_MS)
                .is_err()
        );
        assert!(
            state
                .take_permit(&one_per_100s, 2, at + HOLD_GRACE_MS + 1)
                .is_ok()
        );
    }

    #[test]
    fn a_late_start_makes_the_gate_hold_later_jobs() {
        let mut state = ThrottleState::default();
        let r: Vec<Reservation> = (0..10).map(|_| state.reserve(&FIVE_PER_TEN, 0)).collect();
        let mut starts = Vec::new();
        // The second job starts 9.7 s after its slot; everyone else tries on their slot.
        for (i, job) in r.iter().enumerate() {
            let at = if i == 1 {
                job.slot_ms + 9_700
            } else {
                job.slot_ms
            };
            if state.take_permit(&FIVE_PER_TEN, job.ticket, at).is_ok() {
                starts.push(at);
            }
        }
        starts.sort_unstable();
        assert!(busiest_window(&starts, 10_000) <= 5, "{starts:?}");
        assert!(
            starts.len() < 10,
            "some on-time jobs were held back: {starts:?}"
        );
    }

    #[test]
    fn rings_stay_bounded() {
        let mut state = ThrottleState::default();
        for i in 0..1_000 {
            state.reserve(&FIVE_PER_TEN, i);
            let _ = state.take_permit(&FIVE_PER_TEN, i as u64, i * 5_000);
        }
        assert!(state.reserved.len() <= 5 && state.starts.len() <= 5);
        assert!(state.held.len() <= 1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Jobs paid in a burst arrive late by up to 3 s; each refused job comes back when it
        /// was told (give or take 20 ms). Every job starts, no window of the licence holds more
        /// than its limit, and no later ticket starts ahead of a job already waiting.
        #[test]
        fn the_line_keeps_the_licence_and_payment_order(
            drifts in proptest::collection::vec(0i64..3_000, 1..40),
            jitters in proptest::collection::vec(0i64..20, 64),
            limit in 1u32..8,
        ) {
            let cfg = ThrottleConfig { limit, window_ms: 10_000 };
            let mut state = ThrottleState::default();
            let mut arrivals: Vec<(i64, u64)> = drifts
                .iter()
                .map(|d| {
                    let r = state.reserve(&cfg, 0);
                    (r.slot_ms + d, r.ticket)
                })
                .collect();
            let mut started = std::collections::BTreeMap::new();
            let mut refused_at = std::collections::BTreeMap::new();
            let mut round = 0usize;
            while let Some(i) = (0..arrivals.len()).min_by_key(|i| arrivals[*i]) {
                let (now, ticket) = arrivals.swap_remove(i);
                match state.take_permit(&cfg, ticket, now) {
                    Ok(_) => {
                        started.insert(ticket, now);
                    }
                    Err(WaitUntil(at)) => {
                        proptest::prop_assert!(at > now);
                        refused_at.entry(ticket).or_insert(now);
                        round += 1;
                        arrivals.push((at + jitters[round % jitters.len()], ticket));
                    }
                }
                proptest::prop_assert!(round < 10_000, "the line does not move");
            }
            proptest::prop_assert_eq!(started.len(), drifts.len());
            let mut times: Vec<i64> = started.values().copied().collect();
            times.sort_unstable();
            proptest::prop_assert!(busiest_window(&times, cfg.window_ms) <= limit as usize);
            // A job waiting behind a full window is not overtaken by a later ticket.
            for (a, waited_from) in &refused_at {
                for (b, b_start) in started.range(a + 1..) {
                    if waited_from < b_start {
                        proptest::prop_assert!(
                            started[a] <= b_start + 20,
                            "ticket {} (waiting from {}) started at {}, after ticket {} at {}",
                            a, waited_from, started[a], b, b_start
                        );
                    }
                }
            }
        }
    }
}
