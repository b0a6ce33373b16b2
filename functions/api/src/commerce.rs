//! Orders, subscriptions, the account overview and the operators' commerce routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use dotm::app::accounts;
use dotm::app::orders::{self, OrderRequest, OrderView};
use dotm::app::subscriptions::{self, SubscriptionView};
use dotm::domain::entitlements::ADMIN;
use dotm::domain::orders::CardStatus;
use dotm::domain::users::{Identity, Uid};
use dotm::web::auth::Caller;
use dotm::web::{ApiError, Problem};
use serde_json::{Value, json};

use crate::Ports;

/// Keys are client-chosen: bounded and printable, as Stripe's are.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().ok().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > 255 || key.chars().any(|c| c.is_control()) {
        return Err(Problem::bad_request(
            "invalid-idempotency-key",
            "Idempotency-Key must be 1 to 255 printable characters",
        )
        .into());
    }
    Ok(Some(key.to_owned()))
}

fn order_request(body: &[u8]) -> Result<OrderRequest, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        Problem::bad_request(
            "invalid-body",
            format!(
                r#"send {{"items": [{{"service_id": "...", "quantity": 1}}], "shipping_address": {{...}}}}: {e}"#
            ),
        )
        .into()
    })
}

pub async fn place_order(
    State(p): Ports,
    Caller(who): Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<OrderView>, ApiError> {
    let key = idempotency_key(&headers)?;
    let request = order_request(&body)?;
    let order = orders::place(&p.deps, p.invoicing.as_ref(), &who, request, key.as_deref()).await?;
    Ok(Json(order))
}

pub async fn list_orders(State(p): Ports, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"orders": orders::list(&p.deps, &who).await?})))
}

pub async fn order(
    State(p): Ports,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(orders::find(&p.deps, &who, &id).await?))
}

pub async fn list_subscriptions(
    State(p): Ports,
    Caller(who): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"subscriptions": subscriptions::list(&p.deps, &who).await?}),
    ))
}

pub async fn cancel_subscription(
    State(p): Ports,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionView>, ApiError> {
    Ok(Json(
        subscriptions::cancel(&p.deps, p.invoicing.as_ref(), &who, &id).await?,
    ))
}

/// Everything the person has: profile with roles, orders, subscriptions, entitlements.
pub async fn account(
    State(p): Ports,
    Caller(who): Caller,
) -> Result<Json<dotm::app::account::Overview>, ApiError> {
    Ok(Json(dotm::app::account::overview(&p.deps, &who).await?))
}

pub(crate) async fn require_admin(p: &crate::ApiPorts, who: &Identity) -> Result<(), ApiError> {
    if accounts::has_role(&p.deps, &who.uid, ADMIN).await? {
        return Ok(());
    }
    Err(Problem::new(
        axum::http::StatusCode::FORBIDDEN,
        "admin-only",
        "Admins only",
        "this route needs the admin role",
    )
    .into())
}

/// Payments that matched no order: they granted nothing and want a look.
pub async fn unmatched_payments(
    State(p): Ports,
    Caller(who): Caller,
) -> Result<Json<Value>, ApiError> {
    require_admin(&p, &who).await?;
    Ok(Json(json!({"payments": p.deps.orders.unmatched().await?})))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CardUpdate {
    status: String,
    #[serde(default)]
    tracking: Option<String>,
}

/// Marks a Metal Card shipped (with its tracking note) or back to ordered.
pub async fn set_card_status(
    State(p): Ports,
    Caller(who): Caller,
    Path((uid, order_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<OrderView>, ApiError> {
    require_admin(&p, &who).await?;
    let update: CardUpdate = serde_json::from_slice(&body).map_err(|e| {
        Problem::bad_request(
            "invalid-body",
            format!(r#"send {{"status": "shipped", "tracking": "..."}}: {e}"#),
        )
    })?;
    let card = match (
        update.status.as_str(),
        update.tracking.map(|t| t.trim().to_owned()),
    ) {
        ("shipped", Some(tracking)) if !tracking.is_empty() && tracking.len() <= 200 => {
            CardStatus::Shipped { tracking }
        }
        ("shipped", _) => {
            return Err(Problem::bad_request(
                "invalid-card-status",
                "a shipped card needs a tracking note of 1 to 200 characters",
            )
            .into());
        }
        ("ordered", _) => CardStatus::Ordered,
        (other, _) => {
            return Err(Problem::bad_request(
                "invalid-card-status",
                format!("status must be ordered or shipped, not {other:?}"),
            )
            .into());
        }
    };
    let owner = Uid::parse(&uid).map_err(|e| Problem::bad_request("invalid-uid", e.to_string()))?;
    let owner_identity = Identity::verified(owner.clone(), None);
    let order = orders::find(&p.deps, &owner_identity, &order_id).await?;
    if !order
        .items
        .iter()
        .any(|l| l.service_id == dotm::domain::orders::METAL_CARD)
    {
        return Err(Problem::bad_request("no-card", "this order has no DOTM Metal Card").into());
    }
    if order.status != dotm::domain::orders::OrderStatus::Paid {
        return Err(Problem::new(
            axum::http::StatusCode::CONFLICT,
            "not-paid",
            "Order not paid",
            "only a paid order's card can be shipped",
        )
        .into());
    }
    p.deps
        .orders
        .set_card_status(&owner, &order_id, &card)
        .await?;
    tracing::info!(admin = %who.uid.short(), uid = %owner.short(), order = %order_id, "card status set");
    Ok(Json(
        orders::find(&p.deps, &owner_identity, &order_id).await?,
    ))
}
