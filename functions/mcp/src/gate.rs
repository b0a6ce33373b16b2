//! The front door of `POST /mcp`: everything rmcp leaves to the deployer.
//!
//! rmcp's Streamable HTTP service answers bad input with plain-text 4xx (malformed JSON is a
//! 415), needs both media types in `Accept`, and only knows loopback hosts. Here every request
//! is checked first and every refusal is a JSON-RPC error body an MCP client can read:
//! -32700 parse error, -32600 invalid request, -32602 invalid params (-32601 comes from the
//! handler for methods it does not know).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
use serde_json::{Value, json};

use crate::access::Access;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const INVALID_PARAMS: i64 = -32602;
/// A server error of ours (the -32000 range): too many requests from one client (HTTP 429).
pub const RATE_LIMITED: i64 = -32029;

/// Requests bigger than this are not MCP messages anyone needs.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const JSON: &str = "application/json";
const BOTH: &str = "application/json, text/event-stream";

/// A refusal, rendered as a JSON-RPC error object.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
    pub id: Value,
}

impl Refusal {
    fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            id: Value::Null,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": self.code, "message": self.message},
        });
        (
            self.status,
            [(header::CONTENT_TYPE, JSON)],
            body.to_string(),
        )
            .into_response()
    }
}

/// Host and Origin first: a refused browser or rebinding attempt learns nothing else.
pub fn check_access(access: &Access, headers: &HeaderMap) -> Result<(), Refusal> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !access.host_allowed(host) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            INVALID_REQUEST,
            format!("Host {host:?} is not allowed for this MCP server"),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("<not text>");
        if !access.origin_allowed(origin) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                INVALID_REQUEST,
                format!("Origin {origin} is not allowed to call this MCP server"),
            ));
        }
    }
    Ok(())
}

/// We always answer with JSON (stateless, no streams), so a client that sent no `Accept`,
/// `*/*` or only one of the two types is served as if it had sent both. One that accepts
/// neither gets 406.
pub fn normalize_headers(headers: &mut HeaderMap) -> Result<(), Refusal> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let acceptable = accept.trim().is_empty()
        || accept.contains("*/*")
        || accept.contains("application/*")
        || accept.contains(JSON)
        || accept.contains("text/event-stream");
    if !acceptable {
        return Err(Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            INVALID_REQUEST,
            format!("this server answers application/json; Accept {accept:?} excludes it"),
        ));
    }
    headers.insert(header::ACCEPT, HeaderValue::from_static(BOTH));

    match headers
        .get(header::CONTENT_TYPE)
        .map(|c| c.to_str().unwrap_or(""))
    {
        None => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        }
        Some(ct)
            if ct
                .split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case(JSON)) => {}
        Some(ct) => {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                INVALID_REQUEST,
                format!("Content-Type must be application/json, not {ct:?}"),
            ));
        }
    }
    Ok(())
}

/// The methods of the MCP specification that rmcp serves or refuses itself. A message naming
/// one of them whose params do not fit still deserializes (as a custom request), so it is
/// caught here as -32602 rather than reaching the handler as "method not found".
const STANDARD_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
];

/// Checks that `body` is one well-formed JSON-RPC 2.0 message that rmcp can take, and that a
/// `tools/call` names one of `tools`.
pub fn check_message(body: &Bytes, tools: &[String]) -> Result<(), Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            PARSE_ERROR,
            format!("Parse error: the body is not valid JSON ({e})"),
        )
    })?;
    let invalid = |message: String| Refusal::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, message);
    let object = match &value {
        Value::Object(o) => o,
        Value::Array(_) => {
            return Err(invalid(
                "Invalid Request: JSON-RPC batches are not supported; send one message per request"
                    .into(),
            ));
        }
        _ => {
            return Err(invalid(
                "Invalid Request: a JSON-RPC message is a JSON object".into(),
            ));
        }
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    let with_id = |mut r: Refusal| {
        if id.is_string() || id.is_i64() || id.is_u64() {
            r.id = id.clone();
        }
        r
    };
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(with_id(invalid(
            r#"Invalid Request: "jsonrpc" must be "2.0""#.into(),
        )));
    }
    match object.get("id") {
        None => {}
        Some(Value::String(_)) => {}
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        Some(other) => {
            return Err(invalid(format!(
                r#"Invalid Request: "id" must be a string or an integer, not {other}"#
            )));
        }
    }
    let method = match object.get("method") {
        Some(Value::String(m)) => m.clone(),
        Some(_) => {
            return Err(with_id(invalid(
                r#"Invalid Request: "method" must be a string"#.into(),
            )));
        }
        None if object.contains_key("result") || object.contains_key("error") => return Ok(()),
        None => {
            return Err(with_id(invalid(
                r#"Invalid Request: "method" is missing"#.into(),
            )));
        }
    };
    if let Some(params) = object.get("params")
        && !params.is_object()
    {
        return Err(with_id(Refusal::new(
            StatusCode::BAD_REQUEST,
            INVALID_PARAMS,
            format!(r#"Invalid params: "params" of {method} must be an object"#),
        )));
    }
    // rmcp takes unknown methods as custom requests, so a message that still does not
    // deserialize names a known method with parameters of the wrong shape.
    let bad_params = |message: String| {
        with_id(Refusal::new(
            StatusCode::BAD_REQUEST,
            INVALID_PARAMS,
            message,
        ))
    };
    match serde_json::from_value::<ClientJsonRpcMessage>(value.clone()) {
        Err(e) => return Err(bad_params(format!("Invalid params for {method}: {e}"))),
        Ok(ClientJsonRpcMessage::Request(r))
            if matches!(r.request, ClientRequest::CustomRequest(_))
                && STANDARD_METHODS.contains(&method.as_str()) =>
        {
            return Err(bad_params(format!(
                "Invalid params for {method}: they do not match the MCP schema of {method}"
            )));
        }
        Ok(_) => {}
    }
    if method == "tools/call" {
        let name = object
            .get("params")
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !tools.iter().any(|t| t == name) {
            return Err(bad_params(format!(
                "Unknown tool: {name:?}. This server has: {}",
                tools.join(", ")
            )));
        }
    }
    Ok(())
}

/// rmcp's own refusals are plain text; give them the same JSON-RPC shape as ours.
pub async fn jsonrpc_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with(JSON));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (_, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let code = if status.is_client_error() {
        INVALID_REQUEST
    } else {
        -32603
    };
    Refusal::new(status, code, text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Option<i64> {
        check_message(&Bytes::from(body.to_owned()), &["vpn".to_owned()])
            .err()
            .map(|r| r.code)
    }

    #[test]
    fn well_formed_messages_pass() {
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), None);
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#),
            None
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#),
            None
        );
    }

    #[test]
    fn each_kind_of_bad_message_gets_its_code() {
        assert_eq!(code("{not json"), Some(PARSE_ERROR));
        assert_eq!(code(""), Some(PARSE_ERROR));
        assert_eq!(code("[]"), Some(INVALID_REQUEST));
        assert_eq!(code("42"), Some(INVALID_REQUEST));
        assert_eq!(code(r#"{"id":1,"method":"ping"}"#), Some(INVALID_REQUEST));
        assert_eq!(
            code(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#),
            Some(INVALID_REQUEST)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":7}"#),
            Some(INVALID_REQUEST)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#),
            Some(INVALID_REQUEST)
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), Some(INVALID_REQUEST));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}"#),
            Some(INVALID_PARAMS)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#),
            Some(INVALID_PARAMS)
        );
    }

    #[test]
    fn refusals_keep_the_request_id() {
        let r = check_message(
            &Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":"x-1","method":"tools/call","params":{}}"#,
            ),
            &[],
        )
        .unwrap_err();
        assert_eq!(r.id, json!("x-1"));
        assert!(r.message.contains("tools/call"), "{}", r.message);
    }

    #[test]
    fn accept_is_filled_in_and_content_type_checked() {
        let mut h = HeaderMap::new();
        normalize_headers(&mut h).unwrap();
        assert_eq!(h[header::ACCEPT], BOTH);
        assert_eq!(h[header::CONTENT_TYPE], JSON);

        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        assert_eq!(
            normalize_headers(&mut h).unwrap_err().status,
            StatusCode::NOT_ACCEPTABLE
        );

        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(
            normalize_headers(&mut h).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
