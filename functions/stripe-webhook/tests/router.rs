//! The webhook in-process with an in-memory store: what is written for each kind of request.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dotm::adapters::memory::MemoryWorld;
use dotm::web::stripe_signature::{WebhookSecret, verify_signature};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use sha2::Sha256;
use tower::ServiceExt;

const SECRET: &str = "whsec_test";
const NOW: i64 = 1_795_608_000;

fn event(id: &str) -> String {
    serde_json::json!({
        "id": id, "object": "event", "type": "invoice.paid",
        "data": {"object": {
            "id": "in_1", "object": "invoice", "customer": "cus_ada", "amount_paid": 100,
            "currency": "usd", "created": NOW,
            "status_transitions": {"paid_at": NOW},
            "metadata": {"firebase_uid": "ada", "product": "esim_beta"}
        }}
    })
    .to_string()
}

fn sign(t: i64, body: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post(
    world: &MemoryWorld,
    body: &str,
    signature: Option<String>,
) -> (StatusCode, serde_json::Value) {
    let router = stripe_webhook::router(dotm::wiring::WebhookPorts {
        deps: world.deps(),
        signing_secret: WebhookSecret::parse(SECRET).unwrap(),
    });
    let mut request = Request::post("/webhooks/stripe").header("content-type", "application/json");
    if let Some(s) = signature {
        request = request.header("stripe-signature", s);
    }
    let response = router
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn a_signed_event_records_one_purchase_even_twice() {
    let world = MemoryWorld::new();
    // The claim DOTM wrote when it made in_1 for ada.
    let _ = dotm::adapters::memory::paid_event(&world.deps(), "evt_0", "in_1", "ada").await;
    let body = event("evt_1");
    let (status, answer) = post(&world, &body, Some(sign(NOW, &body, SECRET))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["outcome"], "recorded");
    assert_eq!(
        world.queue.sent.lock().unwrap().len(),
        1,
        "the activation is queued at once"
    );
    let (status, answer) = post(&world, &body, Some(sign(NOW, &body, SECRET))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["outcome"], "duplicate");
    assert_eq!(world.purchases.purchase_count(), 1);
}

#[tokio::test]
async fn unsigned_forged_tampered_and_stale_requests_write_nothing() {
    let world = MemoryWorld::new();
    let body = event("evt_2");
    let tampered = body.replace("\"amount_paid\":100", "\"amount_paid\":1");
    for (label, body, signature) in [
        ("missing", body.clone(), None),
        (
            "forged",
            body.clone(),
            Some(sign(NOW, &body, "whsec_guess")),
        ),
        ("tampered", tampered.clone(), Some(sign(NOW, &body, SECRET))),
        ("stale", body.clone(), Some(sign(NOW - 301, &body, SECRET))),
    ] {
        let (status, answer) = post(&world, &body, signature).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{label}");
        assert_eq!(answer["type"], "urn:dotm:problem:bad-signature", "{label}");
    }
    assert_eq!(world.purchases.purchase_count(), 0);
}

#[tokio::test]
async fn a_signed_body_that_is_no_event_is_a_400() {
    let world = MemoryWorld::new();
    let body = "{\"hello\":1}";
    let (status, answer) = post(&world, body, Some(sign(NOW, body, SECRET))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["type"], "urn:dotm:problem:malformed-event");
}

/// The sample event in `events/`, decoded as the runtime decodes it: signed with the local
/// secret, so it verifies; from 2026-11-25, so it is refused as stale at any later time.
#[tokio::test]
async fn the_sample_event_verifies_with_the_local_secret_and_ages_out() {
    let path = format!(
        "{}/../../events/stripe-invoice-paid.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let sample: serde_json::Value = serde_json::from_str(&text).unwrap();
    let signature = sample["headers"]["stripe-signature"].as_str().unwrap();
    let body = sample["body"].as_str().unwrap();
    assert_eq!(
        verify_signature(
            body.as_bytes(),
            Some(signature),
            &WebhookSecret::parse("whsec_local").unwrap(),
            NOW
        ),
        Ok(())
    );

    let request = lambda_http::request::from_str(&text).unwrap();
    let world = MemoryWorld::new();
    world.clock.advance_ms(3_600_000);
    let router = stripe_webhook::router(dotm::wiring::WebhookPorts {
        deps: world.deps(),
        signing_secret: WebhookSecret::parse("whsec_local").unwrap(),
    });
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(world.purchases.purchase_count(), 0);
}
