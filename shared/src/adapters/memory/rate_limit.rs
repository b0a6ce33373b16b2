//! `RateLimitStore` in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::ports::{RateLimitStore, Unavailable};

#[derive(Default)]
pub struct MemoryRateLimits {
    hits: Mutex<HashMap<(String, i64), u64>>,
}

#[async_trait]
impl RateLimitStore for MemoryRateLimits {
    async fn count_request(
        &self,
        client: &str,
        window: i64,
        _expires_at: i64,
    ) -> Result<u64, Unavailable> {
        let mut hits = lock(&self.hits);
        let count = hits.entry((client.to_owned(), window)).or_insert(0);
        *count += 1;
        Ok(*count)
    }
}
