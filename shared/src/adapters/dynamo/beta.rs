//! `BetaStore`: the request under the user (`USER#<uid>` / `BETA`), an index of pending ones
//! (`BETA_PENDING` / `AT#<requested at>#<uid>`), decision links by token hash (used once, by a
//! conditional update) and handed-out numbers (conditional puts).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{DynamoStore, s, to_item, user_pk, value};
use crate::domain::beta::{BetaRequest, BetaStatus, DecisionLink};
use crate::domain::nanp::PhoneNumber;
use crate::domain::users::Uid;
use crate::ports::{BetaStore, Unavailable};

const PENDING_PK: &str = "BETA_PENDING";

fn pending_sk(request: &BetaRequest) -> String {
    format!("AT#{}#{}", request.requested_at, request.uid)
}

#[derive(Serialize, Deserialize)]
struct Owner {
    uid: Uid,
}

#[async_trait]
impl BetaStore for DynamoStore {
    async fn beta_request(&self, uid: &Uid) -> Result<Option<BetaRequest>, Unavailable> {
        self.get(user_pk(uid), "BETA").await
    }

    async fn create_beta_request(
        &self,
        request: &BetaRequest,
    ) -> Result<(BetaRequest, bool), Unavailable> {
        let (stored, created) = self
            .put_or_get(user_pk(&request.uid), "BETA".into(), request)
            .await?;
        if created {
            // The index may trail the request by a crash; `decide_beta` removes it either way.
            self.put_new(to_item(PENDING_PK.into(), pending_sk(request), request)?)
                .await?;
        }
        Ok((stored, created))
    }

    async fn decide_beta(
        &self,
        uid: &Uid,
        status: BetaStatus,
        at: &str,
        by: &str,
    ) -> Result<Option<(BetaRequest, bool)>, Unavailable> {
        let Some(before) = self.beta_request(uid).await? else {
            return Ok(None);
        };
        let update = self
            .update(user_pk(uid), "BETA".into())
            .update_expression("SET #status = :s, decided_at = :at, decided_by = :by")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":s", value(status)?)
            .expression_attribute_values(":pending", value(BetaStatus::Pending)?)
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":by", s(by));
        let decided = self.apply("dynamodb decide beta", update).await?;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(PENDING_PK))
            .key("sk", s(pending_sk(&before)))
            .send()
            .await;
        result.map_err(|e| Unavailable::new("dynamodb beta index", e.into_service_error()))?;
        let after = self
            .beta_request(uid)
            .await?
            .ok_or_else(|| Unavailable::new("dynamodb decide beta", "it vanished"))?;
        Ok(Some((after, decided)))
    }

    async fn pending_beta_requests(&self) -> Result<Vec<BetaRequest>, Unavailable> {
        let listed: Vec<BetaRequest> = self
            .items_under(PENDING_PK.into(), "AT#", "dynamodb pending beta")
            .await?;
        Ok(listed
            .into_iter()
            .filter(|r| r.status == BetaStatus::Pending)
            .collect())
    }

    async fn save_link(&self, hash: &str, link: &DecisionLink) -> Result<(), Unavailable> {
        // `expires_at` is also the table's TTL attribute: used and stale links go away.
        self.put_new(to_item(format!("BETA_LINK#{hash}"), "LINK".into(), link)?)
            .await?;
        Ok(())
    }

    async fn link(&self, hash: &str) -> Result<Option<DecisionLink>, Unavailable> {
        self.get(format!("BETA_LINK#{hash}"), "LINK").await
    }

    async fn use_link(&self, hash: &str) -> Result<bool, Unavailable> {
        let update = self
            .update(format!("BETA_LINK#{hash}"), "LINK".into())
            .update_expression("SET used = :t")
            .condition_expression("attribute_exists(pk) AND used = :f")
            .expression_attribute_values(":t", value(true)?)
            .expression_attribute_values(":f", value(false)?);
        self.apply("dynamodb use link", update).await
    }

    async fn claim_number(&self, number: &PhoneNumber, uid: &Uid) -> Result<bool, Unavailable> {
        let pk = format!("NUMBER#{number}");
        let owner = Owner { uid: uid.clone() };
        if self
            .put_new(to_item(pk.clone(), "OWNER".into(), owner)?)
            .await?
        {
            return Ok(true);
        }
        let found: Option<Owner> = self.get(pk, "OWNER").await?;
        Ok(found.is_some_and(|o| &o.uid == uid))
    }
}
