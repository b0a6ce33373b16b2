//! Buying: orders of anything with a price, and the person's subscriptions.

// A part of the one server: its imports and helpers are shared.
use super::*;

#[tool_router(router = commerce_tools, vis = "pub(super)")]
impl DotmMcp {
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
}
