//! `UserStore` in memory: profiles and unique email claims.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::users::{Email, Uid, User};
use crate::domain::wallet::Wallet;
use crate::ports::{CreateUserError, Unavailable, UserStore};

#[derive(Default)]
pub struct MemoryUsers {
    rows: Mutex<Rows>,
}

#[derive(Default)]
struct Rows {
    users: HashMap<String, User>,
    /// Email -> uid: the claim the DynamoDB adapter writes in the same transaction.
    emails: HashMap<String, String>,
}

impl MemoryUsers {
    fn change<T>(&self, uid: &Uid, f: impl FnOnce(&mut User) -> T) -> Result<T, Unavailable> {
        let mut rows = lock(&self.rows);
        let user = rows
            .users
            .get_mut(uid.as_str())
            .ok_or_else(|| Unavailable::new("users", "no such user"))?;
        Ok(f(user))
    }
}

#[async_trait]
impl UserStore for MemoryUsers {
    async fn user(&self, uid: &Uid) -> Result<Option<User>, Unavailable> {
        Ok(lock(&self.rows).users.get(uid.as_str()).cloned())
    }

    async fn create_user(&self, user: &User) -> Result<User, CreateUserError> {
        let mut rows = lock(&self.rows);
        if let Some(existing) = rows.users.get(user.uid.as_str()) {
            return Ok(existing.clone());
        }
        if let Some(email) = &user.email {
            match rows.emails.get(email.as_str()) {
                Some(owner) if owner != user.uid.as_str() => {
                    return Err(CreateUserError::EmailTaken);
                }
                _ => {}
            }
            rows.emails
                .insert(email.as_str().to_owned(), user.uid.to_string());
        }
        rows.users.insert(user.uid.to_string(), user.clone());
        Ok(user.clone())
    }

    async fn set_stripe_customer(
        &self,
        uid: &Uid,
        customer_id: &str,
    ) -> Result<String, Unavailable> {
        self.change(uid, |user| {
            user.stripe_customer_id
                .get_or_insert_with(|| customer_id.to_owned())
                .clone()
        })
    }

    async fn set_area_code(&self, uid: &Uid, area_code: &str) -> Result<(), Unavailable> {
        self.change(uid, |user| user.area_code = Some(area_code.to_owned()))
    }

    async fn set_carrier_end_user(
        &self,
        uid: &Uid,
        end_user_id: &str,
    ) -> Result<String, Unavailable> {
        self.change(uid, |user| {
            user.carrier_end_user_id
                .get_or_insert_with(|| end_user_id.to_owned())
                .clone()
        })
    }

    async fn set_wallet(&self, uid: &Uid, wallet: &Wallet) -> Result<(), Unavailable> {
        self.change(uid, |user| user.wallet = Some(wallet.to_string()))
    }

    async fn claim_email(&self, uid: &Uid, email: &Email) -> Result<User, CreateUserError> {
        let mut rows = lock(&self.rows);
        let stored = rows
            .users
            .get(uid.as_str())
            .cloned()
            .ok_or_else(|| Unavailable::new("users", "no such user"))?;
        if stored.email.is_some() {
            return Ok(stored);
        }
        match rows.emails.get(email.as_str()) {
            Some(owner) if owner != uid.as_str() => return Err(CreateUserError::EmailTaken),
            _ => {}
        }
        rows.emails
            .insert(email.as_str().to_owned(), uid.to_string());
        let user = rows
            .users
            .get_mut(uid.as_str())
            .ok_or_else(|| Unavailable::new("users", "no such user"))?;
        user.email = Some(email.clone());
        Ok(user.clone())
    }
}
