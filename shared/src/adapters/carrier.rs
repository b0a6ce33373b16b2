//! `Carrier` on OXIO's REST API (`api-staging.brandvno.com`, `api.brandvno.com`; or any
//! OXIO-shaped server such as the local sandbox), as the original DOTM platform used it
//! (`dataontap/gorse`, `oxio_service.py`): HTTP Basic with the API key and the auth token,
//! JSON both ways, end users under `/v2`, lines and numbers under `/v3`. OXIO has no
//! idempotency key: nothing here retries a call that makes something.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::CarrierSettings;
use crate::domain::activation::Line;
use crate::domain::lpa::ActivationCode;
use crate::domain::users::Email;
use crate::ports::{Carrier, CarrierError, CarrierLine, LinePlan, LineRequest, NewEndUser};

mod line_services;
pub use line_services::{OxioLineServices, SandboxLineServices};

/// The credentials OXIO gives a brand (both secrets).
#[derive(Clone)]
pub struct OxioCredentials {
    pub api_key: String,
    pub auth_token: String,
}

pub struct OxioCarrier {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) credentials: OxioCredentials,
    settings: CarrierSettings,
}

impl OxioCarrier {
    /// `connect_within` bounds a new connection: a permitted line-creation call must reach the
    /// carrier within the throttle's guard, and the worker's listing just before it keeps a
    /// connection open, so only a dropped one connects again.
    pub fn new(
        base_url: &str,
        credentials: OxioCredentials,
        settings: CarrierSettings,
        connect_within: Duration,
    ) -> Result<Self, reqwest::Error> {
        // A listing and a line-creation call fit the worker's 30 s with room for the record.
        Self::with_timeout(
            base_url,
            credentials,
            settings,
            connect_within,
            Duration::from_secs(10),
        )
    }

    /// [`OxioCarrier::new`] with another bound on a whole call (tests lose answers with it).
    pub fn with_timeout(
        base_url: &str,
        credentials: OxioCredentials,
        settings: CarrierSettings,
        connect_within: Duration,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(OxioCarrier {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(connect_within)
                .pool_idle_timeout(Duration::from_secs(50))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            credentials,
            settings,
        })
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request_to(method, format!("{}{path}", self.base_url))
    }

    /// A GET with query parameters, encoded.
    fn get_with(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<reqwest::RequestBuilder, CarrierError> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base_url), params)
            .map_err(|e| CarrierError::Refused(format!("carrier URL: {e}")))?;
        Ok(self.request_to(reqwest::Method::GET, url))
    }

    fn request_to(
        &self,
        method: reqwest::Method,
        url: impl reqwest::IntoUrl,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(
                &self.credentials.api_key,
                Some(&self.credentials.auth_token),
            )
            .header(reqwest::header::ACCEPT, "application/json")
    }

    fn plan_id(&self, plan: LinePlan) -> Option<&str> {
        match plan {
            LinePlan::Esim => self.settings.esim_plan_id.as_deref(),
            LinePlan::Beta => self
                .settings
                .beta_plan_id
                .as_deref()
                .or(self.settings.esim_plan_id.as_deref()),
        }
    }

    pub(crate) fn booster_plan_id(&self) -> Option<&str> {
        self.settings.booster_plan_id.as_deref()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndUser {
    end_user_id: String,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndUsers {
    #[serde(default)]
    end_users: Vec<EndUser>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OxioLine {
    line_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    phone_numbers: Vec<PhoneNumber>,
    sim: Sim,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneNumber {
    phone_number: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sim {
    iccid: String,
    /// The whole LPA string (`LPA:1$<SM-DP+>$<matching id>`).
    #[serde(default)]
    activation_code: Option<String>,
}

#[derive(Deserialize)]
struct Lines {
    #[serde(default)]
    lines: Vec<OxioLine>,
}

impl TryFrom<OxioLine> for CarrierLine {
    type Error = CarrierError;

    fn try_from(l: OxioLine) -> Result<CarrierLine, CarrierError> {
        let code = l
            .sim
            .activation_code
            .as_deref()
            .map(ActivationCode::parse)
            .transpose()
            .map_err(|e| {
                CarrierError::Failed(format!("line {}: activation code: {e}", l.line_id))
            })?;
        Ok(CarrierLine {
            status: l.status,
            line: Line {
                phone_number: l
                    .phone_numbers
                    .into_iter()
                    .next()
                    .map(|p| p.phone_number)
                    .unwrap_or_default(),
                iccid: l.sim.iccid,
                smdp_address: code
                    .as_ref()
                    .map(|c| c.smdp_address().to_owned())
                    .unwrap_or_default(),
                activation_code: code
                    .as_ref()
                    .map(|c| c.matching_id().to_owned())
                    .unwrap_or_default(),
                line_id: l.line_id,
            },
        })
    }
}

#[async_trait]
impl Carrier for OxioCarrier {
    async fn find_end_user(&self, email: &Email) -> Result<Option<String>, CarrierError> {
        let response = self
            .get_with("/v2/end-users", &[("email", email.as_str())])?
            .send()
            .await
            .map_err(sent_error)?;
        let found: EndUsers = answer("find end user", response).await?;
        // The filter is the carrier's; the match is checked here too.
        Ok(found
            .end_users
            .into_iter()
            .find(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email.as_str()))
            })
            .map(|u| u.end_user_id))
    }

    async fn create_end_user(&self, who: &NewEndUser) -> Result<String, CarrierError> {
        let mut body = json!({
            "sex": "UNSPECIFIED",
            "firstName": who.first_name,
            "lastName": who.last_name,
        });
        if let Some(email) = &who.email {
            body["email"] = json!(email.as_str());
        }
        let response = self
            .request(reqwest::Method::POST, "/v2/end-users")
            .json(&body)
            .send()
            .await
            .map_err(sent_error)?;
        // A second end user with the same email is refused ("already exists"; the status is
        // unconfirmed, the sandbox answers 409).
        let created: EndUser = answer_or("create end user", response, |status, text| {
            (status == reqwest::StatusCode::CONFLICT || text.contains("already exists"))
                .then_some(CarrierError::AlreadyExists)
        })
        .await?;
        Ok(created.end_user_id)
    }

    async fn lines(&self, end_user_id: &str) -> Result<Vec<CarrierLine>, CarrierError> {
        let response = self
            .request(
                reqwest::Method::GET,
                &format!("/v3/end-users/{}/lines", path_segment(end_user_id)),
            )
            .send()
            .await
            .map_err(sent_error)?;
        let listed: Lines = answer("list lines", response).await?;
        listed
            .lines
            .into_iter()
            .map(CarrierLine::try_from)
            .collect()
    }

    async fn make_line(&self, request: &LineRequest) -> Result<CarrierLine, CarrierError> {
        let brand_id = self
            .settings
            .brand_id
            .as_deref()
            .ok_or_else(|| CarrierError::Refused("OXIO_BRAND_ID is not set".into()))?;
        let mut body = json!({
            "lineType": "LINE_TYPE_MOBILITY",
            "countryCode": "US",
            "sim": {"simType": "EMBEDDED"},
            "endUser": {"brandId": brand_id, "endUserId": request.end_user_id},
            "activateOnAttach": false,
        });
        if let Some(plan) = self.plan_id(request.plan) {
            body["planId"] = json!(plan);
        }
        if let Some(area) = &request.area_code {
            body["phoneNumberRequirements"] = json!({"preferredAreaCode": area});
        }
        let response = self
            .request(reqwest::Method::POST, "/v3/lines/line")
            .json(&body)
            .send()
            .await
            .map_err(sent_error)?;
        let line: OxioLine = answer("make line", response).await?;
        line.try_into()
    }

    async fn area_codes(&self) -> Result<Vec<String>, CarrierError> {
        // The answer's shape is unconfirmed (the original passed it through untouched): a list
        // of strings or of objects with `areaCode` / `npa` under `areaCodes` is read.
        let response = self
            .get_with(
                "/v3/phone-numbers/available-area-codes",
                &[("countryCode", "US")],
            )?
            .send()
            .await
            .map_err(sent_error)?;
        let listed: Value = answer("area codes", response).await?;
        let codes = listed
            .get("areaCodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| {
                c.as_str()
                    .or_else(|| c.get("areaCode").and_then(Value::as_str))
                    .or_else(|| c.get("npa").and_then(Value::as_str))
                    .map(str::to_owned)
            })
            .collect();
        Ok(codes)
    }
}

/// An id as one path segment: anything but unreserved characters is percent-encoded.
pub(crate) fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn sent_error(e: reqwest::Error) -> CarrierError {
    CarrierError::Failed(if e.is_connect() {
        "could not connect in time".into()
    } else if e.is_timeout() {
        "timeout".into()
    } else {
        e.to_string()
    })
}

/// OXIO's error body: `message`, and `error` / `details` / `validation_errors` when present.
fn error_text(status: reqwest::StatusCode, body: &str) -> String {
    let Ok(parsed) = serde_json::from_str::<Value>(body) else {
        return format!(
            "HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        );
    };
    let mut text = format!("HTTP {status}");
    for field in ["error", "message", "details", "validation_errors"] {
        if let Some(v) = parsed.get(field).filter(|v| !v.is_null()) {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            text.push_str(&format!(
                " {field}={}",
                v.chars().take(300).collect::<String>()
            ));
        }
    }
    text
}

/// The answer's body, or what kind of failure it is: 5xx, 408 and 429 may pass; any other 4xx
/// is the carrier's final word. The carrier's own words go to the logs (via the error), never
/// to the person.
pub(crate) async fn answer<T: serde::de::DeserializeOwned>(
    what: &'static str,
    response: reqwest::Response,
) -> Result<T, CarrierError> {
    answer_or(what, response, |_, _| None).await
}

/// [`answer`], with a say of the caller's over a refusal (`refused(status, error text)`).
async fn answer_or<T: serde::de::DeserializeOwned>(
    what: &'static str,
    response: reqwest::Response,
    refused: impl FnOnce(reqwest::StatusCode, &str) -> Option<CarrierError>,
) -> Result<T, CarrierError> {
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|e| CarrierError::Failed(format!("{what}: unreadable answer: {e}")));
    }
    let body = response.text().await.unwrap_or_default();
    let text = error_text(status, &body);
    tracing::warn!(carrier_call = what, status = status.as_u16(), error = %text, "the carrier answered an error");
    if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        return Err(CarrierError::Failed(format!("{what}: {text}")));
    }
    Err(refused(status, &text).unwrap_or_else(|| CarrierError::Refused(format!("{what}: {text}"))))
}
