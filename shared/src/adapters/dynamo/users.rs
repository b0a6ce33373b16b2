//! `UserStore`: profiles, with the email claimed in the same transaction.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::{DynamoStore, put_new, s, to_item, user_pk};
use crate::domain::users::{Email, Uid, User};
use crate::domain::wallet::Wallet;
use crate::ports::{CreateUserError, Unavailable, UserStore};

#[derive(Serialize, Deserialize)]
struct EmailClaim {
    uid: String,
}

impl DynamoStore {
    /// Sets a profile attribute unless it is set (`if_not_exists`: the first value wins);
    /// returns the stored value.
    async fn set_profile_once(
        &self,
        uid: &Uid,
        attribute: &'static str,
        value: &str,
        what: &'static str,
    ) -> Result<String, Unavailable> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(uid)))
            .key("sk", s("PROFILE"))
            .update_expression("SET #a = if_not_exists(#a, :v)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", s(value))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| Unavailable::new(what, e.into_service_error()))?;
        match out.attributes.as_ref().and_then(|a| a.get(attribute)) {
            Some(AttributeValue::S(stored)) => Ok(stored.clone()),
            _ => Err(Unavailable::new(what, format!("no {attribute} stored"))),
        }
    }
}

#[async_trait]
impl UserStore for DynamoStore {
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
        self.set_profile_once(
            uid,
            "stripe_customer_id",
            customer_id,
            "dynamodb set customer",
        )
        .await
    }

    async fn set_area_code(&self, uid: &Uid, area_code: &str) -> Result<(), Unavailable> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(uid)))
            .key("sk", s("PROFILE"))
            .update_expression("SET area_code = :a")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":a", s(area_code))
            .send()
            .await
            .map_err(|e| Unavailable::new("dynamodb set area code", e.into_service_error()))?;
        Ok(())
    }

    async fn set_carrier_end_user(
        &self,
        uid: &Uid,
        end_user_id: &str,
    ) -> Result<String, Unavailable> {
        self.set_profile_once(
            uid,
            "carrier_end_user_id",
            end_user_id,
            "dynamodb set end user",
        )
        .await
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

    async fn claim_email(&self, uid: &Uid, email: &Email) -> Result<User, CreateUserError> {
        let tx =
            |e: aws_sdk_dynamodb::error::BuildError| Unavailable::new("dynamodb transaction", e);
        let claim = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(
                format!("EMAIL#{}", email.as_str()),
                "USER".into(),
                EmailClaim {
                    uid: uid.to_string(),
                },
            )?))
            .condition_expression("attribute_not_exists(pk) OR uid = :uid")
            .expression_attribute_values(":uid", s(uid.as_str()))
            .build()
            .map_err(tx)?;
        let profile = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(uid)))
            .key("sk", s("PROFILE"))
            .update_expression("SET email = :e")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(email)")
            .expression_attribute_values(":e", s(email.as_str()))
            .build()
            .map_err(tx)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim).build())
            .transact_items(TransactWriteItem::builder().update(profile).build())
            .send()
            .await;
        if let Err(e) = result {
            let err = e.into_service_error();
            if !err.is_transaction_canceled_exception() {
                return Err(Unavailable::new("dynamodb claim email", err).into());
            }
            // The profile had an email already (unchanged), or another account holds this one.
            if let Some(user) = self.user(uid).await?
                && user.email.is_some()
            {
                return Ok(user);
            }
            let owner: Option<EmailClaim> = self
                .get(format!("EMAIL#{}", email.as_str()), "USER")
                .await?;
            if owner.is_some_and(|o| o.uid != uid.as_str()) {
                return Err(CreateUserError::EmailTaken);
            }
        }
        self.user(uid)
            .await?
            .ok_or_else(|| Unavailable::new("dynamodb claim email", "no such user").into())
    }
}
