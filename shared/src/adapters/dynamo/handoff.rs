//! `HandoffStore`: payment links (`PAY_LINK#<token hash>` / `LINK`) and single-use markers
//! (`ONCE#<key>` / `ONCE`), each with `expires_at` as the table's TTL.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{DynamoStore, to_item};
use crate::domain::handoff::PayLink;
use crate::ports::{HandoffStore, Unavailable};

#[derive(Serialize, Deserialize)]
struct Marker {
    expires_at: i64,
}

#[async_trait]
impl HandoffStore for DynamoStore {
    async fn save_pay_link(&self, hash: &str, link: &PayLink) -> Result<(), Unavailable> {
        self.put_new(to_item(format!("PAY_LINK#{hash}"), "LINK".into(), link)?)
            .await?;
        Ok(())
    }

    async fn pay_link(&self, hash: &str) -> Result<Option<PayLink>, Unavailable> {
        self.get(format!("PAY_LINK#{hash}"), "LINK").await
    }

    async fn use_once(&self, key: &str, expires_at: i64) -> Result<bool, Unavailable> {
        let marker = Marker { expires_at };
        self.put_new(to_item(format!("ONCE#{key}"), "ONCE".into(), marker)?)
            .await
    }

    async fn used(&self, key: &str) -> Result<bool, Unavailable> {
        let found: Option<Marker> = self.get(format!("ONCE#{key}"), "ONCE").await?;
        Ok(found.is_some())
    }
}
