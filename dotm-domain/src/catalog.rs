//! The catalog: what a service is and how to find one. The rows themselves (the product
//! sheet) are data in `catalog/sheet.rs`, compiled into the binary. Service ids are stable
//! API: never rename one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::Cents;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Connectivity,
    Membership,
    NetworkFeatures,
    Physical,
    Token,
    Api,
    Support,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Connectivity,
        Category::Membership,
        Category::NetworkFeatures,
        Category::Physical,
        Category::Token,
        Category::Api,
        Category::Support,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Category::Connectivity => "connectivity",
            Category::Membership => "membership",
            Category::NetworkFeatures => "network_features",
            Category::Physical => "physical",
            Category::Token => "token",
            Category::Api => "api",
            Category::Support => "support",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Category::Connectivity => "Connectivity",
            Category::Membership => "Membership",
            Category::NetworkFeatures => "Network Features",
            Category::Physical => "Physical Products",
            Category::Token => "DOTM Token",
            Category::Api => "API Services",
            Category::Support => "Support",
        }
    }

    pub fn parse(id: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.id() == id)
    }
}

/// How a price is charged; decides where it lands in a [`crate::pricing::Quote`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillingPeriod {
    OneTime,
    Monthly,
    Yearly,
    /// Free, but needs approval (the beta program).
    Free,
    /// Not sold: describes something that comes with the product.
    Info,
}

impl BillingPeriod {
    pub fn label(self) -> &'static str {
        match self {
            BillingPeriod::OneTime => "one-time",
            BillingPeriod::Monthly => "per month",
            BillingPeriod::Yearly => "per year",
            BillingPeriod::Free => "free",
            BillingPeriod::Info => "included",
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Service {
    pub id: &'static str,
    pub name: &'static str,
    pub category: Category,
    pub description: &'static str,
    /// Dollars, for display; `price_cents` is exact.
    #[serde(serialize_with = "Cents::serialize_dollars")]
    #[schemars(with = "f64")]
    pub price: Cents,
    pub price_cents: Cents,
    pub currency: &'static str,
    pub billing: BillingPeriod,
    pub billing_note: &'static str,
    pub features: &'static [&'static str],
    pub keywords: &'static [&'static str],
}

mod sheet;

use sheet::SERVICES;

/// Every service, in product-sheet order.
pub fn services() -> &'static [Service] {
    &SERVICES
}

pub fn find(id: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.id == id)
}

pub fn in_category(category: Category) -> impl Iterator<Item = &'static Service> {
    SERVICES.iter().filter(move |s| s.category == category)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    use BillingPeriod::*;

    /// DESIGN §3, row by row: id, category, price in cents, billing.
    const PRODUCT_SHEET: &[(&str, &str, u64, BillingPeriod)] = &[
        ("global_data_10gb", "connectivity", 2000, OneTime),
        ("esim_beta", "connectivity", 100, OneTime),
        ("beta_access", "membership", 0, Free),
        ("basic_membership", "membership", 2400, Yearly),
        ("full_membership", "membership", 6600, Yearly),
        ("network_security", "network_features", 500, Monthly),
        ("vpn_access", "network_features", 800, Monthly),
        ("priority_routing", "network_features", 600, Monthly),
        ("network_monitoring", "network_features", 400, Monthly),
        ("performance_optimization", "network_features", 300, Monthly),
        ("dotm_metal_card", "physical", 9999, OneTime),
        ("dotm_rewards", "token", 0, Info),
        ("new_member_bonus", "token", 0, Info),
        ("founding_member", "token", 0, Info),
        ("staking_rewards", "token", 0, Info),
        ("oxio_integration", "api", 0, Info),
        ("stripe_processing", "api", 0, Info),
        ("developer_tools", "api", 0, Info),
        ("webhook_support", "api", 0, Info),
        ("standard_support", "support", 0, Info),
        ("priority_support", "support", 0, Info),
        ("premium_support", "support", 0, Info),
        ("community_forums", "support", 0, Info),
    ];

    #[test]
    fn every_row_of_the_product_sheet_is_in_the_catalog() {
        for &(id, category, cents, billing) in PRODUCT_SHEET {
            let s = find(id).unwrap_or_else(|| panic!("{id} missing"));
            assert_eq!(s.category.id(), category, "{id}");
            assert_eq!(s.price_cents, Cents(cents), "{id}");
            assert_eq!(s.price, Cents(cents), "{id}");
            assert_eq!(s.billing, billing, "{id}");
        }
        assert_eq!(
            services().len(),
            PRODUCT_SHEET.len(),
            "no service beyond the sheet"
        );
    }

    #[test]
    fn names_match_the_product_sheet() {
        let names = [
            ("global_data_10gb", "Global Data 10GB"),
            ("esim_beta", "eSIM Beta Activation"),
            ("beta_access", "Beta Program"),
            ("basic_membership", "Basic Membership"),
            ("full_membership", "Full Membership"),
            ("network_security", "Network Security"),
            ("vpn_access", "VPN Access"),
            ("priority_routing", "Priority Routing"),
            ("network_monitoring", "Network Monitoring"),
            ("performance_optimization", "Performance Optimization"),
            ("dotm_metal_card", "DOTM Metal Card"),
        ];
        for (id, name) in names {
            assert_eq!(find(id).map(|s| s.name), Some(name));
        }
    }

    #[test]
    fn twenty_plus_services_in_seven_categories_with_unique_ids() {
        let ids: HashSet<_> = services().iter().map(|s| s.id).collect();
        assert_eq!(ids.len(), services().len());
        assert!(services().len() >= 20);
        let categories: HashSet<_> = services().iter().map(|s| s.category).collect();
        assert_eq!(categories.len(), 7);
        for c in Category::ALL {
            assert_eq!(Category::parse(c.id()), Some(c));
            assert!(in_category(c).count() > 0, "{} is empty", c.id());
        }
    }

    #[test]
    fn every_service_is_described_for_search() {
        for s in services() {
            assert!(!s.description.is_empty(), "{}", s.id);
            assert!(!s.features.is_empty(), "{}", s.id);
            assert!(!s.keywords.is_empty(), "{}", s.id);
        }
    }

    #[test]
    fn a_service_serializes_with_dollars_and_cents() {
        let json = serde_json::to_value(find("dotm_metal_card")).unwrap_or_default();
        assert_eq!(json["price"], serde_json::json!(99.99));
        assert_eq!(json["price_cents"], serde_json::json!(9999));
        assert_eq!(json["billing"], "one_time");
        assert_eq!(json["category"], "physical");
    }
}
