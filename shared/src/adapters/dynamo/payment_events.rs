//! `PaymentEventStore`: processed-event markers with a TTL.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{DynamoStore, to_item};
use crate::ports::{PaymentEventStore, Unavailable};

/// Processed-event markers are kept this long (Stripe retries for 3 days).
const EVENT_TTL_SECONDS: i64 = 30 * 24 * 3600;

#[derive(Serialize, Deserialize)]
struct EventMarker {
    processed_at: i64,
    expires_at: i64,
}

#[async_trait]
impl PaymentEventStore for DynamoStore {
    async fn event_seen(&self, event_id: &str) -> Result<bool, Unavailable> {
        let marker: Option<EventMarker> = self
            .get(format!("STRIPE_EVENT#{event_id}"), "EVENT")
            .await?;
        Ok(marker.is_some())
    }

    async fn mark_event_seen(&self, event_id: &str, now_unix: i64) -> Result<(), Unavailable> {
        let marker = EventMarker {
            processed_at: now_unix,
            expires_at: now_unix + EVENT_TTL_SECONDS,
        };
        self.put_new(to_item(
            format!("STRIPE_EVENT#{event_id}"),
            "EVENT".into(),
            marker,
        )?)
        .await
        .map(|_| ())
    }
}
