//! The last carrier reading of each line's data, so the carrier is asked at most once a window.

use async_trait::async_trait;

use super::Unavailable;
use crate::domain::usage::{LineUsage, TrackedLine};

#[async_trait]
pub trait UsageStore: Send + Sync {
    async fn cached_usage(&self, iccid: &str) -> Result<Option<LineUsage>, Unavailable>;
    /// Takes the right to ask the carrier now: true unless another caller did in the last
    /// `every_seconds` (a conditional write on `asked_at`), so racing instances ask once.
    async fn claim_usage_fetch(
        &self,
        iccid: &str,
        now: i64,
        every_seconds: i64,
    ) -> Result<bool, Unavailable>;
    async fn save_usage(&self, usage: &LineUsage) -> Result<(), Unavailable>;
    /// Remembers an active line for the scheduled sweep (idempotent).
    async fn track_line(&self, line: &TrackedLine) -> Result<(), Unavailable>;
    /// Every tracked line, in ICCID order.
    async fn tracked_lines(&self) -> Result<Vec<TrackedLine>, Unavailable>;
}
