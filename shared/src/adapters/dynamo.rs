//! `Store` on one DynamoDB table (DESIGN §4). Every write that must not happen twice is
//! conditional; records are serde structs mapped with `serde_dynamo`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use crate::activations::{Activation, Line, WAITING};
use crate::ports::{
    Activations, Clock, CreateUserError, Rewards, Store, ThrottleStore, Unavailable,
};
use crate::purchases::{OpenInvoice, Purchase};
use crate::rewards::{Reward, RewardStatus};
use crate::throttle::{Permit, Reservation, ThrottleConfig, ThrottleState, WaitUntil};
use crate::users::{Uid, User};
use crate::wallet::Wallet;

/// Processed-event markers are kept this long (Stripe retries for 3 days).
const EVENT_TTL_SECONDS: i64 = 30 * 24 * 3600;

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB errors that can say "the write's condition did not hold".
trait ConditionFailed: std::error::Error + Send + Sync + 'static {
    fn condition_failed(&self) -> bool;
}

macro_rules! condition_failed {
    ($($error:ty),*) => {$(
        impl ConditionFailed for $error {
            fn condition_failed(&self) -> bool {
                self.is_conditional_check_failed_exception()
            }
        }
    )*};
}

condition_failed!(
    aws_sdk_dynamodb::operation::put_item::PutItemError,
    aws_sdk_dynamodb::operation::delete_item::DeleteItemError,
    aws_sdk_dynamodb::operation::update_item::UpdateItemError
);

/// `Some(output)` when a conditional write happened, `None` when its condition did not hold.
fn conditional<O, E: ConditionFailed>(
    what: &'static str,
    result: Result<O, E>,
) -> Result<Option<O>, Unavailable> {
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e) if e.condition_failed() => Ok(None),
        Err(e) => Err(Unavailable::new(what, e)),
    }
}

#[derive(Serialize, Deserialize)]
struct Record<T> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize, Deserialize)]
struct EmailClaim {
    uid: String,
}

#[derive(Serialize, Deserialize)]
struct EventMarker {
    processed_at: i64,
    expires_at: i64,
}

fn user_pk(uid: &Uid) -> String {
    format!("USER#{uid}")
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn to_item<T: Serialize>(pk: String, sk: String, body: T) -> Result<Item, Unavailable> {
    serde_dynamo::to_item(Record { pk, sk, body }).map_err(|e| Unavailable::new("encode record", e))
}

fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, Unavailable> {
    serde_dynamo::from_item::<_, Record<T>>(item)
        .map(|r| r.body)
        .map_err(|e| Unavailable::new("decode record", e))
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, Unavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Unavailable::new("dynamodb get", e.into_service_error()))?;
        out.item.map(from_item).transpose()
    }

    /// Every item of a user whose sort key starts with `prefix`, all pages, read consistently.
    async fn user_items<T: for<'de> Deserialize<'de>>(
        &self,
        uid: &Uid,
        prefix: &str,
        what: &'static str,
    ) -> Result<Vec<T>, Unavailable> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(user_pk(uid)))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Unavailable::new(what, e.into_service_error()))?;
            for item in out.items.unwrap_or_default() {
                items.push(from_item::<T>(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Puts `item` if its key is new; false when it already existed.
    async fn put_new(&self, item: Item) -> Result<bool, Unavailable> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let written = conditional("dynamodb put", result.map_err(|e| e.into_service_error()))?;
        Ok(written.is_some())
    }
}

fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, Unavailable> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| Unavailable::new("dynamodb transaction", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

#[async_trait]
impl Store for DynamoStore {
    async fn user(&self, uid: &Uid) -> Result<Option<User>, Unavailable> {
        self.get(user_pk(uid), "PROFILE").await
    }

    async fn create_user(&self, user: &User) -> Result<User, CreateUserError> {
        let mut writes = vec![put_new(
            &self.table,
            to_item(user_pk(&user.uid), "PROFILE".into(), user)?,
        )?];
        if let Some(email) = &user.email {
            let claim = EmailClaim {
                uid: user.uid.to_string(),
            };
            writes.push(put_new(
                &self.table,
                to_item(format!("EMAIL#{}", email.as_str()), "USER".into(), claim)?,
            )?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(user.clone()),
            Err(e) => e.into_service_error(),
        };
        if !err.is_transaction_canceled_exception() {
            return Err(Unavailable::new("dynamodb create user", err).into());
        }
        // Someone else won: the same person's concurrent first call (the profile exists), or
        // another account holding this email.
        if let Some(existing) = self.user(&user.uid).await? {
            return Ok(existing);
        }
        if let Some(email) = &user.email {
            let owner: Option<EmailClaim> = self
                .get(format!("EMAIL#{}", email.as_str()), "USER")
                .await?;
            if owner.is_some_and(|o| o.uid != user.uid.as_str()) {
                return Err(CreateUserError::EmailTaken);
            }
        }
        Err(Unavailable::new("dynamodb create user", "transaction cancelled; try again").into())
    }

    async fn set_stripe_customer(
        &self,
        uid: &Uid,
        customer_id: &str,
    ) -> Result<String, Unavailable> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(uid)))
            .key("sk", s("PROFILE"))
            .update_expression("SET stripe_customer_id = if_not_exists(stripe_customer_id, :c)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":c", s(customer_id))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| Unavailable::new("dynamodb set customer", e.into_service_error()))?;
        match out
            .attributes
            .as_ref()
            .and_then(|a| a.get("stripe_customer_id"))
        {
            Some(AttributeValue::S(id)) => Ok(id.clone()),
            _ => Err(Unavailable::new(
                "dynamodb set customer",
                "no customer id stored",
            )),
        }
    }

    async fn open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
    ) -> Result<Option<OpenInvoice>, Unavailable> {
        self.get(user_pk(uid), &format!("INVOICE#{product_id}"))
            .await
    }

    async fn save_open_invoice(
        &self,
        uid: &Uid,
        invoice: &OpenInvoice,
    ) -> Result<OpenInvoice, Unavailable> {
        let sk = format!("INVOICE#{}", invoice.product_id);
        if self
            .put_new(to_item(user_pk(uid), sk.clone(), invoice)?)
            .await?
        {
            return Ok(invoice.clone());
        }
        self.get(user_pk(uid), &sk).await?.ok_or_else(|| {
            Unavailable::new(
                "dynamodb save invoice",
                "the open invoice vanished; try again",
            )
        })
    }

    async fn close_open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
        invoice_id: &str,
    ) -> Result<(), Unavailable> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(uid)))
            .key("sk", s(format!("INVOICE#{product_id}")))
            .condition_expression("invoice_id = :id")
            .expression_attribute_values(":id", s(invoice_id))
            .send()
            .await;
        // A condition that did not hold means there is nothing (more) to do.
        conditional(
            "dynamodb close invoice",
            result.map_err(|e| e.into_service_error()),
        )?;
        Ok(())
    }

    async fn set_wallet(&self, uid: &Uid, wallet: &Wallet) -> Result<(), Unavailable> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(uid)))
            .key("sk", s("PROFILE"))
            .update_expression("SET wallet = :w")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":w", s(wallet.to_string()))
            .send()
            .await
            .map_err(|e| Unavailable::new("dynamodb set wallet", e.into_service_error()))?;
        Ok(())
    }

    async fn record_purchase(&self, purchase: &Purchase) -> Result<bool, Unavailable> {
        let item = to_item(
            user_pk(&purchase.uid),
            format!("PURCHASE#{}", purchase.purchase_id),
            purchase,
        )?;
        self.put_new(item).await
    }

    async fn purchases(&self, uid: &Uid) -> Result<Vec<Purchase>, Unavailable> {
        let mut purchases: Vec<Purchase> = self
            .user_items(uid, "PURCHASE#", "dynamodb purchases")
            .await?;
        purchases.sort_by(|a, b| b.paid_at.cmp(&a.paid_at));
        Ok(purchases)
    }

    async fn event_seen(&self, event_id: &str) -> Result<bool, Unavailable> {
        let marker: Option<EventMarker> = self
            .get(format!("STRIPE_EVENT#{event_id}"), "EVENT")
            .await?;
        Ok(marker.is_some())
    }

    async fn mark_event_seen(&self, event_id: &str, now_unix: i64) -> Result<(), Unavailable> {
        let marker = EventMarker {
            processed_at: now_unix,
            expires_at: now_unix + EVENT_TTL_SECONDS,
        };
        self.put_new(to_item(
            format!("STRIPE_EVENT#{event_id}"),
            "EVENT".into(),
            marker,
        )?)
        .await
        .map(|_| ())
    }
}

const THROTTLE_PK: &str = "THROTTLE#activation";
const THROTTLE_SK: &str = "STATE";
/// Conflicting writers on the throttle item retry this many times before giving up.
const THROTTLE_RETRIES: u32 = 50;
const QUEUE_INDEX: &str = "queue-by-ticket";

fn activation_sk(purchase_id: &str) -> String {
    format!("ACTIVATION#{purchase_id}")
}

impl DynamoStore {
    /// Read-modify-write of the throttle item, conditional on its version: of any number of
    /// concurrent writers exactly one wins each round, the others re-read and try again.
    async fn change_throttle<T>(
        &self,
        change: impl Fn(&mut ThrottleState) -> T,
    ) -> Result<T, Unavailable> {
        for round in 0..THROTTLE_RETRIES {
            let current: Option<ThrottleState> = self.get(THROTTLE_PK.into(), THROTTLE_SK).await?;
            let exists = current.is_some();
            let mut state = current.unwrap_or_default();
            let version = state.version;
            let result = change(&mut state);
            let item = to_item(THROTTLE_PK.into(), THROTTLE_SK.into(), &state)?;
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            put = if exists {
                put.condition_expression("version = :v")
                    .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            } else {
                put.condition_expression("attribute_not_exists(pk)")
            };
            let written = put.send().await.map_err(|e| e.into_service_error());
            if conditional("dynamodb throttle", written)?.is_some() {
                return Ok(result);
            }
            // Lost the round: back off a little, with jitter, so the losers spread out.
            let jitter = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::from(d.subsec_nanos()) % 20);
            tokio::time::sleep(std::time::Duration::from_millis(
                5 * u64::from(round.min(10)) + jitter,
            ))
            .await;
        }
        Err(Unavailable::new(
            "dynamodb throttle",
            "too many concurrent writers; try again",
        ))
    }

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
impl Activations for DynamoStore {
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

#[async_trait]
impl ThrottleStore for DynamoStore {
    async fn throttle(&self) -> Result<ThrottleState, Unavailable> {
        Ok(self
            .get(THROTTLE_PK.into(), THROTTLE_SK)
            .await?
            .unwrap_or_default())
    }

    async fn reserve_slot(
        &self,
        cfg: &ThrottleConfig,
        now_ms: i64,
    ) -> Result<Reservation, Unavailable> {
        self.change_throttle(|state| state.reserve(cfg, now_ms))
            .await
    }

    async fn take_permit(
        &self,
        cfg: &ThrottleConfig,
        clock: &dyn Clock,
    ) -> Result<Result<Permit, WaitUntil>, Unavailable> {
        // A refusal writes nothing; a grant is re-decided, at the time of each round, on the
        // state it is written over.
        if let Err(wait) = self.throttle().await?.take_permit(cfg, clock.now_unix_ms()) {
            return Ok(Err(wait));
        }
        self.change_throttle(|state| state.take_permit(cfg, clock.now_unix_ms()))
            .await
    }
}

const MINTER_PK: &str = "MINTER#lease";

fn reward_sk(key: &str) -> String {
    format!("REWARD#{key}")
}

#[derive(Serialize, Deserialize)]
struct Lease {
    holder: String,
    expires_at_ms: i64,
}

#[async_trait]
impl Rewards for DynamoStore {
    async fn credit(&self, reward: &Reward) -> Result<bool, Unavailable> {
        self.put_new(to_item(
            user_pk(&reward.uid),
            reward_sk(&reward.key),
            reward,
        )?)
        .await
    }

    async fn rewards(&self, uid: &Uid) -> Result<Vec<Reward>, Unavailable> {
        let mut rewards: Vec<Reward> = self.user_items(uid, "REWARD#", "dynamodb rewards").await?;
        rewards.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(rewards)
    }

    async fn settle(
        &self,
        reward: &Reward,
        status: RewardStatus,
        tx_hash: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), Unavailable> {
        let status = serde_dynamo::to_attribute_value(status)
            .map_err(|e| Unavailable::new("encode status", e))?;
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(&reward.uid)))
            .key("sk", s(reward_sk(&reward.key)))
            .update_expression("SET #status = :status, tx_hash = :tx, reason = :reason")
            // Only a pending reward changes: a minted one keeps its transaction.
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", status)
            .expression_attribute_values(":pending", s("pending"));
        request = request
            .expression_attribute_values(":tx", tx_hash.map_or(AttributeValue::Null(true), s));
        request = request
            .expression_attribute_values(":reason", reason.map_or(AttributeValue::Null(true), s));
        // Not pending any more: another job settled it first.
        conditional(
            "dynamodb settle reward",
            request.send().await.map_err(|e| e.into_service_error()),
        )?;
        Ok(())
    }

    async fn acquire_minter(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, Unavailable> {
        let lease = Lease {
            holder: holder.to_owned(),
            expires_at_ms: now_ms + lease_ms,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(MINTER_PK.into(), "LEASE".into(), lease)?))
            // Free, expired (its holder died), or already ours.
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at_ms < :now OR holder = :me",
            )
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        let taken = conditional(
            "dynamodb minter lease",
            result.map_err(|e| e.into_service_error()),
        )?;
        Ok(taken.is_some())
    }

    async fn release_minter(&self, holder: &str) -> Result<(), Unavailable> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(MINTER_PK))
            .key("sk", s("LEASE"))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        // A condition that did not hold means there is nothing (more) to do.
        conditional(
            "dynamodb minter lease",
            result.map_err(|e| e.into_service_error()),
        )?;
        Ok(())
    }
}
