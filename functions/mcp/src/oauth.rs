//! The MCP server as an OAuth resource server (MCP authorization spec): protected resource
//! metadata (RFC 9728) and the bearer check of signed-in tools, answered at the HTTP level so
//! clients start their sign-in: 401 with `WWW-Authenticate: Bearer resource_metadata=..., scope=...`
//! without a usable token, 403 `insufficient_scope` without the scope. Public tools need none.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dotm::adapters::access_tokens::NOT_AN_ACCESS_TOKEN;
use dotm::domain::oauth::SCOPES;
use dotm::domain::users::{Email, Identity, Uid};
use dotm::ports::AuthError;
use dotm::web::auth::bearer;
use dotm::web::origin::base_url;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::App;

/// The tools that act for a person, and the scope each needs.
pub const PROTECTED: [(&str, &str); 8] = [
    ("activate_esim", "esim"),
    ("activation_status", "esim"),
    ("refresh_install_card", "esim"),
    ("esim_usage", "esim"),
    ("buy_services", "purchases"),
    ("manage_subscriptions", "purchases"),
    ("my_account", "account"),
    ("beta_program", "account"),
];

pub struct Resource {
    pub issuer: String,
    /// The canonical MCP URL: the audience DOTM access tokens must name.
    pub url: String,
}

pub fn resource(app: &App, headers: &HeaderMap) -> Resource {
    let issuer = base_url(app.server.ports().public_base_url.as_deref(), headers);
    Resource {
        url: format!("{issuer}/mcp"),
        issuer,
    }
}

/// `GET /.well-known/oauth-protected-resource[/mcp]`.
pub async fn metadata(State(app): State<Arc<App>>, headers: HeaderMap) -> Json<Value> {
    let r = resource(&app, &headers);
    Json(json!({
        "resource": r.url,
        "authorization_servers": [r.issuer],
        "scopes_supported": SCOPES,
        "bearer_methods_supported": ["header"],
        "resource_name": "DOTM",
    }))
}

fn challenge(
    status: StatusCode,
    r: &Resource,
    scope: &str,
    error: Option<(&str, &str)>,
) -> Response {
    let mut value = format!(
        r#"Bearer resource_metadata="{}/.well-known/oauth-protected-resource/mcp", scope="{scope}""#,
        r.issuer
    );
    let message = match error {
        Some((code, why)) => {
            value.push_str(&format!(
                r#", error="{code}", error_description="{}""#,
                why.replace('"', "'")
            ));
            why.to_owned()
        }
        None => "sign-in required: connect DOTM with your assistant's sign-in (OAuth)".to_owned(),
    };
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32001, "message": message}});
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// The scope a `tools/call` message needs, if it calls a signed-in tool.
pub fn needed_scope(body: &[u8]) -> Option<&'static str> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if value.get("method")? != "tools/call" {
        return None;
    }
    let name = value.get("params")?.get("name")?.as_str()?;
    PROTECTED
        .iter()
        .find(|(tool, _)| *tool == name)
        .map(|(_, scope)| *scope)
}

/// Who calls a signed-in tool: a DOTM access token for this resource with the scope, or (for
/// first-party and development clients) a Firebase ID token. Anything else is refused here.
pub async fn caller(app: &App, headers: &HeaderMap, scope: &str) -> Result<Identity, Response> {
    let r = resource(app, headers);
    let Some(token) = bearer(headers) else {
        return Err(challenge(StatusCode::UNAUTHORIZED, &r, scope, None));
    };
    let ports = app.server.ports();
    let access = match ports.access.verify(token, &r.issuer, &r.url).await {
        Ok(claims) => {
            if !claims.has_scope(scope) {
                return Err(challenge(
                    StatusCode::FORBIDDEN,
                    &r,
                    scope,
                    Some((
                        "insufficient_scope",
                        &format!("this tool needs the {scope:?} scope"),
                    )),
                ));
            }
            let uid = Uid::parse(&claims.sub).map_err(|_| {
                challenge(
                    StatusCode::UNAUTHORIZED,
                    &r,
                    scope,
                    Some(("invalid_token", "bad subject")),
                )
            })?;
            return Ok(Identity::verified(
                uid,
                claims.email.as_deref().and_then(|e| Email::parse(e).ok()),
            ));
        }
        Err(AuthError::Unavailable(e)) => {
            tracing::error!(what = e.what, cause = %e.chain(), "access token keys unavailable");
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32603,
                    "message": "DOTM could not check the sign-in; try again in a minute"}}),
                ),
            )
                .into_response());
        }
        Err(e) => e,
    };
    match ports.verifier.verify(token).await {
        Ok(identity) => Ok(identity),
        Err(AuthError::Unavailable(e)) => {
            tracing::error!(what = e.what, cause = %e.chain(), "firebase keys unavailable");
            Err(challenge(
                StatusCode::SERVICE_UNAVAILABLE,
                &r,
                scope,
                Some(("temporarily_unavailable", "try again")),
            ))
        }
        // A token meant as a DOTM access token: say why it failed, not Firebase's view of it.
        Err(firebase) => {
            let why = match &access {
                AuthError::Invalid(why) if why != NOT_AN_ACCESS_TOKEN => why.clone(),
                _ => firebase.to_string(),
            };
            Err(challenge(
                StatusCode::UNAUTHORIZED,
                &r,
                scope,
                Some(("invalid_token", &why)),
            ))
        }
    }
}
