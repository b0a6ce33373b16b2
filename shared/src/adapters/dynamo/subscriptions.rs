//! `SubscriptionStore` and `EntitlementStore`: subscriptions under the user with a lookup by
//! the provider's id (`SUBSCRIPTION#<id>` / `OWNER`), entitlements under the user.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{DynamoStore, to_item, user_pk, value};
use crate::domain::entitlements::Entitlement;
use crate::domain::subscriptions::{Subscription, SubscriptionStatus};
use crate::domain::users::Uid;
use crate::ports::{EntitlementStore, SubscriptionStore, Unavailable};

fn sub_sk(id: &str) -> String {
    format!("SUB#{id}")
}

#[derive(Serialize, Deserialize)]
struct Owner {
    uid: Uid,
}

#[async_trait]
impl SubscriptionStore for DynamoStore {
    async fn create_subscription(&self, sub: &Subscription) -> Result<Subscription, Unavailable> {
        let owner = Owner {
            uid: sub.uid.clone(),
        };
        let lookup = format!("SUBSCRIPTION#{}", sub.subscription_id);
        self.put_new(to_item(lookup, "OWNER".into(), owner)?)
            .await?;
        let sk = sub_sk(&sub.subscription_id);
        Ok(self.put_or_get(user_pk(&sub.uid), sk, sub).await?.0)
    }

    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, Unavailable> {
        let owner: Option<Owner> = self.get(format!("SUBSCRIPTION#{id}"), "OWNER").await?;
        match owner {
            Some(owner) => self.get(user_pk(&owner.uid), &sub_sk(id)).await,
            None => Ok(None),
        }
    }

    async fn subscriptions(&self, uid: &Uid) -> Result<Vec<Subscription>, Unavailable> {
        self.user_items(uid, "SUB#", "dynamodb subscriptions").await
    }

    async fn extend_subscription(
        &self,
        uid: &Uid,
        id: &str,
        paid_until: i64,
    ) -> Result<(), Unavailable> {
        let longer = self
            .update(user_pk(uid), sub_sk(id))
            .update_expression("SET paid_until = :p")
            .condition_expression("paid_until < :p")
            .expression_attribute_values(":p", value(paid_until)?);
        self.apply("dynamodb extend subscription", longer).await?;
        let active = self
            .update(user_pk(uid), sub_sk(id))
            .update_expression("SET #status = :active")
            .condition_expression("#status = :unpaid")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", value(SubscriptionStatus::Active)?)
            .expression_attribute_values(":unpaid", value(SubscriptionStatus::Unpaid)?);
        self.apply("dynamodb activate subscription", active).await?;
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
        let mut update = self
            .update(user_pk(uid), sub_sk(id))
            .condition_expression("state_at <= :at AND #status <> :canceled")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":at", value(as_of)?)
            .expression_attribute_values(":c", value(cancel_at_period_end)?)
            .expression_attribute_values(":canceled", value(SubscriptionStatus::Canceled)?);
        update = match status {
            Some(status) => update
                .update_expression("SET state_at = :at, cancel_at_period_end = :c, #status = :s")
                .expression_attribute_values(":s", value(status)?),
            None => update.update_expression("SET state_at = :at, cancel_at_period_end = :c"),
        };
        self.apply("dynamodb subscription state", update).await?;
        Ok(())
    }
}

fn entitlement_sk(e: &Entitlement) -> String {
    format!("ENTITLEMENT#{}", e.key())
}

#[async_trait]
impl EntitlementStore for DynamoStore {
    async fn grant(&self, e: &Entitlement) -> Result<bool, Unavailable> {
        self.put_new(to_item(user_pk(&e.uid), entitlement_sk(e), e)?)
            .await
    }

    async fn entitlements(&self, uid: &Uid) -> Result<Vec<Entitlement>, Unavailable> {
        self.user_items(uid, "ENTITLEMENT#", "dynamodb entitlements")
            .await
    }

    async fn revoke(&self, uid: &Uid, invoice_id: &str) -> Result<(), Unavailable> {
        let prefix = format!("ENTITLEMENT#{invoice_id}#");
        let granted: Vec<Entitlement> = self
            .user_items(uid, &prefix, "dynamodb entitlements")
            .await?;
        for e in granted {
            let update = self
                .update(user_pk(uid), entitlement_sk(&e))
                .update_expression("SET revoked = :t")
                .expression_attribute_values(":t", value(true)?);
            self.apply("dynamodb revoke entitlement", update).await?;
        }
        Ok(())
    }

    async fn end_subscription(
        &self,
        uid: &Uid,
        subscription_id: &str,
        at: i64,
    ) -> Result<(), Unavailable> {
        for e in self.entitlements(uid).await? {
            if e.subscription_id.as_deref() != Some(subscription_id) {
                continue;
            }
            let update = self
                .update(user_pk(uid), entitlement_sk(&e))
                .update_expression("SET #until = :at")
                .condition_expression("attribute_not_exists(#until) OR #until > :at")
                .expression_attribute_names("#until", "until")
                .expression_attribute_values(":at", value(at)?);
            self.apply("dynamodb end entitlement", update).await?;
        }
        Ok(())
    }
}
