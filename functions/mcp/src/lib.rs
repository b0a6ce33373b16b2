//! The `mcp` function: the MCP server for AI assistants and the public catalog endpoints.
//! `main.rs` builds [`router`] once per cold start; tests drive it in-process.

pub mod access;
pub mod catalog_http;
pub mod config;
pub mod declared;
pub mod gate;
pub mod handoff;
pub mod install;
pub mod library;
pub mod oauth;
pub mod page;
pub mod pay;
pub mod render;
pub mod server;
pub mod tools;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dotm::domain::rate_limit::Client;
use dotm::web::{access_log, problem, rate_limit};
use dotm::wiring::McpPorts;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tower::ServiceExt;

pub use config::Config;
use declared::Declared;
pub use server::DotmMcp;

/// Names this function in the `x-dotm-served-by` header and the logs.
pub const FUNCTION: &str = env!("CARGO_PKG_NAME");

pub type McpService = StreamableHttpService<DotmMcp, NeverSessionManager>;

/// What every request shares: built once, cloned cheaply.
pub struct App {
    pub config: Config,
    pub server: DotmMcp,
    pub mcp: McpService,
    /// Names of the tools, for the gate's check of `tools/call`.
    pub tool_names: Vec<String>,
}

impl App {
    pub fn new(config: Config, ports: McpPorts) -> App {
        let server = DotmMcp::new(config.cashback, ports);
        // Stateless and JSON-only, so any Lambda instance answers any request. Host and
        // Origin are checked by `gate` (with JSON-RPC error bodies), not here.
        let transport = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_sse_retry(None)
            .with_max_request_body_bytes(gate::MAX_BODY_BYTES)
            .disable_allowed_hosts()
            .disable_allowed_origins();
        let factory = server.clone();
        let mcp = StreamableHttpService::new(
            move || Ok(factory.clone()),
            Arc::new(NeverSessionManager::default()),
            transport,
        );
        let tool_names = server
            .tool_summaries()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        App {
            config,
            server,
            mcp,
            tool_names,
        }
    }
}

pub fn router(config: Config, ports: McpPorts) -> Router {
    let limiter = ports.limiter.clone();
    let app = Arc::new(App::new(config, ports));
    // The public pages and the catalog count per client address; `POST /mcp` counts in
    // `mcp_post`, per person once a token is verified.
    let by_address = || axum::middleware::from_fn(rate_limit::limit_by_address);
    Router::new()
        .route(
            "/mcp",
            get(page::show).route_layer(by_address()).post(mcp_post),
        )
        .route("/mcp/v2/messages", post(mcp_post))
        .route(
            "/pay/{token}",
            get(pay::show).post(pay::accept).route_layer(by_address()),
        )
        .route(
            "/mcp/api",
            get(catalog_http::all_services).route_layer(by_address()),
        )
        .route(
            "/mcp/service/{id}",
            get(catalog_http::one_service).route_layer(by_address()),
        )
        .route(
            "/mcp/calculate",
            get(catalog_http::calculate).route_layer(by_address()),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(oauth::metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(oauth::metadata),
        )
        .method_not_allowed_fallback(problem::wrong_method)
        .fallback(problem::no_such_route)
        .layer(axum::Extension(limiter))
        .layer(axum::middleware::from_fn_with_state(
            FUNCTION,
            access_log::log_request,
        ))
        .with_state(app)
}

/// `POST /mcp` and `POST /mcp/v2/messages`: the gate, then rmcp.
async fn mcp_post(State(app): State<Arc<App>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Err(refusal) = gate::check_access(&app.config.access, &parts.headers) {
        return refusal.into_response();
    }
    if let Err(refusal) = gate::normalize_headers(&mut parts.headers) {
        return refusal.into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, gate::MAX_BODY_BYTES).await else {
        return gate::Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: gate::INVALID_REQUEST,
            message: format!("the request body exceeds {} bytes", gate::MAX_BODY_BYTES),
            id: serde_json::Value::Null,
        }
        .into_response();
    };
    if let Err(refusal) = gate::check_message(&bytes, &app.tool_names) {
        return refusal.into_response();
    }
    let message: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    parts
        .extensions
        .insert(Declared::for_request(&parts.headers, &message));
    declared::strip_session(&mut parts.headers);
    // No sessions: the id handed out here only carries what an older client declared.
    let initialize = (message.get("method") == Some(&"initialize".into())).then(|| {
        Declared::from_capabilities(
            message
                .pointer("/params/capabilities")
                .unwrap_or(&serde_json::Value::Null),
        )
    });
    // Signed-in tools: the caller is checked here, so a client without a usable token gets
    // HTTP 401 and its OAuth discovery starts; the tool reads the verified identity.
    if let Some(scope) = oauth::needed_scope(&bytes) {
        match oauth::caller(&app, &parts.headers, scope).await {
            Ok(identity) => {
                parts.extensions.insert(identity);
            }
            Err(refusal) => return refusal,
        }
    }
    let client = match parts.extensions.get::<dotm::domain::users::Identity>() {
        Some(identity) => Client::Person(identity.uid.as_str().to_owned()),
        None => Client::Address(rate_limit::client_address(&parts.headers)),
    };
    let verdict = app.server.ports().limiter.check(&client).await;
    if let Some(v) = verdict.filter(|v| !v.allowed) {
        let id = message.get("id").cloned().unwrap_or_default();
        let mut refused = gate::Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: gate::RATE_LIMITED,
            message: format!(
                "rate limited: at most {} requests per {} s from one client; try again in {} s",
                v.limit, v.window_seconds, v.reset_seconds
            ),
            id,
        }
        .into_response();
        rate_limit::add_headers(refused.headers_mut(), &v);
        return refused;
    }
    let request = Request::from_parts(parts, Body::from(bytes));
    let response = match app.mcp.clone().oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    let mut response = gate::jsonrpc_errors(response).await;
    if let Some(v) = verdict {
        rate_limit::add_headers(response.headers_mut(), &v);
    }
    if let Some(d) = initialize
        && response.status().is_success()
        && let Ok(id) = d.session_id().parse()
    {
        response
            .headers_mut()
            .insert(declared::session_header(), id);
    }
    response
}
