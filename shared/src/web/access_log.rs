//! One log line per HTTP request: method, path, status, duration. No query strings, headers
//! or bodies: those may carry tokens or personal data.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Marks every answer a function makes, so a local gateway can tell them from failures of the
/// Lambda emulator itself. Names the function that answered, nothing about the request.
pub const SERVED_BY: &str = "x-dotm-served-by";

/// `axum::middleware::from_fn_with_state(env!("CARGO_PKG_NAME"), log_request)`: the state is
/// the function's name.
pub async fn log_request(
    State(function): State<&'static str>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(SERVED_BY, axum::http::HeaderValue::from_static(function));
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    if status >= 500 {
        tracing::error!(%method, %path, status, micros, "request failed");
    } else {
        tracing::info!(%method, %path, status, micros, "request");
    }
    response
}
