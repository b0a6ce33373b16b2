//! The carrier port's contract, for the in-memory fake and for the OXIO adapter on the provider
//! sandbox (OXIO-shaped and strict): one end user per email, a new line on every call (there is
//! no idempotency key), lines found again by listing, errors by kind. And the exact requests the
//! adapter sends, against the shapes in ../shared/REFERENCES.md ("OXIO").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dotm::adapters::carrier::{OxioCarrier, OxioCredentials};
use dotm::adapters::memory::MemoryCarrier;
use dotm::config::CarrierSettings;
use dotm::domain::users::Email;
use dotm::ports::{Carrier, CarrierError, LinePlan, LineRequest, NewEndUser};

use crate::recording::recording_server;

fn unique_email(tag: &str) -> Email {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Email::parse(&format!(
        "{tag}-{}-{nanos}@contract.example",
        std::process::id()
    ))
    .unwrap()
}

fn person(email: &Email) -> NewEndUser {
    NewEndUser {
        first_name: "DOTM".into(),
        last_name: "Customer".into(),
        email: Some(email.clone()),
    }
}

/// What every carrier adapter does.
pub async fn carrier(c: &dyn Carrier) {
    // Onboarding: found by email, made once.
    let email = unique_email("onboard");
    assert_eq!(c.find_end_user(&email).await.unwrap(), None);
    let id = c.create_end_user(&person(&email)).await.unwrap();
    assert!(!id.is_empty());
    assert!(matches!(
        c.create_end_user(&person(&email)).await,
        Err(CarrierError::AlreadyExists)
    ));
    assert_eq!(c.find_end_user(&email).await.unwrap(), Some(id.clone()));

    // Lines: none, then one per call, each listed with what the phone needs.
    assert!(c.lines(&id).await.unwrap().is_empty());
    let request = LineRequest {
        end_user_id: id.clone(),
        plan: LinePlan::Esim,
        area_code: None,
    };
    let first = c.make_line(&request).await.unwrap();
    let line = &first.line;
    assert!(!line.line_id.is_empty());
    assert!(line.iccid.starts_with("89"), "{}", line.iccid);
    assert!(line.phone_number.starts_with("+1"), "{}", line.phone_number);
    line.code().expect("a code a phone accepts");
    let second = c.make_line(&request).await.unwrap();
    assert_ne!(
        first.line.line_id, second.line.line_id,
        "no idempotency key: every call makes a line"
    );
    let listed: Vec<String> = c
        .lines(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line.line_id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&first.line.line_id) && listed.contains(&second.line.line_id));
    let found = c
        .lines(&id)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.line.line_id == first.line.line_id)
        .unwrap();
    assert_eq!(found.line, first.line, "listed as made");

    // Numbers: in an area code the carrier offers.
    let codes = c.area_codes().await.unwrap();
    assert!(!codes.is_empty());
    let area = codes[0].clone();
    let beta = c
        .make_line(&LineRequest {
            area_code: Some(area.clone()),
            plan: LinePlan::Beta,
            ..request.clone()
        })
        .await
        .unwrap();
    assert!(
        beta.line.phone_number.starts_with(&format!("+1{area}")),
        "{} in {area}",
        beta.line.phone_number
    );

    // Errors by kind: a refusal is final.
    assert!(matches!(
        c.lines("no-such-end-user").await,
        Err(CarrierError::Refused(_))
    ));
    assert!(matches!(
        c.make_line(&LineRequest {
            end_user_id: "no-such-end-user".into(),
            ..request
        })
        .await,
        Err(CarrierError::Refused(_))
    ));
}

#[tokio::test]
async fn memory_carrier() {
    carrier(&MemoryCarrier::default()).await;
}

#[tokio::test]
async fn memory_carrier_finds_a_line_whose_answer_was_lost() {
    let c = MemoryCarrier::default();
    lost_answer(&c, async |_: &Email| {
        c.lose_answers.store(1, std::sync::atomic::Ordering::SeqCst)
    })
    .await;
}

/// A call whose answer is lost (`arm` makes the next call for that email lose it) still made
/// its line, and listing finds it, however late the carrier finishes it.
async fn lost_answer(c: &dyn Carrier, arm: impl AsyncFnOnce(&Email)) {
    let email = unique_email("lost");
    let id = c.create_end_user(&person(&email)).await.unwrap();
    arm(&email).await;
    let made = c
        .make_line(&LineRequest {
            end_user_id: id.clone(),
            plan: LinePlan::Esim,
            area_code: None,
        })
        .await;
    assert!(matches!(made, Err(CarrierError::Failed(_))), "{made:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let listed = c.lines(&id).await.unwrap().len();
        if listed == 1 || std::time::Instant::now() > deadline {
            assert_eq!(listed, 1, "the line was made");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------------------- the sandbox (make test)

fn sandbox_url() -> String {
    std::env::var("DOTM_SANDBOX_URL")
        .expect("DOTM_SANDBOX_URL must name the provider sandbox (make test sets it)")
}

fn settings() -> CarrierSettings {
    CarrierSettings {
        brand_id: std::env::var("OXIO_BRAND_ID").ok(),
        esim_plan_id: std::env::var("OXIO_ESIM_PLAN_ID").ok(),
        beta_plan_id: std::env::var("OXIO_BETA_PLAN_ID").ok(),
        booster_plan_id: std::env::var("OXIO_BOOSTER_PLAN_ID").ok(),
    }
}

fn credentials() -> OxioCredentials {
    OxioCredentials {
        api_key: std::env::var("OXIO_API_KEY").unwrap_or_else(|_| "oxio_test_local".into()),
        auth_token: std::env::var("OXIO_AUTH_TOKEN").unwrap_or_else(|_| "oxio_token_local".into()),
    }
}

fn oxio(timeout: Duration) -> OxioCarrier {
    OxioCarrier::with_timeout(
        &sandbox_url(),
        credentials(),
        settings(),
        Duration::from_secs(2),
        timeout,
    )
    .unwrap()
}

#[tokio::test]
#[ignore = "needs the provider sandbox: make test runs it with --ignored"]
async fn oxio_carrier_on_the_sandbox() {
    carrier(&oxio(Duration::from_secs(10))).await;
}

#[tokio::test]
#[ignore = "needs the provider sandbox: make test runs it with --ignored"]
async fn oxio_carrier_finds_a_line_whose_answer_was_lost() {
    // The sandbox makes the line after 1.5 s; the client gives up at 0.3 s.
    lost_answer(&oxio(Duration::from_millis(300)), async |email: &Email| {
        let armed = reqwest::Client::new()
            .post(format!("{}/__sandbox/carrier/faults", sandbox_url()))
            .json(&serde_json::json!({
                "fail_next": 1, "status": null, "delay_ms": 1500, "emails": [email.as_str()]
            }))
            .send()
            .await
            .unwrap();
        assert!(armed.status().is_success());
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the provider sandbox: make test runs it with --ignored"]
async fn oxio_carrier_with_wrong_credentials_is_refused() {
    let c = OxioCarrier::new(
        &sandbox_url(),
        OxioCredentials {
            api_key: "wrong".into(),
            auth_token: "wrong".into(),
        },
        settings(),
        Duration::from_secs(2),
    )
    .unwrap();
    let refused = c.find_end_user(&unique_email("auth")).await;
    assert!(
        matches!(&refused, Err(CarrierError::Refused(why)) if why.contains("401")),
        "{refused:?}"
    );
}

// ------------------------------------------------- the exact requests, on a recording server

#[tokio::test]
async fn a_booster_is_oxios_unconfirmed_subscription_and_the_rest_is_not_supported() {
    use dotm::adapters::carrier::OxioLineServices;
    use dotm::ports::{LineRef, LineServices};
    let (url, seen) = recording_server().await;
    let carrier = |booster: Option<&str>| {
        std::sync::Arc::new(
            OxioCarrier::new(
                &url,
                OxioCredentials {
                    api_key: "key".into(),
                    auth_token: "token".into(),
                },
                CarrierSettings {
                    booster_plan_id: booster.map(str::to_owned),
                    ..CarrierSettings::default()
                },
                Duration::from_secs(2),
            )
            .unwrap(),
        )
    };
    let services = OxioLineServices {
        carrier: carrier(Some("plan-booster")),
    };
    let line = LineRef {
        iccid: "8901260000000000019".into(),
        end_user_id: "eu-9".into(),
    };
    assert!(
        !services.top_ups_idempotent(),
        "OXIO has no idempotency key"
    );
    services
        .top_up(&line, "in_1-global_data_10gb-1", 10_240)
        .await
        .unwrap();
    let sent = seen.lock().unwrap().clone();
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path_and_query.as_str()),
        ("POST", "/v3/subscriptions")
    );
    assert_eq!(
        sent[0].body,
        serde_json::json!({"endUserId": "eu-9", "planId": "plan-booster"})
    );
    for unsupported in [
        services.set_feature(&line, "vpn_access", true).await,
        services
            .reverse_top_up(&line, "in_1-global_data_10gb-1")
            .await,
        services.usage(&line.iccid).await.map(|_| ()),
        OxioLineServices {
            carrier: carrier(None),
        }
        .top_up(&line, "r", 10_240)
        .await,
    ] {
        assert!(
            matches!(unsupported, Err(CarrierError::NotSupported(_))),
            "{unsupported:?}"
        );
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "nothing sent for what OXIO lacks"
    );
}

#[tokio::test]
async fn the_adapter_sends_oxios_requests() {
    let (url, seen) = recording_server().await;
    let c = OxioCarrier::new(
        &url,
        OxioCredentials {
            api_key: "key".into(),
            auth_token: "token".into(),
        },
        CarrierSettings {
            brand_id: Some("6f1c0d2e-8a4b-4c3d-9e5f-0d07a1b2c3d4".into()),
            esim_plan_id: Some("plan-esim".into()),
            beta_plan_id: Some("plan-beta".into()),
            booster_plan_id: None,
        },
        Duration::from_secs(2),
    )
    .unwrap();
    let ada = Email::parse("ada@example.com").unwrap();
    assert_eq!(
        c.find_end_user(&ada).await.unwrap().as_deref(),
        Some("eu-9")
    );
    assert_eq!(c.create_end_user(&person(&ada)).await.unwrap(), "eu-9");
    let made = c
        .make_line(&LineRequest {
            end_user_id: "eu-9".into(),
            plan: LinePlan::Beta,
            area_code: Some("212".into()),
        })
        .await
        .unwrap();
    assert_eq!(made.line.line_id, "l-1");
    assert_eq!(made.line.phone_number, "+12125550123");
    assert_eq!(made.line.iccid, "8901260000000000019");
    assert_eq!(made.line.lpa(), "LPA:1$smdp.oxio.example$OX-ABC-123");
    assert_eq!(c.lines("eu-9").await.unwrap(), vec![made]);
    assert_eq!(c.area_codes().await.unwrap(), vec!["212", "646"]);

    let seen = seen.lock().unwrap().clone();
    // base64("key:token")
    let basic = "Basic a2V5OnRva2Vu";
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(basic)),
        "{seen:?}"
    );
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path_and_query.as_str()))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("GET", "/v2/end-users?email=ada%40example.com"),
            ("POST", "/v2/end-users"),
            ("POST", "/v3/lines/line"),
            ("GET", "/v3/end-users/eu-9/lines"),
            (
                "GET",
                "/v3/phone-numbers/available-area-codes?countryCode=US"
            ),
        ]
    );
    assert_eq!(
        seen[1].body,
        serde_json::json!({
            "sex": "UNSPECIFIED", "firstName": "DOTM", "lastName": "Customer",
            "email": "ada@example.com"
        })
    );
    assert_eq!(
        seen[2].body,
        serde_json::json!({
            "lineType": "LINE_TYPE_MOBILITY",
            "countryCode": "US",
            "sim": {"simType": "EMBEDDED"},
            "endUser": {"brandId": "6f1c0d2e-8a4b-4c3d-9e5f-0d07a1b2c3d4", "endUserId": "eu-9"},
            "planId": "plan-beta",
            "phoneNumberRequirements": {"preferredAreaCode": "212"},
            "activateOnAttach": false
        })
    );
}
