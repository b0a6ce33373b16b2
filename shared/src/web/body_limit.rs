//! A cap on request bodies, answered as problem details (413) before a handler reads a byte.
//! `DefaultBodyLimit` with the same cap backs it up for bodies that do not say their length.

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::web::Problem;

/// The API's bodies are small JSON or forms: orders, a wallet, OAuth forms.
pub const API_MAX_BYTES: usize = 64 * 1024;
/// Stripe's events are larger (an invoice with its lines), well under this.
pub const WEBHOOK_MAX_BYTES: usize = 512 * 1024;

/// `axum::middleware::from_fn_with_state(max, body_limit::refuse_large)`.
pub async fn refuse_large(State(max): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Body too large",
            format!("the request body exceeds {max} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

/// The extractors' own cap, the same number.
pub fn backstop(max: usize) -> DefaultBodyLimit {
    DefaultBodyLimit::max(max)
}
