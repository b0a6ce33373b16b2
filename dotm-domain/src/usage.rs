//! Data used on a line, and the low-data notices it calls for.

use serde::{Deserialize, Serialize};

/// The carrier is asked at most this often per line (the default of `USAGE_REFRESH_SECONDS`);
/// between two asks the cached answer (with its `as_of`) is what everyone sees.
pub const CARRIER_ASK_SECONDS: i64 = 60;

/// Percentages of the line's data at which the person is told, once each.
pub const LOW_DATA_THRESHOLDS: [u8; 2] = [75, 90];

/// An active line the scheduled sweep reads (whose low-data notices go to `uid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedLine {
    pub uid: crate::users::Uid,
    pub iccid: String,
}

/// What the carrier said about a line, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineUsage {
    pub iccid: String,
    pub total_mb: u64,
    pub used_mb: u64,
    /// RFC 3339.
    pub valid_until: String,
    /// RFC 3339: when the carrier measured it.
    pub as_of: String,
    /// Unix seconds when DOTM asked (the cache's clock, not the carrier's).
    pub fetched_at: i64,
}

impl LineUsage {
    pub fn remaining_mb(&self) -> u64 {
        self.total_mb.saturating_sub(self.used_mb)
    }

    /// Whole percent used, rounded down (so 74.9 % is not yet 75 %); a line without data is
    /// fully used.
    pub fn used_percent(&self) -> u8 {
        if self.total_mb == 0 {
            return 100;
        }
        let percent = u128::from(self.used_mb.min(self.total_mb)) * 100 / u128::from(self.total_mb);
        percent as u8
    }

    pub fn is_fresh(&self, now: i64, refresh_seconds: i64) -> bool {
        now - self.fetched_at < refresh_seconds
    }

    /// The thresholds this reading has reached, lowest first.
    pub fn thresholds_reached(&self) -> impl Iterator<Item = u8> + '_ {
        LOW_DATA_THRESHOLDS
            .into_iter()
            .filter(|t| self.used_percent() >= *t)
    }

    /// The key of one low-data notice: per line, threshold and total, so a top-up (a new
    /// total) arms the thresholds again while re-reading the same total never repeats one.
    pub fn notice_key(&self, threshold: u8) -> String {
        format!("{}#{}#{}", self.iccid, threshold, self.total_mb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usage(total_mb: u64, used_mb: u64) -> LineUsage {
        LineUsage {
            iccid: "8901".into(),
            total_mb,
            used_mb,
            valid_until: "2027-01-01T00:00:00Z".into(),
            as_of: "2026-12-01T00:00:00Z".into(),
            fetched_at: 1000,
        }
    }

    #[test]
    fn thresholds_are_reached_at_whole_percents() {
        assert_eq!(usage(1000, 749).thresholds_reached().count(), 0);
        assert_eq!(
            usage(1000, 750).thresholds_reached().collect::<Vec<_>>(),
            [75]
        );
        assert_eq!(
            usage(1000, 900).thresholds_reached().collect::<Vec<_>>(),
            [75, 90]
        );
        assert_eq!(usage(0, 0).used_percent(), 100);
        assert_eq!(usage(1000, 5000).remaining_mb(), 0);
    }

    #[test]
    fn a_top_up_arms_the_notices_again() {
        assert_ne!(
            usage(1024, 800).notice_key(75),
            usage(11264, 9000).notice_key(75)
        );
        assert_eq!(
            usage(1024, 800).notice_key(75),
            usage(1024, 900).notice_key(75)
        );
    }

    #[test]
    fn the_cache_is_fresh_for_a_minute() {
        assert!(usage(1, 0).is_fresh(1059, CARRIER_ASK_SECONDS));
        assert!(!usage(1, 0).is_fresh(1060, CARRIER_ASK_SECONDS));
    }

    proptest! {
        #[test]
        fn percent_is_within_bounds_and_monotonic(total in 0u64..u64::MAX, a in any::<u64>(), b in any::<u64>()) {
            let (lo, hi) = (a.min(b), a.max(b));
            let (p, q) = (usage(total, lo).used_percent(), usage(total, hi).used_percent());
            prop_assert!(p <= 100 && q <= 100);
            prop_assert!(p <= q);
        }
    }
}
