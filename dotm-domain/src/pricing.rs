//! Pricing of a set of services (DESIGN §3), in integer cents, with the DOTM cashback in wei.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Serialize;

use crate::catalog::{self, BillingPeriod, Category, Service};
use crate::money::Cents;
use crate::rewards::{CashbackRate, Wei};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("no services given: name at least one service id")]
    Empty,
    #[error("unknown service id{}: {}", if .0.len() == 1 { "" } else { "s" }, .0.join(", "))]
    UnknownServices(Vec<String>),
}

/// One priced service in a quote.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Line {
    pub id: &'static str,
    pub name: &'static str,
    pub category: Category,
    pub billing: BillingPeriod,
    #[serde(serialize_with = "Cents::serialize_dollars")]
    #[schemars(with = "f64")]
    pub price: Cents,
    pub price_cents: Cents,
}

impl Line {
    fn of(service: &'static Service) -> Line {
        Line {
            id: service.id,
            name: service.name,
            category: service.category,
            billing: service.billing,
            price: service.price,
            price_cents: service.price_cents,
        }
    }
}

/// The totals of a quote. Every amount is shown in dollars and in cents.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Totals {
    #[serde(serialize_with = "Cents::serialize_dollars")]
    #[schemars(with = "f64")]
    pub monthly_recurring: Cents,
    pub monthly_recurring_cents: Cents,
    #[serde(serialize_with = "Cents::serialize_dollars")]
    #[schemars(with = "f64")]
    pub annual_total: Cents,
    pub annual_total_cents: Cents,
    #[serde(serialize_with = "Cents::serialize_dollars")]
    #[schemars(with = "f64")]
    pub one_time_total: Cents,
    pub one_time_total_cents: Cents,
    #[serde(serialize_with = "Cents::serialize_dollars")]
    #[schemars(with = "f64")]
    pub first_year_total: Cents,
    pub first_year_total_cents: Cents,
    pub currency: &'static str,
    /// DOTM earned on the first year's payments, for people (`"8.6772"`).
    pub dotm_cashback: String,
    /// The same amount in wei, exact.
    #[schemars(with = "String")]
    pub dotm_cashback_wei: Wei,
    pub cashback_rate_percent: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Quote {
    pub services: Vec<Line>,
    pub pricing: Totals,
}

/// Prices a set of service ids. Duplicates count once; lines keep the order first given.
pub fn quote<S: AsRef<str>>(ids: &[S], rate: &CashbackRate) -> Result<Quote, PricingError> {
    let mut seen = BTreeSet::new();
    let mut lines = Vec::new();
    let mut unknown = Vec::new();
    for id in ids {
        let id = id.as_ref().trim();
        if id.is_empty() || !seen.insert(id.to_owned()) {
            continue;
        }
        match catalog::find(id) {
            Some(service) => lines.push(Line::of(service)),
            None => unknown.push(id.to_owned()),
        }
    }
    if !unknown.is_empty() {
        return Err(PricingError::UnknownServices(unknown));
    }
    if lines.is_empty() {
        return Err(PricingError::Empty);
    }

    let sum = |billing: BillingPeriod| -> Cents {
        lines
            .iter()
            .filter(|l| l.billing == billing)
            .map(|l| l.price_cents)
            .sum()
    };
    let monthly = sum(BillingPeriod::Monthly);
    let yearly = sum(BillingPeriod::Yearly);
    let one_time = sum(BillingPeriod::OneTime);

    // A yearly fee spread over 12 months, rounded half up to the cent.
    let yearly_per_month = Cents((yearly.get() + 6) / 12);
    let monthly_recurring = monthly + yearly_per_month;
    let annual_total = yearly + Cents(monthly.get() * 12);
    let first_year_total = annual_total + one_time;
    let cashback = rate.cashback_on(first_year_total);

    Ok(Quote {
        services: lines,
        pricing: Totals {
            monthly_recurring,
            monthly_recurring_cents: monthly_recurring,
            annual_total,
            annual_total_cents: annual_total,
            one_time_total: one_time,
            one_time_total_cents: one_time,
            first_year_total,
            first_year_total_cents: first_year_total,
            currency: "USD",
            dotm_cashback: cashback.to_dotm_string(),
            dotm_cashback_wei: cashback,
            cashback_rate_percent: crate::rewards::CASHBACK_PERCENT.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn priced(ids: &[&str]) -> Totals {
        quote(ids, &CashbackRate::default())
            .expect("known ids")
            .pricing
    }

    #[test]
    fn basic_membership_with_network_security() {
        let t = priced(&["basic_membership", "network_security"]);
        assert_eq!(t.monthly_recurring, Cents(700));
        assert_eq!(t.annual_total, Cents(8400));
        assert_eq!(t.one_time_total, Cents(0));
        assert_eq!(t.first_year_total, Cents(8400));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["monthly_recurring"], serde_json::json!(7.0));
        assert_eq!(json["annual_total"], serde_json::json!(84.0));
        assert_eq!(json["annual_total_cents"], serde_json::json!(8400));
    }

    #[test]
    fn one_time_items_count_only_in_the_first_year() {
        let t = priced(&["global_data_10gb", "dotm_metal_card", "vpn_access"]);
        assert_eq!(t.one_time_total, Cents(2000 + 9999));
        assert_eq!(t.monthly_recurring, Cents(800));
        assert_eq!(t.annual_total, Cents(9600));
        assert_eq!(t.first_year_total, Cents(9600 + 11999));
    }

    #[test]
    fn full_membership_spreads_to_five_fifty_a_month() {
        let t = priced(&["full_membership"]);
        assert_eq!(t.monthly_recurring, Cents(550));
        assert_eq!(t.annual_total, Cents(6600));
    }

    #[test]
    fn every_network_feature_together() {
        let t = priced(&[
            "network_security",
            "vpn_access",
            "priority_routing",
            "network_monitoring",
            "performance_optimization",
        ]);
        assert_eq!(t.monthly_recurring, Cents(2600));
        assert_eq!(t.annual_total, Cents(31200));
    }

    #[test]
    fn duplicates_count_once() {
        let q = quote(
            &["vpn_access", "vpn_access", " vpn_access "],
            &CashbackRate::default(),
        )
        .unwrap();
        assert_eq!(q.services.len(), 1);
        assert_eq!(q.pricing.monthly_recurring, Cents(800));
    }

    #[test]
    fn unknown_ids_are_all_named() {
        let err = quote(
            &["vpn_access", "nope", "gold_plan", "nope"],
            &CashbackRate::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PricingError::UnknownServices(vec!["nope".into(), "gold_plan".into()])
        );
        assert_eq!(err.to_string(), "unknown service ids: nope, gold_plan");
    }

    #[test]
    fn an_empty_list_is_an_error() {
        let none: [&str; 0] = [];
        assert_eq!(
            quote(&none, &CashbackRate::default()).unwrap_err(),
            PricingError::Empty
        );
        assert_eq!(
            quote(&["", " "], &CashbackRate::default()).unwrap_err(),
            PricingError::Empty
        );
    }

    #[test]
    fn cashback_is_ten_point_three_three_percent_of_the_first_year() {
        let t = priced(&["global_data_10gb"]);
        assert_eq!(
            t.dotm_cashback_wei,
            Wei::from_wei(2_066_000_000_000_000_000)
        );
        assert_eq!(t.dotm_cashback, "2.066");
        let t = priced(&["basic_membership", "network_security"]);
        assert_eq!(t.dotm_cashback, "8.6772");
    }

    #[test]
    fn free_and_info_services_price_at_zero() {
        let t = priced(&["beta_access", "dotm_rewards"]);
        assert_eq!(t.first_year_total, Cents(0));
        assert_eq!(t.dotm_cashback, "0");
    }
}
