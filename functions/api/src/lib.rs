//! The `api` function: the JSON API for the DOTM apps under `/api/*`.
//! `main.rs` builds [`router`] once per cold start; tests drive it in-process.
//!
//! Handlers take the signed-in [`Caller`] (a missing or refused token never reaches them) and
//! return `Result<_, ApiError>`: the use cases' errors become problem details with `?`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use dotm::app::accounts::{self, Profile};
use dotm::app::activation_line::{self, Stats};
use dotm::app::esim::{self, ActivationAnswer};
use dotm::app::rewards::{self, RewardsView};
use dotm::domain::purchases::PurchaseView;
use dotm::domain::wallet::Wallet;
use dotm::ports::Unavailable;
use dotm::web::auth::Caller;
use dotm::web::{ApiError, Problem, access_log, problem};
pub use dotm::wiring::ApiPorts;
use serde_json::{Value, json};

mod commerce;
pub mod oauth;

/// Names this function in the `x-dotm-served-by` header and the logs.
pub const FUNCTION: &str = env!("CARGO_PKG_NAME");

type Ports = State<ApiPorts>;

pub fn router(ports: ApiPorts) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/me", get(me).post(register))
        .route("/api/user-purchases", get(user_purchases))
        .route("/api/esim/activate", post(activate_esim))
        .route("/api/user-phone-numbers", get(user_phone_numbers))
        .route("/api/activation-stats", get(activation_stats))
        .route("/api/wallet", put(set_wallet))
        .route("/api/rewards", get(rewards))
        .route(
            "/api/orders",
            get(commerce::list_orders).post(commerce::place_order),
        )
        .route("/api/orders/{id}", get(commerce::order))
        .route("/api/subscriptions", get(commerce::list_subscriptions))
        .route(
            "/api/subscriptions/{id}/cancel",
            post(commerce::cancel_subscription),
        )
        .route("/api/account", get(commerce::account))
        .route(
            "/api/admin/unmatched-payments",
            get(commerce::unmatched_payments),
        )
        .route(
            "/api/admin/orders/{uid}/{order_id}/card",
            post(commerce::set_card_status),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata),
        )
        .route("/oauth/jwks.json", get(oauth::jwks))
        .route("/oauth/authorize", get(oauth::authorize))
        .route("/oauth/signed-in", post(oauth::signed_in))
        .route("/oauth/consent", post(oauth::consent))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/register", post(oauth::register))
        .route("/oauth/revoke", post(oauth::revoke))
        .method_not_allowed_fallback(problem::wrong_method)
        .fallback(problem::no_such_route)
        .layer(axum::middleware::from_fn_with_state(
            FUNCTION,
            access_log::log_request,
        ))
        .with_state(ports)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// The caller's profile; before registration, what the token says (`registered: false`).
async fn me(State(p): Ports, Caller(who): Caller) -> Result<Json<Profile>, ApiError> {
    Ok(Json(accounts::profile(&p.deps, &who).await?))
}

/// Registers the caller: 201 the first time (with the sign-up bonus), 200 after.
async fn register(
    State(p): Ports,
    Caller(who): Caller,
) -> Result<(StatusCode, Json<Profile>), ApiError> {
    let (profile, created) = accounts::register(&p.deps, &who).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(profile)))
}

/// The caller's purchases, newest first.
async fn user_purchases(State(p): Ports, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    let purchases = p.deps.purchases.purchases(&who.uid).await?;
    let list: Vec<PurchaseView> = purchases.iter().map(PurchaseView::from).collect();
    Ok(Json(json!({"success": true, "purchases": list})))
}

/// Same answer as the MCP tool. Any `email`/`firebase_uid` in the body is ignored: the
/// identity comes from the token only.
async fn activate_esim(
    State(p): Ports,
    Caller(who): Caller,
) -> Result<Json<ActivationAnswer>, ApiError> {
    Ok(Json(
        esim::activate(&p.deps, p.invoicing.as_ref(), &who).await?,
    ))
}

/// The caller's active lines, with the QR code of each.
async fn user_phone_numbers(State(p): Ports, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    let mut numbers = Vec::new();
    for a in p.deps.activations.activations(&who.uid).await? {
        let (Some(line), Some(at)) = (&a.line, &a.activated_at) else {
            continue;
        };
        let qr = dotm::domain::qr::data_url(&line.lpa()).map_err(|e| Unavailable::new("qr", e))?;
        numbers.push(json!({
            "phone_number": line.phone_number,
            "iccid": line.iccid,
            "lpa_code": line.lpa(),
            "qr_code": qr,
            "activated_at": at,
        }));
    }
    Ok(Json(json!({"success": true, "phone_numbers": numbers})))
}

/// Public: how busy the activation line is. No personal data.
async fn activation_stats(State(p): Ports) -> Result<Json<Stats>, ApiError> {
    Ok(Json(activation_line::stats(&p.deps).await?))
}

#[derive(serde::Deserialize)]
struct WalletBody {
    wallet: String,
}

/// Sets where DOTM rewards go (EIP-55 checksummed, or all lower case), then mints what waited.
async fn set_wallet(
    State(p): Ports,
    Caller(who): Caller,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: WalletBody = serde_json::from_slice(&body).map_err(|e| {
        Problem::bad_request(
            "invalid-body",
            format!(r#"send {{"wallet": "0x..."}}: {e}"#),
        )
    })?;
    let wallet = Wallet::parse(&body.wallet)
        .map_err(|e| Problem::bad_request("invalid-wallet", e.to_string()))?;
    accounts::set_wallet(&p.deps, &who, &wallet).await?;
    Ok(Json(json!({"success": true, "wallet": wallet.to_string()})))
}

/// Balance on chain, and pending, minted and refused rewards with their transactions.
async fn rewards(State(p): Ports, Caller(who): Caller) -> Result<Json<RewardsView>, ApiError> {
    Ok(Json(
        rewards::view(&p.deps, p.balances.as_ref(), &who).await?,
    ))
}
