//! The beta program's routes: the person's request and status, the admins' list and decisions,
//! and the emailed links' confirmation page (a GET shows it and changes nothing, since mail
//! scanners open links; its button POSTs the decision).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dotm::app::beta::{self, BetaView, DecisionView, LinkError};
use dotm::domain::beta::Decision;
use dotm::domain::html::escape;
use dotm::domain::users::Uid;
use dotm::web::auth::Caller;
use dotm::web::html::page;
use dotm::web::origin::base_url;
use dotm::web::{ApiError, Problem};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Ports;
use crate::commerce::require_admin;

pub async fn request(
    State(p): Ports,
    Caller(who): Caller,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<BetaView>), ApiError> {
    let base = base_url(p.public_base_url.as_deref(), &headers);
    let (view, created) = beta::request(&p.deps, &who, &base).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

pub async fn status(State(p): Ports, Caller(who): Caller) -> Result<Json<BetaView>, ApiError> {
    Ok(Json(beta::status(&p.deps, &who).await?))
}

pub async fn pending(State(p): Ports, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    require_admin(&p, &who).await?;
    let requests: Vec<Value> = beta::pending(&p.deps)
        .await?
        .into_iter()
        .map(|r| json!({"uid": r.uid, "email": r.email, "status": r.status, "requested_at": r.requested_at}))
        .collect();
    Ok(Json(json!({ "requests": requests })))
}

async fn decide(
    p: &crate::ApiPorts,
    who: &dotm::domain::users::Identity,
    uid: &str,
    decision: Decision,
) -> Result<Json<DecisionView>, ApiError> {
    require_admin(p, who).await?;
    let uid = Uid::parse(uid).map_err(|e| Problem::bad_request("invalid-uid", e.to_string()))?;
    let by = format!("admin {}", who.uid);
    Ok(Json(beta::decide(&p.deps, &uid, decision, &by).await?))
}

pub async fn approve(
    State(p): Ports,
    Caller(who): Caller,
    Path(uid): Path<String>,
) -> Result<Json<DecisionView>, ApiError> {
    decide(&p, &who, &uid, Decision::Approve).await
}

pub async fn reject(
    State(p): Ports,
    Caller(who): Caller,
    Path(uid): Path<String>,
) -> Result<Json<DecisionView>, ApiError> {
    decide(&p, &who, &uid, Decision::Reject).await
}

#[derive(Deserialize)]
pub struct LinkParams {
    #[serde(default)]
    token: String,
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // The token is in the URL: never send it on to another site.
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page(title, body),
    )
        .into_response()
}

fn bad_link(e: LinkError) -> Response {
    match e {
        LinkError::Unavailable(u) => ApiError::from(u).into_response(),
        LinkError::Expired => html(
            StatusCode::GONE,
            "Link expired",
            "<h1>This link has expired</h1><p>Decide from the admin API instead, or ask the person to request again.</p>",
        ),
        _ => html(
            StatusCode::BAD_REQUEST,
            "Link not valid",
            "<h1>This link is not valid</h1><p>It was changed or cut short. Open the link from the email again.</p>",
        ),
    }
}

fn used() -> Response {
    html(
        StatusCode::CONFLICT,
        "Link already used",
        "<h1>This link was already used</h1><p>Nothing changed.</p>",
    )
}

/// The confirmation page: who and what, with a button. Opening it decides nothing.
pub async fn confirm_page(State(p): Ports, params: Query<LinkParams>) -> Response {
    let link = match beta::open_link(&p.deps, &params.token).await {
        Ok(link) => link,
        Err(e) => return bad_link(e),
    };
    if link.used {
        return used();
    }
    let who = match p.deps.beta.beta_request(&link.uid).await {
        Ok(Some(r)) => r.email.as_str().to_owned(),
        Ok(None) => return bad_link(LinkError::NotValid),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let verb = link.decision.verb();
    let body = format!(
        "<h1>{} beta access?</h1><p>For <b>{}</b>.</p>\
<form method=\"post\" action=\"/api/beta-decision\">\
<input type=\"hidden\" name=\"token\" value=\"{}\"><button type=\"submit\">{} {}</button></form>",
        if verb == "approve" {
            "Approve"
        } else {
            "Reject"
        },
        escape(&who),
        escape(&params.token),
        if verb == "approve" {
            "Approve"
        } else {
            "Reject"
        },
        escape(&who),
    );
    html(StatusCode::OK, "DOTM beta decision", &body)
}

/// The button: decides once per link; a decided request says what was decided first.
pub async fn decide_from_link(State(p): Ports, body: axum::body::Bytes) -> Response {
    let params: LinkParams = serde_urlencoded::from_bytes(&body).unwrap_or(LinkParams {
        token: String::new(),
    });
    let link = match beta::open_link(&p.deps, &params.token).await {
        Ok(link) => link,
        Err(e) => return bad_link(e),
    };
    match beta::use_link(&p.deps, &params.token).await {
        Ok(true) => {}
        Ok(false) => return used(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    match beta::decide(&p.deps, &link.uid, link.decision, "email link").await {
        Ok(done) if done.first_decision => html(
            StatusCode::OK,
            "Decided",
            &format!(
                "<h1>Done: {}</h1><p>{}</p>",
                done.status.word(),
                escape(&done.message)
            ),
        ),
        Ok(done) => html(
            StatusCode::CONFLICT,
            "Already decided",
            &format!(
                "<h1>Already {}</h1><p>{}</p>",
                done.status.word(),
                escape(&done.message)
            ),
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}
