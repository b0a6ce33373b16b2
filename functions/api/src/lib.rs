//! The `api` function: the JSON API for the DOTM apps under `/api/*`.
//! `main.rs` builds [`router`] once per cold start; tests drive it in-process.
//!
//! Handlers take the signed-in [`Caller`] (a missing or refused token never reaches them) and
//! return `Result<_, ApiError>`: the use cases' errors become problem details with `?`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::sync::Arc;

use axum::routing::{MethodFilter, get};
use axum::{Json, Router};
use dotm::app::accounts::{self, Profile};
use dotm::app::beta::BetaView;
use dotm::app::esim::{self, ActivationAnswer};
use dotm::app::orders::{OrderRequest, OrderView};
use dotm::app::rewards::{self, RewardsView};
use dotm::app::subscriptions::SubscriptionView;
use dotm::app::usage::{self, UsageView};
use dotm::domain::nanp::AreaCode;
use dotm::domain::purchases::PurchaseView;
use dotm::domain::wallet::Wallet;
use dotm::ports::Unavailable;
use dotm::web::auth::Caller;
use dotm::web::{ApiError, Problem, access_log, body_limit, problem};
pub use dotm::wiring::ApiPorts;
use openapi::{Access, Op, Routes};
use serde_json::{Value, json};

mod beta;
mod commerce;
pub mod oauth;
pub mod openapi;

/// Names this function in the `x-dotm-served-by` header and the logs.
pub const FUNCTION: &str = env!("CARGO_PKG_NAME");

type Ports = State<ApiPorts>;

pub fn router(ports: ApiPorts) -> Router {
    let (routes, doc) = routes();
    let doc = Arc::new(doc);
    routes
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .method_not_allowed_fallback(problem::wrong_method)
        .fallback(problem::no_such_route)
        .layer(axum::Extension(ports.limiter.clone()))
        .layer(body_limit::backstop(body_limit::API_MAX_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            body_limit::API_MAX_BYTES,
            body_limit::refuse_large,
        ))
        .layer(axum::middleware::from_fn_with_state(
            FUNCTION,
            access_log::log_request,
        ))
        .with_state(ports)
}

/// Every route with its description; `/api/openapi.json` serves the document.
pub fn routes() -> (Router<ApiPorts>, Value) {
    use Access::{Admin, Public, SignedIn};
    use MethodFilter as M;
    let mut r = Routes::new();
    let profile = r.schema::<Profile>();
    let order = r.schema::<OrderView>();
    let order_request = r.schema::<OrderRequest>();
    let subscription = r.schema::<SubscriptionView>();
    let beta = r.schema::<BetaView>();
    let esim = r.schema::<ActivationAnswer>();
    let activate_request = r.schema::<ActivateRequest>();
    let usage = r.schema::<UsageView>();
    r.add(M::GET, "/api/health", health, Op::new("Liveness and version", Public))
        .add(M::GET, "/api/me", me, Op::new("The caller's profile: roles, beta status, membership, wallet, lines (reading writes nothing)", SignedIn).gives(profile.clone()))
        .add(M::POST, "/api/me", register, Op::new("Register the caller (201 the first time)", SignedIn).gives(profile))
        .add(M::GET, "/api/user-purchases", user_purchases, Op::new("The caller's paid purchases, newest first", SignedIn))
        .add(M::POST, "/api/esim/activate", activate_esim, Op::new("The DOT eSIM: the $1.00 invoice, then its activation state (optionally in an area code)", SignedIn).takes(activate_request).gives(esim))
        .add(M::GET, "/api/esim/usage", esim_usage, Op::new("Data used and left on the caller's line (the carrier is asked at most once a minute)", SignedIn).gives(usage))
        .add(M::GET, "/api/user-phone-numbers", user_phone_numbers, Op::new("The caller's active lines with their QR codes", SignedIn))
        .add(M::GET, "/api/activation-stats", activation_stats, Op::new("How busy the activation line is (no personal data)", Public))
        .add(M::PUT, "/api/wallet", set_wallet, Op::new("Where DOTM rewards go (`{\"wallet\": \"0x...\"}`)", SignedIn))
        .add(M::GET, "/api/rewards", rewards, Op::new("DOTM balance and pending, minted, refused rewards", SignedIn))
        .add(M::POST, "/api/orders", commerce::place_order, Op::new("Order catalog items (honours Idempotency-Key)", SignedIn).takes(order_request).gives(order.clone()))
        .add(M::GET, "/api/orders", commerce::list_orders, Op::new("The caller's orders, newest first", SignedIn))
        .add(M::GET, "/api/orders/{id}", commerce::order, Op::new("One order with its payment links", SignedIn).gives(order))
        .add(M::GET, "/api/subscriptions", commerce::list_subscriptions, Op::new("Memberships and add-ons", SignedIn))
        .add(M::POST, "/api/subscriptions/{id}/cancel", commerce::cancel_subscription, Op::new("End a subscription at the end of its paid period", SignedIn).gives(subscription))
        .add(M::GET, "/api/account", commerce::account, Op::new("Profile, orders, subscriptions, entitlements, rewards", SignedIn))
        .add(M::GET, "/api/admin/unmatched-payments", commerce::unmatched_payments, Op::new("Payments that matched no order (they granted nothing)", Admin))
        .add(M::POST, "/api/admin/orders/{uid}/{order_id}/card", commerce::set_card_status, Op::new("Mark a paid Metal Card shipped (with tracking) or ordered", Admin))
        .add(M::POST, "/api/beta-request", beta::request, Op::new("Ask for beta access (once: a second call answers the first)", SignedIn).gives(beta.clone()))
        .add(M::GET, "/api/beta-status", beta::status, Op::new("The caller's beta request", SignedIn).gives(beta))
        .add(M::GET, "/api/beta-requests", beta::pending, Op::new("Pending beta requests", Admin))
        .add(M::POST, "/api/beta-approve/{uid}", beta::approve, Op::new("Approve a beta request (deciding twice changes nothing)", Admin))
        .add(M::POST, "/api/beta-reject/{uid}", beta::reject, Op::new("Reject a beta request (deciding twice changes nothing)", Admin))
        .add(M::GET, "/api/beta-decision", beta::confirm_page, Op::new("The emailed link's confirmation page (changes nothing)", Public).page())
        .add(M::POST, "/api/beta-decision", beta::decide_from_link, Op::new("The confirmation page's button: decide once per link", Public).form().page())
        .add(M::GET, "/.well-known/oauth-authorization-server", oauth::metadata, Op::new("OAuth authorization server metadata (RFC 8414)", Public))
        .add(M::GET, "/oauth/jwks.json", oauth::jwks, Op::new("The keys that verify DOTM access tokens", Public))
        .add(M::GET, "/oauth/authorize", oauth::authorize, Op::new("Authorization endpoint (code + PKCE S256): the sign-in page", Public).page())
        .add(M::POST, "/oauth/signed-in", oauth::signed_in, Op::new("The sign-in page posts the Firebase ID token here", Public).form().page())
        .add(M::POST, "/oauth/consent", oauth::consent, Op::new("The consent page's decision", Public).form().page())
        .add(M::POST, "/oauth/token", oauth::token, Op::new("Token endpoint: authorization_code and refresh_token grants", Public).form())
        .add(M::POST, "/oauth/register", oauth::register, Op::new("Dynamic client registration (RFC 7591)", Public))
        .add(M::POST, "/oauth/revoke", oauth::revoke, Op::new("Token revocation (RFC 7009)", Public).form())
        .elsewhere("/mcp/api", Op::new("The whole catalog (served by the mcp function)", Public))
        .elsewhere("/mcp/service/{id}", Op::new("One service (served by the mcp function)", Public))
        .elsewhere("/mcp/calculate", Op::new("Pricing of `?services=a,b` (served by the mcp function)", Public))
        .document_self()
        .finish()
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

/// `POST /api/esim/activate`'s body, all optional (an empty body is fine).
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
pub struct ActivateRequest {
    /// The North American area code (3 digits, e.g. "212") the person wants their number in;
    /// if the carrier has no numbers there when the line is made, it picks one and says so.
    #[serde(default)]
    pub area_code: Option<String>,
}

/// Same answer as the MCP tool. Any `email`/`firebase_uid` in the body is ignored: the
/// identity comes from the token only.
async fn activate_esim(
    State(p): Ports,
    Caller(who): Caller,
    body: axum::body::Bytes,
) -> Result<Json<ActivationAnswer>, ApiError> {
    let request: ActivateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ActivateRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Problem::bad_request(
                "invalid-body",
                format!(r#"send {{}} or {{"area_code": "212"}}: {e}"#),
            )
        })?
    };
    let area_code = request
        .area_code
        .as_deref()
        .map(AreaCode::parse)
        .transpose()
        .map_err(|e| Problem::bad_request("bad-area-code", e.to_string()))?;
    Ok(Json(
        esim::activate(&p.deps, p.invoicing.as_ref(), &who, area_code.as_ref()).await?,
    ))
}

/// Same answer as the MCP tool `esim_usage`.
async fn esim_usage(
    State(p): Ports,
    Caller(who): Caller,
    headers: axum::http::HeaderMap,
) -> Result<Json<UsageView>, ApiError> {
    let base = dotm::web::origin::base_url(p.public_base_url.as_deref(), &headers);
    Ok(Json(usage::usage(&p.deps, &who, &base).await?))
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
async fn activation_stats(State(p): Ports) -> Result<impl IntoResponse, ApiError> {
    let stats = p.stats.get(&p.deps).await?;
    let cache = format!("public, max-age={}", p.stats.ttl_seconds());
    Ok(([(axum::http::header::CACHE_CONTROL, cache)], Json(stats)))
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
