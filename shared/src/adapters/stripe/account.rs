//! What an operator's tools ask Stripe about the account (`stripe-setup`, `preflight`): its
//! webhook endpoints, made or brought in step with the events DOTM handles, and whether the
//! catalog's Prices exist. Same client, same pinned API version as the functions.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::API_VERSION;
use super::billing::Billing;
use crate::domain::catalog::Service;
use crate::ports::Unavailable;

pub struct StripeAccount {
    billing: Billing,
    secret_key: String,
}

/// Which of Stripe's two worlds a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Test,
    Live,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub enabled_events: Vec<String>,
    /// The version its events are rendered in (None: the account's default).
    pub api_version: Option<String>,
    /// `enabled` or `disabled`.
    pub status: String,
}

impl WebhookEndpoint {
    /// The handled event types it does not receive.
    pub fn missing<'a>(&self, handled: &[&'a str]) -> Vec<&'a str> {
        if self.enabled_events.iter().any(|e| e == "*") {
            return Vec::new();
        }
        handled
            .iter()
            .filter(|h| !self.enabled_events.iter().any(|e| e == *h))
            .copied()
            .collect()
    }
}

/// What `register_webhook` did.
#[derive(Debug)]
pub enum Registered {
    /// A new endpoint, with its signing secret (Stripe shows it only now).
    Created {
        endpoint: WebhookEndpoint,
        secret: String,
    },
    /// An endpoint for the URL existed; its event list (or state) was changed.
    Updated { endpoint: WebhookEndpoint },
    /// An endpoint for the URL existed as wanted.
    Unchanged { endpoint: WebhookEndpoint },
}

#[derive(Deserialize)]
struct Page<T> {
    data: Vec<T>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct CreatedEndpoint {
    #[serde(flatten)]
    endpoint: WebhookEndpoint,
    secret: Option<String>,
}

impl StripeAccount {
    /// `base_url` is Stripe's API (`https://api.stripe.com/`) or the sandbox.
    pub fn new(secret_key: &str, base_url: &str) -> Result<Self, Unavailable> {
        Ok(StripeAccount {
            billing: Billing::new(secret_key, base_url)?,
            secret_key: secret_key.to_owned(),
        })
    }

    /// From the key's prefix (`sk_live_`, `rk_test_`, ...); None when it has neither.
    pub fn key_mode(&self) -> Option<Mode> {
        let k = self.secret_key.as_str();
        if k.starts_with("sk_live_") || k.starts_with("rk_live_") {
            Some(Mode::Live)
        } else if k.starts_with("sk_test_") || k.starts_with("rk_test_") {
            Some(Mode::Test)
        } else {
            None
        }
    }

    /// Every webhook endpoint of the account (a bad key is an `HTTP 401` in the error's chain).
    pub async fn webhook_endpoints(&self) -> Result<Vec<WebhookEndpoint>, Unavailable> {
        let mut all: Vec<WebhookEndpoint> = Vec::new();
        loop {
            let after = all.last().map(|e| e.id.clone());
            let mut query = vec![("limit", "100")];
            if let Some(after) = after.as_deref() {
                query.push(("starting_after", after));
            }
            let page: Option<Page<WebhookEndpoint>> = self
                .billing
                .get("stripe list webhook endpoints", "webhook_endpoints", &query)
                .await?;
            let Some(page) = page else {
                return Err(Unavailable::new(
                    "stripe list webhook endpoints",
                    "HTTP 404",
                ));
            };
            let more = page.has_more && !page.data.is_empty();
            all.extend(page.data);
            if !more {
                return Ok(all);
            }
        }
    }

    /// Makes the endpoint for `url` receive exactly `events`, in [`API_VERSION`]: created when
    /// missing, its event list replaced when it differs. An endpoint rendering another API
    /// version cannot be changed to this one (Stripe fixes it at creation): that is an error
    /// naming it.
    pub async fn register_webhook(
        &self,
        url: &str,
        events: &[&str],
    ) -> Result<Registered, Unavailable> {
        let what = "stripe webhook endpoint";
        let existing = self
            .webhook_endpoints()
            .await?
            .into_iter()
            .find(|e| e.url == url);
        let mut form: Vec<(String, String)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (format!("enabled_events[{i}]"), (*e).to_owned()))
            .collect();
        let digest = hex::encode(Sha256::digest(format!("{url} {}", events.join(","))));
        let Some(endpoint) = existing else {
            form.push(("url".into(), url.to_owned()));
            form.push(("api_version".into(), API_VERSION.to_owned()));
            form.push(("description".into(), "DOTM (make stripe-setup)".to_owned()));
            let key = format!("dotm-webhook-create-{digest}");
            let made: CreatedEndpoint = self
                .billing
                .post(what, "webhook_endpoints", &key, &form)
                .await?;
            let secret = made.secret.ok_or_else(|| {
                Unavailable::new(what, "Stripe answered the creation without a secret")
            })?;
            return Ok(Registered::Created {
                endpoint: made.endpoint,
                secret,
            });
        };
        if endpoint.api_version.as_deref() != Some(API_VERSION) {
            return Err(Unavailable::new(
                what,
                format!(
                    "{} renders events in API version {}, DOTM reads {API_VERSION}; Stripe cannot change it: delete the endpoint and run this again",
                    endpoint.id,
                    endpoint
                        .api_version
                        .as_deref()
                        .unwrap_or("(the account's default)")
                ),
            ));
        }
        let mut wanted: Vec<&str> = events.to_vec();
        let mut has: Vec<&str> = endpoint.enabled_events.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        has.sort_unstable();
        if wanted == has && endpoint.status == "enabled" {
            return Ok(Registered::Unchanged { endpoint });
        }
        form.push(("disabled".into(), "false".into()));
        let key = format!("dotm-webhook-update-{}-{digest}", endpoint.id);
        let endpoint: WebhookEndpoint = self
            .billing
            .post(
                what,
                &format!("webhook_endpoints/{}", endpoint.id),
                &key,
                &form,
            )
            .await?;
        Ok(Registered::Updated { endpoint })
    }

    /// The active Price that bills `service` as the catalog says, if the account has one.
    pub async fn catalog_price(&self, service: &Service) -> Result<Option<String>, Unavailable> {
        Ok(self.billing.current_price(service).await?.0)
    }
}
