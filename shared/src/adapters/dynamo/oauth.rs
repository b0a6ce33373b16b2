//! `OAuthStore`: clients, codes (single use: a conditional delete) and refresh tokens (used
//! once: a conditional update), by hash, each with a TTL (`expires_at`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{DynamoStore, conditional, s, to_item};
use crate::domain::oauth::{CodeGrant, OAuthClient, RefreshGrant};
use crate::ports::{OAuthStore, Unavailable};

fn client_pk(id: &str) -> String {
    format!("OAUTH_CLIENT#{id}")
}

fn code_pk(hash: &str) -> String {
    format!("OAUTH_CODE#{hash}")
}

fn refresh_pk(hash: &str) -> String {
    format!("OAUTH_REFRESH#{hash}")
}

fn family_pk(family: &str) -> String {
    format!("OAUTH_FAMILY#{family}")
}

#[derive(Serialize, Deserialize)]
struct Revoked {
    revoked_at: i64,
    /// Kept as long as any token of the family could still be presented.
    expires_at: i64,
}

#[async_trait]
impl OAuthStore for DynamoStore {
    async fn client(&self, client_id: &str) -> Result<Option<OAuthClient>, Unavailable> {
        self.get(client_pk(client_id), "CLIENT").await
    }

    async fn register_client(&self, client: &OAuthClient) -> Result<(), Unavailable> {
        let item = to_item(client_pk(&client.client_id), "CLIENT".into(), client)?;
        if !self.put_new(item).await? {
            return Err(Unavailable::new(
                "dynamodb oauth client",
                "client id collision",
            ));
        }
        Ok(())
    }

    async fn save_code(&self, hash: &str, grant: &CodeGrant) -> Result<(), Unavailable> {
        self.put_new(to_item(code_pk(hash), "GRANT".into(), grant)?)
            .await
            .map(|_| ())
    }

    async fn code(&self, hash: &str) -> Result<Option<CodeGrant>, Unavailable> {
        self.get(code_pk(hash), "GRANT").await
    }

    async fn take_code(&self, hash: &str) -> Result<bool, Unavailable> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(code_pk(hash)))
            .key("sk", s("GRANT"))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        Ok(conditional(
            "dynamodb oauth code",
            result.map_err(|e| e.into_service_error()),
        )?
        .is_some())
    }

    async fn save_refresh(&self, hash: &str, grant: &RefreshGrant) -> Result<(), Unavailable> {
        self.put_new(to_item(refresh_pk(hash), "GRANT".into(), grant)?)
            .await
            .map(|_| ())
    }

    async fn refresh(&self, hash: &str) -> Result<Option<RefreshGrant>, Unavailable> {
        self.get(refresh_pk(hash), "GRANT").await
    }

    async fn use_refresh(&self, hash: &str) -> Result<bool, Unavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(refresh_pk(hash)))
            .key("sk", s("GRANT"))
            .update_expression("SET used = :t")
            .condition_expression("attribute_exists(pk) AND used = :f")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .send()
            .await;
        Ok(conditional(
            "dynamodb oauth refresh",
            result.map_err(|e| e.into_service_error()),
        )?
        .is_some())
    }

    async fn revoke_family(&self, family: &str, now_unix: i64) -> Result<(), Unavailable> {
        let marker = Revoked {
            revoked_at: now_unix,
            expires_at: now_unix + crate::domain::oauth::REFRESH_TOKEN_SECONDS,
        };
        self.put_new(to_item(family_pk(family), "FAMILY".into(), marker)?)
            .await
            .map(|_| ())
    }

    async fn family_revoked(&self, family: &str) -> Result<bool, Unavailable> {
        let marker: Option<Revoked> = self.get(family_pk(family), "FAMILY").await?;
        Ok(marker.is_some())
    }
}
