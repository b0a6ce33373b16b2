//! `Carrier` on OXIO's REST API (or the sandbox's): one call activates one line, keyed by the
//! purchase id so a retry returns the same line.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use crate::domain::activation::Line;
use crate::domain::users::Uid;
use crate::ports::{Carrier, CarrierError};

pub struct OxioCarrier {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
}

#[derive(Deserialize)]
struct Activated {
    phone_number: String,
    iccid: String,
    smdp_address: String,
    activation_code: String,
}

impl OxioCarrier {
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, reqwest::Error> {
        Ok(OxioCarrier {
            // Under the worker's own timeout, so a slow carrier is a retry, not a crash.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
        })
    }
}

#[async_trait]
impl Carrier for OxioCarrier {
    async fn activate(&self, purchase_id: &str, uid: &Uid) -> Result<Line, CarrierError> {
        let response = self
            .http
            .post(format!("{}/v1/activations", self.base_url))
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", purchase_id)
            .json(&json!({"customer_ref": uid.as_str(), "plan": "esim_beta"}))
            .send()
            .await
            .map_err(|e| {
                CarrierError::Failed(if e.is_timeout() {
                    "timeout".into()
                } else {
                    e.to_string()
                })
            })?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(CarrierError::Failed(format!("HTTP {status}")));
        }
        if !status.is_success() {
            let detail = response.text().await.unwrap_or_default();
            return Err(CarrierError::Refused(format!(
                "HTTP {status}: {}",
                detail.chars().take(200).collect::<String>()
            )));
        }
        let line: Activated = response
            .json()
            .await
            .map_err(|e| CarrierError::Failed(format!("unreadable answer: {e}")))?;
        Ok(Line {
            phone_number: line.phone_number,
            iccid: line.iccid,
            smdp_address: line.smdp_address,
            activation_code: line.activation_code,
        })
    }
}
