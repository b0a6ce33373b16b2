//! The `api` function: the JSON API for the DOTM apps under `/api/*`.
//! `main.rs` builds [`router`] once per cold start; tests drive it in-process.

use axum::routing::get;
use axum::{Json, Router};
use dotm::web::problem;
use serde_json::{Value, json};

pub fn router() -> Router {
    Router::new()
        .route("/api/health", get(health))
        .method_not_allowed_fallback(problem::wrong_method)
        .fallback(problem::no_such_route)
        .layer(axum::middleware::from_fn(
            dotm::web::access_log::log_request,
        ))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}
