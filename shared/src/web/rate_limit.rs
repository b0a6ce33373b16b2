//! The public rate limit over HTTP: each request is counted against its client in the table
//! (so every instance agrees), and the one past the limit gets `429` with `Retry-After` and the
//! `RateLimit-*` headers (IETF httpapi draft); every answer carries the headers.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::rate_limit::{Client, RateLimit, Verdict};
use crate::ports::{Clock, RateLimitStore};
use crate::web::Problem;

#[derive(Clone)]
pub struct Limiter {
    pub store: Arc<dyn RateLimitStore>,
    pub clock: Arc<dyn Clock>,
    pub rule: RateLimit,
    /// Client addresses never limited (monitoring, the test stack's own loopback).
    pub exempt: Arc<[String]>,
}

impl Limiter {
    /// Counts the request; `None` when the client is exempt or the count could not be kept
    /// (a limiter that fails closes nothing: the table being slow must not take the API down).
    pub async fn check(&self, client: &Client) -> Option<Verdict> {
        if let Client::Address(ip) = client
            && self.exempt.iter().any(|e| e == ip)
        {
            return None;
        }
        let now = self.clock.now_unix();
        let window = self.rule.window(now);
        let expires = window + 2 * self.rule.window_seconds;
        match self
            .store
            .count_request(&client.key(), window, expires)
            .await
        {
            Ok(hits) => Some(self.rule.decide(hits, window, now)),
            Err(e) => {
                tracing::warn!(what = e.what, cause = %e.chain(), "rate limit not counted");
                None
            }
        }
    }
}

/// The client's address: the last `X-Forwarded-For` hop, which API Gateway (and the local
/// gateway) append from the connection; entries before it are the client's own words.
pub fn client_address(headers: &HeaderMap) -> String {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty())
        .unwrap_or("unknown")
        .chars()
        .take(64)
        .collect()
}

/// The `RateLimit-*` headers of a verdict, and `Retry-After` when it refuses.
pub fn add_headers(headers: &mut HeaderMap, v: &Verdict) {
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("ratelimit-limit", v.limit.to_string());
    set("ratelimit-remaining", v.remaining.to_string());
    set("ratelimit-reset", v.reset_seconds.to_string());
    set(
        "ratelimit-policy",
        format!("{};w={}", v.limit, v.window_seconds),
    );
    if !v.allowed {
        set("retry-after", v.reset_seconds.to_string());
    }
}

/// The refusal as problem+json (the catalog endpoints and the API).
pub fn refusal(v: &Verdict) -> Response {
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "Too many requests",
        format!(
            "at most {} requests per {} s from one client; try again in {} s",
            v.limit, v.window_seconds, v.reset_seconds
        ),
    )
    .into_response();
    add_headers(response.headers_mut(), v);
    response
}

/// Middleware for public routes: counted by client address. The limiter comes from the
/// request's extensions (`Extension(Arc<Limiter>)` on the router), so a route can opt in with
/// a plain `route_layer(from_fn(limit_by_address))`.
pub async fn limit_by_address(request: Request, next: Next) -> Response {
    let Some(limiter) = request.extensions().get::<Arc<Limiter>>().cloned() else {
        return next.run(request).await;
    };
    let client = Client::Address(client_address(request.headers()));
    match limiter.check(&client).await {
        Some(v) if !v.allowed => refusal(&v),
        Some(v) => {
            let mut response = next.run(request).await;
            add_headers(response.headers_mut(), &v);
            response
        }
        None => next.run(request).await,
    }
}
