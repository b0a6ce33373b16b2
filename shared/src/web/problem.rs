//! `application/problem+json` (RFC 9457): how every function says what went wrong.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem with a stable `type` (clients branch on it) and a `detail` that names the cause.
/// Never carries internals: messages are written for the caller.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    /// `slug` becomes the stable type `urn:dotm:problem:<slug>`.
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            kind: format!("urn:dotm:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            extensions: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    pub fn bad_request(slug: &str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, slug, "Bad request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            detail,
        )
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
    }
}

/// Router fallback: a path nobody serves.
pub async fn no_such_route(uri: axum::http::Uri) -> Problem {
    Problem::not_found(format!("no resource at {}", uri.path()))
}

/// Router fallback for a known path asked with a method it does not take.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Problem {
    Problem::method_not_allowed(format!("{method} is not supported on {}", uri.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_rfc9457_with_extensions() {
        let p = Problem::bad_request("unknown-service", "unknown service id: nope")
            .with("unknown_services", vec!["nope"]);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["type"], "urn:dotm:problem:unknown-service");
        assert_eq!(json["status"], 400);
        assert_eq!(json["title"], "Bad request");
        assert_eq!(json["detail"], "unknown service id: nope");
        assert_eq!(json["unknown_services"][0], "nope");
    }
}
