//! Public catalog endpoints for developers: `/mcp/api`, `/mcp/service/{id}`, `/mcp/calculate`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dotm::domain::catalog::{self, Category};
use dotm::domain::pricing::{self, PricingError};
use dotm::web::Problem;
use serde_json::{Map, Value, json};

use crate::App;

pub async fn all_services() -> Json<Value> {
    let services: Map<String, Value> = catalog::services()
        .iter()
        .map(|s| (s.id.to_owned(), serde_json::to_value(s).unwrap_or_default()))
        .collect();
    let categories: Vec<Value> = Category::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.id(),
                "name": c.name(),
                "service_count": catalog::in_category(*c).count(),
            })
        })
        .collect();
    Json(json!({
        "services": services,
        "categories": categories,
        "total_services": catalog::services().len(),
    }))
}

pub async fn one_service(Path(id): Path<String>) -> Response {
    match catalog::find(&id) {
        Some(service) => Json(service).into_response(),
        None => Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-service",
            "Unknown service",
            format!("unknown service id: {id}; GET /mcp/api lists every service"),
        )
        .with("unknown_services", vec![id])
        .into_response(),
    }
}

/// `?services=a,b` (repeatable commas; duplicates count once).
pub async fn calculate(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(list) = query.get("services") else {
        return Problem::bad_request(
            "missing-services",
            "query parameter `services` is required, e.g. ?services=basic_membership,network_security",
        )
        .into_response();
    };
    let ids: Vec<&str> = list.split(',').collect();
    match pricing::quote(&ids, &app.config.cashback) {
        Ok(quote) => Json(quote).into_response(),
        Err(e @ PricingError::Empty) => {
            Problem::bad_request("no-services", e.to_string()).into_response()
        }
        Err(PricingError::UnknownServices(unknown)) => Problem::new(
            StatusCode::BAD_REQUEST,
            "unknown-service",
            "Unknown service",
            PricingError::UnknownServices(unknown.clone()).to_string(),
        )
        .with("unknown_services", unknown)
        .into_response(),
    }
}
