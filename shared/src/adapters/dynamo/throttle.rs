//! `ThrottleStore`: the one throttle item, changed only by writes conditional on its version.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, conditional, to_item};
use crate::domain::throttle::{Permit, Reservation, ThrottleConfig, ThrottleState, WaitUntil};
use crate::ports::{Clock, ThrottleStore, Unavailable};

const THROTTLE_PK: &str = "THROTTLE#activation";
const THROTTLE_SK: &str = "STATE";
/// Conflicting writers on the throttle item retry this many times before giving up.
const THROTTLE_RETRIES: u32 = 50;

impl DynamoStore {
    /// Read-modify-write of the throttle item, conditional on its version: of any number of
    /// concurrent writers exactly one wins each round, the others re-read and try again.
    async fn change_throttle<T>(
        &self,
        change: impl Fn(&mut ThrottleState) -> T,
    ) -> Result<T, Unavailable> {
        for round in 0..THROTTLE_RETRIES {
            let current: Option<ThrottleState> = self.get(THROTTLE_PK.into(), THROTTLE_SK).await?;
            let exists = current.is_some();
            let mut state = current.unwrap_or_default();
            let version = state.version;
            let result = change(&mut state);
            if state.version == version && exists {
                // Nothing changed (a refusal that was already on record): nothing to write.
                return Ok(result);
            }
            let item = to_item(THROTTLE_PK.into(), THROTTLE_SK.into(), &state)?;
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            put = if exists {
                put.condition_expression("version = :v")
                    .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            } else {
                put.condition_expression("attribute_not_exists(pk)")
            };
            let written = put.send().await.map_err(|e| e.into_service_error());
            if conditional("dynamodb throttle", written)?.is_some() {
                return Ok(result);
            }
            // Lost the round: back off a little, with jitter, so the losers spread out.
            let jitter = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::from(d.subsec_nanos()) % 20);
            tokio::time::sleep(std::time::Duration::from_millis(
                5 * u64::from(round.min(10)) + jitter,
            ))
            .await;
        }
        Err(Unavailable::new(
            "dynamodb throttle",
            "too many concurrent writers; try again",
        ))
    }
}

#[async_trait]
impl ThrottleStore for DynamoStore {
    async fn throttle(&self) -> Result<ThrottleState, Unavailable> {
        Ok(self
            .get(THROTTLE_PK.into(), THROTTLE_SK)
            .await?
            .unwrap_or_default())
    }

    async fn reserve_slot(
        &self,
        cfg: &ThrottleConfig,
        now_ms: i64,
    ) -> Result<Reservation, Unavailable> {
        self.change_throttle(|state| state.reserve(cfg, now_ms))
            .await
    }

    async fn take_permit(
        &self,
        cfg: &ThrottleConfig,
        ticket: u64,
        clock: &dyn Clock,
    ) -> Result<Result<Permit, WaitUntil>, Unavailable> {
        // Decided again, at the time of each round, on the state it is written over: a grant
        // records the start, a refusal its hold (unless that hold is on record already).
        self.change_throttle(|state| state.take_permit(cfg, ticket, clock.now_unix_ms()))
            .await
    }
}
