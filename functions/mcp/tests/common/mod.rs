//! Drives the mcp router in-process, the way API Gateway hands it requests.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// In-memory ports; tokens are `uid:<uid>:<email>` (see `dotm::adapters::memory::PlainVerifier`).
pub fn backend() -> dotm::wiring::McpPorts {
    dotm::adapters::memory::MemoryWorld::new().mcp_ports()
}

pub fn router() -> axum::Router {
    mcp::router(mcp::Config::local(), backend())
}

pub async fn send(request: Request<Body>) -> Answer {
    send_to(router(), request).await
}

/// What `router` answers to `request`, read whole.
pub async fn send_to(router: axum::Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(path: &str) -> Answer {
    send(
        Request::get(path)
            .header(header::HOST, "127.0.0.1:3000")
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

/// A POST as an MCP client sends it (both Accept types, JSON body, loopback Host).
pub fn mcp_request(path: &str) -> axum::http::request::Builder {
    Request::post(path)
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
}

pub async fn post_raw(path: &str, body: &str) -> Answer {
    send(mcp_request(path).body(Body::from(body.to_owned())).unwrap()).await
}

pub async fn rpc(method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let answer = post_raw("/mcp", &body.to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()
}

pub async fn call_tool(name: &str, arguments: Value) -> Value {
    let answer = rpc("tools/call", json!({"name": name, "arguments": arguments})).await;
    answer["result"].clone()
}
