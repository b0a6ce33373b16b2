//! The arguments and answers of the MCP tools. Inputs are parsed here, not by rmcp, so a
//! wrong argument becomes a tool error the assistant can read and correct.

use dotm::catalog::{Billing, Category, Service};
use dotm::money::Cents;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use rmcp::model::JsonObject;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CalculatePricingArgs {
    /// Service ids to price together, e.g. ["basic_membership", "network_security"].
    /// Use search_services to find ids.
    #[schemars(length(min = 1))]
    pub services: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchServicesArgs {
    /// What the person is looking for, in their words, e.g. "Global Data eSIM".
    pub query: String,
    /// Only services of this category.
    #[serde(default)]
    pub category: Option<CategoryArg>,
    /// How many results at most (1-23, default 5).
    #[serde(default)]
    #[schemars(range(min = 1, max = 23))]
    pub limit: Option<u32>,
}

/// A catalog category id.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CategoryArg {
    Connectivity,
    Membership,
    NetworkFeatures,
    Physical,
    Token,
    Api,
    Support,
}

impl From<CategoryArg> for Category {
    fn from(c: CategoryArg) -> Category {
        match c {
            CategoryArg::Connectivity => Category::Connectivity,
            CategoryArg::Membership => Category::Membership,
            CategoryArg::NetworkFeatures => Category::NetworkFeatures,
            CategoryArg::Physical => Category::Physical,
            CategoryArg::Token => Category::Token,
            CategoryArg::Api => Category::Api,
            CategoryArg::Support => Category::Support,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ServiceDetailsArgs {
    /// A service id, e.g. "global_data_10gb".
    pub service_id: String,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct NoArgs {}

/// Parses tool arguments; the error text names the tool and what was wrong.
pub fn parse<T: DeserializeOwned>(tool: &str, args: JsonObject) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::Object(args))
        .map_err(|e| format!("Invalid arguments for {tool}: {e}"))
}

/// One search result: enough to choose, `get_service_details` for the rest.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchResult {
    pub id: &'static str,
    pub name: &'static str,
    pub category: Category,
    pub description: &'static str,
    #[serde(serialize_with = "Cents::serialize_dollars")]
    #[schemars(with = "f64")]
    pub price: Cents,
    pub price_cents: Cents,
    pub billing: Billing,
    pub score: u32,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchAnswer {
    pub query: String,
    pub results: Vec<SearchResult>,
    pub total: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MembershipsAnswer {
    pub memberships: Vec<Service>,
    pub recommendation: String,
}

/// `activate_esim` takes no arguments that matter: the person is whoever signed the bearer
/// token. Assistants often pass what they know, so these are accepted and ignored.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ActivateEsimArgs {
    /// Ignored: the signed-in account's email is used.
    #[serde(default)]
    pub email: Option<String>,
    /// Ignored: the signed-in account is used.
    #[serde(default)]
    pub firebase_uid: Option<String>,
}

/// The shape of an `activate_esim` answer (one object whatever the status), for its
/// output schema; the answer itself is `dotm::activation::ActivationAnswer`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActivationSchema {
    /// `payment_required`, `queued`, `active`, `failed` or `not_started`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<u64>,
    /// Dollars; with `payment_required`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    /// Where to pay; with `payment_required`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_id: Option<String>,
    /// With `queued`: 1 is next in line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs_ahead: Option<u64>,
    /// With `queued`: when the activation should start (RFC 3339), and in how many seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_ms: Option<i64>,
    /// With `active`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lpa_code: Option<String>,
    /// With `active`: a PNG data URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<String>,
    /// With `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_steps: Option<String>,
}
