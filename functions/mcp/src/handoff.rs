//! The payment step of a tool call, in the best form the client declared:
//! - 2026-07-28 with URL elicitation: an `input_required` result (multi-round-trip request)
//!   whose `requestState` is sealed (HMAC), bound to the person, the tool and its arguments,
//!   valid 10 minutes and used once; the client opens the link and calls again.
//! - 2025-11-25 with URL elicitation: JSON-RPC error -32042 (URL elicitation required); the
//!   client opens the link and calls again, and the tool answers from our records.
//! - anyone else: the link in the result, for the assistant to show.
//!
//! An `accept` means the person agreed to open the page, not that they paid: every round
//! checks the claim the webhook settles.

use dotm::app::handoff;
use dotm::domain::handoff::PayTarget;
use dotm::domain::oauth::SealError;
use dotm::domain::users::Identity;
use rmcp::ErrorData;
use rmcp::model::{ErrorCode, InputRequest, InputRequiredResult, InputResponses};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::declared::Declared;
use crate::server::DotmMcp;

/// JSON-RPC error code of URL-mode elicitation (MCP 2025-11-25).
pub const URL_ELICITATION_REQUIRED: i32 = -32042;
const PURPOSE: &str = "mcp-payment-round";
const STATE_SECONDS: i64 = 600;
/// The key of the one input request (`inputRequests` / `inputResponses`).
const PAYMENT: &str = "payment";

/// What a sealed `requestState` holds.
#[derive(Debug, Serialize, Deserialize)]
struct RoundState {
    uid: String,
    tool: String,
    /// SHA-256 of the call's arguments: the state answers this call, not another.
    args: String,
    target: PayTarget,
    pay_url: String,
    /// Single use: marked in the table when the state comes back.
    nonce: String,
}

/// A call that comes back with a `requestState`.
pub struct Resumed {
    pub target: PayTarget,
    pub pay_url: String,
    /// The person declined or cancelled opening the page.
    pub declined: bool,
}

/// What a tool does about an unpaid invoice.
pub enum PaymentStep {
    /// Answer normally, with this link to our payment page.
    Link(String),
    /// Ask the client (multi-round-trip).
    Ask(InputRequiredResult),
}

pub fn args_digest(args: &serde_json::Map<String, Value>) -> String {
    let canonical = serde_json::to_string(args).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn bad_state(why: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!("requestState refused: {why}; call the tool again without it"),
        Some(json!({"requestState": why})),
    )
}

impl DotmMcp {
    /// Opens a returned `requestState` (none: a first call): ours, unexpired, this person's,
    /// this call's, first use.
    pub async fn resume(
        &self,
        identity: &Identity,
        tool: &str,
        args: &serde_json::Map<String, Value>,
        sealed: Option<String>,
        responses: Option<&InputResponses>,
    ) -> Result<Option<Resumed>, ErrorData> {
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let sealed = sealed.as_str();
        let deps = &self.ports().deps;
        let now = deps.clock.now_unix();
        let state: RoundState = self
            .ports()
            .request_state
            .open(PURPOSE, sealed, now)
            .map_err(|e| match e {
                SealError::Expired => bad_state("it has expired"),
                _ => bad_state("it was not issued by this server or was altered"),
            })?;
        if state.uid != identity.uid.as_str() {
            return Err(bad_state("it belongs to another person"));
        }
        if state.tool != tool || state.args != args_digest(args) {
            return Err(bad_state("it was issued for another call"));
        }
        let first = deps
            .handoff
            .use_once(&format!("MRTR#{}", state.nonce), now + STATE_SECONDS)
            .await
            .map_err(|e| unavailable(&e))?;
        if !first {
            return Err(bad_state("it was already used"));
        }
        let action = responses
            .and_then(|r| r.get(PAYMENT))
            .and_then(|r| r.get("action"))
            .and_then(Value::as_str)
            .unwrap_or("accept");
        Ok(Some(Resumed {
            target: state.target,
            pay_url: state.pay_url,
            declined: action != "accept",
        }))
    }

    /// The payment step for `target`: how to ask depends on what the client declared.
    #[allow(clippy::too_many_arguments)]
    pub async fn payment_step(
        &self,
        identity: &Identity,
        declared: Declared,
        tool: &str,
        args: &serde_json::Map<String, Value>,
        target: PayTarget,
        pay_url: Option<String>,
        message: &str,
        base_url: &str,
    ) -> Result<PaymentStep, ErrorData> {
        let deps = &self.ports().deps;
        let pay_url = match pay_url {
            Some(url) => url,
            None => handoff::pay_link(deps, &identity.uid, target.clone(), base_url)
                .await
                .map_err(|e| unavailable(&e))?,
        };
        if !declared.url_elicitation {
            return Ok(PaymentStep::Link(pay_url));
        }
        if !declared.multi_round {
            return Err(ErrorData::new(
                ErrorCode(URL_ELICITATION_REQUIRED),
                format!("Payment required: {message}"),
                Some(json!({"elicitations": [{
                    "mode": "url",
                    "elicitationId": deps.random.token().map_err(|e| unavailable(&e))?,
                    "url": pay_url,
                    "message": format!("{message} Open the DOTM payment page, pay, then come back."),
                }]})),
            ));
        }
        let state = RoundState {
            uid: identity.uid.as_str().to_owned(),
            tool: tool.to_owned(),
            args: args_digest(args),
            target,
            pay_url: pay_url.clone(),
            nonce: deps.random.token().map_err(|e| unavailable(&e))?,
        };
        let sealed =
            self.ports()
                .request_state
                .seal(PURPOSE, &state, deps.clock.now_unix() + STATE_SECONDS);
        let request: InputRequest = serde_json::from_value(json!({
            "method": "elicitation/create",
            "params": {
                "mode": "url",
                "message": format!("{message} Open the DOTM payment page, pay, then continue."),
                "url": pay_url,
            }
        }))
        .map_err(|e| ErrorData::internal_error(format!("elicitation: {e}"), None))?;
        let mut requests = rmcp::model::InputRequests::new();
        requests.insert(PAYMENT.to_owned(), request);
        Ok(PaymentStep::Ask(InputRequiredResult::new(
            Some(requests),
            Some(sealed),
        )))
    }
}

/// What a resumed round carries into this one: its payment page when it was about the same
/// target, and whether the person declined.
pub fn carried(resumed: Option<Resumed>, target: &PayTarget) -> (Option<String>, bool) {
    match resumed {
        Some(r) if &r.target == target => (Some(r.pay_url), r.declined),
        Some(r) => (None, r.declined),
        None => (None, false),
    }
}

pub fn unavailable(e: &dotm::ports::Unavailable) -> ErrorData {
    tracing::error!(what = e.what, cause = %e.chain(), "payment step failed");
    ErrorData::internal_error(
        "DOTM could not reach its payment or storage service; try again in a minute.",
        None,
    )
}
