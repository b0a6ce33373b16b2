//! The contracts of the in-chat ports: payment links by token hash, single-use markers, and
//! the usage cache with its once-per-window right to ask the carrier.

use dotm::domain::handoff::{PayLink, PayTarget};
use dotm::domain::usage::{LineUsage, TrackedLine};
use dotm::domain::users::Uid;
use dotm::ports::{HandoffStore, UsageStore};

pub async fn handoff(store: &dyn HandoffStore) {
    let link = PayLink {
        uid: Uid::parse("ada").unwrap(),
        target: PayTarget::Order {
            order_id: "ord_1".into(),
        },
        expires_at: 1_900_000_000,
    };
    assert_eq!(store.pay_link("h1").await.unwrap(), None);
    store.save_pay_link("h1", &link).await.unwrap();
    assert_eq!(store.pay_link("h1").await.unwrap(), Some(link.clone()));
    // A link is written once: a second save under the same hash changes nothing.
    let other = PayLink {
        target: PayTarget::TopUp {
            iccid: "8901".into(),
        },
        ..link.clone()
    };
    store.save_pay_link("h1", &other).await.unwrap();
    assert_eq!(store.pay_link("h1").await.unwrap(), Some(link));

    assert!(!store.used("k").await.unwrap());
    assert!(store.use_once("k", 1_900_000_000).await.unwrap());
    assert!(!store.use_once("k", 1_900_000_000).await.unwrap());
    assert!(store.used("k").await.unwrap());
    assert!(store.use_once("k2", 1_900_000_000).await.unwrap());
}

pub async fn usage(store: &dyn UsageStore) {
    let reading = LineUsage {
        iccid: "8901".into(),
        total_mb: 1024,
        used_mb: 10,
        valid_until: "2027-01-01T00:00:00Z".into(),
        as_of: "2026-12-01T00:00:00Z".into(),
        fetched_at: 1000,
    };
    assert_eq!(store.cached_usage("8901").await.unwrap(), None);
    store.save_usage(&reading).await.unwrap();
    assert_eq!(
        store.cached_usage("8901").await.unwrap(),
        Some(reading.clone())
    );
    let later = LineUsage {
        used_mb: 500,
        fetched_at: 1100,
        ..reading
    };
    store.save_usage(&later).await.unwrap();
    assert_eq!(store.cached_usage("8901").await.unwrap(), Some(later));

    // One asker per window per line; another line is its own.
    assert!(store.claim_usage_fetch("8901", 1000, 60).await.unwrap());
    assert!(!store.claim_usage_fetch("8901", 1000, 60).await.unwrap());
    assert!(!store.claim_usage_fetch("8901", 1059, 60).await.unwrap());
    assert!(store.claim_usage_fetch("8902", 1059, 60).await.unwrap());
    assert!(store.claim_usage_fetch("8901", 1060, 60).await.unwrap());

    assert_eq!(store.tracked_lines().await.unwrap(), vec![]);
    let line = |iccid: &str| TrackedLine {
        uid: Uid::parse("ada").unwrap(),
        iccid: iccid.into(),
    };
    for iccid in ["8902", "8901", "8902"] {
        store.track_line(&line(iccid)).await.unwrap();
    }
    assert_eq!(
        store.tracked_lines().await.unwrap(),
        vec![line("8901"), line("8902")]
    );
}

pub async fn rate_limits(store: &dyn dotm::ports::RateLimitStore) {
    for expected in 1..=3 {
        assert_eq!(
            store.count_request("ip#1", 600, 720).await.unwrap(),
            expected
        );
    }
    // Another client, another window: counted apart.
    assert_eq!(store.count_request("ip#2", 600, 720).await.unwrap(), 1);
    assert_eq!(store.count_request("ip#1", 660, 780).await.unwrap(), 1);
}

/// The redrive's reopening: only a failed activation, once, back to pending from the start.
pub async fn reopen(store: &dyn dotm::ports::ActivationStore) {
    use dotm::domain::activation::{Activation, Status};
    let uid = Uid::parse("ada").unwrap();
    let failed = Activation {
        status: Status::Failed,
        attempts: 5,
        failed_reason: Some("HTTP 503".into()),
        ticket: Some(7),
        slot_ms: Some(1000),
        ..Activation::pending(uid.clone(), "in_r".into(), "t".into())
    };
    store.create_activation(&failed).await.unwrap();
    let reopened = store
        .reopen_activation(&uid, "in_r")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((reopened.status, reopened.attempts), (Status::Pending, 0));
    assert_eq!((reopened.ticket, reopened.slot_ms), (None, None));
    assert!(reopened.failed_reason.is_none() && reopened.queue.is_none());
    assert!(
        store
            .reopen_activation(&uid, "in_r")
            .await
            .unwrap()
            .is_none()
    );
    let active = Activation {
        status: Status::Active,
        ..Activation::pending(uid.clone(), "in_a".into(), "t".into())
    };
    store.create_activation(&active).await.unwrap();
    assert!(
        store
            .reopen_activation(&uid, "in_a")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .activation(&uid, "in_a")
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Active
    );
}
