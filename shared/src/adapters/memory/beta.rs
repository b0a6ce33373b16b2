//! `BetaStore` in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::beta::{BetaRequest, BetaStatus, DecisionLink};
use crate::domain::nanp::PhoneNumber;
use crate::domain::users::Uid;
use crate::ports::{BetaStore, Unavailable};

#[derive(Default)]
pub struct MemoryBeta {
    requests: Mutex<HashMap<Uid, BetaRequest>>,
    links: Mutex<HashMap<String, DecisionLink>>,
    numbers: Mutex<HashMap<String, Uid>>,
}

#[async_trait]
impl BetaStore for MemoryBeta {
    async fn beta_request(&self, uid: &Uid) -> Result<Option<BetaRequest>, Unavailable> {
        Ok(lock(&self.requests).get(uid).cloned())
    }

    async fn create_beta_request(
        &self,
        request: &BetaRequest,
    ) -> Result<(BetaRequest, bool), Unavailable> {
        let mut requests = lock(&self.requests);
        if let Some(found) = requests.get(&request.uid) {
            return Ok((found.clone(), false));
        }
        requests.insert(request.uid.clone(), request.clone());
        Ok((request.clone(), true))
    }

    async fn decide_beta(
        &self,
        uid: &Uid,
        status: BetaStatus,
        at: &str,
        by: &str,
    ) -> Result<Option<(BetaRequest, bool)>, Unavailable> {
        let mut requests = lock(&self.requests);
        let Some(request) = requests.get_mut(uid) else {
            return Ok(None);
        };
        if request.status != BetaStatus::Pending {
            return Ok(Some((request.clone(), false)));
        }
        request.status = status;
        request.decided_at = Some(at.to_owned());
        request.decided_by = Some(by.to_owned());
        Ok(Some((request.clone(), true)))
    }

    async fn pending_beta_requests(&self) -> Result<Vec<BetaRequest>, Unavailable> {
        let mut pending: Vec<BetaRequest> = lock(&self.requests)
            .values()
            .filter(|r| r.status == BetaStatus::Pending)
            .cloned()
            .collect();
        pending.sort_by(|a, b| {
            (&a.requested_at, a.uid.as_str()).cmp(&(&b.requested_at, b.uid.as_str()))
        });
        Ok(pending)
    }

    async fn save_link(&self, hash: &str, link: &DecisionLink) -> Result<(), Unavailable> {
        lock(&self.links)
            .entry(hash.to_owned())
            .or_insert_with(|| link.clone());
        Ok(())
    }

    async fn link(&self, hash: &str) -> Result<Option<DecisionLink>, Unavailable> {
        Ok(lock(&self.links).get(hash).cloned())
    }

    async fn use_link(&self, hash: &str) -> Result<bool, Unavailable> {
        match lock(&self.links).get_mut(hash) {
            Some(link) if !link.used => {
                link.used = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn claim_number(&self, number: &PhoneNumber, uid: &Uid) -> Result<bool, Unavailable> {
        let mut numbers = lock(&self.numbers);
        let owner = numbers
            .entry(number.to_string())
            .or_insert_with(|| uid.clone());
        Ok(owner == uid)
    }
}
