//! The beta program's records: one request per person, decided once; single-use decision
//! links (by token hash); phone numbers DOTM has handed out.

use async_trait::async_trait;

use super::Unavailable;
use crate::domain::beta::{BetaRequest, BetaStatus, DecisionLink};
use crate::domain::nanp::PhoneNumber;
use crate::domain::users::Uid;

#[async_trait]
pub trait BetaStore: Send + Sync {
    async fn beta_request(&self, uid: &Uid) -> Result<Option<BetaRequest>, Unavailable>;
    /// Writes it unless the person has one; answers the stored one and whether this call wrote it.
    async fn create_beta_request(
        &self,
        request: &BetaRequest,
    ) -> Result<(BetaRequest, bool), Unavailable>;
    /// Decides a pending request; a decided one is left as it is. Answers the stored request
    /// after the call (none: there is no request) and whether this call decided it.
    async fn decide_beta(
        &self,
        uid: &Uid,
        status: BetaStatus,
        at: &str,
        by: &str,
    ) -> Result<Option<(BetaRequest, bool)>, Unavailable>;
    /// Pending requests, oldest first.
    async fn pending_beta_requests(&self) -> Result<Vec<BetaRequest>, Unavailable>;
    async fn save_link(&self, token_hash: &str, link: &DecisionLink) -> Result<(), Unavailable>;
    async fn link(&self, token_hash: &str) -> Result<Option<DecisionLink>, Unavailable>;
    /// Marks an unused link used; true when this call did.
    async fn use_link(&self, token_hash: &str) -> Result<bool, Unavailable>;
    /// Claims a number for `uid`; true when it is (or already was) theirs.
    async fn claim_number(&self, number: &PhoneNumber, uid: &Uid) -> Result<bool, Unavailable>;
}
