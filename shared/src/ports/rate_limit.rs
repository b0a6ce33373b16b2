//! Request counts of the public rate limit, shared by every instance.

use async_trait::async_trait;

use super::Unavailable;

#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Counts one request of `client` in the window starting at `window` (unix seconds) and
    /// answers the count with it; the record lives until `expires_at` (the table's TTL).
    async fn count_request(
        &self,
        client: &str,
        window: i64,
        expires_at: i64,
    ) -> Result<u64, Unavailable>;
}
