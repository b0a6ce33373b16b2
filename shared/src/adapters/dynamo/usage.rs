//! `UsageStore`: the last reading of a line (`LINE#<iccid>` / `USAGE`), and the right to ask
//! the carrier (`LINE#<iccid>` / `USAGE_ASK`, a conditional write on `asked_at`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, to_item};
use crate::domain::usage::{LineUsage, TrackedLine};
use crate::ports::{Unavailable, UsageStore};

fn pk(iccid: &str) -> String {
    format!("LINE#{iccid}")
}

#[async_trait]
impl UsageStore for DynamoStore {
    async fn cached_usage(&self, iccid: &str) -> Result<Option<LineUsage>, Unavailable> {
        self.get(pk(iccid), "USAGE").await
    }

    async fn claim_usage_fetch(
        &self,
        iccid: &str,
        now: i64,
        every_seconds: i64,
    ) -> Result<bool, Unavailable> {
        let update = self
            .update(pk(iccid), "USAGE_ASK".into())
            .update_expression("SET asked_at = :now")
            .condition_expression("attribute_not_exists(asked_at) OR asked_at <= :before")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(
                ":before",
                AttributeValue::N((now - every_seconds).to_string()),
            );
        self.apply("dynamodb claim usage fetch", update).await
    }

    async fn save_usage(&self, usage: &LineUsage) -> Result<(), Unavailable> {
        let item = to_item(pk(&usage.iccid), "USAGE".into(), usage)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| Unavailable::new("dynamodb save usage", e.into_service_error()))?;
        Ok(())
    }

    async fn track_line(&self, line: &TrackedLine) -> Result<(), Unavailable> {
        let sk = format!("LINE#{}", line.iccid);
        self.put_new(to_item(LINES_PK.into(), sk, line)?).await?;
        Ok(())
    }

    async fn tracked_lines(&self) -> Result<Vec<TrackedLine>, Unavailable> {
        self.items_under(LINES_PK.into(), "LINE#", "dynamodb tracked lines")
            .await
    }
}

/// The sweep's index of active lines: one partition (`LINES` / `LINE#<iccid>`).
const LINES_PK: &str = "LINES";
