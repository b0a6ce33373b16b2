//! The MCP server: its tools by area ([`catalog_tools`]: public; [`esim_tools`],
//! [`commerce_tools`], [`account_tools`]: signed in), one router combined from theirs, the resources and prompts of the library, and
//! what every tool shares (answers, refusals, the caller). Built once per cold start and cloned
//! per request (the clone shares the tool router, so no request rebuilds it).

mod account_tools;
mod catalog_tools;
mod commerce_tools;
mod esim_tools;

use std::sync::Arc;

use dotm::app::account;
use dotm::app::accounts::AccountError;
use dotm::app::beta::{self, BetaError, BetaView};
use dotm::app::esim::{self, ActivationAnswer, EsimError};
use dotm::app::orders::{self, OrderFailure, OrderRequest, OrderView};
use dotm::app::subscriptions::{self, SubscriptionError};
use dotm::app::usage::{self, UsageView};
use dotm::domain::catalog::{self, Category};
use dotm::domain::handoff::PayTarget;
use dotm::domain::nanp::AreaCode;
use dotm::domain::pricing::{self, Quote};
use dotm::domain::rewards::CashbackRate;
use dotm::domain::search;
use dotm::domain::users::Identity;
use dotm::web::origin::base_url;
use dotm::wiring::McpPorts;
use rmcp::handler::server::common::{schema_for_output, schema_for_type};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{Extension, InputResponses, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, CustomRequest, CustomResult, ErrorCode,
    GetPromptRequestParams, GetPromptResponse, Implementation, JsonObject, ListPromptsResult,
    ListResourcesResult, MetaObject, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::Serialize;

use crate::declared::Declared;
use crate::handoff::{self, PaymentStep};
use crate::install;
use crate::library::{self, CARD_URI};
use crate::render;
use crate::tools::{
    ActivateEsimArgs, BetaArgs, CalculatePricingArgs, MAX_ID_CHARS, MAX_QUERY_CHARS, MAX_SERVICES,
    MembershipsAnswer, NoArgs, SearchAnswer, SearchResult, SearchServicesArgs, ServiceDetailsArgs,
    SubscriptionsAnswer, SubscriptionsArgs, check_length, parse, tagged_output_schema,
};

pub const INSTRUCTIONS: &str = "DOTM sells global eSIM data, network add-ons and memberships, \
and rewards purchases with the DOTM token (10.33 % cashback). Use search_services to find a \
service id from what the person asks for, get_service_details for one service, \
calculate_pricing for totals of several, compare_memberships to choose a membership.";

#[derive(Clone)]
pub struct DotmMcp {
    tool_router: Arc<ToolRouter<DotmMcp>>,
    cashback: CashbackRate,
    ports: McpPorts,
}

fn answer<T: Serialize>(value: &T, text: String) -> Result<CallToolResult, ErrorData> {
    let structured = serde_json::to_value(value).map_err(|e| {
        ErrorData::internal_error(format!("could not encode the answer: {e}"), None)
    })?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(structured);
    Ok(result)
}

/// A tool error: the call was routed, the assistant reads `text` and can correct itself.
fn refuse(text: String) -> Result<CallToolResult, ErrorData> {
    Ok(CallToolResult::error(vec![ContentBlock::text(text)]))
}

impl DotmMcp {
    pub fn new(cashback: CashbackRate, ports: McpPorts) -> Self {
        let tools = Self::catalog_tools()
            + Self::esim_tools()
            + Self::commerce_tools()
            + Self::account_tools();
        DotmMcp {
            tool_router: Arc::new(tools),
            cashback,
            ports,
        }
    }

    /// Names and descriptions of the tools, for the browser page.
    pub fn tool_summaries(&self) -> Vec<(String, String)> {
        self.tool_router
            .list_all()
            .into_iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.description.unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

const SIGN_IN: &str = "sign-in required: ask the person to sign in to DOTM and connect again.";

fn caller(parts: &http::request::Parts) -> Option<Identity> {
    parts.extensions.get::<Identity>().cloned()
}

fn unavailable(e: &dotm::ports::Unavailable) -> Result<CallToolResult, ErrorData> {
    tracing::error!(what = e.what, cause = %e.chain(), "signed-in tool failed");
    refuse("DOTM could not reach its payment or storage service; try again in a minute.".into())
}

fn declared(parts: &http::request::Parts) -> Declared {
    parts
        .extensions
        .get::<Declared>()
        .copied()
        .unwrap_or_default()
}

impl DotmMcp {
    pub fn ports(&self) -> &McpPorts {
        &self.ports
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DotmMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new("dotm", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        library::list_resources()
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        library::read_resource(&request.uri).await.map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        library::list_prompts()
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        library::get_prompt(&request.name, request.arguments.as_ref()).map(Into::into)
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {}", request.method),
            None,
        ))
    }
}
