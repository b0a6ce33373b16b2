//! The MCP server: four public tools over the catalog. Built once per cold start and cloned
//! per request (the clone shares the tool router, so no request rebuilds it).

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

#[tool_router]
impl DotmMcp {
    pub fn new(cashback: CashbackRate, ports: McpPorts) -> Self {
        DotmMcp {
            tool_router: Arc::new(Self::tool_router()),
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

    #[tool(
        description = "Price a set of DOTM services together: per-item lines, monthly recurring, \
annual total, one-time total, first-year total and the DOTM cashback earned. Unknown ids are \
reported by name.",
        input_schema = schema_for_type::<CalculatePricingArgs>(),
        output_schema = schema_for_output::<Quote>(),
        annotations(title = "Calculate pricing", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn calculate_pricing(
        &self,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args: CalculatePricingArgs = match parse("calculate_pricing", args) {
            Ok(a) => a,
            Err(e) => return refuse(e),
        };
        if args.services.len() > MAX_SERVICES {
            return refuse(format!(
                "Invalid arguments for calculate_pricing: {} services; at most {MAX_SERVICES} in one call",
                args.services.len()
            ));
        }
        if let Some(e) = args.services.iter().find_map(|id| {
            check_length("calculate_pricing", "a service id", id, MAX_ID_CHARS).err()
        }) {
            return refuse(e);
        }
        match pricing::quote(&args.services, &self.cashback) {
            Ok(quote) => answer(&quote, render::quote(&quote)),
            Err(e) => refuse(format!(
                "{e}. Use search_services to find valid service ids."
            )),
        }
    }

    #[tool(
        description = "Search the DOTM catalog with the person's own words (e.g. \"Global Data \
eSIM\", \"DOT eSIM\", \"vpn\"). Returns the best matching services first, with ids and prices.",
        input_schema = schema_for_type::<SearchServicesArgs>(),
        output_schema = schema_for_output::<SearchAnswer>(),
        annotations(title = "Search services", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn search_services(
        &self,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args: SearchServicesArgs = match parse("search_services", args) {
            Ok(a) => a,
            Err(e) => return refuse(e),
        };
        if let Err(e) = check_length("search_services", "query", &args.query, MAX_QUERY_CHARS) {
            return refuse(e);
        }
        let limit = match args.limit {
            None => 5,
            Some(n @ 1..=23) => n as usize,
            Some(n) => return refuse(format!("limit must be between 1 and 23, got {n}")),
        };
        let hits = search::search(&args.query, args.category, limit);
        let results: Vec<SearchResult> = hits
            .into_iter()
            .map(|h| SearchResult {
                id: h.service.id,
                name: h.service.name,
                category: h.service.category,
                description: h.service.description,
                price: h.service.price,
                price_cents: h.service.price_cents,
                billing: h.service.billing,
                score: h.score,
            })
            .collect();
        let found = SearchAnswer {
            query: args.query,
            total: results.len(),
            results,
        };
        let text = render::search(&found);
        answer(&found, text)
    }

    #[tool(
        description = "Everything about one DOTM service: description, features, price and billing.",
        input_schema = schema_for_type::<ServiceDetailsArgs>(),
        output_schema = schema_for_output::<catalog::Service>(),
        annotations(title = "Service details", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_service_details(
        &self,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args: ServiceDetailsArgs = match parse("get_service_details", args) {
            Ok(a) => a,
            Err(e) => return refuse(e),
        };
        if let Err(e) = check_length(
            "get_service_details",
            "service_id",
            &args.service_id,
            MAX_ID_CHARS,
        ) {
            return refuse(e);
        }
        match catalog::find(args.service_id.trim()) {
            Some(service) => answer(service, render::service(service)),
            None => refuse(format!(
                "unknown service id: {}. Use search_services to find valid service ids.",
                args.service_id
            )),
        }
    }

    #[tool(
        description = "Compare the DOTM memberships (Beta Program, Basic, Full): prices and what \
each includes.",
        input_schema = schema_for_type::<NoArgs>(),
        output_schema = schema_for_output::<MembershipsAnswer>(),
        annotations(title = "Compare memberships", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn compare_memberships(&self) -> Result<CallToolResult, ErrorData> {
        let memberships: Vec<catalog::Service> = catalog::in_category(Category::Membership)
            .cloned()
            .collect();
        let compared = MembershipsAnswer {
            memberships,
            recommendation: "Full Membership ($66.00 a year, $5.50 a month) includes priority \
support and network security, worth $60 a year on their own; Basic ($24.00 a year) suits \
members who mostly buy data. The Beta Program is free and needs approval."
                .into(),
        };
        let text = render::memberships(&compared);
        answer(&compared, text)
    }

    #[tool(
        description = "Buy and activate a DOT eSIM (North American number, data) for the signed-in \
person: the first call emails a $1.00 invoice and answers its payment link; once paid, the \
activation starts by itself and the QR code is emailed. Call again any time for the current \
state. Needs the person's sign-in token (Authorization: Bearer); email and firebase_uid \
arguments are ignored.",
        input_schema = schema_for_type::<ActivateEsimArgs>(),
        output_schema = tagged_output_schema::<ActivationAnswer>("status"),
        annotations(
            title = "Activate eSIM",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        ),
        meta = card_link()
    )]
    async fn activate_esim(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResponse, ErrorData> {
        let area_code =
            match parse::<ActivateEsimArgs>("activate_esim", args.clone()).and_then(|a| {
                a.area_code
                    .as_deref()
                    .map(AreaCode::parse)
                    .transpose()
                    .map_err(|e| e.to_string())
            }) {
                Ok(area_code) => area_code,
                Err(e) => return refuse(e).map(Into::into),
            };
        let Some(identity) = caller(&parts) else {
            return refuse(SIGN_IN.into()).map(Into::into);
        };
        let declared = declared(&parts);
        let resumed = self
            .resume(&identity, "activate_esim", &args, state, responses.as_ref())
            .await?;
        let deps = &self.ports.deps;
        let found = esim::activate(
            deps,
            self.ports.invoicing.as_ref(),
            &identity,
            area_code.as_ref(),
        )
        .await;
        let answer = match found {
            Ok(answer) => answer,
            Err(e) => return esim_failure(e).map(Into::into),
        };
        let ActivationAnswer::PaymentRequired {
            invoice_id,
            message,
            ..
        } = &answer
        else {
            return install::esim_result(&answer, declared, None).map(Into::into);
        };
        let target = PayTarget::Esim {
            invoice_id: invoice_id.clone(),
        };
        let (pay_url, declined) = handoff::carried(resumed, &target);
        if declined {
            return install::esim_result(&answer, declared, pay_url.as_deref()).map(Into::into);
        }
        let base = base_url(self.ports.public_base_url.as_deref(), &parts.headers);
        let step = self
            .payment_step(
                &identity,
                declared,
                "activate_esim",
                &args,
                target,
                pay_url,
                message,
                &base,
            )
            .await?;
        match step {
            PaymentStep::Link(url) => {
                install::esim_result(&answer, declared, Some(&url)).map(Into::into)
            }
            PaymentStep::Ask(ask) => Ok(ask.into()),
        }
    }

    #[tool(
        description = "The state of the signed-in person's DOT eSIM without starting anything: \
payment_required (with the invoice link), queued (position in line and ETA), active (phone \
number, LPA code, QR code) or failed (reason and next steps). Needs the sign-in token.",
        input_schema = schema_for_type::<NoArgs>(),
        output_schema = tagged_output_schema::<ActivationAnswer>("status"),
        annotations(
            title = "Activation status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        meta = card_link()
    )]
    async fn activation_status(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        self.esim_status(&parts).await
    }

    #[tool(
        description = "For the install card only: the DOT eSIM's current state (queued with \
position and ETA, or active), so the card can update itself.",
        input_schema = schema_for_type::<NoArgs>(),
        output_schema = tagged_output_schema::<ActivationAnswer>("status"),
        annotations(
            title = "Refresh the install card",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        meta = card_only()
    )]
    async fn refresh_install_card(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        self.esim_status(&parts).await
    }

    #[tool(
        description = "Data used and left on the signed-in person's DOT eSIM, valid until when, \
as of when (the carrier is asked at most once a minute). At 75 % and 90 % used the person gets \
an email with a one-tap 10 GB top-up. Needs the sign-in token.",
        input_schema = schema_for_type::<NoArgs>(),
        output_schema = tagged_output_schema::<UsageView>("status"),
        annotations(
            title = "eSIM data usage",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn esim_usage(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let Some(identity) = caller(&parts) else {
            return refuse(SIGN_IN.into());
        };
        let base = base_url(self.ports.public_base_url.as_deref(), &parts.headers);
        match usage::usage(&self.ports.deps, &identity, &base).await {
            Ok(view) => {
                let text = match &view {
                    UsageView::Active { message, .. }
                    | UsageView::Measuring { message, .. }
                    | UsageView::Unsupported { message, .. }
                    | UsageView::NoLine { message } => message.clone(),
                };
                answer(&view, text)
            }
            Err(e) => unavailable(&e),
        }
    }

    #[tool(
        description = "Order catalog services for the signed-in person: one-time items \
(global_data_10gb with a quantity 1-10, esim_beta, dotm_metal_card with a shipping_address) on \
one emailed invoice, and each membership (yearly) or network add-on (monthly) as its own \
subscription billed by emailed invoice. Answers the order, its total, the DOTM cashback and \
the payment links. The same request while unpaid answers the same order. Needs the sign-in \
token.",
        input_schema = schema_for_type::<OrderRequest>(),
        output_schema = schema_for_output::<OrderView>(),
        annotations(
            title = "Buy services",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn buy_services(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResponse, ErrorData> {
        let request = match parse::<OrderRequest>("buy_services", args.clone()) {
            Ok(request) => request,
            Err(e) => return refuse(e).map(Into::into),
        };
        let Some(identity) = caller(&parts) else {
            return refuse(SIGN_IN.into()).map(Into::into);
        };
        let declared = declared(&parts);
        let resumed = self
            .resume(&identity, "buy_services", &args, state, responses.as_ref())
            .await?;
        let deps = &self.ports.deps;
        let found = match resumed.as_ref().map(|r| &r.target) {
            // The order this round was about: placing it again after payment would buy twice.
            Some(PayTarget::Order { order_id }) => orders::find(deps, &identity, order_id).await,
            _ => {
                // A client that retries after a URL elicitation sends the same call again: within
                // half an hour it answers the same order, paid or not.
                let key = (declared.url_elicitation && !declared.multi_round).then(|| {
                    let bucket = deps.clock.now_unix() / 1800;
                    format!("elicit-{}-{bucket}", &handoff::args_digest(&args)[..24])
                });
                orders::place(
                    deps,
                    self.ports.invoicing.as_ref(),
                    &identity,
                    request,
                    key.as_deref(),
                )
                .await
            }
        };
        let order = match found {
            Ok(order) => order,
            Err(
                OrderFailure::Unavailable(e) | OrderFailure::Account(AccountError::Unavailable(e)),
            ) => return unavailable(&e).map(Into::into),
            Err(e) => return refuse(e.to_string()).map(Into::into),
        };
        if order.payments.iter().all(|p| p.paid) {
            let text = order.message.clone();
            return answer(&order, text).map(Into::into);
        }
        let target = PayTarget::Order {
            order_id: order.order_id.clone(),
        };
        let (pay_url, declined) = handoff::carried(resumed, &target);
        let base = base_url(self.ports.public_base_url.as_deref(), &parts.headers);
        let pay_url = if declined {
            pay_url
        } else {
            let step = self
                .payment_step(
                    &identity,
                    declared,
                    "buy_services",
                    &args,
                    target,
                    pay_url,
                    &format!(
                        "Pay {} for order {}.",
                        order.total.display(),
                        order.order_id
                    ),
                    &base,
                )
                .await?;
            match step {
                PaymentStep::Link(url) => Some(url),
                PaymentStep::Ask(ask) => return Ok(ask.into()),
            }
        };
        let mut structured = serde_json::to_value(&order).map_err(|e| {
            ErrorData::internal_error(format!("could not encode the answer: {e}"), None)
        })?;
        let mut text = order.message.clone();
        if let Some(url) = pay_url {
            text.push_str(&format!(" Pay here: {url}"));
            structured["pay_url"] = serde_json::json!(url);
        }
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(structured);
        Ok(result.into())
    }

    #[tool(
        description = "The signed-in person's DOTM account: profile and roles (member while a \
membership runs), orders, subscriptions, entitlements (features, data, card) and rewards. \
Read only. Needs the sign-in token.",
        input_schema = schema_for_type::<NoArgs>(),
        output_schema = schema_for_output::<account::Overview>(),
        annotations(title = "My account", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn my_account(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let Some(identity) = caller(&parts) else {
            return refuse(SIGN_IN.into());
        };
        match account::overview(&self.ports.deps, &identity).await {
            Ok(view) => {
                let roles = serde_json::to_string(&view.profile.roles).unwrap_or_default();
                let text = format!(
                    "{} orders, {} subscriptions, roles: {roles}.",
                    view.orders.len(),
                    view.subscriptions.len(),
                );
                answer(&view, text)
            }
            Err(e) => unavailable(&e),
        }
    }

    #[tool(
        description = "The signed-in person's subscriptions (memberships and add-ons); with \
cancel_subscription_id, sets that subscription to end at the end of its paid period (what it \
gives lasts until then). Needs the sign-in token.",
        input_schema = schema_for_type::<SubscriptionsArgs>(),
        output_schema = schema_for_output::<SubscriptionsAnswer>(),
        annotations(
            title = "Subscriptions",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn manage_subscriptions(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args = match parse::<SubscriptionsArgs>("manage_subscriptions", args) {
            Ok(args) => args,
            Err(e) => return refuse(e),
        };
        let Some(identity) = caller(&parts) else {
            return refuse(SIGN_IN.into());
        };
        let deps = &self.ports.deps;
        let mut cancelled = None;
        if let Some(id) = args.cancel_subscription_id {
            let field = "cancel_subscription_id";
            if let Err(e) = check_length("manage_subscriptions", field, &id, MAX_ID_CHARS) {
                return refuse(e);
            }
            let invoicing = self.ports.invoicing.as_ref();
            match subscriptions::cancel(deps, invoicing, &identity, &id).await {
                Ok(sub) => cancelled = Some(sub.subscription_id),
                Err(SubscriptionError::Unavailable(e)) => return unavailable(&e),
                Err(e) => return refuse(e.to_string()),
            }
        }
        match subscriptions::list(deps, &identity).await {
            Ok(subscriptions) => {
                let text = match &cancelled {
                    Some(id) => format!("{id} ends at the end of its paid period."),
                    None => format!("{} subscriptions.", subscriptions.len()),
                };
                answer(
                    &SubscriptionsAnswer {
                        subscriptions,
                        cancelled,
                    },
                    text,
                )
            }
            Err(e) => unavailable(&e),
        }
    }
    #[tool(
        description = "The DOTM beta program for the signed-in person: with request true, asks \
for beta access (once; an admin approves or rejects, and an approval gives a North American \
number on a new line); without, the request's status (none, pending, approved with the number, \
rejected). Needs the sign-in token.",
        input_schema = schema_for_type::<BetaArgs>(),
        output_schema = schema_for_output::<BetaView>(),
        annotations(
            title = "Beta program",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn beta_program(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args = match parse::<BetaArgs>("beta_program", args) {
            Ok(args) => args,
            Err(e) => return refuse(e),
        };
        let Some(identity) = caller(&parts) else {
            return refuse(SIGN_IN.into());
        };
        let deps = &self.ports.deps;
        let found = if args.request {
            // The decision links are the API's: same domain, `/api/beta-decision`.
            let base = base_url(self.ports.public_base_url.as_deref(), &parts.headers);
            beta::request(deps, &identity, &base)
                .await
                .map(|(view, _)| view)
        } else {
            beta::status(deps, &identity).await.map_err(BetaError::from)
        };
        match found {
            Ok(view) => {
                let text = view.message.clone();
                answer(&view, text)
            }
            Err(BetaError::Unavailable(e) | BetaError::Account(AccountError::Unavailable(e))) => {
                unavailable(&e)
            }
            Err(e) => refuse(e.to_string()),
        }
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

/// Links a tool to the install card (MCP Apps; and the Apps SDK's name for the same).
fn card_link() -> MetaObject {
    let mut meta = JsonObject::new();
    meta.insert("ui".into(), serde_json::json!({"resourceUri": CARD_URI}));
    meta.insert("openai/outputTemplate".into(), serde_json::json!(CARD_URI));
    MetaObject(meta)
}

/// A tool only the card calls: hidden from the model.
fn card_only() -> MetaObject {
    let mut meta = JsonObject::new();
    meta.insert(
        "ui".into(),
        serde_json::json!({"resourceUri": CARD_URI, "visibility": ["app"]}),
    );
    MetaObject(meta)
}

fn esim_failure(e: EsimError) -> Result<CallToolResult, ErrorData> {
    match e {
        EsimError::Unavailable(e) | EsimError::Account(AccountError::Unavailable(e)) => {
            unavailable(&e)
        }
        e => refuse(e.to_string()),
    }
}

impl DotmMcp {
    pub fn ports(&self) -> &McpPorts {
        &self.ports
    }

    /// `activation_status` and the card's refresh: the state, shaped for the client.
    async fn esim_status(&self, parts: &http::request::Parts) -> Result<CallToolResult, ErrorData> {
        let Some(identity) = caller(parts) else {
            return refuse(SIGN_IN.into());
        };
        match esim::status(&self.ports.deps, &identity).await {
            Ok(found) => install::esim_result(&found, declared(parts), None),
            Err(e) => esim_failure(e),
        }
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
