//! `RewardStore`: rewards credited once per person and key, and the minter lease.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{DynamoStore, conditional, s, to_item, user_pk};
use crate::domain::rewards::{Reward, RewardStatus};
use crate::domain::users::Uid;
use crate::domain::wallet::Wallet;
use crate::ports::{RewardStore, Unavailable};

const MINTER_PK: &str = "MINTER#lease";

fn reward_sk(key: &str) -> String {
    format!("REWARD#{key}")
}

/// `BONUS_WALLET#<address>` / `BONUS`: whose new-member bonus a wallet received.
#[derive(Serialize, Deserialize)]
struct WalletBonus {
    uid: String,
}

#[derive(Serialize, Deserialize)]
struct Lease {
    holder: String,
    expires_at_ms: i64,
}

#[async_trait]
impl RewardStore for DynamoStore {
    async fn credit(&self, reward: &Reward) -> Result<bool, Unavailable> {
        self.put_new(to_item(
            user_pk(&reward.uid),
            reward_sk(&reward.key),
            reward,
        )?)
        .await
    }

    async fn rewards(&self, uid: &Uid) -> Result<Vec<Reward>, Unavailable> {
        let mut rewards: Vec<Reward> = self.user_items(uid, "REWARD#", "dynamodb rewards").await?;
        rewards.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(rewards)
    }

    async fn settle(
        &self,
        reward: &Reward,
        status: RewardStatus,
        tx_hash: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), Unavailable> {
        let status = serde_dynamo::to_attribute_value(status)
            .map_err(|e| Unavailable::new("encode status", e))?;
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(&reward.uid)))
            .key("sk", s(reward_sk(&reward.key)))
            .update_expression("SET #status = :status, tx_hash = :tx, reason = :reason")
            // Only a pending reward changes: a minted one keeps its transaction.
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", status)
            .expression_attribute_values(":pending", s("pending"));
        request = request
            .expression_attribute_values(":tx", tx_hash.map_or(AttributeValue::Null(true), s));
        request = request
            .expression_attribute_values(":reason", reason.map_or(AttributeValue::Null(true), s));
        // Not pending any more: another job settled it first.
        conditional(
            "dynamodb settle reward",
            request.send().await.map_err(|e| e.into_service_error()),
        )?;
        Ok(())
    }

    async fn acquire_minter(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, Unavailable> {
        let lease = Lease {
            holder: holder.to_owned(),
            expires_at_ms: now_ms + lease_ms,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(MINTER_PK.into(), "LEASE".into(), lease)?))
            // Free, expired (its holder died), or already ours.
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at_ms < :now OR holder = :me",
            )
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        let taken = conditional(
            "dynamodb minter lease",
            result.map_err(|e| e.into_service_error()),
        )?;
        Ok(taken.is_some())
    }

    async fn release_minter(&self, holder: &str) -> Result<(), Unavailable> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(MINTER_PK))
            .key("sk", s("LEASE"))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        // A condition that did not hold means there is nothing (more) to do.
        conditional(
            "dynamodb minter lease",
            result.map_err(|e| e.into_service_error()),
        )?;
        Ok(())
    }

    async fn claim_wallet_bonus(&self, wallet: &Wallet, uid: &Uid) -> Result<bool, Unavailable> {
        let pk = format!("BONUS_WALLET#{}", wallet.to_string().to_lowercase());
        let item = to_item(
            pk.clone(),
            "BONUS".into(),
            WalletBonus {
                uid: uid.to_string(),
            },
        )?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR uid = :uid")
            .expression_attribute_values(":uid", s(uid.as_str()))
            .send()
            .await;
        let written = conditional(
            "dynamodb wallet bonus",
            result.map_err(|e| e.into_service_error()),
        )?;
        Ok(written.is_some())
    }
}
