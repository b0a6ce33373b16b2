//! `RewardStore` in memory: rewards credited once per person and key, and the minter lease.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::rewards::{Reward, RewardStatus};
use crate::domain::users::Uid;
use crate::domain::wallet::Wallet;
use crate::ports::{RewardStore, Unavailable};

#[derive(Default)]
pub struct MemoryRewards {
    rows: Mutex<Vec<Reward>>,
    lease: Mutex<Option<(String, i64)>>,
    /// Wallet address -> the uid its new-member bonus went to.
    wallet_bonuses: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl RewardStore for MemoryRewards {
    async fn credit(&self, reward: &Reward) -> Result<bool, Unavailable> {
        let mut rows = lock(&self.rows);
        if rows
            .iter()
            .any(|r| r.uid == reward.uid && r.key == reward.key)
        {
            return Ok(false);
        }
        rows.push(reward.clone());
        Ok(true)
    }

    async fn rewards(&self, uid: &Uid) -> Result<Vec<Reward>, Unavailable> {
        Ok(lock(&self.rows)
            .iter()
            .filter(|r| &r.uid == uid)
            .cloned()
            .collect())
    }

    async fn settle(
        &self,
        reward: &Reward,
        status: RewardStatus,
        tx_hash: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), Unavailable> {
        let mut rows = lock(&self.rows);
        if let Some(r) = rows.iter_mut().find(|r| {
            r.uid == reward.uid && r.key == reward.key && r.status == RewardStatus::Pending
        }) {
            r.status = status;
            r.tx_hash = tx_hash.map(str::to_owned);
            r.reason = reason.map(str::to_owned);
        }
        Ok(())
    }

    async fn acquire_minter(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, Unavailable> {
        let mut lease = lock(&self.lease);
        match &*lease {
            Some((h, until)) if h != holder && *until >= now_ms => Ok(false),
            _ => {
                *lease = Some((holder.to_owned(), now_ms + lease_ms));
                Ok(true)
            }
        }
    }

    async fn release_minter(&self, holder: &str) -> Result<(), Unavailable> {
        let mut lease = lock(&self.lease);
        if lease.as_ref().is_some_and(|(h, _)| h == holder) {
            *lease = None;
        }
        Ok(())
    }

    async fn claim_wallet_bonus(&self, wallet: &Wallet, uid: &Uid) -> Result<bool, Unavailable> {
        let mut claims = lock(&self.wallet_bonuses);
        let owner = claims
            .entry(wallet.to_string().to_lowercase())
            .or_insert_with(|| uid.to_string());
        Ok(owner == uid.as_str())
    }
}
