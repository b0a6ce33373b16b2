//! The public rate limit: a fixed window per client, counted in the table so every Lambda
//! instance sees the same count.

/// What a client may send on the public endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub window_seconds: i64,
}

impl RateLimit {
    pub const fn per_minute(limit: u64) -> RateLimit {
        RateLimit {
            limit,
            window_seconds: 60,
        }
    }

    /// The window `now` falls in (its start, unix seconds).
    pub fn window(&self, now: i64) -> i64 {
        now - now.rem_euclid(self.window_seconds)
    }

    /// The answer to the `hits`-th request of the window that started at `window`.
    pub fn decide(&self, hits: u64, window: i64, now: i64) -> Verdict {
        let reset_seconds = (window + self.window_seconds - now).max(1);
        Verdict {
            allowed: hits <= self.limit,
            limit: self.limit,
            remaining: self.limit.saturating_sub(hits),
            reset_seconds,
            window_seconds: self.window_seconds,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window ends: `Retry-After` and `RateLimit-Reset`.
    pub reset_seconds: i64,
    pub window_seconds: i64,
}

/// Who a request counts against: the person when a token of theirs was verified, else the
/// client address (never a header a client can vary at will).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    Person(String),
    Address(String),
}

impl Client {
    pub fn key(&self) -> String {
        match self {
            Client::Person(uid) => format!("uid#{uid}"),
            Client::Address(ip) => format!("ip#{ip}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_101st_request_of_a_minute_is_refused_until_the_minute_ends() {
        let rule = RateLimit::per_minute(100);
        let window = rule.window(1_000_030);
        assert_eq!(window, 1_000_020);
        assert!(rule.decide(100, window, 1_000_030).allowed);
        let refused = rule.decide(101, window, 1_000_030);
        assert!(!refused.allowed);
        assert_eq!((refused.remaining, refused.reset_seconds), (0, 50));
        assert_eq!(rule.decide(1, window, 1_000_030).remaining, 99);
    }

    proptest! {
        #[test]
        fn never_more_than_the_limit_in_a_window(now in 0i64..4_000_000_000, limit in 1u64..1000, hits in 1u64..2000) {
            let rule = RateLimit::per_minute(limit);
            let window = rule.window(now);
            prop_assert!(window <= now && now - window < 60);
            let v = rule.decide(hits, window, now);
            prop_assert_eq!(v.allowed, hits <= limit);
            prop_assert!(v.reset_seconds >= 1 && v.reset_seconds <= 60);
        }
    }
}
