//! `POST /webhooks/stripe`: verify the signature over the raw body, then apply the event.
//! Answers fast: the event is recorded with conditional writes, nothing slow runs here.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use dotm::activation::Deps;
use dotm::payments::{self, EventError, Outcome};
use dotm::web::{Problem, auth::unavailable, problem};
use serde_json::json;

pub struct Webhook {
    pub deps: Deps,
    /// `whsec_...`, from the provider secret.
    pub signing_secret: String,
}

pub fn router(webhook: Webhook) -> Router {
    Router::new()
        .route("/webhooks/stripe", post(receive))
        .method_not_allowed_fallback(problem::wrong_method)
        .fallback(problem::no_such_route)
        .layer(axum::middleware::from_fn(
            dotm::web::access_log::log_request,
        ))
        .with_state(Arc::new(webhook))
}

async fn receive(State(hook): State<Arc<Webhook>>, headers: HeaderMap, body: Bytes) -> Response {
    let now = hook.deps.clock.now_unix();
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = payments::verify_signature(&body, signature, &hook.signing_secret, now) {
        tracing::warn!(reason = %e, "webhook signature refused");
        return Problem::bad_request("bad-signature", format!("signature refused: {e}"))
            .into_response();
    }
    match payments::apply_event(&hook.deps, &body, now).await {
        Ok(outcome) => {
            let (label, detail) = match &outcome {
                Outcome::Recorded { purchase_id, .. } => ("recorded", purchase_id.clone()),
                Outcome::AlreadyRecorded => ("already_recorded", String::new()),
                Outcome::Duplicate => ("duplicate", String::new()),
                Outcome::Ignored(why) => ("ignored", why.clone()),
            };
            tracing::info!(outcome = label, detail = %detail, "webhook event applied");
            (
                StatusCode::OK,
                axum::Json(json!({"received": true, "outcome": label})),
            )
                .into_response()
        }
        Err(EventError::Malformed(why)) => {
            Problem::bad_request("malformed-event", why).into_response()
        }
        // Stripe retries non-2xx answers, which is what we want while a dependency is down.
        Err(EventError::Unavailable(e)) => unavailable(&e).into_response(),
    }
}
