//! Where this deployment is reachable, as clients see it: `PUBLIC_BASE_URL` when set (a custom
//! domain), else the request's `Host` (API Gateway's execute-api name; HTTP only on loopback).

use axum::http::{HeaderMap, header};

pub fn base_url(public: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(base) = public.filter(|b| !b.is_empty()) {
        return base.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
    let loopback = matches!(name, "127.0.0.1" | "localhost" | "[::1]");
    format!("{}://{host}", if loopback { "http" } else { "https" })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_configured_base_wins_and_only_loopback_is_http() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            HeaderValue::from_static("abc.execute-api.us-east-1.amazonaws.com"),
        );
        assert_eq!(
            base_url(None, &h),
            "https://abc.execute-api.us-east-1.amazonaws.com"
        );
        assert_eq!(
            base_url(Some("https://dotm.example/"), &h),
            "https://dotm.example"
        );
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3100"));
        assert_eq!(base_url(None, &h), "http://127.0.0.1:3100");
    }
}
