//! The product sheet, compiled into the binary. Service ids are stable API: never rename one.

use schemars::JsonSchema;
use serde::Serialize;

use crate::money::Cents;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
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
pub enum Billing {
    OneTime,
    Monthly,
    Yearly,
    /// Free, but needs approval (the beta program).
    Free,
    /// Not sold: describes something that comes with the product.
    Info,
}

impl Billing {
    pub fn label(self) -> &'static str {
        match self {
            Billing::OneTime => "one-time",
            Billing::Monthly => "per month",
            Billing::Yearly => "per year",
            Billing::Free => "free",
            Billing::Info => "included",
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
    pub billing: Billing,
    pub billing_note: &'static str,
    pub features: &'static [&'static str],
    pub keywords: &'static [&'static str],
}

#[allow(clippy::too_many_arguments, reason = "one row of the product sheet")]
const fn service(
    id: &'static str,
    name: &'static str,
    category: Category,
    cents: u64,
    billing: Billing,
    billing_note: &'static str,
    description: &'static str,
    features: &'static [&'static str],
    keywords: &'static [&'static str],
) -> Service {
    Service {
        id,
        name,
        category,
        description,
        price: Cents(cents),
        price_cents: Cents(cents),
        currency: "USD",
        billing,
        billing_note,
        features,
        keywords,
    }
}

use Billing::*;
use Category::*;

static SERVICES: [Service; 23] = [
    service(
        "global_data_10gb",
        "Global Data 10GB",
        Connectivity,
        2000,
        OneTime,
        "one-time, per 10 GB package",
        "10 GB of mobile data that works in 190+ countries on one eSIM. Top up with another package any time.",
        &[
            "10 GB high-speed data",
            "Coverage in 190+ countries",
            "Instant eSIM delivery by email (QR code)",
            "No roaming charges",
            "Stack packages as you need them",
        ],
        &[
            "esim",
            "data",
            "global",
            "roaming",
            "travel",
            "international",
            "mobile data",
            "10gb",
            "plan",
        ],
    ),
    service(
        "esim_beta",
        "eSIM Beta Activation",
        Connectivity,
        100,
        OneTime,
        "one-time",
        "Activate a DOT eSIM in the beta program: a real North American phone number and data line, delivered as a QR code.",
        &[
            "North American phone number",
            "eSIM QR code and LPA string by email",
            "Activated in payment order",
            "Earns DOTM cashback",
        ],
        &[
            "esim",
            "dot",
            "dot esim",
            "activate",
            "activation",
            "beta",
            "sim",
            "phone number",
            "line",
        ],
    ),
    service(
        "beta_access",
        "Beta Program",
        Membership,
        0,
        Free,
        "free, approval needed",
        "Join the DOTM beta program: early access to new network features. Requests are reviewed by the team.",
        &[
            "Early access to new features",
            "Direct feedback channel to the team",
            "Approval required",
        ],
        &["beta", "early access", "program", "waitlist", "free"],
    ),
    service(
        "basic_membership",
        "Basic Membership",
        Membership,
        2400,
        Yearly,
        "yearly",
        "The DOTM membership essentials: member pricing on data, standard support and DOTM rewards.",
        &[
            "Member pricing on data packages",
            "Standard support",
            "DOTM rewards on purchases",
            "Member newsletter",
        ],
        &[
            "membership",
            "basic",
            "member",
            "subscription",
            "yearly",
            "annual",
        ],
    ),
    service(
        "full_membership",
        "Full Membership",
        Membership,
        6600,
        Yearly,
        "yearly",
        "Everything in Basic plus priority support, network security and early access to new DOTM features.",
        &[
            "Everything in Basic Membership",
            "Priority support",
            "Network security included",
            "Early access to new features",
            "Higher DOTM reward tiers",
        ],
        &[
            "membership",
            "full",
            "premium",
            "member",
            "subscription",
            "yearly",
            "annual",
        ],
    ),
    service(
        "network_security",
        "Network Security",
        NetworkFeatures,
        500,
        Monthly,
        "monthly",
        "Network-level protection against malware, phishing and malicious domains on every connection.",
        &[
            "Malware and phishing blocking",
            "Malicious domain filtering",
            "Threat alerts",
        ],
        &[
            "security",
            "protection",
            "malware",
            "phishing",
            "firewall",
            "safe",
        ],
    ),
    service(
        "vpn_access",
        "VPN Access",
        NetworkFeatures,
        800,
        Monthly,
        "monthly",
        "Encrypted VPN tunnel for private browsing on any network, with exit locations worldwide.",
        &[
            "Encrypted traffic",
            "Worldwide exit locations",
            "No-logs policy",
        ],
        &["vpn", "privacy", "encryption", "tunnel", "private"],
    ),
    service(
        "priority_routing",
        "Priority Routing",
        NetworkFeatures,
        600,
        Monthly,
        "monthly",
        "Your traffic takes the fastest routes first, for lower latency in calls and games.",
        &[
            "Lower latency",
            "Priority on congested networks",
            "Better call quality",
        ],
        &["priority", "routing", "latency", "speed", "gaming", "fast"],
    ),
    service(
        "network_monitoring",
        "Network Monitoring",
        NetworkFeatures,
        400,
        Monthly,
        "monthly",
        "Live view of your usage, speed and connection health, with alerts.",
        &[
            "Usage dashboard",
            "Speed and health history",
            "Usage alerts",
        ],
        &["monitoring", "usage", "analytics", "dashboard", "alerts"],
    ),
    service(
        "performance_optimization",
        "Performance Optimization",
        NetworkFeatures,
        300,
        Monthly,
        "monthly",
        "Automatic tuning of your connection for streaming, downloads and video calls.",
        &[
            "Streaming optimisation",
            "Faster downloads",
            "Adaptive tuning",
        ],
        &["performance", "optimization", "speed", "streaming", "boost"],
    ),
    service(
        "dotm_metal_card",
        "DOTM Metal Card",
        Physical,
        9999,
        OneTime,
        "one-time",
        "A metal DOTM member card, shipped worldwide. Buyers receive the founding-member DOTM allocation.",
        &[
            "Stainless steel card",
            "Worldwide shipping",
            "Founding-member allocation of 100 DOTM",
        ],
        &["card", "metal", "physical", "founding", "collectible"],
    ),
    service(
        "dotm_rewards",
        "DOTM Rewards",
        Token,
        0,
        Info,
        "info",
        "Every paid purchase earns 10.33 % cashback in DOTM tokens, minted to your wallet.",
        &[
            "10.33 % cashback in DOTM",
            "Minted on Ethereum to your wallet",
            "Pending until you add a wallet",
        ],
        &["dotm", "token", "rewards", "cashback", "crypto", "erc20"],
    ),
    service(
        "new_member_bonus",
        "New Member Bonus",
        Token,
        0,
        Info,
        "info",
        "A one-time 10.33 DOTM bonus for every new member.",
        &["10.33 DOTM once per member"],
        &["bonus", "new member", "signup", "dotm", "token"],
    ),
    service(
        "founding_member",
        "Founding Member Allocation",
        Token,
        0,
        Info,
        "info",
        "100 DOTM for every buyer of the DOTM Metal Card.",
        &["100 DOTM allocation", "Comes with the DOTM Metal Card"],
        &["founding", "allocation", "dotm", "token", "metal card"],
    ),
    service(
        "staking_rewards",
        "Staking Rewards",
        Token,
        0,
        Info,
        "info",
        "Stake DOTM to earn more rewards (coming after the beta).",
        &["Planned after the beta"],
        &["staking", "stake", "yield", "dotm", "token"],
    ),
    service(
        "oxio_integration",
        "OXIO Integration",
        Api,
        0,
        Info,
        "info",
        "Lines are activated on the OXIO carrier platform.",
        &["Carrier-grade activation", "North American numbers"],
        &["oxio", "carrier", "api", "integration", "activation"],
    ),
    service(
        "stripe_processing",
        "Stripe Payment Processing",
        Api,
        0,
        Info,
        "info",
        "Payments are processed by Stripe; invoices are emailed with a hosted payment page.",
        &["Hosted invoices", "Cards and wallets", "PCI-compliant"],
        &["stripe", "payment", "invoice", "billing", "api"],
    ),
    service(
        "developer_tools",
        "Developer Tools",
        Api,
        0,
        Info,
        "info",
        "Public catalog and pricing endpoints and an MCP server for AI assistants.",
        &[
            "Public catalog JSON",
            "Pricing calculator endpoint",
            "MCP server",
        ],
        &["developer", "api", "sdk", "mcp", "tools", "integration"],
    ),
    service(
        "webhook_support",
        "Webhook Support",
        Api,
        0,
        Info,
        "info",
        "Signed webhooks drive payments and activations end to end.",
        &["Signed events", "Retries with deduplication"],
        &["webhook", "events", "api", "integration"],
    ),
    service(
        "standard_support",
        "Standard Support",
        Support,
        0,
        Info,
        "info",
        "Email support with answers within two business days.",
        &["Email support", "Two business days"],
        &["support", "help", "email", "standard"],
    ),
    service(
        "priority_support",
        "Priority Support",
        Support,
        0,
        Info,
        "info",
        "Faster answers for Full members, within one business day.",
        &["One business day", "Included with Full Membership"],
        &["support", "priority", "help", "fast"],
    ),
    service(
        "premium_support",
        "Premium Support",
        Support,
        0,
        Info,
        "info",
        "A named contact and same-day answers for business customers.",
        &["Named contact", "Same-day answers"],
        &["support", "premium", "business", "help"],
    ),
    service(
        "community_forums",
        "Community Forums",
        Support,
        0,
        Info,
        "info",
        "Ask and answer questions with other DOTM members.",
        &["Open to everyone", "Answers from the team and members"],
        &["community", "forum", "help", "support", "discussion"],
    ),
];

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

    /// DESIGN §3, row by row: id, category, price in cents, billing.
    const PRODUCT_SHEET: &[(&str, &str, u64, Billing)] = &[
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
