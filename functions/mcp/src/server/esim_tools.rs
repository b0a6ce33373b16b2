//! The eSIM tools: activate (and pay), the state, the install card's refresh, data usage.

// A part of the one server: its imports and helpers are shared.
use super::*;

#[tool_router(router = esim_tools, vis = "pub(super)")]
impl DotmMcp {
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
}

impl DotmMcp {
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
