//! A chain in memory: balances, a supply cap, once-only reward ids (`Minter` and `Balances`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::domain::rewards::Wei;
use crate::domain::wallet::Wallet;
use crate::ports::{Balances, MintOutcome, Minter, Unavailable};

/// A chain in memory: balances, a supply cap, once-only reward ids.
pub struct MemoryLedger {
    pub cap: Wei,
    state: Mutex<(HashMap<String, Wei>, Wei, HashSet<String>)>,
    pub mints: AtomicUsize,
}

impl MemoryLedger {
    pub fn with_cap(cap: Wei) -> Self {
        MemoryLedger {
            cap,
            state: Mutex::default(),
            mints: AtomicUsize::new(0),
        }
    }
}

impl Default for MemoryLedger {
    fn default() -> Self {
        MemoryLedger::with_cap(Wei::dotm(10_333_333))
    }
}

#[async_trait]
impl Minter for MemoryLedger {
    async fn mint(
        &self,
        to: &Wallet,
        amount: Wei,
        reward_id: &str,
    ) -> Result<MintOutcome, Unavailable> {
        let mut state = lock(&self.state);
        let (balances, total, paid) = &mut *state;
        if paid.contains(reward_id) {
            return Ok(MintOutcome::AlreadyPaid);
        }
        let remaining = Wei(self.cap.0.saturating_sub(total.0));
        if amount.0 > remaining.0 {
            return Ok(MintOutcome::OverCap { remaining });
        }
        paid.insert(reward_id.to_owned());
        *total = *total + amount;
        let balance = balances.entry(to.to_string()).or_default();
        *balance = *balance + amount;
        let n = self.mints.fetch_add(1, Ordering::SeqCst);
        Ok(MintOutcome::Minted {
            tx_hash: format!("0x{n:064x}"),
        })
    }
}

#[async_trait]
impl Balances for MemoryLedger {
    async fn balance(&self, of: &Wallet) -> Result<Wei, Unavailable> {
        let state = lock(&self.state);
        Ok(state.0.get(&of.to_string()).copied().unwrap_or_default())
    }
}
