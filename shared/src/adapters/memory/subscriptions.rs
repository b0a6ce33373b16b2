//! `SubscriptionStore` and `EntitlementStore` in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::entitlements::Entitlement;
use crate::domain::subscriptions::{Subscription, SubscriptionStatus};
use crate::domain::users::Uid;
use crate::ports::{EntitlementStore, SubscriptionStore, Unavailable};

#[derive(Default)]
pub struct MemorySubscriptions {
    subs: Mutex<HashMap<String, Subscription>>,
}

#[async_trait]
impl SubscriptionStore for MemorySubscriptions {
    async fn create_subscription(&self, sub: &Subscription) -> Result<Subscription, Unavailable> {
        Ok(lock(&self.subs)
            .entry(sub.subscription_id.clone())
            .or_insert_with(|| sub.clone())
            .clone())
    }

    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, Unavailable> {
        Ok(lock(&self.subs).get(id).cloned())
    }

    async fn subscriptions(&self, uid: &Uid) -> Result<Vec<Subscription>, Unavailable> {
        let mut subs: Vec<Subscription> = lock(&self.subs)
            .values()
            .filter(|s| &s.uid == uid)
            .cloned()
            .collect();
        subs.sort_by(|a, b| a.subscription_id.cmp(&b.subscription_id));
        Ok(subs)
    }

    async fn extend_subscription(
        &self,
        uid: &Uid,
        id: &str,
        paid_until: i64,
    ) -> Result<(), Unavailable> {
        if let Some(sub) = lock(&self.subs).get_mut(id).filter(|s| &s.uid == uid) {
            sub.paid_until = sub.paid_until.max(paid_until);
            if sub.status == SubscriptionStatus::Unpaid {
                sub.status = SubscriptionStatus::Active;
            }
        }
        Ok(())
    }

    async fn set_subscription_state(
        &self,
        uid: &Uid,
        id: &str,
        status: Option<SubscriptionStatus>,
        cancel_at_period_end: bool,
        as_of: i64,
    ) -> Result<(), Unavailable> {
        let mut subs = lock(&self.subs);
        let Some(sub) = subs.get_mut(id).filter(|s| &s.uid == uid) else {
            return Ok(());
        };
        if sub.state_at > as_of || sub.status == SubscriptionStatus::Canceled {
            return Ok(());
        }
        sub.state_at = as_of;
        sub.cancel_at_period_end = cancel_at_period_end;
        if let Some(status) = status {
            sub.status = status;
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryEntitlements {
    grants: Mutex<HashMap<(String, String), Entitlement>>,
}

#[async_trait]
impl EntitlementStore for MemoryEntitlements {
    async fn grant(&self, e: &Entitlement) -> Result<bool, Unavailable> {
        let mut grants = lock(&self.grants);
        let key = (e.uid.to_string(), e.key());
        if grants.contains_key(&key) {
            return Ok(false);
        }
        grants.insert(key, e.clone());
        Ok(true)
    }

    async fn entitlements(&self, uid: &Uid) -> Result<Vec<Entitlement>, Unavailable> {
        let mut all: Vec<Entitlement> = lock(&self.grants)
            .values()
            .filter(|e| &e.uid == uid)
            .cloned()
            .collect();
        all.sort_by_key(Entitlement::key);
        Ok(all)
    }

    async fn revoke(&self, uid: &Uid, invoice_id: &str) -> Result<(), Unavailable> {
        for e in lock(&self.grants).values_mut() {
            if &e.uid == uid && e.invoice_id == invoice_id {
                e.revoked = true;
            }
        }
        Ok(())
    }

    async fn end_subscription(
        &self,
        uid: &Uid,
        subscription_id: &str,
        at: i64,
    ) -> Result<(), Unavailable> {
        for e in lock(&self.grants).values_mut() {
            if &e.uid == uid && e.subscription_id.as_deref() == Some(subscription_id) {
                e.until = Some(e.until.map_or(at, |u| u.min(at)));
            }
        }
        Ok(())
    }
}
