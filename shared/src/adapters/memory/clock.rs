//! A clock that moves only when told.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::ports::Clock;

/// Unix milliseconds.
pub struct FixedClock(pub AtomicI64);

impl FixedClock {
    /// At `unix` seconds.
    pub fn at(unix: i64) -> Self {
        FixedClock(AtomicI64::new(unix * 1000))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_unix_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
