//! Properties of `POST /mcp` and the catalog endpoints over generated input: whatever a
//! client sends, the answer is a JSON-RPC message (or a problem), never a panic or a 5xx.

mod common;

use common::Answer;

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The methods of the MCP specification (the gate and rmcp treat them specially), and others.
const METHODS: &[&str] = &[
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
    "notifications/initialized",
    "notifications/cancelled",
    "teleport/now",
];

/// Tools anyone may call, and those that need a sign-in (called with a valid test token).
const PUBLIC_TOOLS: &[&str] = &[
    "calculate_pricing",
    "search_services",
    "get_service_details",
    "compare_memberships",
];
const SIGNED_IN_TOOLS: &[&str] = &[
    "activate_esim",
    "activation_status",
    "refresh_install_card",
    "esim_usage",
    "buy_services",
    "manage_subscriptions",
    "my_account",
    "beta_program",
];

/// Argument names the tools read, so generated arguments reach their checks.
const FIELDS: &[&str] = &[
    "services",
    "query",
    "category",
    "limit",
    "service_id",
    "items",
    "quantity",
    "shipping_address",
    "line1",
    "cancel_subscription_id",
    "request",
    "email",
    "firebase_uid",
    "uri",
    "name",
    "arguments",
];

/// Any JSON value, a few levels deep.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(PUBLIC_TOOLS).prop_map(Value::from),
        prop::sample::select(
            dotm::domain::catalog::services()
                .iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        )
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            object(inner).prop_map(Value::Object),
        ]
    })
    .boxed()
}

/// A JSON object whose keys are mostly the names the tools read.
fn object(
    values: impl Strategy<Value = Value>,
) -> impl Strategy<Value = serde_json::Map<String, Value>> {
    let key = prop_oneof![
        3 => prop::sample::select(FIELDS).prop_map(String::from),
        1 => "\\PC{0,8}",
    ];
    prop::collection::btree_map(key, values, 0..5).prop_map(|m| m.into_iter().collect())
}

/// JSON-RPC-shaped messages, right and wrong in every field.
fn message() -> impl Strategy<Value = Value> {
    let jsonrpc = prop_oneof![9 => Just(json!("2.0")), 1 => json_value()];
    let id = prop_oneof![
        4 => any::<i64>().prop_map(Value::from),
        4 => "\\PC{0,8}".prop_map(Value::from),
        1 => json_value(),
    ];
    let method = prop_oneof![
        9 => prop::sample::select(METHODS).prop_map(Value::from),
        1 => json_value(),
    ];
    let tool = prop_oneof![
        prop::sample::select(PUBLIC_TOOLS).prop_map(Value::from),
        prop::sample::select(SIGNED_IN_TOOLS).prop_map(Value::from),
        json_value(),
    ];
    let params = prop_oneof![
        2 => (tool, object(json_value()), object(json_value())).prop_map(|(name, arguments, mut p)| {
            p.insert("name".into(), name);
            p.insert("arguments".into(), Value::Object(arguments));
            Value::Object(p)
        }),
        1 => object(json_value()).prop_map(Value::Object),
        1 => json_value(),
    ];
    (
        prop::option::weighted(0.95, jsonrpc),
        prop::option::weighted(0.9, id),
        prop::option::weighted(0.95, method),
        prop::option::weighted(0.8, params),
        object(json_value()),
    )
        .prop_map(|(jsonrpc, id, method, params, extra)| {
            let mut m = extra;
            for (k, v) in [
                ("jsonrpc", jsonrpc),
                ("id", id),
                ("method", method),
                ("params", params),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
}

/// One router for a whole property (building it per case is slow in debug builds); each
/// request comes from its own address, so the rate limit never answers for the input.
struct Client {
    router: axum::Router,
    runtime: tokio::runtime::Runtime,
    next: AtomicU64,
}

impl Client {
    fn new() -> Client {
        Client {
            router: common::router(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            next: AtomicU64::new(0),
        }
    }

    fn send(&self, request: axum::http::request::Builder, body: Vec<u8>) -> Answer {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let request = request
            .header(
                "x-forwarded-for",
                format!("10.0.{}.{}", n / 256 % 256, n % 256),
            )
            .body(Body::from(body))
            .unwrap();
        self.runtime
            .block_on(common::send_to(self.router.clone(), request))
    }

    fn post(&self, body: Vec<u8>) -> Answer {
        self.send(common::mcp_request("/mcp"), body)
    }

    /// A POST signed in with a test token (`uid:<uid>:<email>`), each by its own person.
    fn post_signed_in(&self, body: Vec<u8>) -> Answer {
        let n = self.next.load(Ordering::Relaxed);
        let token = format!("uid:person{n}:person{n}@example.com");
        let request =
            common::mcp_request("/mcp").header(header::AUTHORIZATION, format!("Bearer {token}"));
        self.send(request, body)
    }

    fn get(&self, path: &str) -> Answer {
        self.send(
            Request::get(path).header(header::HOST, "127.0.0.1:3000"),
            Vec::new(),
        )
    }
}

/// What every answer of `POST /mcp` is: no 5xx, and unless it is a notification's 202, one
/// JSON-RPC response with a result or an error, the error never "internal" (-32603).
fn is_a_json_rpc_answer(answer: &Answer) -> Result<Option<Value>, TestCaseError> {
    prop_assert!(
        answer.status.as_u16() < 500,
        "{} {}",
        answer.status,
        answer.text
    );
    if answer.status == StatusCode::ACCEPTED {
        return Ok(None);
    }
    prop_assert_eq!(&answer.content_type, "application/json", "{}", answer.text);
    let body: Value = serde_json::from_str(&answer.text)
        .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {}", answer.text)))?;
    prop_assert_eq!(&body["jsonrpc"], "2.0", "{}", body);
    let (result, error) = (body.get("result"), body.get("error"));
    prop_assert!(result.is_some() != error.is_some(), "{}", body);
    if let Some(error) = error {
        prop_assert!(error["code"].is_i64(), "{}", body);
        prop_assert_ne!(&error["code"], -32603, "{}", body);
        prop_assert!(error["message"].is_string(), "{}", body);
    }
    if result.is_some() {
        prop_assert_eq!(answer.status, StatusCode::OK, "{}", body);
    }
    Ok(Some(body))
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig::with_cases(cases)
}

#[test]
fn any_bytes_posted_get_a_json_rpc_error_not_a_5xx() {
    let client = Client::new();
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        "\\PC{0,200}".prop_map(String::into_bytes),
        // Almost JSON: a message cut short or with a stray byte.
        (message(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(m, at, b)| {
            let mut bytes = m.to_string().into_bytes();
            let i = at.index(bytes.len());
            if b % 2 == 0 {
                bytes.truncate(i);
            } else {
                bytes.insert(i, b);
            }
            bytes
        }),
    ];
    proptest!(config(128), |(body in bytes)| {
        let answer = client.post(body.clone());
        if serde_json::from_slice::<Value>(&body).is_err() {
            // Not JSON at all: always the parse error, with HTTP 400.
            prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
            let body = is_a_json_rpc_answer(&answer)?.unwrap();
            prop_assert_eq!(&body["error"]["code"], -32700, "{}", body);
        } else {
            is_a_json_rpc_answer(&answer)?;
        }
    });
}

#[test]
fn any_json_message_gets_a_json_rpc_answer_not_a_5xx() {
    let client = Client::new();
    proptest!(config(192), |(message in prop_oneof![1 => json_value(), 4 => message()])| {
        let answer = client.post(message.to_string().into_bytes());
        let body = is_a_json_rpc_answer(&answer)?;
        // An answer names the request it answers, when the request had a usable id.
        if let (Some(body), Some(id)) = (body, message.get("id"))
            && (id.is_string() || id.is_i64() || id.is_u64())
            && body["id"] != Value::Null
        {
            prop_assert_eq!(&body["id"], id, "{}", body);
        }
    });
}

#[test]
fn any_arguments_to_a_tool_are_its_result_or_its_tool_error() {
    let client = Client::new();
    let tools = prop::sample::select([PUBLIC_TOOLS, SIGNED_IN_TOOLS].concat());
    proptest!(config(192), |(tool in tools, arguments in object(json_value()), id in 1i64..1000)| {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": tool, "arguments": arguments}});
        let answer = client.post_signed_in(body.to_string().into_bytes());
        prop_assert_eq!(answer.status, StatusCode::OK, "{}: {}", tool, answer.text);
        let body = is_a_json_rpc_answer(&answer)?.unwrap();
        prop_assert_eq!(&body["id"], id);
        let result = &body["result"];
        prop_assert!(result.is_object(), "{} {}: {}", tool, arguments.len(), body);
        // A refusal is text the assistant can read, never an echo of a huge argument.
        if result["isError"] == true {
            let text = result["content"][0]["text"].as_str().unwrap_or_default();
            prop_assert!(!text.is_empty() && text.len() < 2000, "{}", body);
        }
    });
}

/// `%XX` escapes decoded, anything else kept, as a URL path segment is read.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if bytes[i] == b'%' => {
                out.push(b);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn service_ids() -> Vec<&'static str> {
    dotm::domain::catalog::services()
        .iter()
        .map(|s| s.id)
        .collect()
}

/// URL query text: reserved and unreserved characters, percent escapes (of invalid UTF-8
/// too), and escapes of any bytes.
fn query_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9%&=+,;._~!$'()*:@/?-]{0,80}",
        "(services=)?([a-z_]{0,12}|%[0-9A-Fa-f]{2}|%[g-z]|[,&=+])*",
        prop::collection::vec(any::<u8>(), 0..60)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect()),
    ]
}

#[test]
fn any_query_of_the_pricing_endpoint_is_a_quote_or_a_problem() {
    let client = Client::new();
    proptest!(config(128), |(query in query_text())| {
        let path = format!("/mcp/calculate?{query}");
        prop_assume!(path.parse::<axum::http::Uri>().is_ok());
        let answer = client.get(&path);
        match answer.status {
            StatusCode::OK => prop_assert_eq!(&answer.content_type, "application/json"),
            StatusCode::BAD_REQUEST => {
                prop_assert_eq!(&answer.content_type, "application/problem+json");
                let body: Value = serde_json::from_str(&answer.text).unwrap();
                prop_assert!(body["type"].as_str().unwrap().starts_with("urn:dotm:problem:"));
            }
            other => prop_assert!(false, "{} for {}: {}", other, path, answer.text),
        }
    });
}

#[test]
fn known_ids_in_the_query_are_priced_and_an_unknown_one_is_named() {
    let client = Client::new();
    let ids = prop::collection::vec(prop::sample::select(service_ids()), 1..6);
    proptest!(config(64), |(ids in ids, unknown in "[a-z_]{1,12}")| {
        let answer = client.get(&format!("/mcp/calculate?services={}", ids.join(",")));
        prop_assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        prop_assume!(!service_ids().contains(&unknown.as_str()));
        let path = format!("/mcp/calculate?services={},{unknown}", ids.join(","));
        let answer = client.get(&path);
        prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        let body: Value = serde_json::from_str(&answer.text).unwrap();
        prop_assert_eq!(&body["unknown_services"], &json!([unknown]), "{}", body);
    });
}

#[test]
fn any_service_path_is_the_service_or_a_404() {
    let client = Client::new();
    let id = prop_oneof![
        prop::sample::select(service_ids()).prop_map(String::from),
        "[A-Za-z0-9%._~!$'()*:@-]{1,40}",
        prop::collection::vec(any::<u8>(), 1..30)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect()),
    ];
    proptest!(config(128), |(id in id)| {
        let path = format!("/mcp/service/{id}");
        prop_assume!(path.parse::<axum::http::Uri>().is_ok());
        let answer = client.get(&path);
        // axum refuses a segment that is not UTF-8 once decoded (its own plain-text 400).
        let expected = match String::from_utf8(percent_decode(&id)) {
            Ok(id) if service_ids().contains(&id.as_str()) => StatusCode::OK,
            Ok(_) => StatusCode::NOT_FOUND,
            Err(_) => StatusCode::BAD_REQUEST,
        };
        prop_assert_eq!(answer.status, expected, "{}: {}", path, answer.text);
    });
}

#[test]
fn a_signed_in_tool_with_any_other_authorization_is_401_with_the_challenge() {
    let client = Client::new();
    let value = prop_oneof![
        "(?i:bearer)[ ]{1,2}[ -~]{0,60}",
        "(?i:bearer|basic|token|dpop)?[ ]?[A-Za-z0-9._~+/=-]{0,60}",
        prop::collection::vec(any::<u8>(), 0..60)
            .prop_filter("a header value", |v| {
                axum::http::HeaderValue::from_bytes(v).is_ok()
            })
            .prop_map(|v| String::from_utf8_lossy(&v).into_owned()),
    ];
    proptest!(config(128), |(value in value, tool in prop::sample::select(SIGNED_IN_TOOLS))| {
        let Ok(header_value) = axum::http::HeaderValue::from_str(&value) else {
            return Ok(());
        };
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(header::AUTHORIZATION, header_value.clone());
        // The in-memory verifiers take readable test tokens; anything else must fail.
        let test_token = dotm::web::auth::bearer(&headers).is_some_and(|t| {
            ["uid:", "unverified:", "anonymous:", "memory-access-token."]
                .iter()
                .any(|p| t.starts_with(p))
        });
        prop_assume!(!test_token);
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": tool, "arguments": {}}});
        let request = common::mcp_request("/mcp").header(header::AUTHORIZATION, header_value);
        let answer = client.send(request, body.to_string().into_bytes());
        prop_assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}: {}", value, answer.text);
        let challenge = answer.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        prop_assert!(challenge.starts_with("Bearer resource_metadata="), "{}", challenge);
        let body = is_a_json_rpc_answer(&answer)?.unwrap();
        prop_assert_eq!(&body["error"]["code"], -32001);
    });
}
