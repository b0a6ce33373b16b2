//! What every adapter of a port must do, whatever it stores in. Each function takes the port
//! as a trait object and asserts only what the use cases rely on.

use std::sync::Arc;

use dotm::adapters::memory::FixedClock;
use dotm::domain::activation::{Activation, Job, Line, Status};
use dotm::domain::oauth::{CodeGrant, OAuthClient, RefreshGrant};
use dotm::domain::purchases::{OpenInvoice, Purchase};
use dotm::domain::rewards::{RewardStatus, new_member_bonus};
use dotm::domain::throttle::{Reservation, ThrottleConfig};
use dotm::domain::users::{Email, Uid, User};
use dotm::domain::wallet::Wallet;
use dotm::ports::{
    ActivationStore, CreateUserError, JobQueue, OAuthStore, PaymentEventStore, PurchaseStore,
    RewardStore, ThrottleStore, UserStore,
};

fn uid(text: &str) -> Uid {
    Uid::parse(text).unwrap()
}

fn user(id: &str, email: Option<&str>, created_at: &str) -> User {
    User {
        uid: uid(id),
        email: email.map(|e| Email::parse(e).unwrap()),
        contact_email: None,
        created_at: created_at.into(),
        stripe_customer_id: None,
        wallet: None,
        roles: vec![],
        carrier_end_user_id: None,
        area_code: None,
    }
}

pub async fn users(store: &dyn UserStore) {
    assert!(store.user(&uid("ada")).await.unwrap().is_none());
    let ada = user("ada", Some("ada@example.com"), "2026-12-01T00:00:00Z");
    assert_eq!(store.create_user(&ada).await.unwrap(), ada);
    // A racing second creation answers the stored profile, not its own.
    let late = user("ada", Some("ada@example.com"), "2026-12-01T00:00:09Z");
    assert_eq!(
        store.create_user(&late).await.unwrap().created_at,
        ada.created_at
    );
    // One account per email, whatever its case.
    let eve = user("eve", Some("ADA@example.com"), "t");
    assert!(matches!(
        store.create_user(&eve).await,
        Err(CreateUserError::EmailTaken)
    ));
    assert!(
        store.user(&uid("eve")).await.unwrap().is_none(),
        "a refused creation writes nothing"
    );
    // Without an email there is nothing to claim; one verified later is claimed then.
    store
        .create_user(&user("phone-only", None, "t"))
        .await
        .unwrap();
    let ada_email = Email::parse("ada@example.com").unwrap();
    assert!(matches!(
        store.claim_email(&uid("phone-only"), &ada_email).await,
        Err(CreateUserError::EmailTaken)
    ));
    let own = Email::parse("phone@example.com").unwrap();
    let claimed = store.claim_email(&uid("phone-only"), &own).await.unwrap();
    assert_eq!(claimed.email, Some(own.clone()));
    let other = Email::parse("other@example.com").unwrap();
    assert_eq!(
        store
            .claim_email(&uid("phone-only"), &other)
            .await
            .unwrap()
            .email,
        Some(own),
        "a profile's claimed email stays"
    );
    store.create_user(&user("late", None, "t")).await.unwrap();
    assert!(matches!(
        store
            .claim_email(&uid("late"), &Email::parse("PHONE@example.com").unwrap())
            .await,
        Err(CreateUserError::EmailTaken)
    ));
    // The first Stripe customer stays.
    assert_eq!(
        store
            .set_stripe_customer(&uid("ada"), "cus_1")
            .await
            .unwrap(),
        "cus_1"
    );
    assert_eq!(
        store
            .set_stripe_customer(&uid("ada"), "cus_2")
            .await
            .unwrap(),
        "cus_1"
    );
    let wallet = Wallet::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").unwrap();
    store.set_wallet(&uid("ada"), &wallet).await.unwrap();
    let stored = store.user(&uid("ada")).await.unwrap().unwrap();
    assert_eq!(stored.wallet.as_deref(), Some(wallet.to_string().as_str()));
    assert_eq!(stored.stripe_customer_id.as_deref(), Some("cus_1"));
    // The first OXIO end user stays too.
    for (offered, expected) in [("eu-1", "eu-1"), ("eu-2", "eu-1")] {
        assert_eq!(
            store
                .set_carrier_end_user(&uid("ada"), offered)
                .await
                .unwrap(),
            expected
        );
    }
    let stored = store.user(&uid("ada")).await.unwrap().unwrap();
    assert_eq!(stored.carrier_end_user_id.as_deref(), Some("eu-1"));
    // The latest area code wished for.
    store.set_area_code(&uid("ada"), "212").await.unwrap();
    store.set_area_code(&uid("ada"), "646").await.unwrap();
    let stored = store.user(&uid("ada")).await.unwrap().unwrap();
    assert_eq!(stored.area_code.as_deref(), Some("646"));
}

fn purchase(id: &str, paid_at: &str) -> Purchase {
    Purchase {
        uid: uid("ada"),
        purchase_id: id.into(),
        product_id: "esim_beta".into(),
        items: Vec::new(),
        order_id: None,
        amount_cents: 100,
        currency: "usd".into(),
        paid_at: paid_at.into(),
        event_id: format!("evt_{id}"),
    }
}

fn invoice(id: &str) -> OpenInvoice {
    OpenInvoice {
        invoice_id: id.into(),
        hosted_url: format!("https://invoice.example/{id}"),
        product_id: "esim_beta".into(),
        amount_cents: 100,
        currency: "usd".into(),
        created_at: "t".into(),
    }
}

pub async fn purchases(store: &dyn PurchaseStore) {
    let ada = uid("ada");
    assert!(store.purchases(&ada).await.unwrap().is_empty());
    assert!(
        store
            .record_purchase(&purchase("in_1", "2026-12-01T00:00:00Z"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_purchase(&purchase("in_1", "2026-12-01T00:00:05Z"))
            .await
            .unwrap(),
        "a purchase is written once"
    );
    assert!(
        store
            .record_purchase(&purchase("in_2", "2026-12-02T00:00:00Z"))
            .await
            .unwrap()
    );
    let listed: Vec<String> = store
        .purchases(&ada)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.purchase_id)
        .collect();
    assert_eq!(listed, ["in_2", "in_1"], "newest first");
    assert!(store.purchases(&uid("bob")).await.unwrap().is_empty());

    assert!(
        store
            .open_invoice(&ada, "esim_beta")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .save_open_invoice(&ada, &invoice("in_a"))
            .await
            .unwrap()
            .invoice_id,
        "in_a"
    );
    assert_eq!(
        store
            .save_open_invoice(&ada, &invoice("in_b"))
            .await
            .unwrap()
            .invoice_id,
        "in_a",
        "the first open invoice stays"
    );
    store
        .close_open_invoice(&ada, "esim_beta", "in_b")
        .await
        .unwrap();
    assert!(
        store
            .open_invoice(&ada, "esim_beta")
            .await
            .unwrap()
            .is_some(),
        "not that one"
    );
    store
        .close_open_invoice(&ada, "esim_beta", "in_a")
        .await
        .unwrap();
    assert!(
        store
            .open_invoice(&ada, "esim_beta")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn payment_events(store: &dyn PaymentEventStore) {
    assert!(!store.event_seen("evt_1").await.unwrap());
    store.mark_event_seen("evt_1", 1_795_608_000).await.unwrap();
    store.mark_event_seen("evt_1", 1_795_608_001).await.unwrap();
    assert!(store.event_seen("evt_1").await.unwrap());
    assert!(!store.event_seen("evt_2").await.unwrap());
}

fn line() -> Line {
    Line {
        line_id: "line-1".into(),
        phone_number: "+15550100100".into(),
        iccid: "8901000000000000001".into(),
        smdp_address: "smdp.test".into(),
        activation_code: "CODE-1".into(),
    }
}

pub async fn activations(store: &dyn ActivationStore) {
    let (a, b) = (uid("a"), uid("b"));
    let fresh = Activation::pending(a.clone(), "in_a".into(), "t0".into());
    assert_eq!(
        store.create_activation(&fresh).await.unwrap().status,
        Status::Pending
    );
    let twin = Activation::pending(a.clone(), "in_a".into(), "t1".into());
    assert_eq!(
        store.create_activation(&twin).await.unwrap().created_at,
        "t0"
    );
    store
        .create_activation(&Activation::pending(b.clone(), "in_b".into(), "t0".into()))
        .await
        .unwrap();

    let first = Reservation {
        ticket: 7,
        slot_ms: 1_000,
    };
    let queued = store.queue_activation(&a, "in_a", first).await.unwrap();
    assert_eq!(
        (queued.status, queued.reservation()),
        (Status::Queued, Some(first))
    );
    let other = Reservation {
        ticket: 9,
        slot_ms: 2_000,
    };
    assert_eq!(
        store
            .queue_activation(&a, "in_a", other)
            .await
            .unwrap()
            .reservation(),
        Some(first),
        "a job is put in line once"
    );
    store
        .queue_activation(
            &b,
            "in_b",
            Reservation {
                ticket: 8,
                slot_ms: 1_500,
            },
        )
        .await
        .unwrap();
    assert_eq!(store.waiting_jobs().await.unwrap(), 2);
    assert_eq!(store.jobs_ahead(8).await.unwrap(), 1);
    assert_eq!(store.jobs_ahead(7).await.unwrap(), 0);

    // One worker at a time, until its lease ends.
    let claimed = store
        .claim_activation(&a, "in_a", 10_000, 60_000)
        .await
        .unwrap();
    let claimed = claimed.expect("a queued job can be claimed");
    assert_eq!((claimed.status, claimed.attempts), (Status::Activating, 1));
    assert!(
        store
            .claim_activation(&a, "in_a", 20_000, 60_000)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.jobs_ahead(8).await.unwrap(),
        0,
        "a claimed job is out of line"
    );
    // The carrier call is recorded only under the claim that is stored.
    let call = dotm::domain::activation::CarrierCall {
        end_user_id: "eu-1".into(),
        started_at_ms: 10_500,
        lines_before: vec!["line-0".into()],
        area_code_wanted: Some("999".into()),
        area_code_asked: None,
    };
    assert!(
        !store
            .record_carrier_call(&a, "in_a", 1, &call)
            .await
            .unwrap(),
        "not with another claim"
    );
    assert!(
        store
            .record_carrier_call(&a, "in_a", claimed.claimed_until_ms, &call)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .activation(&a, "in_a")
            .await
            .unwrap()
            .unwrap()
            .carrier_call,
        Some(call.clone())
    );
    // A carrier line belongs to one purchase for ever.
    assert!(store.attribute_line("line-9", &a, "in_a").await.unwrap());
    assert!(
        store.attribute_line("line-9", &a, "in_a").await.unwrap(),
        "again: still ours"
    );
    assert!(!store.attribute_line("line-9", &b, "in_b").await.unwrap());
    assert!(
        !store
            .attribute_line("line-9", &a, "in_other")
            .await
            .unwrap()
    );
    assert!(store.attribute_line("line-10", &b, "in_b").await.unwrap());
    // Back in line with a new ETA: no attempt spent.
    store
        .release_activation(&a, "in_a", Some(90_000))
        .await
        .unwrap();
    let back = store.activation(&a, "in_a").await.unwrap().unwrap();
    assert_eq!(
        (back.status, back.slot_ms, back.attempts),
        (Status::Queued, Some(90_000), 0)
    );
    // A crashed worker's lease runs out.
    store
        .claim_activation(&a, "in_a", 100_000, 60_000)
        .await
        .unwrap()
        .unwrap();
    let again = store
        .claim_activation(&a, "in_a", 160_001, 60_000)
        .await
        .unwrap();
    assert_eq!(again.expect("the lease ran out").attempts, 2);

    let done = store
        .complete_activation(&a, "in_a", &line(), "t9")
        .await
        .unwrap();
    assert_eq!(
        (done.status, done.line.clone()),
        (Status::Active, Some(line()))
    );
    let other_line = Line {
        activation_code: "CODE-2".into(),
        ..line()
    };
    let kept = store
        .complete_activation(&a, "in_a", &other_line, "t10")
        .await
        .unwrap();
    assert_eq!(kept.line, Some(line()), "an active line is never replaced");
    store
        .fail_activation(&a, "in_a", "late failure")
        .await
        .unwrap();
    assert_eq!(
        store.activation(&a, "in_a").await.unwrap().unwrap().status,
        Status::Active,
        "an active line is never failed"
    );
    assert!(
        store
            .claim_activation(&a, "in_a", 500_000, 60_000)
            .await
            .unwrap()
            .is_none()
    );
    store.mark_emailed(&a, "in_a").await.unwrap();
    assert!(store.activation(&a, "in_a").await.unwrap().unwrap().emailed);

    store.fail_activation(&b, "in_b", "refused").await.unwrap();
    let failed = store.activation(&b, "in_b").await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.failed_reason.as_deref()),
        (Status::Failed, Some("refused"))
    );
    assert_eq!(store.waiting_jobs().await.unwrap(), 0);
    assert_eq!(store.activations(&a).await.unwrap().len(), 1);
}

const LIMITS: ThrottleConfig = ThrottleConfig {
    limit: 3,
    window_ms: 10_000,
};

pub async fn throttle(store: &dyn ThrottleStore) {
    let mut slots = Vec::new();
    for _ in 0..4 {
        slots.push(store.reserve_slot(&LIMITS, 1_000).await.unwrap());
    }
    assert!(
        slots[..3]
            .iter()
            .all(|r| r.slot_ms < 1_000 + LIMITS.window_ms),
        "room in the window: {slots:?}"
    );
    assert!(
        slots[3].slot_ms >= slots[0].slot_ms + LIMITS.window_ms,
        "the fourth waits for the first to leave the window: {slots:?}"
    );
    assert!(
        slots
            .windows(2)
            .all(|w| w[1].ticket == w[0].ticket + 1 && w[1].slot_ms >= w[0].slot_ms)
    );

    let clock = FixedClock::at(1_795_608_000);
    for used in 1..=3 {
        let permit = store
            .take_permit(&LIMITS, used.into(), &clock)
            .await
            .unwrap();
        assert_eq!(permit.map(|p| p.used), Ok(used));
    }
    let refused = store
        .take_permit(&LIMITS, 4, &clock)
        .await
        .unwrap()
        .unwrap_err();
    assert!(refused.0 >= clock.0.load(std::sync::atomic::Ordering::SeqCst) + LIMITS.window_ms);
    let state = store.throttle().await.unwrap();
    assert_eq!(state.starts.len(), 3, "a refusal starts nothing");
    assert_eq!(
        state
            .held
            .iter()
            .map(|h| (h.ticket, h.at))
            .collect::<Vec<_>>(),
        vec![(4, refused.0)],
        "a refusal is held"
    );
    let again = store.take_permit(&LIMITS, 4, &clock).await.unwrap();
    assert_eq!(again, Err(refused), "asking again changes nothing");
    assert_eq!(store.throttle().await.unwrap().version, state.version);
    // Back when told, permits are free, but a later ticket waits while 4 holds; then goes.
    clock.advance_ms(refused.0 - clock.0.load(std::sync::atomic::Ordering::SeqCst));
    assert!(
        store
            .take_permit(&LIMITS, 5, &clock)
            .await
            .unwrap()
            .is_err()
    );
    assert!(store.take_permit(&LIMITS, 4, &clock).await.unwrap().is_ok());
    assert!(store.take_permit(&LIMITS, 5, &clock).await.unwrap().is_ok());
    assert!(
        store
            .throttle()
            .await
            .unwrap()
            .held
            .iter()
            .all(|h| h.ticket != 4)
    );
}

/// Ten workers at once, three permits: exactly three are granted.
pub async fn throttle_concurrent(store: Arc<dyn ThrottleStore>) {
    let clock = Arc::new(FixedClock::at(1_795_608_000));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (store, clock) = (store.clone(), clock.clone());
            tokio::spawn(async move { store.take_permit(&LIMITS, 1, clock.as_ref()).await })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_ok() {
            granted += 1;
        }
    }
    assert_eq!(granted, 3);
    assert_eq!(store.throttle().await.unwrap().starts.len(), 3);
}

pub async fn rewards(store: &dyn RewardStore) {
    let bonus = new_member_bonus(&uid("ada"), "t");
    assert!(store.credit(&bonus).await.unwrap());
    assert!(!store.credit(&bonus).await.unwrap(), "credited once");
    assert!(store.rewards(&uid("bob")).await.unwrap().is_empty());
    store
        .settle(&bonus, RewardStatus::Minted, Some("0xabc"), None)
        .await
        .unwrap();
    store
        .settle(&bonus, RewardStatus::Refused, None, Some("late"))
        .await
        .unwrap();
    let stored = store.rewards(&uid("ada")).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].status, stored[0].tx_hash.as_deref()),
        (RewardStatus::Minted, Some("0xabc")),
        "only a pending reward is settled"
    );

    assert!(store.acquire_minter("w1", 1_000, 60_000).await.unwrap());
    assert!(
        !store.acquire_minter("w2", 2_000, 60_000).await.unwrap(),
        "held"
    );
    assert!(
        store.acquire_minter("w1", 3_000, 60_000).await.unwrap(),
        "renewed by its holder"
    );
    assert!(
        store.acquire_minter("w2", 63_001, 60_000).await.unwrap(),
        "ran out"
    );
    store.release_minter("w1").await.unwrap();
    assert!(
        !store.acquire_minter("w3", 64_000, 60_000).await.unwrap(),
        "not w1's to free"
    );
    store.release_minter("w2").await.unwrap();
    assert!(store.acquire_minter("w3", 64_000, 60_000).await.unwrap());

    let wallet = Wallet::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").unwrap();
    let same = Wallet::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").unwrap();
    assert!(
        store
            .claim_wallet_bonus(&wallet, &uid("ada"))
            .await
            .unwrap()
    );
    assert!(
        store.claim_wallet_bonus(&same, &uid("ada")).await.unwrap(),
        "still ada's"
    );
    assert!(
        !store.claim_wallet_bonus(&same, &uid("bob")).await.unwrap(),
        "one per wallet"
    );
}

pub async fn queue(queue: &dyn JobQueue) {
    let job = Job {
        purchase_id: "in_1".into(),
        uid: uid("ada"),
        ticket: 1,
        slot_ms: 0,
        attempts: 0,
        watch: false,
    };
    queue.send(&job, 0).await.unwrap();
    queue.send(&job, 900).await.unwrap();
    queue.send_mint(&uid("ada")).await.unwrap();
    assert_eq!(queue.dead_letters().await.unwrap(), 0);
    queue.dead_letter(&job, "refused 5 times").await.unwrap();
    queue
        .dead_letter(
            &Job {
                attempts: 5,
                ..job.clone()
            },
            "again",
        )
        .await
        .unwrap();
    assert_eq!(queue.dead_letters().await.unwrap(), 2);
}

pub async fn oauth(store: &dyn OAuthStore) {
    let client = OAuthClient {
        client_id: "dotm-c1".into(),
        client_name: "Claude".into(),
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        created_at: 1,
    };
    assert!(store.client("dotm-c1").await.unwrap().is_none());
    store.register_client(&client).await.unwrap();
    assert_eq!(store.client("dotm-c1").await.unwrap(), Some(client.clone()));
    assert!(
        store.register_client(&client).await.is_err(),
        "an id is registered once"
    );

    let code = CodeGrant {
        client_id: "dotm-c1".into(),
        redirect_uri: "http://127.0.0.1/callback".into(),
        code_challenge: "c".repeat(43),
        scopes: vec!["esim".into()],
        resource: "https://dotm.example/mcp".into(),
        uid: "ada".into(),
        email: None,
        expires_at: 4_000_000_000,
    };
    store.save_code("h1", &code).await.unwrap();
    assert_eq!(store.code("h1").await.unwrap(), Some(code));
    assert!(store.take_code("h1").await.unwrap());
    assert!(
        !store.take_code("h1").await.unwrap(),
        "a code is taken once"
    );
    assert!(store.code("h1").await.unwrap().is_none());

    let refresh = RefreshGrant {
        family: "f1".into(),
        client_id: "dotm-c1".into(),
        scopes: vec!["esim".into()],
        resource: "https://dotm.example/mcp".into(),
        uid: "ada".into(),
        email: Some("ada@example.com".into()),
        used: false,
        expires_at: 4_000_000_000,
    };
    store.save_refresh("r1", &refresh).await.unwrap();
    assert!(store.use_refresh("r1").await.unwrap());
    assert!(!store.use_refresh("r1").await.unwrap(), "used once");
    assert!(!store.use_refresh("unknown").await.unwrap());
    assert!(store.refresh("r1").await.unwrap().unwrap().used);
    assert!(!store.family_revoked("f1").await.unwrap());
    store.revoke_family("f1", 10).await.unwrap();
    store.revoke_family("f1", 11).await.unwrap();
    assert!(store.family_revoked("f1").await.unwrap());
}
