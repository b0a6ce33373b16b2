//! The MCP endpoint in-process: handshake, tools and every error path of the gate.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use serde_json::{Value, json};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;

#[tokio::test]
async fn initialize_negotiates_each_handshake_revision() {
    for version in ["2025-06-18", "2025-11-25"] {
        let body = INIT.replace("2025-06-18", version);
        let answer = post_raw("/mcp", &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.content_type, "application/json");
        // No server session: the id is the client's own declaration, encoded (here: nothing).
        let id = answer.headers["mcp-session-id"].to_str().unwrap();
        assert_eq!(id, mcp::declared::Declared::default().session_id());
        let result = &answer.json()["result"];
        assert_eq!(result["protocolVersion"], version);
        assert_eq!(result["serverInfo"]["name"], "dotm");
        assert!(result["capabilities"]["tools"].is_object());
    }
}

#[tokio::test]
async fn ping_and_tools_list() {
    assert_eq!(rpc("ping", json!({})).await["result"], json!({}));
    let tools = rpc("tools/list", json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in [
        "calculate_pricing",
        "search_services",
        "get_service_details",
        "compare_memberships",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for tool in tools["result"]["tools"].as_array().unwrap() {
        assert_eq!(tool["inputSchema"]["type"], "object", "{}", tool["name"]);
        assert_eq!(tool["outputSchema"]["type"], "object", "{}", tool["name"]);
        assert!(tool["description"].as_str().unwrap().len() > 20);
    }
    let pricing = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "calculate_pricing")
        .unwrap();
    assert_eq!(pricing["inputSchema"]["required"], json!(["services"]));
}

#[tokio::test]
async fn calculate_pricing_answers_structured_and_in_text() {
    let result = call_tool(
        "calculate_pricing",
        json!({"services": ["basic_membership", "network_security"]}),
    )
    .await;
    assert_ne!(result["isError"], json!(true));
    let pricing = &result["structuredContent"]["pricing"];
    assert_eq!(pricing["monthly_recurring"], json!(7.0));
    assert_eq!(pricing["annual_total"], json!(84.0));
    assert_eq!(pricing["monthly_recurring_cents"], json!(700));
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Monthly recurring: $7.00"), "{text}");
    assert!(text.contains("Annual total: $84.00"), "{text}");
}

#[tokio::test]
async fn bad_tool_arguments_are_tool_errors_the_assistant_reads() {
    for (tool, args, needle) in [
        (
            "calculate_pricing",
            json!({"services": ["nope", "vpn_access"]}),
            "nope",
        ),
        ("calculate_pricing", json!({"services": []}), "no services"),
        ("calculate_pricing", json!({}), "services"),
        (
            "calculate_pricing",
            json!({"services": "vpn_access"}),
            "sequence",
        ),
        (
            "get_service_details",
            json!({"service_id": "gold_plan"}),
            "gold_plan",
        ),
        (
            "search_services",
            json!({"query": "vpn", "limit": 0}),
            "limit",
        ),
        (
            "search_services",
            json!({"query": "vpn", "category": "food"}),
            "food",
        ),
        (
            "search_services",
            json!({"query": "x".repeat(800_000)}),
            "query is 800000 characters long; at most 500",
        ),
        (
            "search_services",
            json!({"query": "x".repeat(201)}),
            "201 characters long; at most 200",
        ),
        (
            "calculate_pricing",
            json!({"services": ["vpn_access", "z".repeat(501)]}),
            "services[1] is 501 characters long",
        ),
        (
            "get_service_details",
            json!({"service_id": "y".repeat(65)}),
            "at most 64",
        ),
        (
            "calculate_pricing",
            json!({"services": vec!["vpn_access"; 51]}),
            "at most 50",
        ),
    ] {
        let result = call_tool(tool, args.clone()).await;
        assert_eq!(result["isError"], json!(true), "{tool} {args}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(text.contains(needle), "{tool} {args}: {text}");
    }
}

#[tokio::test]
async fn search_details_and_memberships() {
    let found = call_tool("search_services", json!({"query": "Global Data eSIM"})).await;
    assert_eq!(
        found["structuredContent"]["results"][0]["id"],
        "global_data_10gb"
    );
    let found = call_tool("search_services", json!({"query": "DOT eSIM"})).await;
    assert_eq!(found["structuredContent"]["results"][0]["id"], "esim_beta");

    let details = call_tool(
        "get_service_details",
        json!({"service_id": "dotm_metal_card"}),
    )
    .await;
    assert_eq!(details["structuredContent"]["price"], json!(99.99));
    assert!(
        details["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("$99.99")
    );

    let compared = call_tool("compare_memberships", json!({})).await;
    let ids: Vec<&str> = compared["structuredContent"]["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["beta_access", "basic_membership", "full_membership"]);
}

#[tokio::test]
async fn unknown_tool_is_an_error_naming_it() {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "teleport", "arguments": {}}});
    let answer = post_raw("/mcp", &body.to_string()).await.json();
    let error = &answer["error"];
    assert_eq!(error["code"], -32602, "{answer}");
    assert!(
        error["message"].as_str().unwrap().contains("teleport"),
        "{answer}"
    );
}

async fn error_of(path: &str, body: &str) -> (StatusCode, Value) {
    let answer = post_raw(path, body).await;
    assert_eq!(answer.content_type, "application/json", "{}", answer.text);
    (answer.status, answer.json()["error"].clone())
}

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    let (status, error) = error_of("/mcp", "{\"jsonrpc\": \"2.0\", ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], -32700);
}

#[tokio::test]
async fn invalid_requests_are_minus_32600() {
    for body in [
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        r#"{"id":1,"method":"ping"}"#,
        "7",
    ] {
        let (status, error) = error_of("/mcp", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error["code"], -32600, "{body}");
    }
}

#[tokio::test]
async fn unknown_methods_are_minus_32601() {
    let answer = post_raw(
        "/mcp",
        r#"{"jsonrpc":"2.0","id":9,"method":"teleport/now"}"#,
    )
    .await;
    let body = answer.json();
    assert_eq!(body["error"]["code"], -32601, "{body}");
    assert_eq!(body["id"], 9);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("teleport/now")
    );
}

#[tokio::test]
async fn bad_params_are_minus_32602() {
    let (_, error) = error_of(
        "/mcp",
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"arguments":{}}}"#,
    )
    .await;
    assert_eq!(error["code"], -32602);
    let (_, error) = error_of(
        "/mcp",
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":"x"}"#,
    )
    .await;
    assert_eq!(error["code"], -32602);
}

#[tokio::test]
async fn notifications_are_accepted_with_202() {
    let answer = post_raw(
        "/mcp",
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_foreign_origin_is_forbidden_and_a_listed_one_is_served() {
    let request = |origin: &'static str| {
        mcp_request("/mcp")
            .header(header::ORIGIN, origin)
            .body(Body::from(INIT))
            .unwrap()
    };
    let refused = send(request("https://evil.example")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("evil.example")
    );
    let served = send(request("http://127.0.0.1:3000")).await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.text);
}

#[tokio::test]
async fn an_unlisted_host_is_forbidden() {
    let request = Request::post("/mcp")
        .header(header::HOST, "attacker.example")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(INIT))
        .unwrap();
    let answer = send(request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("attacker.example")
    );
}

#[tokio::test]
async fn the_legacy_path_serves_plain_curl() {
    // The seeds' example: Content-Type only, no Accept.
    let request = Request::post("/mcp/v2/messages")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        ))
        .unwrap();
    let answer = send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.content_type, "application/json");
    assert!(answer.json()["result"]["tools"].as_array().unwrap().len() >= 4);
}

#[tokio::test]
async fn an_event_stream_get_is_405_and_a_browser_gets_the_page() {
    let request = Request::get("/mcp")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::empty())
        .unwrap();
    let answer = send(request).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers[header::ALLOW], "POST");

    let page = get("/mcp").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.content_type.starts_with("text/html"));
    for needle in [
        "http://127.0.0.1:3000/mcp",
        "calculate_pricing",
        "compare_memberships",
        "Global Data 10GB",
        "$99.99",
        "mcpServers",
    ] {
        assert!(page.text.contains(needle), "page lacks {needle}");
    }
}

#[tokio::test]
async fn the_newest_revision_works_without_a_handshake() {
    let body = json!({
        "jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {
            "name": "calculate_pricing",
            "arguments": {"services": ["full_membership"]},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"}
            }
        }
    });
    let request = mcp_request("/mcp")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "calculate_pricing")
        .body(Body::from(body.to_string()))
        .unwrap();
    let answer = send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let result = &answer.json()["result"];
    assert_eq!(
        result["structuredContent"]["pricing"]["monthly_recurring"],
        json!(5.5),
        "{result}"
    );
}

async fn post_signed(tool: &str, token: Option<&str>, arguments: Value) -> common::Answer {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
    let mut request = mcp_request("/mcp");
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    send(request.body(Body::from(body.to_string())).unwrap()).await
}

async fn call_signed(tool: &str, token: Option<&str>, arguments: Value) -> Value {
    let answer = post_signed(tool, token, arguments).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()["result"].clone()
}

/// A DOTM access token as the authorization server would sign it (in memory: unsigned).
fn access_token(aud: &str, scope: &str, exp: i64) -> String {
    use dotm::ports::TokenSigner;
    dotm::adapters::memory::MemorySigner
        .sign(&dotm::domain::oauth::AccessClaims {
            iss: "http://127.0.0.1:3000".into(),
            aud: aud.into(),
            sub: "ada".into(),
            email: Some("ada@example.com".into()),
            scope: scope.into(),
            client_id: "dotm-client".into(),
            iat: 1_795_608_000,
            exp,
            jti: "j1".into(),
        })
        .unwrap()
}

fn challenge(answer: &common::Answer) -> String {
    answer.headers[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn esim_tools_without_a_usable_token_answer_401_with_the_resource_metadata() {
    for tool in ["activate_esim", "activation_status"] {
        let answer = post_signed(tool, None, json!({})).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{tool}: {}",
            answer.text
        );
        let c = challenge(&answer);
        assert!(
            c.starts_with(r#"Bearer resource_metadata="http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp""#),
            "{c}"
        );
        assert!(c.contains(r#"scope="esim""#), "{c}");
        assert!(
            answer.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("sign-in required")
        );

        let forged = post_signed(tool, Some("forged"), json!({})).await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
        assert!(challenge(&forged).contains(r#"error="invalid_token""#));

        let other_audience = access_token("https://other.example/mcp", "esim", 1_795_609_000);
        let answer = post_signed(tool, Some(&other_audience), json!({})).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(
            challenge(&answer).contains("another resource"),
            "{}",
            challenge(&answer)
        );

        let expired = access_token("http://127.0.0.1:3000/mcp", "esim", 1_795_607_000);
        let answer = post_signed(tool, Some(&expired), json!({})).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(challenge(&answer).contains("expired"));

        let no_scope = access_token("http://127.0.0.1:3000/mcp", "account", 1_795_609_000);
        let answer = post_signed(tool, Some(&no_scope), json!({})).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert!(challenge(&answer).contains(r#"error="insufficient_scope""#));
    }
    // Public tools need no token.
    let answer = post_signed("compare_memberships", None, json!({})).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_dotm_access_token_acts_for_its_subject() {
    let token = access_token("http://127.0.0.1:3000/mcp", "esim purchases", 1_795_609_000);
    let result = call_signed(
        "activate_esim",
        Some(&token),
        json!({"firebase_uid": "bob"}),
    )
    .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    assert!(
        result["structuredContent"]["invoice_id"]
            .as_str()
            .unwrap()
            .contains("ada"),
        "{result}"
    );
}

#[tokio::test]
async fn the_protected_resource_metadata_names_the_authorization_server() {
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let answer = common::get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        let m = answer.json();
        assert_eq!(m["resource"], "http://127.0.0.1:3000/mcp");
        assert_eq!(m["authorization_servers"], json!(["http://127.0.0.1:3000"]));
        assert_eq!(
            m["scopes_supported"],
            json!(["esim", "purchases", "account"])
        );
    }
}

#[tokio::test]
async fn activate_esim_acts_for_the_token_only() {
    let result = call_signed(
        "activate_esim",
        Some("uid:ada:ada@example.com"),
        json!({"email": "bob@example.com", "firebase_uid": "bob"}),
    )
    .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    let answer = &result["structuredContent"];
    assert_eq!(answer["status"], "payment_required");
    assert!(
        answer["invoice_id"].as_str().unwrap().contains("ada"),
        "{answer}"
    );
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("$1.00")
    );
}

#[tokio::test]
async fn activate_esim_takes_an_area_code_and_refuses_a_bad_one() {
    let ada = Some("uid:ada:ada@example.com");
    let result = call_signed("activate_esim", ada, json!({"area_code": "212"})).await;
    assert_ne!(result["isError"], json!(true), "{result}");
    assert_eq!(result["structuredContent"]["status"], "payment_required");
    for (bad, says) in [
        (
            json!({"area_code": "911"}),
            "not a North American area code",
        ),
        (
            json!({"area_code": 212}),
            "Invalid arguments for activate_esim",
        ),
    ] {
        let result = call_signed("activate_esim", ada, bad.clone()).await;
        assert_eq!(result["isError"], json!(true), "{bad}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(text.contains(says), "{bad}: {text}");
    }
}
