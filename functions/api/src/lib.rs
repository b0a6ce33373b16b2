//! The `api` function: the JSON API for the DOTM apps under `/api/*`.
//! `main.rs` builds [`router`] once per cold start; tests drive it in-process.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use dotm::activation::{self, Deps};
use dotm::ports::IdentityVerifier;
use dotm::purchases::PurchaseView;
use dotm::users::Identity;
use dotm::wallet::Wallet;
use dotm::web::auth::{activation_error, auth_error, identify, unavailable};
use dotm::web::{Problem, problem};
use serde_json::{Value, json};

/// What every request shares, built once per cold start.
pub struct Api {
    pub deps: Deps,
    pub verifier: Arc<dyn IdentityVerifier>,
}

type Shared = State<Arc<Api>>;

pub fn router(api: Api) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/me", get(me))
        .route("/api/user-purchases", get(user_purchases))
        .route("/api/esim/activate", post(activate_esim))
        .route("/api/user-phone-numbers", get(user_phone_numbers))
        .route("/api/activation-stats", get(activation_stats))
        .route("/api/wallet", put(set_wallet))
        .route("/api/rewards", get(rewards))
        .method_not_allowed_fallback(problem::wrong_method)
        .fallback(problem::no_such_route)
        .layer(axum::middleware::from_fn(
            dotm::web::access_log::log_request,
        ))
        .with_state(Arc::new(api))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn caller(api: &Api, headers: &HeaderMap) -> Result<Identity, Response> {
    identify(api.verifier.as_ref(), headers)
        .await
        .map_err(|e| auth_error(&e))
}

/// The caller's profile; the first call creates it.
async fn me(State(api): Shared, headers: HeaderMap) -> Response {
    let identity = match caller(&api, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    match activation::find_or_create_user(&api.deps, &identity).await {
        Ok(user) => Json(json!({
            "uid": user.uid,
            "email": user.email,
            "created_at": user.created_at,
            "stripe_customer_id": user.stripe_customer_id,
            "wallet": user.wallet,
        }))
        .into_response(),
        Err(e) => activation_error(&e).into_response(),
    }
}

/// The caller's purchases, newest first.
async fn user_purchases(State(api): Shared, headers: HeaderMap) -> Response {
    let identity = match caller(&api, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let purchases = match api.deps.store.purchases(&identity.uid).await {
        Ok(p) => p,
        Err(e) => return unavailable(&e).into_response(),
    };
    let list: Vec<PurchaseView> = purchases.iter().map(PurchaseView::from).collect();
    Json(json!({"success": true, "purchases": list})).into_response()
}

/// Same answer as the MCP tool. Any `email`/`firebase_uid` in the body is ignored: the
/// identity comes from the token only.
async fn activate_esim(State(api): Shared, headers: HeaderMap) -> Response {
    let identity = match caller(&api, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    match activation::activate_esim(&api.deps, &identity).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => activation_error(&e).into_response(),
    }
}

/// The caller's active lines, with the QR code of each.
async fn user_phone_numbers(State(api): Shared, headers: HeaderMap) -> Response {
    let identity = match caller(&api, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let activations = match api.deps.activations.activations(&identity.uid).await {
        Ok(a) => a,
        Err(e) => return unavailable(&e).into_response(),
    };
    let mut numbers = Vec::new();
    for a in activations {
        let (Some(line), Some(at)) = (&a.line, &a.activated_at) else {
            continue;
        };
        let qr = match dotm::qr::data_url(&line.lpa()) {
            Ok(qr) => qr,
            Err(e) => return unavailable(&dotm::ports::Unavailable::new("qr", e)).into_response(),
        };
        numbers.push(json!({
            "phone_number": line.phone_number,
            "iccid": line.iccid,
            "lpa_code": line.lpa(),
            "qr_code": qr,
            "activated_at": at,
        }));
    }
    Json(json!({"success": true, "phone_numbers": numbers})).into_response()
}

/// Public: how busy the activation line is. No personal data.
async fn activation_stats(State(api): Shared) -> Response {
    match activation::stats(&api.deps).await {
        Ok(stats) => Json(stats).into_response(),
        Err(e) => unavailable(&e).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct WalletBody {
    wallet: String,
}

/// Sets where DOTM rewards go (EIP-55 checksummed, or all lower case), then mints what waited.
async fn set_wallet(State(api): Shared, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let identity = match caller(&api, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body: WalletBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return Problem::bad_request(
                "invalid-body",
                format!(r#"send {{"wallet": "0x..."}}: {e}"#),
            )
            .into_response();
        }
    };
    let wallet = match Wallet::parse(&body.wallet) {
        Ok(w) => w,
        Err(e) => return Problem::bad_request("invalid-wallet", e.to_string()).into_response(),
    };
    match dotm::token::set_wallet(&api.deps, &identity, &wallet).await {
        Ok(()) => Json(json!({"success": true, "wallet": wallet.to_string()})).into_response(),
        Err(e) => activation_error(&e).into_response(),
    }
}

/// Balance on chain, and pending, minted and refused rewards with their transactions.
async fn rewards(State(api): Shared, headers: HeaderMap) -> Response {
    let identity = match caller(&api, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    match dotm::token::rewards_view(&api.deps, &identity).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => activation_error(&e).into_response(),
    }
}
