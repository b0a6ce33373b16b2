//! Stripe's Products, Prices and Subscriptions over plain form-encoded HTTP.
//!
//! Only the few fields DOTM reads are decoded (a newer API version's extra fields cannot break
//! us), and every write carries an idempotency key derived from our own ids. Prices are found
//! by lookup key (= the service id) and never edited: a catalog price change makes a new Price
//! and moves the lookup key to it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::domain::catalog::{BillingPeriod, Service};
use crate::ports::Unavailable;

pub(super) struct Billing {
    http: reqwest::Client,
    base_url: String,
    secret_key: String,
    /// Service id -> price id, for this cold start.
    prices: Mutex<HashMap<&'static str, String>>,
}

#[derive(Deserialize)]
struct List<T> {
    data: Vec<T>,
}

#[derive(Deserialize)]
struct Price {
    id: String,
    unit_amount: Option<i64>,
    currency: String,
    recurring: Option<Recurring>,
}

#[derive(Deserialize)]
struct Recurring {
    interval: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct CreatedSubscription {
    id: String,
    latest_invoice: Option<serde_json::Value>,
}

/// Stripe's error `{"error": {"code", "message", ...}}` as "code: message", on one line.
fn stripe_reason(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let field = |name: &str| error.and_then(|e| e.get(name)).and_then(|v| v.as_str());
    match (field("code").or(field("type")), field("message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (None, Some(message)) => message.to_owned(),
        _ => String::from_utf8_lossy(body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(300)
            .collect(),
    }
}

fn interval(service: &Service) -> Option<&'static str> {
    match service.billing {
        BillingPeriod::Monthly => Some("month"),
        BillingPeriod::Yearly => Some("year"),
        _ => None,
    }
}

impl Billing {
    pub(super) fn new(secret_key: &str, base_url: &str) -> Result<Self, Unavailable> {
        Ok(Billing {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| Unavailable::new("stripe billing client", e))?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
            prices: Mutex::new(HashMap::new()),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<T>, Unavailable> {
        let response = request
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", super::API_VERSION)
            .send()
            .await
            .map_err(|e| Unavailable::new(what, e))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| Unavailable::new(what, e))?;
        if !status.is_success() {
            // Stripe's error message names the parameter; it goes to the logs only.
            return Err(Unavailable::new(
                what,
                format!("HTTP {status}: {}", stripe_reason(&body)),
            ));
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| Unavailable::new(what, e))
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<T>, Unavailable> {
        let query = serde_urlencoded::to_string(query).map_err(|e| Unavailable::new(what, e))?;
        let url = format!("{}/v1/{path}?{query}", self.base_url);
        self.call(what, self.http.get(url)).await
    }

    /// A keyed POST: Stripe answers a retry with the first result. 409 means the twin with
    /// the same key is still in flight: wait for it.
    pub(super) async fn post<T: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        key: &str,
        form: &[(String, String)],
    ) -> Result<T, Unavailable> {
        let url = format!("{}/v1/{path}", self.base_url);
        let body = serde_urlencoded::to_string(form).map_err(|e| Unavailable::new(what, e))?;
        for attempt in 1..=20u64 {
            let request = self
                .http
                .post(&url)
                .header("Idempotency-Key", key)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.clone());
            match self.call::<T>(what, request).await {
                Err(e) if e.chain().contains("HTTP 409") => {
                    tokio::time::sleep(Duration::from_millis(100 * attempt.min(5))).await;
                }
                Ok(Some(found)) => return Ok(found),
                Ok(None) => return Err(Unavailable::new(what, "HTTP 404")),
                Err(e) => return Err(e),
            }
        }
        Err(Unavailable::new(
            what,
            "a request with the same key stayed in flight",
        ))
    }

    /// The Price of a recurring service, made (with its Product) when missing or stale.
    pub(super) async fn price(&self, service: &'static Service) -> Result<String, Unavailable> {
        if let Some(id) = self
            .prices
            .lock()
            .ok()
            .and_then(|p| p.get(service.id).cloned())
        {
            return Ok(id);
        }
        let (current, replaces) = self.current_price(service).await?;
        let id = match current {
            Some(id) => id,
            None => {
                let interval = interval(service).ok_or_else(|| {
                    Unavailable::new("stripe price", "the service is not recurring")
                })?;
                let cents = i64::try_from(service.price_cents.get()).unwrap_or(i64::MAX);
                let product = self.product(service).await?;
                let form = [
                    ("product", product),
                    ("unit_amount", cents.to_string()),
                    ("currency", "usd".into()),
                    ("recurring[interval]", interval.into()),
                    ("lookup_key", service.id.into()),
                    ("transfer_lookup_key", "true".into()),
                    (
                        "nickname",
                        format!("{} ({})", service.name, service.billing.label()),
                    ),
                ]
                .map(|(k, v)| (k.to_owned(), v));
                let key = format!("dotm-price-{}-{cents}-{interval}-{replaces}", service.id);
                let made: Created = self
                    .post("stripe create price", "prices", &key, &form)
                    .await?;
                made.id
            }
        };
        if let Ok(mut prices) = self.prices.lock() {
            prices.insert(service.id, id.clone());
        }
        Ok(id)
    }

    /// The active Price that bills `service` as the catalog says (lookup key, amount, USD,
    /// interval), if there is one, and the id of the Price holding the lookup key now ("none":
    /// no Price has it). Read-only.
    pub(super) async fn current_price(
        &self,
        service: &Service,
    ) -> Result<(Option<String>, String), Unavailable> {
        let interval = interval(service)
            .ok_or_else(|| Unavailable::new("stripe price", "the service is not recurring"))?;
        let cents = i64::try_from(service.price_cents.get()).unwrap_or(i64::MAX);
        let found: Option<List<Price>> = self
            .get(
                "stripe list prices",
                "prices",
                &[("lookup_keys[]", service.id), ("active", "true")],
            )
            .await?;
        let found: Vec<Price> = found.into_iter().flat_map(|l| l.data).collect();
        // Keyed by what it replaces too: after A -> B -> A a replay must not answer the first A.
        let replaces = found.first().map_or("none".to_owned(), |p| p.id.clone());
        let current = found.into_iter().find(|p| {
            p.unit_amount == Some(cents)
                && p.currency == "usd"
                && p.recurring.as_ref().is_some_and(|r| r.interval == interval)
        });
        Ok((current.map(|p| p.id), replaces))
    }

    async fn product(&self, service: &Service) -> Result<String, Unavailable> {
        let id = format!("dotm_{}", service.id);
        let found: Option<Created> = self
            .get("stripe get product", &format!("products/{id}"), &[])
            .await?;
        if let Some(product) = found {
            return Ok(product.id);
        }
        let form = [
            ("id", id.clone()),
            ("name", format!("DOTM {}", service.name)),
            ("description", service.description.to_owned()),
            ("metadata[service_id]", service.id.to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v));
        let key = format!("dotm-product-{}", service.id);
        let made: Created = self
            .post("stripe create product", "products", &key, &form)
            .await?;
        Ok(made.id)
    }

    /// A subscription billed by emailed invoice; answers its id and its first (draft) invoice.
    pub(super) async fn subscribe(
        &self,
        customer_id: &str,
        scope: &str,
        service: &'static Service,
        metadata: &[(&str, &str)],
    ) -> Result<(String, String), Unavailable> {
        let price = self.price(service).await?;
        let mut form: Vec<(String, String)> = [
            ("customer", customer_id.to_owned()),
            ("items[0][price]", price),
            ("items[0][quantity]", "1".into()),
            ("collection_method", "send_invoice".into()),
            ("days_until_due", super::DAYS_UNTIL_DUE.to_string()),
            ("description", format!("DOTM {}", service.name)),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .into();
        for (k, v) in metadata {
            form.push((format!("metadata[{k}]"), (*v).to_owned()));
        }
        let key = format!("dotm-subscription-{scope}");
        let made: CreatedSubscription = self
            .post("stripe create subscription", "subscriptions", &key, &form)
            .await?;
        let invoice = match made.latest_invoice {
            Some(serde_json::Value::String(id)) => id,
            Some(obj) => obj["id"].as_str().unwrap_or_default().to_owned(),
            None => String::new(),
        };
        if invoice.is_empty() {
            return Err(Unavailable::new(
                "stripe create subscription",
                "the subscription has no first invoice",
            ));
        }
        Ok((made.id, invoice))
    }

    pub(super) async fn cancel_at_period_end(
        &self,
        subscription_id: &str,
    ) -> Result<(), Unavailable> {
        let form = [("cancel_at_period_end".to_owned(), "true".to_owned())];
        let key = format!("dotm-cancel-{subscription_id}");
        let _: Created = self
            .post(
                "stripe cancel subscription",
                &format!("subscriptions/{subscription_id}"),
                &key,
                &form,
            )
            .await?;
        Ok(())
    }
}
