//! A server that records each request it gets and answers OXIO-shaped bodies (any other path:
//! `{}`), for tests that assert the exact requests an adapter sends.

use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

/// A server that records each request and answers OXIO-shaped bodies.
pub async fn recording_server() -> (String, Arc<Mutex<Vec<Seen>>>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, Uri};
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(Seen {
                    method: method.to_string(),
                    path_and_query: uri
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    authorization: headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                });
                let line = serde_json::json!({
                    "lineId": "l-1", "status": "ACTIVE",
                    "phoneNumbers": [{"phoneNumber": "+12125550123"}],
                    "sim": {"iccid": "8901260000000000019", "simType": "EMBEDDED",
                            "activationCode": "LPA:1$smdp.oxio.example$OX-ABC-123",
                            "activationUrl": "https://esimsetup.apple.com/x"}
                });
                let answer = match uri.path() {
                    "/v2/end-users" if method == Method::GET => serde_json::json!({
                        "endUsers": [{"endUserId": "eu-9", "email": "ada@example.com"}]
                    }),
                    "/v2/end-users" => serde_json::json!({"endUserId": "eu-9"}),
                    "/v3/lines/line" => line.clone(),
                    "/v3/end-users/eu-9/lines" => serde_json::json!({"lines": [line]}),
                    "/v3/phone-numbers/available-area-codes" => {
                        serde_json::json!({"areaCodes": [{"areaCode": "212"}, "646"]})
                    }
                    _ => serde_json::json!({}),
                };
                axum::Json(answer)
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}
