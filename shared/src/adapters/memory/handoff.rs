//! `HandoffStore` and `UsageStore` in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::handoff::PayLink;
use crate::domain::usage::{LineUsage, TrackedLine};
use crate::ports::{HandoffStore, Unavailable, UsageStore};

#[derive(Default)]
pub struct MemoryHandoff {
    links: Mutex<HashMap<String, PayLink>>,
    used: Mutex<HashMap<String, i64>>,
}

#[async_trait]
impl HandoffStore for MemoryHandoff {
    async fn save_pay_link(&self, hash: &str, link: &PayLink) -> Result<(), Unavailable> {
        lock(&self.links)
            .entry(hash.to_owned())
            .or_insert_with(|| link.clone());
        Ok(())
    }

    async fn pay_link(&self, hash: &str) -> Result<Option<PayLink>, Unavailable> {
        Ok(lock(&self.links).get(hash).cloned())
    }

    async fn use_once(&self, key: &str, expires_at: i64) -> Result<bool, Unavailable> {
        let mut used = lock(&self.used);
        if used.contains_key(key) {
            return Ok(false);
        }
        used.insert(key.to_owned(), expires_at);
        Ok(true)
    }

    async fn used(&self, key: &str) -> Result<bool, Unavailable> {
        Ok(lock(&self.used).contains_key(key))
    }
}

#[derive(Default)]
pub struct MemoryUsage {
    readings: Mutex<HashMap<String, LineUsage>>,
    asked: Mutex<HashMap<String, i64>>,
    lines: Mutex<std::collections::BTreeMap<String, TrackedLine>>,
}

#[async_trait]
impl UsageStore for MemoryUsage {
    async fn cached_usage(&self, iccid: &str) -> Result<Option<LineUsage>, Unavailable> {
        Ok(lock(&self.readings).get(iccid).cloned())
    }

    async fn claim_usage_fetch(
        &self,
        iccid: &str,
        now: i64,
        every_seconds: i64,
    ) -> Result<bool, Unavailable> {
        let mut asked = lock(&self.asked);
        match asked.get(iccid) {
            Some(at) if *at > now - every_seconds => Ok(false),
            _ => {
                asked.insert(iccid.to_owned(), now);
                Ok(true)
            }
        }
    }

    async fn save_usage(&self, usage: &LineUsage) -> Result<(), Unavailable> {
        lock(&self.readings).insert(usage.iccid.clone(), usage.clone());
        Ok(())
    }

    async fn track_line(&self, line: &TrackedLine) -> Result<(), Unavailable> {
        lock(&self.lines)
            .entry(line.iccid.clone())
            .or_insert_with(|| line.clone());
        Ok(())
    }

    async fn tracked_lines(&self) -> Result<Vec<TrackedLine>, Unavailable> {
        Ok(lock(&self.lines).values().cloned().collect())
    }
}
