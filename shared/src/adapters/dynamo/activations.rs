//! `ActivationStore`: one item per paid activation; the sparse `queue-by-ticket` index holds
//! only waiting jobs, so a position is a count query.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{DynamoStore, conditional, from_item, s, to_item, user_pk, value};
use crate::domain::activation::{Activation, CarrierCall, Line, WAITING};
use crate::domain::throttle::Reservation;
use crate::domain::users::Uid;
use crate::ports::{ActivationStore, Unavailable};

const QUEUE_INDEX: &str = "queue-by-ticket";

fn activation_sk(purchase_id: &str) -> String {
    format!("ACTIVATION#{purchase_id}")
}

impl DynamoStore {
    async fn update_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        update: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<Activation>, Unavailable> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(uid)))
            .key("sk", s(activation_sk(purchase_id)))
            .update_expression(update)
            .return_values(ReturnValue::AllNew);
        if let Some(c) = condition {
            request = request.condition_expression(c);
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        if update.contains("#status") || condition.is_some_and(|c| c.contains("#status")) {
            request = request.expression_attribute_names("#status", "status");
        }
        if update.contains("#queue") {
            request = request.expression_attribute_names("#queue", "queue");
        }
        let result = request.send().await.map_err(|e| e.into_service_error());
        match conditional("dynamodb activation", result)? {
            Some(out) => out.attributes.map(from_item).transpose(),
            None => Ok(None),
        }
    }

    async fn must_get_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<Activation, Unavailable> {
        self.activation(uid, purchase_id).await?.ok_or_else(|| {
            Unavailable::new(
                "dynamodb activation",
                format!("no activation for {purchase_id}"),
            )
        })
    }

    async fn count_waiting(&self, below_ticket: Option<u64>) -> Result<u64, Unavailable> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(QUEUE_INDEX)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .expression_attribute_names("#queue", "queue")
                .expression_attribute_values(":waiting", s(WAITING))
                .set_exclusive_start_key(start);
            query = match below_ticket {
                Some(t) => query
                    .key_condition_expression("#queue = :waiting AND ticket < :t")
                    .expression_attribute_values(":t", AttributeValue::N(t.to_string())),
                None => query.key_condition_expression("#queue = :waiting"),
            };
            let out = query
                .send()
                .await
                .map_err(|e| Unavailable::new("dynamodb queue count", e.into_service_error()))?;
            total += out.count.max(0) as u64;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl ActivationStore for DynamoStore {
    async fn create_activation(&self, a: &Activation) -> Result<Activation, Unavailable> {
        let item = to_item(user_pk(&a.uid), activation_sk(&a.purchase_id), a)?;
        if self.put_new(item).await? {
            return Ok(a.clone());
        }
        self.must_get_activation(&a.uid, &a.purchase_id).await
    }

    async fn activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<Option<Activation>, Unavailable> {
        self.get(user_pk(uid), &activation_sk(purchase_id)).await
    }

    async fn activations(&self, uid: &Uid) -> Result<Vec<Activation>, Unavailable> {
        self.user_items(uid, "ACTIVATION#", "dynamodb activations")
            .await
    }

    async fn queue_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        r: Reservation,
    ) -> Result<Activation, Unavailable> {
        let updated = self
            .update_activation(
                uid,
                purchase_id,
                "SET ticket = :ticket, slot_ms = :slot, #queue = :waiting, #status = :queued",
                Some("attribute_not_exists(ticket)"),
                vec![
                    (":ticket", AttributeValue::N(r.ticket.to_string())),
                    (":slot", AttributeValue::N(r.slot_ms.to_string())),
                    (":waiting", s(WAITING)),
                    (":queued", s("queued")),
                ],
            )
            .await?;
        match updated {
            Some(a) => Ok(a),
            None => self.must_get_activation(uid, purchase_id).await,
        }
    }

    async fn claim_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<Activation>, Unavailable> {
        self.update_activation(
            uid,
            purchase_id,
            "SET #status = :activating, attempts = if_not_exists(attempts, :zero) + :one, \
             claimed_until_ms = :until REMOVE #queue",
            // Waiting, or activating under a claim that ran out (its worker died).
            Some(
                "#status IN (:pending, :queued) OR (#status = :activating AND \
                 (attribute_not_exists(claimed_until_ms) OR claimed_until_ms < :now))",
            ),
            vec![
                (":activating", s("activating")),
                (":pending", s("pending")),
                (":queued", s("queued")),
                (":zero", AttributeValue::N("0".into())),
                (":one", AttributeValue::N("1".into())),
                (":now", AttributeValue::N(now_ms.to_string())),
                (":until", AttributeValue::N((now_ms + lease_ms).to_string())),
            ],
        )
        .await
    }

    async fn record_carrier_call(
        &self,
        uid: &Uid,
        purchase_id: &str,
        claimed_until_ms: i64,
        call: &CarrierCall,
    ) -> Result<bool, Unavailable> {
        let call = value(call)?;
        let recorded = self
            .update_activation(
                uid,
                purchase_id,
                "SET carrier_call = :call",
                Some("#status = :activating AND claimed_until_ms = :until"),
                vec![
                    (":call", call),
                    (":activating", s("activating")),
                    (":until", AttributeValue::N(claimed_until_ms.to_string())),
                ],
            )
            .await?;
        Ok(recorded.is_some())
    }

    async fn attribute_line(
        &self,
        line_id: &str,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<bool, Unavailable> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("CARRIER_LINE#{line_id}")))
            .item("sk", s("OWNER"))
            .item("uid", s(uid.as_str()))
            .item("purchase_id", s(purchase_id))
            .condition_expression(
                "attribute_not_exists(pk) OR (uid = :uid AND purchase_id = :purchase)",
            )
            .expression_attribute_values(":uid", s(uid.as_str()))
            .expression_attribute_values(":purchase", s(purchase_id))
            .send()
            .await;
        let written = conditional(
            "dynamodb carrier line",
            result.map_err(|e| e.into_service_error()),
        )?;
        Ok(written.is_some())
    }

    async fn release_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        wait_until_ms: Option<i64>,
    ) -> Result<(), Unavailable> {
        let zero = (":zero", AttributeValue::N("0".into()));
        let update = match wait_until_ms {
            None => self.update_activation(uid, purchase_id, "SET claimed_until_ms = :zero", None, vec![zero]),
            // Back in line with its ticket: the wait was no attempt.
            Some(at) => self.update_activation(
                uid,
                purchase_id,
                "SET claimed_until_ms = :zero, #status = :queued, #queue = :waiting, slot_ms = :at, \
                 attempts = attempts - :one",
                Some("#status = :activating"),
                vec![
                    zero,
                    (":queued", s("queued")),
                    (":waiting", s(WAITING)),
                    (":at", AttributeValue::N(at.to_string())),
                    (":one", AttributeValue::N("1".into())),
                    (":activating", s("activating")),
                ],
            ),
        };
        update.await.map(|_| ())
    }

    async fn requeue_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        r: Reservation,
    ) -> Result<Option<Activation>, Unavailable> {
        self.update_activation(
            uid,
            purchase_id,
            "SET claimed_until_ms = :zero, #status = :queued, #queue = :waiting, \
             ticket = :ticket, slot_ms = :slot",
            Some("#status = :activating"),
            vec![
                (":zero", AttributeValue::N("0".into())),
                (":queued", s("queued")),
                (":waiting", s(WAITING)),
                (":ticket", AttributeValue::N(r.ticket.to_string())),
                (":slot", AttributeValue::N(r.slot_ms.to_string())),
                (":activating", s("activating")),
            ],
        )
        .await
    }

    async fn complete_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        line: &Line,
        at: &str,
    ) -> Result<Activation, Unavailable> {
        let line_value = serde_dynamo::to_attribute_value(line)
            .map_err(|e| Unavailable::new("encode line", e))?;
        let updated = self
            .update_activation(
                uid,
                purchase_id,
                "SET #status = :active, line = :line, activated_at = :at REMOVE #queue",
                Some("#status <> :active"),
                vec![
                    (":active", s("active")),
                    (":line", line_value),
                    (":at", s(at)),
                ],
            )
            .await?;
        match updated {
            Some(a) => Ok(a),
            None => self.must_get_activation(uid, purchase_id).await,
        }
    }

    async fn fail_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
        reason: &str,
    ) -> Result<(), Unavailable> {
        self.update_activation(
            uid,
            purchase_id,
            "SET #status = :failed, failed_reason = :reason REMOVE #queue",
            Some("#status <> :active"),
            vec![
                (":failed", s("failed")),
                (":reason", s(reason)),
                (":active", s("active")),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn reopen_activation(
        &self,
        uid: &Uid,
        purchase_id: &str,
    ) -> Result<Option<Activation>, Unavailable> {
        self.update_activation(
            uid,
            purchase_id,
            "SET #status = :pending, attempts = :zero, claimed_until_ms = :zero \
             REMOVE failed_reason, ticket, slot_ms, #queue",
            Some("#status = :failed"),
            vec![
                (":pending", s("pending")),
                (":failed", s("failed")),
                (":zero", AttributeValue::N("0".into())),
            ],
        )
        .await
    }

    async fn mark_emailed(&self, uid: &Uid, purchase_id: &str) -> Result<(), Unavailable> {
        self.update_activation(
            uid,
            purchase_id,
            "SET emailed = :yes",
            None,
            vec![(":yes", AttributeValue::Bool(true))],
        )
        .await
        .map(|_| ())
    }

    async fn jobs_ahead(&self, ticket: u64) -> Result<u64, Unavailable> {
        self.count_waiting(Some(ticket)).await
    }

    async fn waiting_jobs(&self) -> Result<u64, Unavailable> {
        self.count_waiting(None).await
    }
}
