//! `OrderStore`: orders under the user, request keys with a TTL, claims by invoice id
//! (`INVOICE#<id>` / `ORDER`, where the webhook matches), charges, unmatched payments.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{DynamoStore, s, to_item, user_pk, value};
use crate::domain::orders::{
    CardStatus, ClaimState, HeldTakeback, Order, OrderPayment, OrderStatus, PaymentClaim,
    UnmatchedPayment,
};
use crate::domain::users::Uid;
use crate::ports::{OrderStore, RequestKey, Unavailable};

const UNMATCHED_PK: &str = "UNMATCHED";

fn order_sk(order_id: &str) -> String {
    format!("ORDER#{order_id}")
}

fn payment_pk(payment_id: &str) -> String {
    format!("PAYMENT#{payment_id}")
}

fn claim_pk(invoice_id: &str) -> String {
    format!("INVOICE#{invoice_id}")
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    #[serde(flatten)]
    key: RequestKey,
    expires_at: i64,
}

/// Which invoice a payment paid (`PAYMENT#<payment intent>` / `INVOICE`, a take-back held for
/// it beside it as `TAKEBACK`), or which invoice an unmatched event was about.
#[derive(Serialize, Deserialize)]
struct PaymentRecord {
    invoice_id: String,
}

#[async_trait]
impl OrderStore for DynamoStore {
    async fn bind_request(
        &self,
        uid: &Uid,
        key: &str,
        claim: &RequestKey,
        now_unix: i64,
        ttl_seconds: i64,
    ) -> Result<RequestKey, Unavailable> {
        let sk = format!("REQUEST#{key}");
        let stored = StoredKey {
            key: claim.clone(),
            expires_at: now_unix + ttl_seconds,
        };
        let item = to_item(user_pk(uid), sk.clone(), &stored)?;
        // TTL deletes lazily: an expired binding counts as none.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", value(now_unix)?)
            .send()
            .await
            .map_err(|e| e.into_service_error());
        if super::conditional("dynamodb bind request", result)?.is_some() {
            return Ok(claim.clone());
        }
        let found: Option<StoredKey> = self.get(user_pk(uid), &sk).await?;
        found
            .map(|k| k.key)
            .ok_or_else(|| Unavailable::new("dynamodb bind request", "the key vanished; try again"))
    }

    async fn unbind_request(
        &self,
        uid: &Uid,
        key: &str,
        order_id: &str,
    ) -> Result<(), Unavailable> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(uid)))
            .key("sk", s(format!("REQUEST#{key}")))
            .condition_expression("order_id = :id")
            .expression_attribute_values(":id", s(order_id))
            .send()
            .await
            .map_err(|e| e.into_service_error());
        super::conditional("dynamodb unbind request", result)?;
        Ok(())
    }

    async fn create_order(&self, order: &Order) -> Result<Order, Unavailable> {
        let sk = order_sk(&order.order_id);
        Ok(self.put_or_get(user_pk(&order.uid), sk, order).await?.0)
    }

    async fn order(&self, uid: &Uid, order_id: &str) -> Result<Option<Order>, Unavailable> {
        self.get(user_pk(uid), &order_sk(order_id)).await
    }

    async fn orders(&self, uid: &Uid) -> Result<Vec<Order>, Unavailable> {
        let mut orders: Vec<Order> = self.user_items(uid, "ORDER#", "dynamodb orders").await?;
        orders.sort_by(|a, b| (&b.created_at, &b.order_id).cmp(&(&a.created_at, &a.order_id)));
        Ok(orders)
    }

    async fn set_payments(
        &self,
        uid: &Uid,
        order_id: &str,
        payments: &[OrderPayment],
    ) -> Result<(), Unavailable> {
        // Every provider call behind these is keyed by the order: a retry writes the same ids.
        let update = self
            .update(user_pk(uid), order_sk(order_id))
            .update_expression("SET payments = :p")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":p", value(payments)?);
        self.apply("dynamodb order payments", update).await?;
        Ok(())
    }

    async fn set_order_status(
        &self,
        uid: &Uid,
        order_id: &str,
        from: &[OrderStatus],
        to: OrderStatus,
        at: &str,
    ) -> Result<bool, Unavailable> {
        let names: Vec<String> = (0..from.len()).map(|i| format!(":f{i}")).collect();
        let mut update = self
            .update(user_pk(uid), order_sk(order_id))
            .condition_expression(format!("#status IN ({})", names.join(", ")))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", value(to)?);
        update = if to == OrderStatus::Paid {
            update
                .update_expression("SET #status = :to, paid_at = :at")
                .expression_attribute_values(":at", s(at))
        } else {
            update.update_expression("SET #status = :to")
        };
        for (name, status) in names.iter().zip(from) {
            update = update.expression_attribute_values(name, value(status)?);
        }
        self.apply("dynamodb order status", update).await
    }

    async fn set_card_status(
        &self,
        uid: &Uid,
        order_id: &str,
        card: &CardStatus,
    ) -> Result<bool, Unavailable> {
        let update = self
            .update(user_pk(uid), order_sk(order_id))
            .update_expression("SET card = :c")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":c", value(card)?);
        self.apply("dynamodb card status", update).await
    }

    async fn save_claim(&self, claim: &PaymentClaim) -> Result<(), Unavailable> {
        let item = to_item(claim_pk(&claim.invoice_id), "ORDER".into(), claim)?;
        self.put_new(item).await?;
        Ok(())
    }

    async fn claim(&self, invoice_id: &str) -> Result<Option<PaymentClaim>, Unavailable> {
        self.get(claim_pk(invoice_id), "ORDER").await
    }

    async fn settle_claim(
        &self,
        invoice_id: &str,
        from: ClaimState,
        to: ClaimState,
    ) -> Result<bool, Unavailable> {
        let update = self
            .update(claim_pk(invoice_id), "ORDER".into())
            .update_expression("SET #state = :to")
            .condition_expression("#state = :from")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":to", value(to)?)
            .expression_attribute_values(":from", value(from)?);
        self.apply("dynamodb settle claim", update).await
    }

    async fn save_payment(&self, payment_id: &str, invoice_id: &str) -> Result<(), Unavailable> {
        let record = PaymentRecord {
            invoice_id: invoice_id.to_owned(),
        };
        self.put_new(to_item(payment_pk(payment_id), "INVOICE".into(), record)?)
            .await?;
        Ok(())
    }

    async fn payment_invoice(&self, payment_id: &str) -> Result<Option<String>, Unavailable> {
        let found: Option<PaymentRecord> = self.get(payment_pk(payment_id), "INVOICE").await?;
        Ok(found.map(|c| c.invoice_id))
    }

    async fn hold_takeback(
        &self,
        payment_id: &str,
        held: &HeldTakeback,
    ) -> Result<(), Unavailable> {
        self.put_new(to_item(payment_pk(payment_id), "TAKEBACK".into(), held)?)
            .await?;
        Ok(())
    }

    async fn held_takeback(&self, payment_id: &str) -> Result<Option<HeldTakeback>, Unavailable> {
        self.get(payment_pk(payment_id), "TAKEBACK").await
    }

    async fn record_unmatched(&self, payment: &UnmatchedPayment) -> Result<(), Unavailable> {
        let sk = format!(
            "AT#{}#{}#{}",
            payment.at, payment.invoice_id, payment.event_id
        );
        // A redelivery of the same event lands at another time: keyed by event it is one.
        let marker = format!("UNMATCHED_EVENT#{}", payment.event_id);
        let record = PaymentRecord {
            invoice_id: payment.invoice_id.clone(),
        };
        if self
            .put_new(to_item(marker, "EVENT".into(), record)?)
            .await?
        {
            self.put_new(to_item(UNMATCHED_PK.into(), sk, payment)?)
                .await?;
        }
        Ok(())
    }

    async fn unmatched(&self) -> Result<Vec<UnmatchedPayment>, Unavailable> {
        let mut all: Vec<UnmatchedPayment> = self
            .items_under(UNMATCHED_PK.into(), "AT#", "dynamodb unmatched payments")
            .await?;
        all.sort_by(|a, b| (&b.at, &b.event_id).cmp(&(&a.at, &a.event_id)));
        Ok(all)
    }
}
