//! `Store` on one DynamoDB table (DESIGN §4). Every write that must not happen twice is
//! conditional; records are serde structs mapped with `serde_dynamo`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use crate::ports::{CreateUserError, Store, Unavailable};
use crate::purchases::{OpenInvoice, Purchase};
use crate::users::{Uid, User};

/// Processed-event markers are kept this long (Stripe retries for 3 days).
const EVENT_TTL_SECONDS: i64 = 30 * 24 * 3600;

type Item = HashMap<String, AttributeValue>;

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
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(false)
                } else {
                    Err(Unavailable::new("dynamodb put", e))
                }
            }
        }
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
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(()) // already closed, or a newer invoice: leave it
                } else {
                    Err(Unavailable::new("dynamodb close invoice", e))
                }
            }
        }
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
        let mut purchases = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(user_pk(uid)))
                .expression_attribute_values(":prefix", s("PURCHASE#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Unavailable::new("dynamodb purchases", e.into_service_error()))?;
            for item in out.items.unwrap_or_default() {
                purchases.push(from_item::<Purchase>(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
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
