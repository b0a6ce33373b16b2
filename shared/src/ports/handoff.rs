//! Payment links (by token hash) and single-use markers (request states, notices).

use async_trait::async_trait;

use super::Unavailable;
use crate::domain::handoff::PayLink;

#[async_trait]
pub trait HandoffStore: Send + Sync {
    async fn save_pay_link(&self, token_hash: &str, link: &PayLink) -> Result<(), Unavailable>;
    async fn pay_link(&self, token_hash: &str) -> Result<Option<PayLink>, Unavailable>;
    /// Marks `key` used until `expires_at` (unix seconds); true only for the first call.
    async fn use_once(&self, key: &str, expires_at: i64) -> Result<bool, Unavailable>;
    /// Whether `key` was used.
    async fn used(&self, key: &str) -> Result<bool, Unavailable>;
}
