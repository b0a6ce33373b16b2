//! The carrier licence: never more than `limit` activations start in any rolling window.
//!
//! Reserve at enqueue, gate at call time (DESIGN §5). A paid job reserves a *slot* when it is
//! queued: its ticket (queue order) and the time it may start, which is its ETA. At call time
//! the worker takes a *permit* against the ring of actual start times; that check is the hard
//! promise, so a late cluster is re-delayed rather than let through. Pure: the store applies
//! these changes to one item with a conditional write.

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
        (self.window_ms / 20).clamp(0, 250)
    }

    /// The gate counts starts in a window this much longer than the licence's, so the time
    /// between taking a permit and the carrier seeing the call can never let one more in.
    fn guard_ms(&self) -> i64 {
        (self.window_ms / 40).clamp(0, 100)
    }
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
    /// Optimistic-concurrency version of the item.
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub ticket: u64,
    pub slot_ms: i64,
}

/// A permit: this call is the `used`-th start in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    pub used: u32,
    pub limit: u32,
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

    /// Grants a start at `now_ms` if fewer than `limit` started in the (guarded) window
    /// ending now.
    pub fn take_permit(&mut self, cfg: &ThrottleConfig, now_ms: i64) -> Result<Permit, WaitUntil> {
        let limit = cfg.limit.max(1);
        let guarded = ThrottleConfig {
            window_ms: cfg.window_ms + cfg.guard_ms(),
            ..*cfg
        };
        let in_window: Vec<i64> = self.starts_in_window(&guarded, now_ms).copied().collect();
        if in_window.len() >= limit as usize {
            let oldest = in_window[in_window.len() - limit as usize];
            return Err(WaitUntil(oldest + guarded.window_ms));
        }
        self.starts.push(now_ms);
        self.starts.sort_unstable();
        keep_last(&mut self.starts, limit as usize);
        self.version += 1;
        Ok(Permit {
            used: in_window.len() as u32 + 1,
            limit,
        })
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
        // Someone asks every 300 ms for a minute; late and early callers alike.
        for i in 0..200 {
            let now = 1_000 + i * 300;
            if state.take_permit(&FIVE_PER_TEN, now).is_ok() {
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
        for t in [0, 100, 200, 300, 400] {
            assert!(state.take_permit(&FIVE_PER_TEN, t).is_ok());
        }
        // Free 10 s after the first start, plus the 100 ms guard.
        assert_eq!(
            state.take_permit(&FIVE_PER_TEN, 500),
            Err(WaitUntil(10_100))
        );
        assert!(state.take_permit(&FIVE_PER_TEN, 10_099).is_err());
        assert!(state.take_permit(&FIVE_PER_TEN, 10_100).is_ok());
        // Usage (for stats) counts the licence's own window: 0 and 100 have left it.
        assert_eq!(state.used(&FIVE_PER_TEN, 10_100), 4);
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
            if state.take_permit(&FIVE_PER_TEN, at).is_ok() {
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
            let _ = state.take_permit(&FIVE_PER_TEN, i * 5_000);
        }
        assert!(state.reserved.len() <= 5 && state.starts.len() <= 5);
    }
}
