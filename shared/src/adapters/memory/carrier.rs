//! `Carrier` and `LineServices` in memory: OXIO's behaviour (end users unique by email, a new
//! line on every call, no idempotency key), failures on request.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::domain::activation::Line;
use crate::domain::usage::LineUsage;
use crate::domain::users::Email;
use crate::ports::{
    Carrier, CarrierError, CarrierLine, LineRef, LineRequest, LineServices, NewEndUser,
};

/// The area codes the memory carrier offers.
pub const AREA_CODES: [&str; 3] = ["212", "415", "646"];

/// OXIO in memory. Every `make_line` call that is not failed makes a new line.
#[derive(Default)]
pub struct MemoryCarrier {
    /// `make_line` calls.
    pub calls: AtomicUsize,
    /// The next calls fail before reaching the carrier (no line made).
    pub fail_next: AtomicUsize,
    /// The next calls make the line but their answer is lost on the way back (a timeout).
    pub lose_answers: AtomicUsize,
    pub refuse: AtomicBool,
    /// `lines` calls.
    pub lookups: AtomicUsize,
    /// End user id -> email.
    pub end_users: Mutex<BTreeMap<String, Option<String>>>,
    /// End user id -> lines, in creation order.
    pub lines: Mutex<BTreeMap<String, Vec<Line>>>,
    /// Area codes asked for, per line id.
    pub area_codes_asked: Mutex<BTreeMap<String, Option<String>>>,
}

impl MemoryCarrier {
    /// Every line made, for every end user.
    pub fn all_lines(&self) -> Vec<Line> {
        lock(&self.lines).values().flatten().cloned().collect()
    }
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[async_trait]
impl Carrier for MemoryCarrier {
    async fn find_end_user(&self, email: &Email) -> Result<Option<String>, CarrierError> {
        Ok(lock(&self.end_users)
            .iter()
            .find(|(_, e)| {
                e.as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email.as_str()))
            })
            .map(|(id, _)| id.clone()))
    }

    async fn create_end_user(&self, who: &NewEndUser) -> Result<String, CarrierError> {
        let mut users = lock(&self.end_users);
        let email = who.email.as_ref().map(|e| e.as_str().to_owned());
        if let Some(email) = &email
            && users
                .values()
                .any(|e| e.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
        {
            return Err(CarrierError::AlreadyExists);
        }
        let id = format!("eu-{}", users.len() + 1);
        users.insert(id.clone(), email);
        Ok(id)
    }

    async fn lines(&self, end_user_id: &str) -> Result<Vec<CarrierLine>, CarrierError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if !lock(&self.end_users).contains_key(end_user_id) {
            return Err(CarrierError::Refused("404 end user not found".into()));
        }
        Ok(lock(&self.lines)
            .get(end_user_id)
            .into_iter()
            .flatten()
            .map(|line| CarrierLine {
                status: "ACTIVE".into(),
                line: line.clone(),
            })
            .collect())
    }

    async fn make_line(&self, request: &LineRequest) -> Result<CarrierLine, CarrierError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.refuse.load(Ordering::SeqCst) {
            return Err(CarrierError::Refused("400 invalid plan".into()));
        }
        if take_one(&self.fail_next) {
            return Err(CarrierError::Failed("HTTP 503".into()));
        }
        if !lock(&self.end_users).contains_key(&request.end_user_id) {
            return Err(CarrierError::Refused("404 end user not found".into()));
        }
        let line = {
            let mut lines = lock(&self.lines);
            let n = lines.values().map(Vec::len).sum::<usize>() + 1;
            let area = request.area_code.as_deref().unwrap_or("646");
            let line = Line {
                line_id: format!("line-{n}"),
                phone_number: format!("+1{area}555{n:04}"),
                iccid: format!("89010000000000{n:05}"),
                smdp_address: "smdp.test".into(),
                // Matching IDs use A-Z a-z 0-9 and `-` only (SGP.22).
                activation_code: format!("CODE-{n}"),
            };
            lines
                .entry(request.end_user_id.clone())
                .or_default()
                .push(line.clone());
            line
        };
        lock(&self.area_codes_asked).insert(line.line_id.clone(), request.area_code.clone());
        if take_one(&self.lose_answers) {
            return Err(CarrierError::Failed("timeout".into()));
        }
        Ok(CarrierLine {
            status: "ACTIVE".into(),
            line,
        })
    }

    async fn area_codes(&self) -> Result<Vec<String>, CarrierError> {
        Ok(AREA_CODES.iter().map(|c| (*c).to_owned()).collect())
    }
}

/// Line services in memory: every service supported, top-ups idempotent by reference.
#[derive(Default)]
pub struct MemoryLineServices {
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

#[async_trait]
impl LineServices for MemoryLineServices {
    async fn set_feature(
        &self,
        line: &LineRef,
        feature: &str,
        on: bool,
    ) -> Result<(), CarrierError> {
        let key = (line.iccid.clone(), feature.to_owned());
        let mut features = lock(&self.features);
        if on {
            features.insert(key);
        } else {
            features.remove(&key);
        }
        Ok(())
    }

    async fn top_up(&self, line: &LineRef, reference: &str, mb: u64) -> Result<(), CarrierError> {
        lock(&self.top_ups).insert((line.iccid.clone(), reference.to_owned()), mb);
        Ok(())
    }

    async fn reverse_top_up(&self, line: &LineRef, reference: &str) -> Result<(), CarrierError> {
        lock(&self.top_ups).remove(&(line.iccid.clone(), reference.to_owned()));
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

    fn top_ups_idempotent(&self) -> bool {
        true
    }
}
