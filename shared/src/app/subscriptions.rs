//! Subscriptions as people see and end them. Cancelling ends a subscription at the end of
//! the paid period: what it grants lasts until then.

use schemars::JsonSchema;
use serde::Serialize;

use crate::app::Deps;
use crate::domain::catalog;
use crate::domain::money::Cents;
use crate::domain::subscriptions::{Subscription, SubscriptionStatus};
use crate::domain::time::rfc3339;
use crate::domain::users::Identity;
use crate::ports::{Invoicing, Unavailable};

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("no subscription {0:?} on this account")]
    NotFound(String),
    #[error("{0}")]
    NotCancellable(&'static str),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SubscriptionView {
    pub subscription_id: String,
    pub service_id: String,
    pub name: String,
    pub status: SubscriptionStatus,
    pub cancel_at_period_end: bool,
    /// RFC 3339: the end of the paid period, when one was paid.
    pub paid_until: Option<String>,
    #[serde(serialize_with = "Cents::serialize_dollars")]
    #[schemars(with = "f64")]
    pub price: Cents,
    pub price_cents: u64,
    pub billing: String,
    pub order_id: String,
}

impl From<Subscription> for SubscriptionView {
    fn from(s: Subscription) -> Self {
        let service = catalog::find(&s.service_id);
        SubscriptionView {
            name: service.map_or_else(|| s.service_id.clone(), |x| x.name.to_owned()),
            billing: service.map_or("", |x| x.billing.label()).to_owned(),
            paid_until: (s.paid_until > 0).then(|| rfc3339(s.paid_until)),
            price: Cents(s.price_cents),
            price_cents: s.price_cents,
            subscription_id: s.subscription_id,
            service_id: s.service_id,
            status: s.status,
            cancel_at_period_end: s.cancel_at_period_end,
            order_id: s.order_id,
        }
    }
}

pub async fn list(deps: &Deps, identity: &Identity) -> Result<Vec<SubscriptionView>, Unavailable> {
    let subs = deps.subscriptions.subscriptions(&identity.uid).await?;
    Ok(subs.into_iter().map(SubscriptionView::from).collect())
}

pub async fn cancel(
    deps: &Deps,
    invoicing: &dyn Invoicing,
    identity: &Identity,
    subscription_id: &str,
) -> Result<SubscriptionView, SubscriptionError> {
    let not_found = || SubscriptionError::NotFound(subscription_id.chars().take(64).collect());
    // Someone else's subscription answers as if it did not exist.
    let sub = deps
        .subscriptions
        .subscription(subscription_id)
        .await?
        .filter(|s| s.uid == identity.uid)
        .ok_or_else(not_found)?;
    sub.cancellable()
        .map_err(SubscriptionError::NotCancellable)?;
    invoicing.cancel_at_period_end(&sub.subscription_id).await?;
    deps.subscriptions
        .set_subscription_state(
            &sub.uid,
            &sub.subscription_id,
            None,
            true,
            deps.clock.now_unix(),
        )
        .await?;
    tracing::info!(uid = %sub.uid.short(), subscription = %sub.subscription_id, "subscription set to end");
    Ok(SubscriptionView::from(Subscription {
        cancel_at_period_end: true,
        ..sub
    }))
}

#[derive(Debug, serde::Deserialize)]
struct ProviderSubscription {
    id: String,
    #[serde(default)]
    customer: Option<String>,
    status: String,
    #[serde(default)]
    cancel_at_period_end: bool,
    #[serde(default)]
    ended_at: Option<i64>,
}

/// `customer.subscription.updated|deleted`: the provider's state of a subscription of ours,
/// applied only if it is newer than what we recorded.
pub(crate) async fn apply_provider_state(
    deps: &Deps,
    event: &crate::app::payments::Event,
) -> Result<crate::app::payments::Outcome, crate::app::payments::EventError> {
    use crate::app::payments::Outcome;
    let provider: ProviderSubscription = event.object()?;
    let Some(ours) = deps.subscriptions.subscription(&provider.id).await? else {
        return Ok(Outcome::Ignored(format!(
            "subscription {} is not DOTM's",
            provider.id
        )));
    };
    if provider.customer.as_deref() != Some(ours.customer_id.as_str()) {
        return Ok(Outcome::Ignored(format!(
            "subscription {} is another customer's",
            provider.id
        )));
    }
    let deleted = event.kind == "customer.subscription.deleted";
    let status = match provider.status.as_str() {
        _ if deleted => Some(SubscriptionStatus::Canceled),
        "canceled" | "incomplete_expired" => Some(SubscriptionStatus::Canceled),
        "past_due" | "unpaid" => Some(SubscriptionStatus::PastDue),
        // "active" at the provider before its first invoice is paid is still unpaid to us.
        _ => None,
    };
    deps.subscriptions
        .set_subscription_state(
            &ours.uid,
            &ours.subscription_id,
            status,
            provider.cancel_at_period_end,
            event.created,
        )
        .await?;
    if status == Some(SubscriptionStatus::Canceled) {
        let ended = provider.ended_at.unwrap_or_else(|| deps.clock.now_unix());
        deps.entitlements
            .end_subscription(&ours.uid, &ours.subscription_id, ended)
            .await?;
        deps.queue
            .send_fulfilment(&crate::domain::activation::FulfilTask {
                fulfil_for: ours.uid.clone(),
                receipt_for: None,
                invoice_url: None,
            })
            .await?;
    }
    Ok(Outcome::Applied(format!(
        "subscription {} is {}",
        ours.subscription_id, provider.status
    )))
}
