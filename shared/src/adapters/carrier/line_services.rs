//! `LineServices`: what DOTM sells on a line beyond the line itself.
//!
//! - [`OxioLineServices`] (production): OXIO shows an API for none of these except, unconfirmed,
//!   data boosters (`POST /v3/subscriptions {endUserId, planId}`, marked TODO in the original
//!   platform). Features, reversals and usage readings answer `NotSupported`; the use cases keep
//!   the entitlement, log it and count it (`CarrierUnsupported`, an alarm).
//! - [`SandboxLineServices`] (`CARRIER_LINE_SERVICES=sandbox`, the local stack only): the
//!   provider sandbox's extension under `/__sandbox/carrier/line-services/` — not OXIO's API, a
//!   stand-in so the product's behaviour stays testable end to end.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{OxioCarrier, answer, path_segment, sent_error};
use crate::domain::usage::LineUsage;
use crate::ports::{CarrierError, LineRef, LineServices};

/// Production: OXIO as far as it goes.
pub struct OxioLineServices {
    pub carrier: Arc<OxioCarrier>,
}

#[derive(Deserialize)]
struct Subscription {}

#[async_trait]
impl LineServices for OxioLineServices {
    async fn set_feature(&self, _: &LineRef, _: &str, _: bool) -> Result<(), CarrierError> {
        Err(CarrierError::NotSupported("network features"))
    }

    async fn top_up(&self, line: &LineRef, _reference: &str, _mb: u64) -> Result<(), CarrierError> {
        // Unconfirmed: the original platform was moving boosters to this call (a TODO there).
        let plan = self
            .carrier
            .booster_plan_id()
            .ok_or(CarrierError::NotSupported(
                "data boosters (no OXIO_BOOSTER_PLAN_ID)",
            ))?;
        let response = self
            .carrier
            .request(reqwest::Method::POST, "/v3/subscriptions")
            .json(&json!({"endUserId": line.end_user_id, "planId": plan}))
            .send()
            .await
            .map_err(sent_error)?;
        let _: Subscription = answer("data booster", response).await?;
        Ok(())
    }

    async fn reverse_top_up(&self, _: &LineRef, _: &str) -> Result<(), CarrierError> {
        Err(CarrierError::NotSupported("reversing a data booster"))
    }

    async fn usage(&self, _: &str) -> Result<LineUsage, CarrierError> {
        Err(CarrierError::NotSupported("usage readings"))
    }

    fn top_ups_idempotent(&self) -> bool {
        false
    }
}

/// The local stack: the sandbox's extension (same credentials as the carrier).
pub struct SandboxLineServices {
    pub carrier: Arc<OxioCarrier>,
}

const EXTENSION: &str = "/__sandbox/carrier/line-services";

impl SandboxLineServices {
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        absent_is_done: bool,
    ) -> Result<(), CarrierError> {
        let response = request.send().await.map_err(sent_error)?;
        if absent_is_done && response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        let _: serde_json::Value = answer("line service", response).await?;
        Ok(())
    }

    fn path(iccid: &str, rest: &str) -> String {
        format!("{EXTENSION}/{}{rest}", path_segment(iccid))
    }
}

#[async_trait]
impl LineServices for SandboxLineServices {
    async fn set_feature(
        &self,
        line: &LineRef,
        feature: &str,
        on: bool,
    ) -> Result<(), CarrierError> {
        let method = if on {
            reqwest::Method::PUT
        } else {
            reqwest::Method::DELETE
        };
        let path = Self::path(&line.iccid, &format!("/features/{}", path_segment(feature)));
        self.call(self.carrier.request(method, &path), false).await
    }

    async fn top_up(&self, line: &LineRef, reference: &str, mb: u64) -> Result<(), CarrierError> {
        let request = self
            .carrier
            .request(reqwest::Method::POST, &Self::path(&line.iccid, "/data"))
            .header("Idempotency-Key", reference)
            .json(&json!({"amount_mb": mb, "reference": reference}));
        self.call(request, false).await
    }

    async fn reverse_top_up(&self, line: &LineRef, reference: &str) -> Result<(), CarrierError> {
        let path = Self::path(&line.iccid, &format!("/data/{}", path_segment(reference)));
        // 404: that top-up was never made, so there is nothing to take back.
        self.call(self.carrier.request(reqwest::Method::DELETE, &path), true)
            .await
    }

    async fn usage(&self, iccid: &str) -> Result<LineUsage, CarrierError> {
        #[derive(Deserialize)]
        struct Reading {
            data_total_mb: u64,
            data_used_mb: u64,
            valid_until: String,
            as_of: String,
        }
        let response = self
            .carrier
            .request(reqwest::Method::GET, &Self::path(iccid, "/usage"))
            .send()
            .await
            .map_err(sent_error)?;
        let reading: Reading = answer("usage", response).await?;
        Ok(LineUsage {
            iccid: iccid.to_owned(),
            total_mb: reading.data_total_mb,
            used_mb: reading.data_used_mb,
            valid_until: reading.valid_until,
            as_of: reading.as_of,
            fetched_at: 0,
        })
    }

    fn top_ups_idempotent(&self) -> bool {
        true
    }
}
