//! Sign-in, the $1 eSIM invoice and purchases through the API, with in-memory ports.

mod common;

use std::sync::atomic::Ordering;

use axum::http::{StatusCode, header};
use common::api;

const ADA: &str = "uid:ada:ada@example.com";

#[tokio::test]
async fn without_a_token_it_is_401_with_a_challenge() {
    let api = api();
    for (method, path) in [
        ("GET", "/api/me"),
        ("GET", "/api/user-purchases"),
        ("POST", "/api/esim/activate"),
    ] {
        let answer = api.call(method, path, None, "").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(answer.content_type, "application/problem+json");
        assert!(
            answer.headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        let answer = api.call(method, path, Some("garbage"), "").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            answer.headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
}

#[tokio::test]
async fn reading_me_writes_nothing_and_registering_creates_the_user_once() {
    let api = api();
    let seen = api.call("GET", "/api/me", Some(ADA), "").await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.body["uid"], "ada");
    assert_eq!(seen.body["email"], "ada@example.com");
    assert_eq!(seen.body["registered"], false);
    assert_eq!(seen.body["created_at"], serde_json::Value::Null);
    let rewards = api.call("GET", "/api/rewards", Some(ADA), "").await;
    assert_eq!(rewards.body["pending"], serde_json::json!([]));
    assert_eq!(
        api.call("GET", "/api/me", Some(ADA), "").await.body["registered"],
        false,
        "GETs created nobody"
    );

    let first = api.call("POST", "/api/me", Some(ADA), "").await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.body["registered"], true);
    let second = api.call("POST", "/api/me", Some(ADA), "").await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["created_at"], first.body["created_at"]);
    let me = api.call("GET", "/api/me", Some(ADA), "").await;
    assert_eq!(me.body["created_at"], first.body["created_at"]);
}

#[tokio::test]
async fn activate_asks_for_payment_once() {
    let api = api();
    let answer = api.call("POST", "/api/esim/activate", Some(ADA), "").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["status"], "payment_required");
    assert_eq!(answer.body["amount"], serde_json::json!(1.0));
    assert_eq!(answer.body["amount_cents"], 100);
    let again = api.call("POST", "/api/esim/activate", Some(ADA), "").await;
    assert_eq!(again.body["invoice_id"], answer.body["invoice_id"]);
    assert_eq!(api.world.invoicing.invoice_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn arguments_never_choose_the_user() {
    let api = api();
    let body = r#"{"firebase_uid": "bob", "email": "bob@example.com"}"#;
    let answer = api
        .call("POST", "/api/esim/activate", Some(ADA), body)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body["invoice_id"].as_str().unwrap().contains("ada"));
    let bob = api
        .call("GET", "/api/me", Some("uid:bob:bob@example.com"), "")
        .await;
    assert_eq!(bob.body["stripe_customer_id"], serde_json::Value::Null);
}

#[tokio::test]
async fn no_email_and_a_taken_email_are_clear_problems() {
    let api = api();
    let answer = api
        .call("POST", "/api/esim/activate", Some("uid:phone-only"), "")
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["type"], "urn:dotm:problem:no-email");
    api.call("POST", "/api/me", Some(ADA), "").await;
    let answer = api
        .call("POST", "/api/me", Some("uid:eve:ada@example.com"), "")
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(answer.body["type"], "urn:dotm:problem:email-taken");
}

#[tokio::test]
async fn purchases_start_empty() {
    let api = api();
    let answer = api.call("GET", "/api/user-purchases", Some(ADA), "").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        serde_json::json!({"success": true, "purchases": []})
    );
    assert_eq!(api.world.purchases.purchase_count(), 0);
}

#[tokio::test]
async fn after_payment_activate_answers_queued_then_active_with_the_line() {
    let api = api();
    api.call("POST", "/api/esim/activate", Some(ADA), "").await;
    pay(&api).await;
    let answer = api.call("POST", "/api/esim/activate", Some(ADA), "").await;
    assert_eq!(answer.body["status"], "queued", "{}", answer.body);
    assert_eq!(answer.body["position"], 1);

    run_worker(&api).await;
    let answer = api.call("POST", "/api/esim/activate", Some(ADA), "").await;
    assert_eq!(answer.body["status"], "active", "{}", answer.body);
    assert_eq!(answer.body["lpa_code"], "LPA:1$smdp.test$CODE-1");
    let numbers = api
        .call("GET", "/api/user-phone-numbers", Some(ADA), "")
        .await;
    assert_eq!(numbers.body["success"], true);
    let line = &numbers.body["phone_numbers"][0];
    assert_eq!(line["phone_number"], answer.body["phone_number"]);
    assert!(
        line["qr_code"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    let bob = api
        .call(
            "GET",
            "/api/user-phone-numbers",
            Some("uid:bob:bob@example.com"),
            "",
        )
        .await;
    assert_eq!(bob.body["phone_numbers"], serde_json::json!([]));
}

#[tokio::test]
async fn stats_are_public_and_count_the_line() {
    let api = api();
    let stats = api.call("GET", "/api/activation-stats", None, "").await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(stats.body["max_per_hour"], 5);
    assert_eq!(stats.body["current_hour_activations"], 0);
    assert_eq!(stats.body["slots_available"], 5);
    assert_eq!(stats.body["queue_length"], 0);
    let deps = api.world.deps();
    for i in 0..3 {
        let event = dotm::adapters::memory::paid_event(
            &deps,
            &format!("evt_{i}"),
            &format!("in_{i}"),
            &format!("u{i}"),
        )
        .await;
        dotm::app::payments::apply_event(&deps, &event, 0)
            .await
            .unwrap();
    }
    // The answer of the last 5 s stands (a public endpoint should not query on every hit).
    let cached = api.call("GET", "/api/activation-stats", None, "").await;
    assert_eq!(cached.body["queue_length"], 0);
    assert_eq!(cached.headers["cache-control"], "public, max-age=5");
    api.world.clock.advance_ms(5_000);
    let stats = api.call("GET", "/api/activation-stats", None, "").await;
    assert_eq!(stats.body["queue_length"], 3);
}

#[tokio::test]
async fn a_wallet_is_checked_normalised_and_rewards_listed() {
    let api = api();
    let lower = r#"{"wallet": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}"#;
    let answer = api.call("PUT", "/api/wallet", Some(ADA), lower).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.body["wallet"],
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    );
    for (body, kind) in [
        (
            r#"{"wallet": "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}"#,
            "invalid-wallet",
        ),
        (r#"{"wallet": "vitalik.eth"}"#, "invalid-wallet"),
        (
            r#"{"address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}"#,
            "invalid-body",
        ),
        ("not json", "invalid-body"),
    ] {
        let answer = api.call("PUT", "/api/wallet", Some(ADA), body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            answer.body["type"],
            format!("urn:dotm:problem:{kind}"),
            "{body}"
        );
    }
    let rewards = api.call("GET", "/api/rewards", Some(ADA), "").await;
    assert_eq!(rewards.status, StatusCode::OK);
    assert_eq!(
        rewards.body["wallet"],
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    );
    assert_eq!(
        rewards.body["pending"],
        serde_json::json!([]),
        "the new-member bonus comes with the first paid purchase"
    );
    assert_eq!(rewards.body["balance"], "0");
    let anonymous = api
        .call("PUT", "/api/wallet", Some("anonymous:anon"), lower)
        .await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
    assert_eq!(anonymous.body["type"], "urn:dotm:problem:anonymous");
}

/// Stripe says ada's $1 invoice is paid.
async fn pay(api: &common::TestApi) {
    let deps = api.world.deps();
    dotm::app::payments::apply_event(
        &deps,
        &dotm::adapters::memory::paid_event(&deps, "evt_1", "in_ada-esim_beta", "ada").await,
        0,
    )
    .await
    .unwrap();
}

/// The worker takes the last job sent.
async fn run_worker(api: &common::TestApi) {
    let (job, _) = api.world.queue.sent.lock().unwrap().pop().unwrap();
    dotm::app::activation_worker::process(&api.world.worker(), &job)
        .await
        .unwrap();
}

/// Pays ada's invoice and runs the worker on her job; her activation answer after it.
async fn pay_and_activate(api: &common::TestApi) -> serde_json::Value {
    pay(api).await;
    run_worker(api).await;
    api.call("POST", "/api/esim/activate", Some(ADA), "")
        .await
        .body
}

#[tokio::test]
async fn an_area_code_the_carrier_offers_gives_a_number_in_it() {
    let api = api();
    let asked = api
        .call(
            "POST",
            "/api/esim/activate",
            Some(ADA),
            r#"{"area_code": "415"}"#,
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.body["status"], "payment_required");
    let active = pay_and_activate(&api).await;
    assert_eq!(active["status"], "active", "{active}");
    let number = active["phone_number"].as_str().unwrap();
    assert!(number.starts_with("+1415"), "{number}");
    assert!(!active["message"].as_str().unwrap().contains("no numbers"));
}

#[tokio::test]
async fn an_area_code_the_carrier_does_not_offer_is_said_and_the_carrier_picks() {
    let api = api();
    api.call(
        "POST",
        "/api/esim/activate",
        Some(ADA),
        r#"{"area_code": "907"}"#,
    )
    .await;
    let active = pay_and_activate(&api).await;
    assert_eq!(active["status"], "active", "{active}");
    assert!(
        !active["phone_number"]
            .as_str()
            .unwrap()
            .starts_with("+1907")
    );
    let message = active["message"].as_str().unwrap();
    assert!(message.contains("no numbers in area code 907"), "{message}");
}

#[tokio::test]
async fn a_bad_area_code_or_body_is_a_clear_problem_and_writes_nothing() {
    let api = api();
    for (body, kind, says) in [
        (r#"{"area_code": "911"}"#, "bad-area-code", "911"),
        (
            r#"{"area_code": "12"}"#,
            "bad-area-code",
            "North American area code",
        ),
        (r#"{"area_code": 212}"#, "invalid-body", "area_code"),
        ("not json", "invalid-body", "area_code"),
    ] {
        let answer = api
            .call("POST", "/api/esim/activate", Some(ADA), body)
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.content_type, "application/problem+json");
        assert_eq!(
            answer.body["type"],
            format!("urn:dotm:problem:{kind}"),
            "{body}"
        );
        assert!(
            answer.body["detail"].as_str().unwrap().contains(says),
            "{body}: {}",
            answer.body
        );
    }
    assert_eq!(api.world.invoicing.invoice_calls.load(Ordering::SeqCst), 0);
}
