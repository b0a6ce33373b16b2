//! Every sample event in `events/` for this function, decoded as the Lambda runtime decodes
//! it and answered by the router: the samples stay true to the code.

mod common;

use http_body_util::BodyExt;
use tower::ServiceExt;

async fn answer(file: &str) -> (u16, String) {
    let path = format!("{}/../../events/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let response = mcp::router(
        // The production defaults: loopback hosts, no browser origins.
        mcp::Config::new(
            &dotm::config::Config::from_lookup(|k| {
                ["TABLE_NAME", "ACTIVATION_QUEUE_URL"]
                    .contains(&k)
                    .then(|| "x".to_owned())
            })
            .unwrap(),
        )
        .unwrap(),
        common::backend(),
    )
    .oneshot(request)
    .await
    .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn every_mcp_sample_event_is_answered() {
    for (file, needle) in [
        ("mcp-page.json", "DOTM MCP server"),
        ("mcp-catalog.json", "\"total_services\":23"),
        ("mcp-service.json", "\"id\":\"global_data_10gb\""),
        ("mcp-calculate.json", "\"annual_total\":84.0"),
        ("mcp-initialize.json", "\"protocolVersion\":\"2025-11-25\""),
        ("mcp-tools-list.json", "\"compare_memberships\""),
        ("mcp-tools-call.json", "\"monthly_recurring\":7.0"),
        ("mcp-legacy-messages.json", "\"calculate_pricing\""),
    ] {
        let (status, body) = answer(file).await;
        assert_eq!(status, 200, "{file}: {body}");
        assert!(body.contains(needle), "{file} lacks {needle}: {body}");
    }
}
