//! The person's account overview and the beta program.

// A part of the one server: its imports and helpers are shared.
use super::*;

#[tool_router(router = account_tools, vis = "pub(super)")]
impl DotmMcp {
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
