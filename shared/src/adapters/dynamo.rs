//! The stores on one DynamoDB table (DESIGN §4), one file per port. Every write that must
//! not happen twice is conditional; records are serde structs mapped with `serde_dynamo`,
//! and no attribute map is built by hand outside this folder.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use crate::domain::users::Uid;
use crate::ports::Unavailable;

mod activations;
mod beta;
mod handoff;
mod oauth;
mod orders;
mod payment_events;
mod purchases;
mod rate_limit;
mod rewards;
mod subscriptions;
mod throttle;
mod usage;
mod users;

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

fn user_pk(uid: &Uid) -> String {
    format!("USER#{uid}")
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

/// One attribute, as `serde_dynamo` writes it in a record.
fn value<T: Serialize>(v: T) -> Result<AttributeValue, Unavailable> {
    serde_dynamo::to_attribute_value(v).map_err(|e| Unavailable::new("encode value", e))
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
/// One table, every store port: each function holds one and hands it out per port.
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
        self.items_under(user_pk(uid), prefix, what).await
    }

    /// Every item under `pk` whose sort key starts with `prefix`, all pages, read consistently.
    async fn items_under<T: for<'de> Deserialize<'de>>(
        &self,
        pk: String,
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
                .expression_attribute_values(":pk", s(pk.clone()))
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

    /// An update of one item; [`DynamoStore::apply`] sends it.
    fn update(&self, pk: String, sk: String) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
    }

    /// Sends a (conditional) update; false when its condition did not hold.
    async fn apply(
        &self,
        what: &'static str,
        update: UpdateItemFluentBuilder,
    ) -> Result<bool, Unavailable> {
        let result = update.send().await.map_err(|e| e.into_service_error());
        Ok(conditional(what, result)?.is_some())
    }

    /// Writes `body` under `pk`/`sk` unless a record is there; answers the stored one and
    /// whether this call wrote it.
    async fn put_or_get<T>(
        &self,
        pk: String,
        sk: String,
        body: &T,
    ) -> Result<(T, bool), Unavailable>
    where
        T: Serialize + for<'de> Deserialize<'de> + Clone,
    {
        if self.put_new(to_item(pk.clone(), sk.clone(), body)?).await? {
            return Ok((body.clone(), true));
        }
        let stored = self.get(pk, &sk).await?.ok_or_else(|| {
            Unavailable::new(
                "dynamodb put",
                "the record vanished between two calls; try again",
            )
        })?;
        Ok((stored, false))
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
