//! Subscriptions: memberships (yearly) and network add-ons (monthly), billed by Stripe with an
//! emailed invoice each period. Ours is the record; Stripe's events only move it forward.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::users::Uid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Made; its first invoice is not paid yet.
    Unpaid,
    Active,
    /// A renewal invoice failed; what it grants lasts to the end of the paid period.
    PastDue,
    Canceled,
}

/// `USER#<uid>` / `SUB#<stripe subscription id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub subscription_id: String,
    pub uid: Uid,
    pub service_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub price_cents: u64,
    pub status: SubscriptionStatus,
    pub cancel_at_period_end: bool,
    /// Unix seconds: the end of the last paid period (0 before the first payment).
    pub paid_until: i64,
    /// Unix seconds of the provider event last applied: an older one changes nothing.
    #[serde(default)]
    pub state_at: i64,
    pub created_at: String,
}

impl Subscription {
    pub fn cancellable(&self) -> Result<(), &'static str> {
        match self.status {
            SubscriptionStatus::Canceled => Err("the subscription has ended"),
            _ if self.cancel_at_period_end => Err("the subscription is already set to end"),
            _ => Ok(()),
        }
    }
}
