//! `POST /webhooks/stripe`: verify the signature over the raw body, then apply the event.
//! Answers fast: the event is recorded with conditional writes, nothing slow runs here.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use dotm::app::payments::{self, Outcome};
use dotm::web::stripe_signature::verify_signature;
use dotm::web::{ApiError, Problem, access_log, body_limit, problem};
use dotm::wiring::WebhookPorts;
use serde_json::{Value, json};

/// Names this function in the `x-dotm-served-by` header and the logs.
pub const FUNCTION: &str = env!("CARGO_PKG_NAME");

pub fn router(ports: WebhookPorts) -> Router {
    Router::new()
        .route("/webhooks/stripe", post(receive))
        .method_not_allowed_fallback(problem::wrong_method)
        .fallback(problem::no_such_route)
        .layer(body_limit::backstop(body_limit::WEBHOOK_MAX_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            body_limit::WEBHOOK_MAX_BYTES,
            body_limit::refuse_large,
        ))
        .layer(axum::middleware::from_fn_with_state(
            FUNCTION,
            access_log::log_request,
        ))
        .with_state(ports)
}

async fn receive(
    State(hook): State<WebhookPorts>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let now = hook.deps.clock.now_unix();
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    verify_signature(&body, signature, &hook.signing_secret, now).map_err(|e| {
        tracing::warn!(reason = %e, "webhook signature refused");
        Problem::bad_request("bad-signature", format!("signature refused: {e}"))
    })?;
    let outcome = payments::apply_event(&hook.deps, &body, now).await?;
    let (label, detail) = match &outcome {
        Outcome::Recorded { purchase_id, .. } => ("recorded", purchase_id.clone()),
        Outcome::AlreadyRecorded => ("already_recorded", String::new()),
        Outcome::Duplicate => ("duplicate", String::new()),
        Outcome::Ignored(why) => ("ignored", why.clone()),
        Outcome::Unmatched(why) => ("unmatched", why.clone()),
        Outcome::Applied(what) => ("applied", what.clone()),
    };
    tracing::info!(outcome = label, detail = %detail, "webhook event applied");
    Ok(Json(json!({"received": true, "outcome": label})))
}
