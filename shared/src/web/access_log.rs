//! One log line per HTTP request: method, path, status, duration. No query strings, headers
//! or bodies: those may carry tokens or personal data.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

pub async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    if status >= 500 {
        tracing::error!(%method, %path, status, micros, "request failed");
    } else {
        tracing::info!(%method, %path, status, micros, "request");
    }
    response
}
