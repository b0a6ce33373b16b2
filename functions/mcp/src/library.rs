//! What a client can list and read besides tools: the install card (`ui://`), the catalog,
//! the pricing sheet and the terms as resources; "Global Data eSIM" and "DOT eSIM" as prompts
//! (the phrases people use, so they can pick them from the client's menu).

use dotm::domain::catalog::{self, BillingPeriod};
use rmcp::ErrorData;
use rmcp::model::{GetPromptResult, ListPromptsResult, ListResourcesResult, ReadResourceResult};
use serde_json::{Value, json};

use crate::catalog_http;
use crate::declared::APP_MIME;

pub const CARD_URI: &str = "ui://dotm/install-card.html";
const CARD_HTML: &str = include_str!("card.html");
const TERMS: &str = include_str!("terms.md");

const CATALOG_URI: &str = "dotm://catalog";
const PRICING_URI: &str = "dotm://pricing";
const TERMS_URI: &str = "dotm://terms";

/// A complete result (2026-07-28 requires `resultType`; rmcp drops it for older clients).
fn decode<T: serde::de::DeserializeOwned>(mut value: Value) -> Result<T, ErrorData> {
    value["resultType"] = json!("complete");
    serde_json::from_value(value)
        .map_err(|e| ErrorData::internal_error(format!("could not build the answer: {e}"), None))
}

/// The card's `_meta.ui`: no outside origin may be reached from it (its QR code is a `data:`
/// image, which the default policy allows).
fn card_ui_meta() -> Value {
    json!({"ui": {"csp": {"connectDomains": [], "resourceDomains": []}, "prefersBorder": false}})
}

pub fn list_resources() -> Result<ListResourcesResult, ErrorData> {
    decode(json!({"resources": [
        {"uri": CARD_URI, "name": "esim-install-card", "title": "DOT eSIM install card",
         "description": "Shows the eSIM's QR code, an Install on iPhone button, the manual codes and Android steps; updates itself while the activation waits in line.",
         "mimeType": APP_MIME, "_meta": card_ui_meta()},
        {"uri": CATALOG_URI, "name": "catalog", "title": "DOTM catalog",
         "description": "Every DOTM service with price, billing and features (the same JSON as GET /mcp/api).",
         "mimeType": "application/json"},
        {"uri": PRICING_URI, "name": "pricing", "title": "DOTM pricing sheet",
         "description": "Every priced service: id, name, price and billing.", "mimeType": "text/markdown"},
        {"uri": TERMS_URI, "name": "terms", "title": "DOTM terms of sale",
         "description": "Billing, cancelling, refunds, rewards and data.", "mimeType": "text/markdown"},
    ]}))
}

pub async fn read_resource(uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let (mime, text, meta) = match uri {
        CARD_URI => (APP_MIME, CARD_HTML.to_owned(), Some(card_ui_meta())),
        CATALOG_URI => (
            "application/json",
            catalog_http::all_services().await.0.to_string(),
            None,
        ),
        PRICING_URI => ("text/markdown", pricing_sheet(), None),
        TERMS_URI => ("text/markdown", TERMS.to_owned(), None),
        _ => {
            return Err(ErrorData::resource_not_found(
                format!(
                    "no resource {uri:?}; resources/list names {CARD_URI}, {CATALOG_URI}, {PRICING_URI}, {TERMS_URI}"
                ),
                Some(json!({"uri": uri})),
            ));
        }
    };
    let mut contents = json!({"uri": uri, "mimeType": mime, "text": text});
    if let Some(meta) = meta {
        contents["_meta"] = meta;
    }
    decode(json!({"contents": [contents]}))
}

fn pricing_sheet() -> String {
    let mut out = String::from(
        "# DOTM pricing\n\nUS dollars. One-time items by emailed invoice; memberships yearly, \
add-ons monthly (subscriptions).\n\n| id | service | price | billing |\n|---|---|---|---|\n",
    );
    for s in catalog::services() {
        let price = if s.price_cents.get() == 0 && s.billing == BillingPeriod::OneTime {
            "free".to_owned()
        } else {
            s.price.display()
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            s.id,
            s.name,
            price,
            s.billing.label()
        ));
    }
    out
}

pub fn list_prompts() -> Result<ListPromptsResult, ErrorData> {
    decode(json!({"prompts": [
        {"name": "global_data_esim", "title": "Global Data eSIM",
         "description": "Buy Global Data: 10 GB packages for the DOT eSIM, usable worldwide.",
         "arguments": [{"name": "quantity", "description": "How many 10 GB packages (1-10, default 1).", "required": false}]},
        {"name": "dot_esim", "title": "DOT eSIM",
         "description": "Get the DOT eSIM: a North American number and data for $1.00, activated in the chat."},
    ]}))
}

pub fn get_prompt(
    name: &str,
    arguments: Option<&serde_json::Map<String, Value>>,
) -> Result<GetPromptResult, ErrorData> {
    let text = match name {
        "global_data_esim" => {
            let quantity = match arguments.and_then(|a| a.get("quantity")) {
                None => 1,
                Some(v) => {
                    let n = v
                        .as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                        .filter(|n| (1..=10).contains(n));
                    n.ok_or_else(|| {
                        ErrorData::invalid_params(
                            format!("quantity must be a whole number from 1 to 10, not {v}"),
                            None,
                        )
                    })?
                }
            };
            format!(
                "I want Global Data for my DOT eSIM: {quantity} x 10 GB (global_data_10gb). \
Show me the price with calculate_pricing, then order it with buy_services (quantity {quantity}) \
and give me the payment link. If I have no DOT eSIM yet, say so: the $1.00 activation joins the same invoice."
            )
        }
        "dot_esim" => "I want the DOT eSIM. Activate it for me with activate_esim: show me the \
$1.00 payment step, then the install card or the QR code once it is active."
            .to_owned(),
        _ => {
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown prompt {name:?}; prompts/list names global_data_esim and dot_esim"
                ),
                None,
            ));
        }
    };
    let description = match name {
        "global_data_esim" => "Global Data eSIM",
        _ => "DOT eSIM",
    };
    decode(json!({
        "description": description,
        "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
    }))
}
