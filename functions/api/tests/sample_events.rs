//! The API's sample events in `events/`, decoded as the Lambda runtime decodes them.

mod common;

use http_body_util::BodyExt;
use tower::ServiceExt;

#[tokio::test]
async fn the_health_sample_event_is_answered() {
    let path = format!(
        "{}/../../events/api-health.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let request = lambda_http::request::from_str(&text).unwrap();
    let response = common::api().router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["status"], "ok");
}
