//! Stripe: the key (valid, in the expected mode), the webhook endpoint (registered for every
//! event the webhook handles, in the pinned API version) and the catalog's Prices.

use dotm::adapters::stripe::API_VERSION;
use dotm::adapters::stripe::account::{Mode, StripeAccount};
use dotm::app::payments::Handled;
use dotm::config::Config;
use dotm::domain::catalog::{self, BillingPeriod};

use super::{Expectations, Row, Status};
use crate::keys::Keys;

const P: &str = "stripe";

pub(super) async fn check(config: &Config, expect: &Expectations, keys: &Keys) -> Vec<Row> {
    let key = match keys.stripe(config).await {
        Ok(key) => key,
        Err(e) => return vec![Row::new(P, "key", Status::Fail, e)],
    };
    let account = match StripeAccount::new(&key, &config.stripe_api_base) {
        Ok(a) => a,
        Err(e) => return vec![Row::new(P, "key", Status::Fail, e.chain())],
    };
    let mut rows = Vec::new();
    let expected = if expect.stripe_live {
        Mode::Live
    } else {
        Mode::Test
    };
    match account.key_mode() {
        None => rows.push(Row::new(
            P,
            "key mode",
            Status::Fail,
            "STRIPE_SECRET_KEY is not a Stripe secret or restricted key (sk_/rk_ live or test)",
        )),
        Some(mode) if mode != expected => rows.push(Row::new(
            P,
            "key mode",
            Status::Fail,
            format!(
                "STRIPE_SECRET_KEY is a {} key; STRIPE_MODE expects {}",
                mode.label(),
                expected.label()
            ),
        )),
        Some(mode) => rows.push(Row::new(
            P,
            "key mode",
            Status::Ok,
            format!("{} mode, as STRIPE_MODE expects", mode.label()),
        )),
    }
    let endpoints = match account.webhook_endpoints().await {
        Ok(found) => {
            rows.push(Row::new(
                P,
                "key accepted",
                Status::Ok,
                format!("by {}", config.stripe_api_base),
            ));
            found
        }
        Err(e) => {
            let why = e.chain();
            let detail = if why.contains("HTTP 401") {
                format!("STRIPE_SECRET_KEY: Stripe refused it ({why})")
            } else {
                format!("STRIPE_API_BASE {}: {why}", config.stripe_api_base)
            };
            rows.push(Row::new(P, "key accepted", Status::Fail, detail));
            return rows;
        }
    };
    rows.push(webhook(expect, &endpoints));
    rows.push(prices(&account).await);
    rows
}

fn webhook(
    expect: &Expectations,
    endpoints: &[dotm::adapters::stripe::account::WebhookEndpoint],
) -> Row {
    let check = "webhook endpoint";
    let Some(url) = expect.webhook_url.as_deref() else {
        return Row::new(
            P,
            check,
            Status::Fail,
            "STRIPE_WEBHOOK_URL is not set (the stack's output StripeWebhookUrl)",
        );
    };
    let Some(endpoint) = endpoints.iter().find(|e| e.url == url) else {
        return Row::new(
            P,
            check,
            Status::Fail,
            format!(
                "STRIPE_WEBHOOK_URL {url}: no endpoint is registered for it (make stripe-setup)"
            ),
        );
    };
    let handled: Vec<&str> = Handled::ALL.iter().map(|h| h.event_type()).collect();
    let missing = endpoint.missing(&handled);
    if !missing.is_empty() {
        return Row::new(
            P,
            check,
            Status::Fail,
            format!(
                "STRIPE_WEBHOOK_URL {url}: endpoint {} is not registered for {} (make stripe-setup)",
                endpoint.id,
                missing.join(", ")
            ),
        );
    }
    if endpoint.status != "enabled" {
        return Row::new(
            P,
            check,
            Status::Fail,
            format!(
                "STRIPE_WEBHOOK_URL {url}: endpoint {} is {}",
                endpoint.id, endpoint.status
            ),
        );
    }
    if endpoint.api_version.as_deref() != Some(API_VERSION) {
        return Row::new(
            P,
            check,
            Status::Fail,
            format!(
                "STRIPE_WEBHOOK_URL {url}: endpoint {} renders events in {}, DOTM reads {API_VERSION} (delete it, then make stripe-setup)",
                endpoint.id,
                endpoint
                    .api_version
                    .as_deref()
                    .unwrap_or("the account's default version")
            ),
        );
    }
    Row::new(
        P,
        check,
        Status::Ok,
        format!(
            "{} -> {url}: all {} handled events, API {API_VERSION}",
            endpoint.id,
            handled.len()
        ),
    )
}

/// A missing Price is made by the functions on first use, so it only warns.
async fn prices(account: &StripeAccount) -> Row {
    let check = "catalog prices";
    let mut missing = Vec::new();
    let mut found = 0;
    for service in catalog::services()
        .iter()
        .filter(|s| matches!(s.billing, BillingPeriod::Monthly | BillingPeriod::Yearly))
    {
        match account.catalog_price(service).await {
            Ok(Some(_)) => found += 1,
            Ok(None) => missing.push(format!(
                "{} ({} {})",
                service.id,
                service.price_cents.display(),
                service.billing.label()
            )),
            Err(e) => return Row::new(P, check, Status::Fail, e.chain()),
        }
    }
    if missing.is_empty() {
        Row::new(
            P,
            check,
            Status::Ok,
            format!("{found} recurring services priced"),
        )
    } else {
        Row::new(
            P,
            check,
            Status::Warn,
            format!(
                "no active Price for {}: made at the first order, or now by make stripe-catalog",
                missing.join(", ")
            ),
        )
    }
}
