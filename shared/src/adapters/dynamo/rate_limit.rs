//! `RateLimitStore`: one counter per client and window (`RATE#<client>` / `W#<window start>`),
//! an atomic `ADD`, gone with the TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::DynamoStore;
use crate::ports::{RateLimitStore, Unavailable};

#[async_trait]
impl RateLimitStore for DynamoStore {
    async fn count_request(
        &self,
        client: &str,
        window: i64,
        expires_at: i64,
    ) -> Result<u64, Unavailable> {
        let out = self
            .update(format!("RATE#{client}"), format!("W#{window}"))
            .update_expression("ADD hits :one SET expires_at = :exp")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| Unavailable::new("dynamodb rate limit", e.into_service_error()))?;
        let hits = out
            .attributes
            .as_ref()
            .and_then(|a| a.get("hits"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Unavailable::new("dynamodb rate limit", "no count in the answer"))?;
        Ok(hits)
    }
}
