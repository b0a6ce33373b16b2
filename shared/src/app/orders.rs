//! Orders: `buy_services` and `POST /api/orders`. A request is checked against the catalog
//! ([`Cart::parse`]), bound to its key (an `Idempotency-Key`, else the cart itself, so two
//! identical requests while one is open reuse it), and paid by emailed invoices whose claims
//! are written before the invoices can be paid.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::Deps;
use crate::app::accounts::{self, AccountError};
use crate::domain::money::Cents;
use crate::domain::orders::{
    CardStatus, Cart, ClaimState, ItemRequest, Order, OrderError, OrderLine, OrderPayment,
    OrderStatus, PaymentClaim, Pays, ShippingAddress,
};
use crate::domain::subscriptions::{Subscription, SubscriptionStatus};
use crate::domain::time::rfc3339;
use crate::domain::users::{Identity, User};
use crate::ports::{InvoiceLine, Invoicing, RequestKey, Unavailable};

/// An explicit key is remembered a day (as Stripe keeps its keys); a cart key as long as an
/// invoice can be paid.
const KEY_TTL_SECONDS: i64 = 24 * 3600;
const CART_TTL_SECONDS: i64 = 8 * 24 * 3600;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// What to buy: catalog ids, each once; `quantity` 1-10 for `global_data_10gb`.
    pub items: Vec<ItemRequest>,
    /// Needed exactly when `dotm_metal_card` is ordered.
    #[serde(default)]
    pub shipping_address: Option<ShippingAddress>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderFailure {
    #[error(transparent)]
    Invalid(#[from] OrderError),
    #[error(
        "this Idempotency-Key was used for another order; send a new key for a different request"
    )]
    KeyReused,
    #[error("no order {0:?} on this account")]
    NotFound(String),
    #[error(
        "DOTM needs a verified email address to send invoices: verify the email of your sign-in account and try again"
    )]
    NoEmail,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PaymentView {
    #[serde(flatten)]
    pub payment: OrderPayment,
    pub paid: bool,
}

/// An order as people see it (also the MCP output of `buy_services`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OrderView {
    pub order_id: String,
    pub status: OrderStatus,
    pub items: Vec<OrderLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<ShippingAddress>,
    /// Dollars; `total_cents` is exact: the one-time lines plus each subscription's first period.
    #[serde(serialize_with = "Cents::serialize_dollars")]
    #[schemars(with = "f64")]
    pub total: Cents,
    pub total_cents: u64,
    pub currency: String,
    /// DOTM earned when everything is paid (10.33 % cashback).
    pub cashback_dotm: String,
    pub payments: Vec<PaymentView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<CardStatus>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    pub message: String,
}

pub async fn place(
    deps: &Deps,
    invoicing: &dyn Invoicing,
    identity: &Identity,
    request: OrderRequest,
    idempotency_key: Option<&str>,
) -> Result<OrderView, OrderFailure> {
    if identity.anonymous {
        return Err(AccountError::Anonymous.into());
    }
    let cart = Cart::parse(&request.items, request.shipping_address)?;
    let fingerprint = cart.fingerprint();
    let user = accounts::find_or_create_user(deps, identity).await?;
    if user.email.is_none() {
        return Err(OrderFailure::NoEmail);
    }
    let (key, ttl) = match idempotency_key {
        Some(k) => (format!("key#{k}"), KEY_TTL_SECONDS),
        None => (format!("cart#{fingerprint}"), CART_TTL_SECONDS),
    };
    let now_ms = deps.clock.now_unix_ms();
    let proposed = RequestKey {
        fingerprint: fingerprint.clone(),
        order_id: order_id(&user, &key, now_ms),
    };
    let now = deps.clock.now_unix();
    let mut bound = deps
        .orders
        .bind_request(&user.uid, &key, &proposed, now, ttl)
        .await?;
    if bound.fingerprint != fingerprint {
        return Err(OrderFailure::KeyReused);
    }
    let mut order = deps.orders.order(&user.uid, &bound.order_id).await?;
    if idempotency_key.is_none()
        && order
            .as_ref()
            .is_some_and(|o| o.status != OrderStatus::Open)
    {
        // The cart's last order was paid (and its key not yet let go): this is a new order.
        deps.orders
            .unbind_request(&user.uid, &key, &bound.order_id)
            .await?;
        bound = deps
            .orders
            .bind_request(&user.uid, &key, &proposed, now, ttl)
            .await?;
        order = deps.orders.order(&user.uid, &bound.order_id).await?;
    }
    let order = match order {
        Some(order) => order,
        None => {
            let has_line = has_line(deps, &user).await?;
            let cart = cart.with_esim_for_data(has_line);
            let fresh = Order {
                // The request's, not the cart's (which may have gained the activation).
                fingerprint,
                ..Order::new(bound.order_id.clone(), user.uid.clone(), cart, rfc3339(now))
            };
            deps.orders.create_order(&fresh).await?
        }
    };
    let order = if order.payments.is_empty() {
        let customer = accounts::stripe_customer(deps, invoicing, &user).await?;
        let payments = pay(deps, invoicing, &user, &customer, &order).await?;
        deps.orders
            .set_payments(&user.uid, &order.order_id, &payments)
            .await?;
        tracing::info!(uid = %user.uid.short(), order = %order.order_id, invoices = payments.len(), "order invoiced");
        Order { payments, ..order }
    } else {
        order
    };
    Ok(view(deps, order).await?)
}

/// Stable for one request key at one moment: a racing twin proposes the same id or loses.
fn order_id(user: &User, key: &str, now_ms: i64) -> String {
    let digest = Sha256::digest(format!("{}\n{key}\n{now_ms}", user.uid).as_bytes());
    format!("ord_{}", &hex::encode(digest)[..20])
}

async fn has_line(deps: &Deps, user: &User) -> Result<bool, Unavailable> {
    if !deps.activations.activations(&user.uid).await?.is_empty() {
        return Ok(true);
    }
    let purchases = deps.purchases.purchases(&user.uid).await?;
    Ok(purchases
        .iter()
        .any(|p| p.includes(crate::domain::orders::ESIM)))
}

/// Makes the order's invoices. Every provider call is keyed by the order id, so a retry after
/// a crash finds the same invoices; each claim is written before its invoice is sent.
async fn pay(
    deps: &Deps,
    invoicing: &dyn Invoicing,
    user: &User,
    customer: &str,
    order: &Order,
) -> Result<Vec<OrderPayment>, Unavailable> {
    let metadata = [
        ("firebase_uid", user.uid.as_str()),
        ("order_id", order.order_id.as_str()),
    ];
    let claim = |invoice_id: &str, amount_cents: u64, pays: Pays| PaymentClaim {
        invoice_id: invoice_id.to_owned(),
        uid: user.uid.clone(),
        customer_id: customer.to_owned(),
        amount_cents,
        currency: "usd".into(),
        pays,
        state: ClaimState::Open,
    };
    let mut payments = Vec::new();
    let lines: Vec<InvoiceLine> = order
        .one_time()
        .map(|l| InvoiceLine {
            description: if l.quantity > 1 {
                format!("{} x {}", l.name, l.quantity)
            } else {
                l.name.clone()
            },
            amount_cents: l.amount_cents,
        })
        .collect();
    if !lines.is_empty() {
        let description = format!("DOTM order {}", order.order_id);
        let id = invoicing
            .draft_invoice(customer, &order.order_id, &description, &lines, &metadata)
            .await?;
        let pays = Pays::Order {
            order_id: order.order_id.clone(),
        };
        deps.orders
            .save_claim(&claim(&id, order.one_time_cents, pays))
            .await?;
        payments.push(OrderPayment {
            invoice: invoicing.send_invoice(&id, &order.order_id).await?,
            services: order.one_time().map(|l| l.service_id.clone()).collect(),
            subscription_id: None,
        });
    }
    for line in order.recurring() {
        let service = line
            .service()
            .ok_or_else(|| Unavailable::new("catalog", "an ordered service left the catalog"))?;
        let scope = format!("{}-{}", order.order_id, service.id);
        let made = invoicing
            .subscribe(customer, &scope, service, &metadata)
            .await?;
        deps.subscriptions
            .create_subscription(&Subscription {
                subscription_id: made.subscription_id.clone(),
                uid: user.uid.clone(),
                service_id: service.id.to_owned(),
                order_id: order.order_id.clone(),
                customer_id: customer.to_owned(),
                price_cents: line.amount_cents,
                status: SubscriptionStatus::Unpaid,
                cancel_at_period_end: false,
                paid_until: 0,
                state_at: 0,
                created_at: order.created_at.clone(),
            })
            .await?;
        let pays = Pays::Subscription {
            subscription_id: made.subscription_id.clone(),
            order_id: order.order_id.clone(),
            service_id: service.id.to_owned(),
        };
        deps.orders
            .save_claim(&claim(&made.first_invoice_id, line.amount_cents, pays))
            .await?;
        payments.push(OrderPayment {
            invoice: invoicing
                .send_invoice(&made.first_invoice_id, &scope)
                .await?,
            services: vec![service.id.to_owned()],
            subscription_id: Some(made.subscription_id),
        });
    }
    Ok(payments)
}

pub async fn list(deps: &Deps, identity: &Identity) -> Result<Vec<OrderView>, Unavailable> {
    let mut views = Vec::new();
    for order in deps.orders.orders(&identity.uid).await? {
        views.push(view(deps, order).await?);
    }
    Ok(views)
}

pub async fn find(
    deps: &Deps,
    identity: &Identity,
    order_id: &str,
) -> Result<OrderView, OrderFailure> {
    let order = deps
        .orders
        .order(&identity.uid, order_id)
        .await?
        .ok_or_else(|| OrderFailure::NotFound(order_id.chars().take(64).collect()))?;
    Ok(view(deps, order).await?)
}

async fn view(deps: &Deps, order: Order) -> Result<OrderView, Unavailable> {
    let mut payments = Vec::new();
    for payment in &order.payments {
        let claim = deps.orders.claim(&payment.invoice.invoice_id).await?;
        payments.push(PaymentView {
            payment: payment.clone(),
            paid: claim.is_some_and(|c| c.state == ClaimState::Paid),
        });
    }
    let total = order.total();
    let message = match order.status {
        OrderStatus::Open => {
            let links: Vec<String> = payments
                .iter()
                .filter(|p| !p.paid)
                .map(|p| {
                    format!(
                        "{} for {} at {}",
                        Cents(p.payment.invoice.amount_cents).display(),
                        p.payment.services.join(", "),
                        p.payment.invoice.invoice_url
                    )
                })
                .collect();
            format!(
                "Pay {}; the invoices were also emailed to you. Each item is delivered as soon as its invoice is paid, with {} DOTM cashback.",
                links.join("; "),
                deps.cashback.cashback_on(total).to_dotm_string()
            )
        }
        OrderStatus::Paid => "Paid: everything in this order is yours.".to_owned(),
        OrderStatus::Refunded => "Refunded: what this order granted was taken back.".to_owned(),
        OrderStatus::Disputed => {
            "Disputed: what this order granted is held until the dispute ends.".to_owned()
        }
    };
    // Paid, not yet shipped: an admin marks it shipped.
    let card = order.card.clone().or_else(|| {
        (order.status == OrderStatus::Paid && order.has(crate::domain::orders::METAL_CARD))
            .then_some(CardStatus::Ordered)
    });
    Ok(OrderView {
        cashback_dotm: deps.cashback.cashback_on(total).to_dotm_string(),
        total,
        total_cents: total.get(),
        currency: order.currency,
        status: order.status,
        items: order.lines,
        shipping_address: order.shipping,
        payments,
        card,
        created_at: order.created_at,
        paid_at: order.paid_at,
        order_id: order.order_id,
        message,
    })
}
