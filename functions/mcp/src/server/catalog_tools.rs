//! The public tools: the catalog, searched, detailed, priced and compared. No sign-in.

// A part of the one server: its imports and helpers are shared.
use super::*;

#[tool_router(router = catalog_tools, vis = "pub(super)")]
impl DotmMcp {
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
}
