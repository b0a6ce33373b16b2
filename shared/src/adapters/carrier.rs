//! `Carrier` on OXIO's REST API (or the sandbox's): one call activates one line, keyed by the
//! purchase id so a retry returns the same line.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use crate::domain::activation::Line;
use crate::domain::usage::LineUsage;
use crate::domain::users::Uid;
use crate::ports::{Carrier, CarrierError};

pub struct OxioCarrier {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
}

#[derive(Deserialize)]
struct Found {
    data: Vec<Activated>,
}

#[derive(Deserialize)]
struct CarrierProblem {
    error: CarrierProblemDetail,
}

#[derive(Deserialize)]
struct CarrierProblemDetail {
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
struct Activated {
    phone_number: String,
    iccid: String,
    smdp_address: String,
    activation_code: String,
}

impl From<Activated> for Line {
    fn from(line: Activated) -> Line {
        Line {
            phone_number: line.phone_number,
            iccid: line.iccid,
            smdp_address: line.smdp_address,
            activation_code: line.activation_code,
        }
    }
}

impl OxioCarrier {
    /// `connect_within` bounds a new connection: a permitted activation must reach the carrier
    /// within the throttle's guard, and the worker's lookup just before it keeps a connection
    /// open, so only a dropped one connects again.
    pub fn new(
        base_url: &str,
        api_key: &str,
        connect_within: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(OxioCarrier {
            // Two calls (lookup, activation) fit the worker's 30 s with room for the record.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .connect_timeout(connect_within)
                .pool_idle_timeout(Duration::from_secs(50))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
        })
    }
}

#[async_trait]
impl Carrier for OxioCarrier {
    async fn activate(
        &self,
        purchase_id: &str,
        uid: &Uid,
        number: Option<&str>,
    ) -> Result<Line, CarrierError> {
        let mut body = json!({"customer_ref": uid.as_str(), "plan": "esim_beta"});
        if let Some(number) = number {
            body["plan"] = json!(crate::domain::beta::BETA_SERVICE);
            body["phone_number"] = json!(number);
        }
        let response = self
            .http
            .post(format!("{}/v1/activations", self.base_url))
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", purchase_id)
            .json(&body)
            .send()
            .await
            .map_err(sent_error)?;
        let line: Activated = answer(response).await?;
        Ok(line.into())
    }

    async fn find_activation(&self, purchase_id: &str) -> Result<Option<Line>, CarrierError> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/v1/activations", self.base_url),
            [("idempotency_key", purchase_id)],
        )
        .map_err(|e| CarrierError::Failed(format!("carrier URL: {e}")))?;
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(sent_error)?;
        let found: Found = answer(response).await?;
        Ok(found.data.into_iter().next().map(Line::from))
    }

    async fn set_feature(&self, iccid: &str, feature: &str, on: bool) -> Result<(), CarrierError> {
        let url = format!("{}/v1/lines/{iccid}/features/{feature}", self.base_url);
        let request = if on {
            self.http.put(url)
        } else {
            self.http.delete(url)
        };
        self.line_call(request, false).await
    }

    async fn top_up(&self, iccid: &str, reference: &str, mb: u64) -> Result<(), CarrierError> {
        let request = self
            .http
            .post(format!("{}/v1/lines/{iccid}/data", self.base_url))
            .header("Idempotency-Key", reference)
            .json(&json!({"amount_mb": mb, "reference": reference}));
        self.line_call(request, false).await
    }

    async fn reverse_top_up(&self, iccid: &str, reference: &str) -> Result<(), CarrierError> {
        let request = self.http.delete(format!(
            "{}/v1/lines/{iccid}/data/{reference}",
            self.base_url
        ));
        // 404: that top-up was never made, so there is nothing to take back.
        self.line_call(request, true).await
    }

    async fn usage(&self, iccid: &str) -> Result<LineUsage, CarrierError> {
        #[derive(serde::Deserialize)]
        struct Reading {
            data_total_mb: u64,
            data_used_mb: u64,
            valid_until: String,
            as_of: String,
        }
        let response = self
            .http
            .get(format!("{}/v1/lines/{iccid}/usage", self.base_url))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(|e| CarrierError::Failed(e.to_string()))?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(CarrierError::Failed(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(CarrierError::Refused(format!("HTTP {status}")));
        }
        let reading: Reading = response
            .json()
            .await
            .map_err(|e| CarrierError::Failed(format!("usage answer: {e}")))?;
        Ok(LineUsage {
            iccid: iccid.to_owned(),
            total_mb: reading.data_total_mb,
            used_mb: reading.data_used_mb,
            valid_until: reading.valid_until,
            as_of: reading.as_of,
            fetched_at: 0,
        })
    }
}

impl OxioCarrier {
    async fn line_call(
        &self,
        request: reqwest::RequestBuilder,
        absent_is_done: bool,
    ) -> Result<(), CarrierError> {
        let response = request
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(|e| CarrierError::Failed(e.to_string()))?;
        let status = response.status();
        if status.is_success() || (absent_is_done && status == reqwest::StatusCode::NOT_FOUND) {
            return Ok(());
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(CarrierError::Failed(format!("HTTP {status}")));
        }
        let detail = response.text().await.unwrap_or_default();
        Err(CarrierError::Refused(format!(
            "HTTP {status}: {}",
            detail.chars().take(200).collect::<String>()
        )))
    }
}

fn sent_error(e: reqwest::Error) -> CarrierError {
    CarrierError::Failed(if e.is_connect() {
        "could not connect in time".into()
    } else if e.is_timeout() {
        "timeout".into()
    } else {
        e.to_string()
    })
}

/// The answer's body, or what kind of failure it is: 5xx, 408 and 429 may pass, a 409 for a
/// call still in progress is no failure, any other 4xx is the carrier's final word.
async fn answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, CarrierError> {
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|e| CarrierError::Failed(format!("unreadable answer: {e}")));
    }
    if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        return Err(CarrierError::Failed(format!("HTTP {status}")));
    }
    let detail = response.text().await.unwrap_or_default();
    let code = serde_json::from_str::<CarrierProblem>(&detail)
        .map(|p| p.error.code)
        .unwrap_or_default();
    if status == reqwest::StatusCode::CONFLICT && code == "activation_in_progress" {
        return Err(CarrierError::InProgress);
    }
    Err(CarrierError::Refused(format!(
        "HTTP {status}: {}",
        detail.chars().take(200).collect::<String>()
    )))
}
