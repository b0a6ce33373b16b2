//! `ActivationStore` in memory: the same state changes as the conditional updates of the
//! DynamoDB adapter (the contract tests hold both to them).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::activation::{Activation, CarrierCall, Line, Status, WAITING};
use crate::domain::throttle::Reservation;
use crate::domain::users::Uid;
use crate::ports::{ActivationStore, Unavailable};

#[derive(Default)]
pub struct MemoryActivations {
    rows: Mutex<HashMap<String, Activation>>,
    /// Carrier line id -> the purchase it belongs to.
    line_owners: Mutex<HashMap<String, String>>,
}

impl MemoryActivations {
    fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Activation>> {
        lock(&self.rows)
    }

    fn change(
        &self,
        uid: &Uid,
        purchase_id: &str,
        f: impl FnOnce(&mut Activation),
    ) -> Result<Activation, Unavailable> {
        let mut rows = self.rows();
        let row = rows
            .get_mut(&format!("{uid}#{purchase_id}"))
            .ok_or_else(|| Unavailable::new("activations", "no such activation"))?;
        f(row);
        Ok(row.clone())
    }

    pub fn all(&self) -> Vec<Activation> {
        self.rows().values().cloned().collect()
    }
}

#[async_trait]
impl ActivationStore for MemoryActivations {
    async fn create_activation(&self, a: &Activation) -> Result<Activation, Unavailable> {
        Ok(self
            .rows()
            .entry(format!("{}#{}", a.uid, a.purchase_id))
            .or_insert_with(|| a.clone())
            .clone())
    }

    async fn activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<Option<Activation>, Unavailable> {
        Ok(self.rows().get(&format!("{uid}#{purchase_id}")).cloned())
    }

    async fn activations(&self, uid: &Uid) -> Result<Vec<Activation>, Unavailable> {
        Ok(self
            .rows()
            .values()
            .filter(|a| &a.uid == uid)
            .cloned()
            .collect())
    }

    async fn queue_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        r: Reservation,
    ) -> Result<Activation, Unavailable> {
        self.change(uid, purchase_id, |a| {
            if a.ticket.is_none() {
                a.ticket = Some(r.ticket);
                a.slot_ms = Some(r.slot_ms);
                a.queue = Some(WAITING.into());
                a.status = Status::Queued;
            }
        })
    }

    async fn claim_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<Activation>, Unavailable> {
        let mut claimed = false;
        let a = self.change(uid, purchase_id, |a| {
            let free = match a.status {
                Status::Pending | Status::Queued => true,
                Status::Activating => a.claimed_until_ms < now_ms,
                Status::Active | Status::Failed => false,
            };
            if free {
                a.status = Status::Activating;
                a.queue = None;
                a.attempts += 1;
                a.claimed_until_ms = now_ms + lease_ms;
                claimed = true;
            }
        })?;
        Ok(claimed.then_some(a))
    }

    async fn record_carrier_call(
        &self,
        uid: &Uid,
        purchase_id: &str,
        claimed_until_ms: i64,
        call: &CarrierCall,
    ) -> Result<bool, Unavailable> {
        let mut recorded = false;
        self.change(uid, purchase_id, |a| {
            if a.status == Status::Activating && a.claimed_until_ms == claimed_until_ms {
                a.carrier_call = Some(call.clone());
                recorded = true;
            }
        })?;
        Ok(recorded)
    }

    async fn attribute_line(
        &self,
        line_id: &str,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<bool, Unavailable> {
        let owner = format!("{uid}#{purchase_id}");
        let mut owners = lock(&self.line_owners);
        Ok(*owners
            .entry(line_id.to_owned())
            .or_insert_with(|| owner.clone())
            == owner)
    }

    async fn release_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        wait_until_ms: Option<i64>,
    ) -> Result<(), Unavailable> {
        self.change(uid, purchase_id, |a| {
            a.claimed_until_ms = 0;
            if let Some(at) = wait_until_ms {
                a.status = Status::Queued;
                a.queue = Some(WAITING.into());
                a.slot_ms = Some(at);
                a.attempts = a.attempts.saturating_sub(1);
            }
        })
        .map(|_| ())
    }

    async fn requeue_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        r: Reservation,
    ) -> Result<Option<Activation>, Unavailable> {
        let mut requeued = false;
        let after = self.change(uid, purchase_id, |a| {
            if a.status == Status::Activating {
                a.claimed_until_ms = 0;
                a.status = Status::Queued;
                a.queue = Some(WAITING.into());
                a.ticket = Some(r.ticket);
                a.slot_ms = Some(r.slot_ms);
                requeued = true;
            }
        })?;
        Ok(Some(after).filter(|_| requeued))
    }

    async fn complete_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        line: &Line,
        at: &str,
    ) -> Result<Activation, Unavailable> {
        self.change(uid, purchase_id, |a| {
            if a.status != Status::Active {
                a.status = Status::Active;
                a.line = Some(line.clone());
                a.activated_at = Some(at.to_owned());
                a.queue = None;
            }
        })
    }

    async fn reopen_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<Option<Activation>, Unavailable> {
        let mut reopened = false;
        let after = self.change(uid, purchase_id, |a| {
            if a.status == Status::Failed {
                a.status = Status::Pending;
                a.attempts = 0;
                a.claimed_until_ms = 0;
                a.failed_reason = None;
                a.ticket = None;
                a.slot_ms = None;
                a.queue = None;
                reopened = true;
            }
        })?;
        Ok(Some(after).filter(|_| reopened))
    }

    async fn fail_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        reason: &str,
    ) -> Result<(), Unavailable> {
        self.change(uid, purchase_id, |a| {
            if a.status != Status::Active {
                a.status = Status::Failed;
                a.failed_reason = Some(reason.to_owned());
                a.queue = None;
            }
        })
        .map(|_| ())
    }

    async fn mark_emailed(&self, uid: &Uid, purchase_id: &str) -> Result<(), Unavailable> {
        self.change(uid, purchase_id, |a| a.emailed = true)
            .map(|_| ())
    }

    async fn jobs_ahead(&self, ticket: u64) -> Result<u64, Unavailable> {
        Ok(self
            .rows()
            .values()
            .filter(|a| a.queue.is_some() && a.ticket.is_some_and(|t| t < ticket))
            .count() as u64)
    }

    async fn waiting_jobs(&self) -> Result<u64, Unavailable> {
        Ok(self.rows().values().filter(|a| a.queue.is_some()).count() as u64)
    }
}
