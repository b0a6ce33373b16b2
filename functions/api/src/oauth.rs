//! The authorization server's HTTP side (MCP authorization): metadata (RFC 8414), the sign-in
//! and consent pages, `/oauth/token`, `/oauth/register` (RFC 7591), `/oauth/revoke` (RFC 7009)
//! and the public keys. Errors are RFC 6749 error JSON, or a redirect with `error=` once the
//! client's redirect URI is trusted, or a page that says what went wrong.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use dotm::app::oauth::{
    AuthorizeError, AuthorizeParams, Endpoints, RegistrationRequest, TokenForm,
};
use dotm::domain::oauth::{OAuthError, SCOPES};
use dotm::web::html::{escape, page};
use dotm::web::origin::base_url;
use dotm::wiring::ApiPorts;
use serde::Deserialize;
use serde_json::{Value, json};

type Ports = State<ApiPorts>;

fn endpoints(p: &ApiPorts, headers: &HeaderMap) -> Endpoints {
    let issuer = base_url(p.public_base_url.as_deref(), headers);
    Endpoints {
        resource: format!("{issuer}/mcp"),
        issuer,
    }
}

/// RFC 6749 §5.2: 400 (401 for `invalid_client`), no caching.
fn oauth_error(e: OAuthError) -> Response {
    let status = match e.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut r = (status, Json(e)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error_page(status: StatusCode, e: &OAuthError) -> Response {
    let body = format!(
        "<h1>DOTM could not connect your assistant</h1><p>{}</p><p><code>{}</code></p>\
<p>Start again from your assistant.</p>",
        escape(&e.error_description),
        escape(e.error)
    );
    (status, Html(page("Sign-in problem", &body))).into_response()
}

/// A page's form, or a page that says what was wrong with it.
fn form_of<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, OAuthError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| OAuthError::invalid_request(format!("the form is incomplete: {e}")))
}

/// RFC 8414.
pub async fn metadata(State(p): Ports, headers: HeaderMap) -> Json<Value> {
    let at = endpoints(&p, &headers);
    let i = &at.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/oauth/authorize"),
        "token_endpoint": format!("{i}/oauth/token"),
        "registration_endpoint": format!("{i}/oauth/register"),
        "revocation_endpoint": format!("{i}/oauth/revoke"),
        "jwks_uri": format!("{i}/oauth/jwks.json"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": SCOPES,
        "client_id_metadata_document_supported": true,
    }))
}

pub async fn jwks(State(p): Ports) -> Json<Value> {
    Json(p.oauth.signer.jwks())
}

/// Checks the request, then the sign-in page: Firebase signs the person in and posts the ID
/// token back to `/oauth/signed-in` with the request, sealed.
pub async fn authorize(
    State(p): Ports,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    let at = endpoints(&p, &headers);
    let sealed = match p.oauth.authorize(&params, &at).await {
        Ok(sealed) => sealed,
        Err(AuthorizeError::Page(e)) => return error_page(StatusCode::BAD_REQUEST, &e),
        Err(AuthorizeError::Redirect { to }) => return Redirect::to(&to).into_response(),
        Err(AuthorizeError::Unavailable(why)) => {
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                &OAuthError {
                    error: "temporarily_unavailable",
                    error_description: why,
                },
            );
        }
    };
    let Some(signin) = p.signin_url.as_deref() else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            &OAuthError {
                error: "temporarily_unavailable",
                error_description: "sign-in is not configured (OAUTH_SIGNIN_URL)".into(),
            },
        );
    };
    let request = p.oauth.open_request(&sealed).ok();
    let client = request.map(|r| r.client_name).unwrap_or_default();
    let body = format!(
        "<h1>Sign in to DOTM</h1><p><b>{}</b> wants to use DOTM for you. Sign in first; you \
will be asked to allow it next.</p><form method=\"get\" action=\"{}\">\
<input type=\"hidden\" name=\"continue\" value=\"{}\">\
<input type=\"hidden\" name=\"request\" value=\"{}\">\
<button type=\"submit\">Sign in with Firebase</button></form>",
        escape(&client),
        escape(signin),
        escape(&format!("{}/oauth/signed-in", at.issuer)),
        escape(&sealed)
    );
    Html(page("Sign in to DOTM", &body)).into_response()
}

#[derive(Deserialize)]
pub struct SignedIn {
    request: String,
    id_token: String,
}

fn scope_text(scope: &str) -> &'static str {
    match scope {
        "esim" => "activate your DOT eSIM and see its state",
        "purchases" => "buy DOTM services for you (you still pay each invoice)",
        "account" => "read your DOTM account",
        _ => "",
    }
}

/// The consent page: who is signed in, which client, which scopes.
pub async fn signed_in(State(p): Ports, body: Bytes) -> Response {
    let form: SignedIn = match form_of(&body) {
        Ok(f) => f,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let (consent, ticket) = match p.oauth.signed_in(&form.request, &form.id_token).await {
        Ok(ok) => ok,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let scopes: String = consent
        .request
        .scopes
        .iter()
        .map(|s| format!("<li><b>{}</b>: {}</li>", escape(s), escape(scope_text(s))))
        .collect();
    let who = consent.email.clone().unwrap_or_else(|| consent.uid.clone());
    let body = format!(
        "<h1>Allow {client}?</h1><p>Signed in as <b>{who}</b>.</p><p><b>{client}</b> asks to:</p>\
<ul>{scopes}</ul><p>It will be able to do this until you disconnect it.</p>\
<form method=\"post\" action=\"consent\"><input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\
<button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        client = escape(&consent.request.client_name),
        who = escape(&who),
        ticket = escape(&ticket),
    );
    Html(page("Allow access to DOTM", &body)).into_response()
}

#[derive(Deserialize)]
pub struct Decision {
    ticket: String,
    decision: String,
}

pub async fn consent(State(p): Ports, body: Bytes) -> Response {
    let form: Decision = match form_of(&body) {
        Ok(f) => f,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        other => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &OAuthError::invalid_request(format!(
                    "decision must be approve or deny, not {other:?}"
                )),
            );
        }
    };
    match p.oauth.decide(&form.ticket, approve).await {
        // 303: the browser follows with a GET to the client's redirect URI.
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => error_page(StatusCode::BAD_REQUEST, &e),
    }
}

pub async fn token(State(p): Ports, headers: HeaderMap, body: Bytes) -> Response {
    let form: TokenForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => {
            return oauth_error(OAuthError::invalid_request(format!(
                "the body must be application/x-www-form-urlencoded: {e}"
            )));
        }
    };
    match p.oauth.token(&form, &endpoints(&p, &headers)).await {
        Ok(tokens) => {
            let mut r = Json(tokens).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => oauth_error(e),
    }
}

pub async fn register(State(p): Ports, body: Bytes) -> Response {
    let req: RegistrationRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return oauth_error(OAuthError::invalid_client_metadata(format!(
                "the body must be the client's metadata as JSON: {e}"
            )));
        }
    };
    match p.oauth.register(&req).await {
        Ok(client) => (
            StatusCode::CREATED,
            Json(json!({
                "client_id": client.client_id,
                "client_id_issued_at": client.created_at,
                "client_name": client.client_name,
                "redirect_uris": client.redirect_uris,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            })),
        )
            .into_response(),
        Err(e) => oauth_error(e),
    }
}

#[derive(Deserialize)]
pub struct Revocation {
    token: Option<String>,
}

pub async fn revoke(State(p): Ports, body: Bytes) -> Response {
    let form: Revocation =
        serde_urlencoded::from_bytes(&body).unwrap_or(Revocation { token: None });
    let Some(token) = form.token.filter(|t| !t.is_empty()) else {
        return oauth_error(OAuthError::invalid_request("token is required"));
    };
    match p.oauth.revoke(&token).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(e),
    }
}
