//! `Carrier` in memory: one line per purchase id, failures on request.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::domain::activation::Line;
use crate::domain::usage::LineUsage;
use crate::domain::users::Uid;
use crate::ports::{Carrier, CarrierError};

/// One line per purchase id; fails the next `fail_next` calls.
#[derive(Default)]
pub struct MemoryCarrier {
    pub calls: AtomicUsize,
    pub fail_next: AtomicUsize,
    /// The next calls make the line but their answer is lost on the way back (a timeout).
    pub lose_answers: AtomicUsize,
    /// The next calls are answered 409: still in progress at the carrier.
    pub in_progress_next: AtomicUsize,
    pub refuse: AtomicBool,
    /// Lines made, by purchase id (the idempotency key).
    pub lines: Mutex<BTreeMap<String, Line>>,
    pub lookups: AtomicUsize,
    /// (iccid, feature) turned on.
    pub features: Mutex<BTreeSet<(String, String)>>,
    /// (iccid, reference) -> MB, for top-ups not reversed.
    pub top_ups: Mutex<BTreeMap<(String, String), u64>>,
    /// iccid -> MB used; every line comes with `PLAN_MB`.
    pub used: Mutex<BTreeMap<String, u64>>,
    pub usage_calls: AtomicUsize,
}

/// What every line includes before top-ups (the sandbox carrier's figure too).
pub const PLAN_MB: u64 = 1024;

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[async_trait]
impl Carrier for MemoryCarrier {
    async fn activate(
        &self,
        purchase_id: &str,
        _uid: &Uid,
        number: Option<&str>,
    ) -> Result<Line, CarrierError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.refuse.load(Ordering::SeqCst) {
            return Err(CarrierError::Refused("422 invalid plan".into()));
        }
        if take_one(&self.fail_next) {
            return Err(CarrierError::Failed("503".into()));
        }
        if take_one(&self.in_progress_next) {
            return Err(CarrierError::InProgress);
        }
        let line = lock(&self.lines)
            .entry(purchase_id.to_owned())
            .or_insert_with(|| Line {
                phone_number: number.unwrap_or("+15550100100").into(),
                iccid: "8901000000000000001".into(),
                smdp_address: "smdp.test".into(),
                // Matching IDs use A-Z a-z 0-9 and `-` only (SGP.22).
                activation_code: format!("CODE-{}", purchase_id.replace('_', "-")),
            })
            .clone();
        if take_one(&self.lose_answers) {
            return Err(CarrierError::Failed("timeout".into()));
        }
        Ok(line)
    }

    async fn find_activation(&self, purchase_id: &str) -> Result<Option<Line>, CarrierError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.lines).get(purchase_id).cloned())
    }

    async fn set_feature(&self, iccid: &str, feature: &str, on: bool) -> Result<(), CarrierError> {
        let key = (iccid.to_owned(), feature.to_owned());
        let mut features = lock(&self.features);
        if on {
            features.insert(key);
        } else {
            features.remove(&key);
        }
        Ok(())
    }

    async fn top_up(&self, iccid: &str, reference: &str, mb: u64) -> Result<(), CarrierError> {
        lock(&self.top_ups).insert((iccid.to_owned(), reference.to_owned()), mb);
        Ok(())
    }

    async fn reverse_top_up(&self, iccid: &str, reference: &str) -> Result<(), CarrierError> {
        lock(&self.top_ups).remove(&(iccid.to_owned(), reference.to_owned()));
        Ok(())
    }

    async fn usage(&self, iccid: &str) -> Result<LineUsage, CarrierError> {
        self.usage_calls.fetch_add(1, Ordering::SeqCst);
        let topped: u64 = lock(&self.top_ups)
            .iter()
            .filter(|((line, _), _)| line == iccid)
            .map(|(_, mb)| *mb)
            .sum();
        let total_mb = PLAN_MB + topped;
        let used_mb = lock(&self.used)
            .get(iccid)
            .copied()
            .unwrap_or(0)
            .min(total_mb);
        Ok(LineUsage {
            iccid: iccid.to_owned(),
            total_mb,
            used_mb,
            valid_until: "2027-01-01T00:00:00Z".into(),
            as_of: "2026-12-01T00:00:00Z".into(),
            fetched_at: 0,
        })
    }
}
