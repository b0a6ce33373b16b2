//! The arguments and answers of the MCP tools. Inputs are parsed here, not by rmcp, so a
//! wrong argument becomes a tool error the assistant can read and correct.

use std::sync::Arc;

use dotm::domain::catalog::{BillingPeriod, Category, Service};
use dotm::domain::money::Cents;
use rmcp::handler::server::common::schema_for_output;
use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CalculatePricingArgs {
    /// Service ids to price together, e.g. ["basic_membership", "network_security"].
    /// Use search_services to find ids.
    #[schemars(length(min = 1, max = 50))]
    pub services: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchServicesArgs {
    /// What the person is looking for, in their words, e.g. "Global Data eSIM".
    #[schemars(length(max = 200))]
    pub query: String,
    /// Only services of this category.
    #[serde(default)]
    pub category: Option<Category>,
    /// How many results at most (1-23, default 5).
    #[serde(default)]
    #[schemars(range(min = 1, max = 23))]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ServiceDetailsArgs {
    /// A service id, e.g. "global_data_10gb".
    #[schemars(length(max = 64))]
    pub service_id: String,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BetaArgs {
    /// Ask for beta access (true); leave out for the status.
    #[serde(default)]
    pub request: bool,
}

/// `manage_subscriptions`: the list after the call, and which one was set to end.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SubscriptionsAnswer {
    pub subscriptions: Vec<dotm::app::subscriptions::SubscriptionView>,
    pub cancelled: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsArgs {
    /// Set this subscription (an id from the list) to end at the end of its paid period.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub cancel_subscription_id: Option<String>,
}

/// Longest search query, in characters: a person's words, not a document.
pub const MAX_QUERY_CHARS: usize = 200;
/// Longest service id (the longest real one is 24), and most ids in one pricing call.
pub const MAX_ID_CHARS: usize = 64;
pub const MAX_SERVICES: usize = 50;

/// Refuses a string argument longer than `max` characters, without echoing it back.
pub fn check_length(tool: &str, field: &str, value: &str, max: usize) -> Result<(), String> {
    let n = value.chars().count();
    if n > max {
        return Err(format!(
            "Invalid arguments for {tool}: {field} is {n} characters long; at most {max}"
        ));
    }
    Ok(())
}

/// No string argument of any tool is longer than this (an address line, a name): a longer
/// one is refused before anything reads it, and never echoed back.
pub const MAX_STRING_CHARS: usize = 500;

/// Parses tool arguments; the error text names the tool and what was wrong.
pub fn parse<T: DeserializeOwned>(tool: &str, args: JsonObject) -> Result<T, String> {
    let args = serde_json::Value::Object(args);
    if let Some((path, n)) = longest_string(&args, "")
        && n > MAX_STRING_CHARS
    {
        return Err(format!(
            "Invalid arguments for {tool}: {path} is {n} characters long; at most {MAX_STRING_CHARS}"
        ));
    }
    serde_json::from_value(args).map_err(|e| format!("Invalid arguments for {tool}: {e}"))
}

/// The longest string anywhere in `value` (keys too), with where it is.
fn longest_string(value: &Value, at: &str) -> Option<(String, usize)> {
    let here = |n: usize| {
        Some((
            if at.is_empty() {
                "an argument".into()
            } else {
                at.to_owned()
            },
            n,
        ))
    };
    match value {
        Value::String(s) => here(s.chars().count()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| longest_string(v, &format!("{at}[{i}]")))
            .max_by_key(|(_, n)| *n),
        Value::Object(fields) => fields
            .iter()
            .flat_map(|(k, v)| {
                let long_key = k.chars().count() > MAX_STRING_CHARS;
                // A name over the cap is not spelled out in the path of what is under it.
                let name = if long_key {
                    "(a long name)"
                } else {
                    k.as_str()
                };
                let path = if at.is_empty() {
                    name.to_owned()
                } else {
                    format!("{at}.{name}")
                };
                let key = long_key.then(|| ("an argument name".to_owned(), k.chars().count()));
                [key, longest_string(v, &path)]
            })
            .flatten()
            .max_by_key(|(_, n)| *n),
        _ => None,
    }
}

#[cfg(test)]
mod string_caps {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Strings of a few characters, or (multi-byte) near the cap.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "\\PC{0,10}",
            1 => (MAX_STRING_CHARS - 3..MAX_STRING_CHARS + 3).prop_map(|n| "é".repeat(n)),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            text().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(text(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The most characters of any string in `v`, keys included.
    fn most_chars(v: &Value) -> usize {
        match v {
            Value::String(s) => s.chars().count(),
            Value::Array(items) => items.iter().map(most_chars).max().unwrap_or(0),
            Value::Object(fields) => fields
                .iter()
                .map(|(k, v)| k.chars().count().max(most_chars(v)))
                .max()
                .unwrap_or(0),
            _ => 0,
        }
    }

    /// The strings of `v` (keys included) over the cap: what an error must never echo.
    fn too_long(v: &Value, out: &mut Vec<String>) {
        let keep = |s: &String, out: &mut Vec<String>| {
            if s.chars().count() > MAX_STRING_CHARS {
                out.push(s.clone());
            }
        };
        match v {
            Value::String(s) => keep(s, out),
            Value::Array(items) => items.iter().for_each(|v| too_long(v, out)),
            Value::Object(fields) => {
                for (k, v) in fields {
                    keep(k, out);
                    too_long(v, out);
                }
            }
            _ => {}
        }
    }

    fn echoes_nothing_too_long(error: &str, args: &JsonObject) -> bool {
        let mut long = Vec::new();
        too_long(&Value::Object(args.clone()), &mut long);
        long.iter().all(|s| !error.contains(s.as_str()))
    }

    proptest! {
        #[test]
        fn arguments_are_refused_exactly_when_a_string_is_too_long(
            args in prop::collection::btree_map(text(), value(), 0..5),
        ) {
            let args: JsonObject = args.into_iter().collect();
            let longest = most_chars(&Value::Object(args.clone()));
            match parse::<Value>("some_tool", args.clone()) {
                Ok(parsed) => {
                    prop_assert!(longest <= MAX_STRING_CHARS);
                    prop_assert_eq!(parsed, Value::Object(args));
                }
                Err(e) => {
                    prop_assert!(longest > MAX_STRING_CHARS);
                    prop_assert!(e.starts_with("Invalid arguments for some_tool: "), "{}", e);
                    let n = format!("is {longest} characters long; at most {MAX_STRING_CHARS}");
                    prop_assert!(e.ends_with(&n), "{}", e);
                    // Named by where it is, never echoed back.
                    prop_assert!(echoes_nothing_too_long(&e, &args), "{}", e);
                }
            }
        }

        #[test]
        fn typed_arguments_of_any_shape_parse_or_name_the_tool(
            args in prop::collection::btree_map(
                prop_oneof![
                    Just("services".to_owned()),
                    Just("query".to_owned()),
                    Just("limit".to_owned()),
                    Just("category".to_owned()),
                    "[a-z_]{1,8}",
                ],
                value(),
                0..4,
            ),
        ) {
            let args: JsonObject = args.into_iter().collect();
            for e in [
                parse::<CalculatePricingArgs>("calculate_pricing", args.clone()).err(),
                parse::<SearchServicesArgs>("search_services", args.clone()).err(),
                parse::<BetaArgs>("beta_program", args.clone()).err(),
            ]
            .into_iter()
            .flatten()
            {
                prop_assert!(e.starts_with("Invalid arguments for "), "{}", e);
                prop_assert!(echoes_nothing_too_long(&e, &args), "{}", e);
            }
        }
    }

    #[test]
    fn a_long_string_anywhere_is_refused_by_where_it_is() {
        let args = json!({"items": [{"service_id": "vpn_access"}],
                          "shipping_address": {"line1": "x".repeat(501)}});
        let err = parse::<Value>("buy_services", args.as_object().unwrap().clone()).unwrap_err();
        assert!(
            err.contains("shipping_address.line1 is 501 characters"),
            "{err}"
        );
        assert!(!err.contains("xxxx"));
        let ok = json!({"items": [{"service_id": "x".repeat(500)}]});
        assert!(parse::<Value>("t", ok.as_object().unwrap().clone()).is_ok());
        // A long name is not echoed either, as the path of a long string under it.
        let args = json!({"y".repeat(501): {"line1": "x".repeat(600)}});
        let err = parse::<Value>("t", args.as_object().unwrap().clone()).unwrap_err();
        assert!(
            err.contains("(a long name).line1 is 600 characters"),
            "{err}"
        );
        assert!(!err.contains("yyyy"), "{err}");
    }
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
    pub billing: BillingPeriod,
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

/// `activate_esim`: the person is whoever signed the bearer token. Assistants often pass what
/// they know, so `email` and `firebase_uid` are accepted and ignored.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ActivateEsimArgs {
    /// Optional: the North American area code (3 digits, e.g. "212") the person wants their
    /// number in. The carrier's offer decides: if it has no numbers there when the line is
    /// made, it picks one and the answer says so.
    #[serde(default)]
    pub area_code: Option<String>,
    /// Ignored: the signed-in account's email is used.
    #[serde(default)]
    pub email: Option<String>,
    /// Ignored: the signed-in account is used.
    #[serde(default)]
    pub firebase_uid: Option<String>,
}

/// The output schema of a tool whose answer is an internally tagged enum (e.g.
/// `ActivationAnswer`, tagged by `status`), as one object: MCP clients expect an output schema
/// of `"type": "object"`, so the variants' properties are merged (the tag as an enum of the
/// variants' values, only it required), generated from the type, never written by hand.
pub fn tagged_output_schema<T: JsonSchema + std::any::Any>(tag: &str) -> Arc<JsonObject> {
    let raw = schema_for_output::<T>();
    let mut properties = serde_json::Map::new();
    let mut tags = Vec::new();
    let variants = raw
        .get("oneOf")
        .or_else(|| raw.get("anyOf"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| vec![Value::Object(raw.as_ref().clone())]);
    for variant in &variants {
        let Some(props) = variant.get("properties").and_then(Value::as_object) else {
            continue;
        };
        for (name, schema) in props {
            if name == tag {
                let value = schema
                    .get("const")
                    .or_else(|| schema.get("enum").and_then(|e| e.get(0)));
                if let Some(v) = value {
                    tags.push(v.clone());
                }
            } else if !properties.contains_key(name) {
                properties.insert(name.clone(), schema.clone());
            }
        }
    }
    properties.insert(
        tag.to_owned(),
        serde_json::json!({"type": "string", "enum": tags}),
    );
    let mut object = JsonObject::new();
    object.insert("type".into(), "object".into());
    object.insert("properties".into(), Value::Object(properties));
    object.insert("required".into(), serde_json::json!([tag]));
    if let Some(defs) = raw.get("$defs") {
        object.insert("$defs".into(), defs.clone());
    }
    Arc::new(object)
}

#[cfg(test)]
mod tests {
    use dotm::app::esim::ActivationAnswer;

    use super::*;

    #[test]
    fn the_activation_schema_is_one_object_with_every_variant_field() {
        let schema = tagged_output_schema::<ActivationAnswer>("status");
        assert_eq!(schema["type"], "object");
        assert_eq!(
            schema["properties"]["status"]["enum"],
            serde_json::json!([
                "payment_required",
                "queued",
                "active",
                "failed",
                "not_started"
            ])
        );
        for field in [
            "invoice_url",
            "amount_cents",
            "position",
            "eta_ms",
            "lpa_code",
            "qr_code",
            "reason",
            "next_steps",
            "message",
        ] {
            assert!(
                schema["properties"].get(field).is_some(),
                "{field} missing: {schema:?}"
            );
        }
        assert_eq!(schema["required"], serde_json::json!(["status"]));
    }
}
