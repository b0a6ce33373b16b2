//! `my_account` and `GET /api/account`: everything a person has with DOTM, read only.

use schemars::JsonSchema;
use serde::Serialize;

use crate::app::orders::{self, OrderView};
use crate::app::subscriptions::{self, SubscriptionView};
use crate::app::{Deps, accounts};
use crate::domain::entitlements::{Entitlement, Grant};
use crate::domain::rewards::{RewardStatus, Wei};
use crate::domain::time::rfc3339;
use crate::domain::users::Identity;
use crate::ports::Unavailable;

#[derive(Debug, Serialize, JsonSchema)]
pub struct EntitlementView {
    pub service_id: String,
    #[serde(flatten)]
    pub grant: Grant,
    pub invoice_id: String,
    /// RFC 3339; none: for good.
    pub until: Option<String>,
    pub active: bool,
    pub revoked: bool,
}

/// DOTM amounts as decimal strings (18 decimals: no float can hold them).
#[derive(Debug, Serialize, JsonSchema)]
pub struct RewardsSummary {
    pub pending_dotm: String,
    pub minted_dotm: String,
}

/// Typed to the last field: its JSON Schema (the `my_account` output schema) has an object at
/// every node, which every MCP client's validator accepts.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Overview {
    pub profile: accounts::Profile,
    pub orders: Vec<OrderView>,
    pub subscriptions: Vec<SubscriptionView>,
    pub entitlements: Vec<EntitlementView>,
    pub rewards: RewardsSummary,
}

fn describe(e: Entitlement, now: i64) -> EntitlementView {
    EntitlementView {
        active: e.live(now),
        until: e.until.map(rfc3339),
        service_id: e.service_id,
        grant: e.grant,
        invoice_id: e.invoice_id,
        revoked: e.revoked,
    }
}

pub async fn overview(deps: &Deps, identity: &Identity) -> Result<Overview, Unavailable> {
    let now = deps.clock.now_unix();
    let rewards = deps.rewards.rewards(&identity.uid).await?;
    let total = |status: RewardStatus| {
        rewards
            .iter()
            .filter(|r| r.status == status)
            .fold(Wei::from_wei(0), |acc, r| acc + r.amount_wei)
            .to_dotm_string()
    };
    Ok(Overview {
        profile: accounts::profile(deps, identity).await?,
        orders: orders::list(deps, identity).await?,
        subscriptions: subscriptions::list(deps, identity).await?,
        entitlements: deps
            .entitlements
            .entitlements(&identity.uid)
            .await?
            .into_iter()
            .map(|e| describe(e, now))
            .collect(),
        rewards: RewardsSummary {
            pending_dotm: total(RewardStatus::Pending),
            minted_dotm: total(RewardStatus::Minted),
        },
    })
}
