//! The commerce ports' contracts: orders and their request keys, claims (the webhook's match),
//! charges, unmatched payments, subscriptions, entitlements.

use dotm::domain::entitlements::{Entitlement, Grant, MEMBER};
use dotm::domain::orders::{
    CardStatus, Cart, ClaimState, HeldTakeback, InvoiceRef, ItemRequest, Order, OrderPayment,
    OrderStatus, PaymentClaim, Pays, Takeback, UnmatchedPayment,
};
use dotm::domain::subscriptions::{Subscription, SubscriptionStatus};
use dotm::domain::users::Uid;
use dotm::ports::{EntitlementStore, OrderStore, RequestKey, SubscriptionStore};

fn uid(text: &str) -> Uid {
    Uid::parse(text).unwrap()
}

fn order(id: &str, created_at: &str) -> Order {
    let cart = Cart::parse(
        &[ItemRequest {
            service_id: "global_data_10gb".into(),
            quantity: Some(2),
        }],
        None,
    )
    .unwrap();
    Order::new(id.into(), uid("ada"), cart, created_at.into())
}

fn claim(invoice: &str) -> PaymentClaim {
    PaymentClaim {
        invoice_id: invoice.into(),
        uid: uid("ada"),
        customer_id: "cus_ada".into(),
        amount_cents: 4000,
        currency: "usd".into(),
        pays: Pays::Order {
            order_id: "ord_1".into(),
        },
        state: ClaimState::Open,
    }
}

pub async fn orders(store: &dyn OrderStore) {
    let ada = uid("ada");
    // A request key binds once: a second binding answers the first, an expired one is free.
    let first = RequestKey {
        fingerprint: "f1".into(),
        order_id: "ord_1".into(),
    };
    let other = RequestKey {
        fingerprint: "f2".into(),
        order_id: "ord_2".into(),
    };
    assert_eq!(
        store
            .bind_request(&ada, "k", &first, 1000, 60)
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        store
            .bind_request(&ada, "k", &other, 1001, 60)
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        store
            .bind_request(&uid("bob"), "k", &other, 1001, 60)
            .await
            .unwrap(),
        other
    );
    store.unbind_request(&ada, "k", "ord_other").await.unwrap();
    assert_eq!(
        store
            .bind_request(&ada, "k", &other, 1002, 60)
            .await
            .unwrap(),
        first
    );
    store.unbind_request(&ada, "k", "ord_1").await.unwrap();
    assert_eq!(
        store
            .bind_request(&ada, "k", &other, 1003, 60)
            .await
            .unwrap(),
        other
    );

    // Orders: created once, listed newest first, payments and status set conditionally.
    let made = store
        .create_order(&order("ord_1", "2026-12-01T00:00:00Z"))
        .await
        .unwrap();
    let twin = Order {
        one_time_cents: 1,
        ..order("ord_1", "2026-12-01T00:00:00Z")
    };
    assert_eq!(
        store.create_order(&twin).await.unwrap(),
        made,
        "the first write stands"
    );
    store
        .create_order(&order("ord_2", "2026-12-02T00:00:00Z"))
        .await
        .unwrap();
    let listed: Vec<String> = store
        .orders(&ada)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.order_id)
        .collect();
    assert_eq!(listed, ["ord_2", "ord_1"]);
    assert!(store.order(&uid("bob"), "ord_1").await.unwrap().is_none());
    let payment = OrderPayment {
        invoice: InvoiceRef {
            invoice_id: "in_1".into(),
            invoice_url: "https://invoice.example/in_1".into(),
            amount_cents: 4000,
        },
        services: vec!["global_data_10gb".into()],
        subscription_id: None,
    };
    store
        .set_payments(&ada, "ord_1", std::slice::from_ref(&payment))
        .await
        .unwrap();
    assert_eq!(
        store.order(&ada, "ord_1").await.unwrap().unwrap().payments,
        [payment]
    );
    let open = [OrderStatus::Open];
    assert!(
        store
            .set_order_status(&ada, "ord_1", &open, OrderStatus::Paid, "t1")
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_order_status(&ada, "ord_1", &open, OrderStatus::Paid, "t2")
            .await
            .unwrap()
    );
    let paid = store.order(&ada, "ord_1").await.unwrap().unwrap();
    assert_eq!(
        (paid.status, paid.paid_at.as_deref()),
        (OrderStatus::Paid, Some("t1"))
    );
    let both = [OrderStatus::Open, OrderStatus::Paid];
    assert!(
        store
            .set_order_status(&ada, "ord_1", &both, OrderStatus::Refunded, "t3")
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_order_status(&ada, "nope", &both, OrderStatus::Refunded, "t")
            .await
            .unwrap()
    );
    let shipped = CardStatus::Shipped {
        tracking: "UPS 1".into(),
    };
    assert!(
        store
            .set_card_status(&ada, "ord_2", &shipped)
            .await
            .unwrap()
    );
    assert!(!store.set_card_status(&ada, "nope", &shipped).await.unwrap());
    assert_eq!(
        store.order(&ada, "ord_2").await.unwrap().unwrap().card,
        Some(shipped)
    );

    // Claims: written once, settled by a compare-and-set.
    store.save_claim(&claim("in_1")).await.unwrap();
    store
        .save_claim(&PaymentClaim {
            amount_cents: 1,
            ..claim("in_1")
        })
        .await
        .unwrap();
    assert_eq!(store.claim("in_1").await.unwrap(), Some(claim("in_1")));
    assert!(store.claim("in_none").await.unwrap().is_none());
    assert!(
        store
            .settle_claim("in_1", ClaimState::Open, ClaimState::Paid)
            .await
            .unwrap()
    );
    assert!(
        !store
            .settle_claim("in_1", ClaimState::Open, ClaimState::Paid)
            .await
            .unwrap()
    );
    assert!(
        store
            .settle_claim("in_1", ClaimState::Paid, ClaimState::Revoked)
            .await
            .unwrap()
    );
    assert!(
        !store
            .settle_claim("in_none", ClaimState::Open, ClaimState::Paid)
            .await
            .unwrap()
    );
    assert_eq!(
        store.claim("in_1").await.unwrap().unwrap().state,
        ClaimState::Revoked
    );

    store.save_payment("pi_1", "in_1").await.unwrap();
    store.save_payment("pi_1", "in_other").await.unwrap();
    assert_eq!(
        store.payment_invoice("pi_1").await.unwrap().as_deref(),
        Some("in_1")
    );
    assert!(store.payment_invoice("pi_none").await.unwrap().is_none());
    let held = |takeback, customer: &str| HeldTakeback {
        takeback,
        customer_id: Some(customer.into()),
    };
    assert!(store.held_takeback("pi_1").await.unwrap().is_none());
    store
        .hold_takeback("pi_1", &held(Takeback::Disputed, "cus_1"))
        .await
        .unwrap();
    store
        .hold_takeback("pi_1", &held(Takeback::Refunded, "cus_2"))
        .await
        .unwrap();
    assert_eq!(
        store.held_takeback("pi_1").await.unwrap(),
        Some(held(Takeback::Disputed, "cus_1")),
        "the first take-back held stays"
    );
    assert_eq!(
        store.payment_invoice("pi_1").await.unwrap().as_deref(),
        Some("in_1"),
        "a held take-back sits beside the tie, not over it"
    );

    let unmatched = |event: &str, at: &str| UnmatchedPayment {
        invoice_id: "in_forged".into(),
        event_id: event.into(),
        customer_id: Some("cus_x".into()),
        amount_paid: 1,
        currency: "usd".into(),
        reason: "no order".into(),
        at: at.into(),
    };
    store
        .record_unmatched(&unmatched("evt_1", "2026-12-01T00:00:00Z"))
        .await
        .unwrap();
    // The same event delivered again, later: still one entry.
    store
        .record_unmatched(&unmatched("evt_1", "2026-12-01T00:00:05Z"))
        .await
        .unwrap();
    store
        .record_unmatched(&unmatched("evt_2", "2026-12-01T00:00:09Z"))
        .await
        .unwrap();
    let events: Vec<String> = store
        .unmatched()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.event_id)
        .collect();
    assert_eq!(events, ["evt_2", "evt_1"]);
}

fn subscription(id: &str) -> Subscription {
    Subscription {
        subscription_id: id.into(),
        uid: uid("ada"),
        service_id: "basic_membership".into(),
        order_id: "ord_1".into(),
        customer_id: "cus_ada".into(),
        price_cents: 2400,
        status: SubscriptionStatus::Unpaid,
        cancel_at_period_end: false,
        paid_until: 0,
        state_at: 0,
        created_at: "t".into(),
    }
}

pub async fn subscriptions(store: &dyn SubscriptionStore) {
    let ada = uid("ada");
    let made = store
        .create_subscription(&subscription("sub_1"))
        .await
        .unwrap();
    let twin = Subscription {
        price_cents: 1,
        ..subscription("sub_1")
    };
    assert_eq!(store.create_subscription(&twin).await.unwrap(), made);
    assert_eq!(store.subscription("sub_1").await.unwrap(), Some(made));
    assert!(store.subscription("sub_none").await.unwrap().is_none());

    // Paying extends (never shortens) and activates.
    store
        .extend_subscription(&ada, "sub_1", 2000)
        .await
        .unwrap();
    store
        .extend_subscription(&ada, "sub_1", 1500)
        .await
        .unwrap();
    let sub = store.subscription("sub_1").await.unwrap().unwrap();
    assert_eq!(
        (sub.paid_until, sub.status),
        (2000, SubscriptionStatus::Active)
    );

    // The provider's state applies in event order; a canceled subscription stays canceled.
    store
        .set_subscription_state(&ada, "sub_1", None, true, 10)
        .await
        .unwrap();
    store
        .set_subscription_state(&ada, "sub_1", None, false, 5)
        .await
        .unwrap();
    let sub = store.subscription("sub_1").await.unwrap().unwrap();
    assert!(sub.cancel_at_period_end, "an older event changed nothing");
    let past_due = Some(SubscriptionStatus::PastDue);
    store
        .set_subscription_state(&ada, "sub_1", past_due, true, 11)
        .await
        .unwrap();
    assert_eq!(
        store.subscription("sub_1").await.unwrap().unwrap().status,
        SubscriptionStatus::PastDue
    );
    let canceled = Some(SubscriptionStatus::Canceled);
    store
        .set_subscription_state(&ada, "sub_1", canceled, true, 12)
        .await
        .unwrap();
    let active = Some(SubscriptionStatus::Active);
    store
        .set_subscription_state(&ada, "sub_1", active, false, 13)
        .await
        .unwrap();
    assert_eq!(
        store.subscription("sub_1").await.unwrap().unwrap().status,
        SubscriptionStatus::Canceled
    );

    store
        .create_subscription(&subscription("sub_2"))
        .await
        .unwrap();
    let mut ids: Vec<String> = store
        .subscriptions(&ada)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.subscription_id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["sub_1", "sub_2"]);
    assert!(store.subscriptions(&uid("bob")).await.unwrap().is_empty());
}

fn entitlement(invoice: &str, service: &str, grant: Grant) -> Entitlement {
    Entitlement {
        uid: uid("ada"),
        invoice_id: invoice.into(),
        service_id: service.into(),
        grant,
        subscription_id: Some("sub_1".into()),
        until: Some(5000),
        revoked: false,
        granted_at: "t".into(),
    }
}

pub async fn entitlements(store: &dyn EntitlementStore) {
    let ada = uid("ada");
    let member = || Grant::Role {
        role: MEMBER.into(),
    };
    let vpn = Grant::Feature {
        feature: "vpn_access".into(),
    };
    assert!(
        store
            .grant(&entitlement("in_1", "basic_membership", member()))
            .await
            .unwrap()
    );
    assert!(
        !store
            .grant(&entitlement("in_1", "basic_membership", member()))
            .await
            .unwrap()
    );
    assert!(
        store
            .grant(&entitlement("in_2", "basic_membership", member()))
            .await
            .unwrap()
    );
    assert!(
        store
            .grant(&Entitlement {
                subscription_id: None,
                until: None,
                ..entitlement("in_3", "vpn_access", vpn)
            })
            .await
            .unwrap()
    );
    assert_eq!(store.entitlements(&ada).await.unwrap().len(), 3);
    assert!(store.entitlements(&uid("bob")).await.unwrap().is_empty());

    store.revoke(&ada, "in_1").await.unwrap();
    store.end_subscription(&ada, "sub_1", 4000).await.unwrap();
    store.end_subscription(&ada, "sub_1", 4500).await.unwrap();
    let all = store.entitlements(&ada).await.unwrap();
    let find = |invoice: &str| all.iter().find(|e| e.invoice_id == invoice).unwrap();
    assert!(find("in_1").revoked && !find("in_2").revoked);
    assert_eq!(
        find("in_2").until,
        Some(4000),
        "ended early, never extended"
    );
    assert_eq!(find("in_3").until, None, "not the subscription's");
}

pub async fn beta(store: &dyn dotm::ports::BetaStore) {
    use dotm::domain::beta::{BetaRequest, BetaStatus, Decision, DecisionLink};
    use dotm::domain::nanp::PhoneNumber;
    use dotm::domain::users::Email;

    let ada = uid("ada");
    let request = |at: &str| BetaRequest {
        uid: ada.clone(),
        email: Email::parse("ada@example.com").unwrap(),
        status: BetaStatus::Pending,
        requested_at: at.into(),
        decided_at: None,
        decided_by: None,
        phone_number: None,
    };
    assert!(store.beta_request(&ada).await.unwrap().is_none());
    let (made, created) = store
        .create_beta_request(&request("2026-12-01T00:00:00Z"))
        .await
        .unwrap();
    assert!(created && made.status == BetaStatus::Pending);
    let (again, created) = store
        .create_beta_request(&request("2026-12-02T00:00:00Z"))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(
        again.requested_at, "2026-12-01T00:00:00Z",
        "one request per person"
    );
    let pending = store.pending_beta_requests().await.unwrap();
    assert_eq!(pending.iter().filter(|r| r.uid == ada).count(), 1);

    // Decided once: a second decision, even another one, changes nothing.
    let (first, decided) = store
        .decide_beta(&ada, BetaStatus::Approved, "t1", "admin x")
        .await
        .unwrap()
        .unwrap();
    assert!(decided && first.status == BetaStatus::Approved);
    let (second, decided) = store
        .decide_beta(&ada, BetaStatus::Rejected, "t2", "email link")
        .await
        .unwrap()
        .unwrap();
    assert!(!decided);
    assert_eq!(
        (second.status, second.decided_at.as_deref()),
        (BetaStatus::Approved, Some("t1"))
    );
    assert!(
        store
            .pending_beta_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.uid != ada)
    );
    assert!(
        store
            .decide_beta(&uid("nobody"), BetaStatus::Approved, "t", "x")
            .await
            .unwrap()
            .is_none()
    );

    // Links: by hash, used once.
    let link = DecisionLink {
        uid: ada.clone(),
        decision: Decision::Approve,
        expires_at: 5000,
        used: false,
    };
    store.save_link("h1", &link).await.unwrap();
    assert_eq!(store.link("h1").await.unwrap(), Some(link));
    assert!(store.link("h2").await.unwrap().is_none());
    assert!(store.use_link("h1").await.unwrap());
    assert!(!store.use_link("h1").await.unwrap());
    assert!(!store.use_link("h2").await.unwrap());
    assert!(store.link("h1").await.unwrap().unwrap().used);

    // A number is one person's.
    let number = PhoneNumber::parse("+12025551234").unwrap();
    assert!(store.claim_number(&number, &ada).await.unwrap());
    assert!(store.claim_number(&number, &ada).await.unwrap());
    assert!(!store.claim_number(&number, &uid("bob")).await.unwrap());
}
