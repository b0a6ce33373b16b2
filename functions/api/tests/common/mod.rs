//! The API router in-process with the in-memory adapters of the ports (tokens: `uid:<uid>:<email>`).
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dotm::adapters::memory::MemoryWorld;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

pub struct TestApi {
    pub router: axum::Router,
    pub world: MemoryWorld,
}

pub fn api() -> TestApi {
    let world = MemoryWorld::new();
    let router = api::router(world.api_ports());
    TestApi { router, world }
}

impl TestApi {
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
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
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}
