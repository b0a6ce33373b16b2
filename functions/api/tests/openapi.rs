//! `/api/openapi.json` describes what the router serves: every documented operation is routed
//! (never the fallbacks' 404 or 405), and the document is OpenAPI 3.1.

mod common;

#[tokio::test]
async fn every_documented_operation_is_served() {
    let api = common::api();
    let doc = api.call("GET", "/api/openapi.json", None, "").await;
    assert_eq!(doc.status, 200);
    let doc = doc.body;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for required in [
        "/api/me",
        "/api/orders",
        "/api/orders/{id}",
        "/api/beta-request",
        "/api/beta-approve/{uid}",
        "/api/openapi.json",
        "/oauth/token",
        "/mcp/api",
    ] {
        assert!(paths.contains_key(required), "{required} is not documented");
    }
    let mut checked = 0;
    for (path, ops) in paths {
        if path.starts_with("/mcp/") {
            continue; // served by the mcp function
        }
        for method in ops.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", "x")
                .replace("{uid}", "x")
                .replace("{order_id}", "x");
            let answer = api
                .call(
                    &method.to_uppercase(),
                    &concrete,
                    Some("uid:admin-uid:admin@example.com"),
                    "{}",
                )
                .await;
            // What the fallbacks answer for a route or method nobody serves.
            let detail = answer.body["detail"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                answer.status != 405 && !detail.starts_with("no resource at"),
                "{method} {path}: {} {detail}",
                answer.status
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked}");
    // References resolve inside the document.
    let text = doc.to_string();
    for name in text.split("#/components/schemas/").skip(1) {
        let name = name.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{name} is referenced but missing"
        );
    }
}

#[tokio::test]
async fn a_body_over_the_cap_is_a_413_problem_before_any_handler() {
    use dotm::ports::OrderStore;
    let api = common::api();
    let big = format!(r#"{{"items": [], "pad": "{}"}}"#, "x".repeat(70 * 1024));
    let request = axum::http::Request::post("/api/orders")
        .header("authorization", "Bearer uid:ada:ada@example.com")
        .header("content-type", "application/json")
        .header("content-length", big.len().to_string());
    let response = tower::ServiceExt::oneshot(
        api.router.clone(),
        request.body(axum::body::Body::from(big)).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 413);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["type"], "urn:dotm:problem:body-too-large");
    assert!(
        api.world
            .orders
            .orders(&dotm::domain::users::Uid::parse("ada").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}
