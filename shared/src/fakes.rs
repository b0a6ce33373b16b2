//! In-memory stand-ins for the ports, for unit tests of logic only. The real adapters are
//! tested against the local stack.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::catalog::Service;
use crate::ports::{
    AuthError, Billing, Clock, CreateUserError, IdentityVerifier, Store, Unavailable,
};
use crate::purchases::{OpenInvoice, Purchase};
use crate::users::{Email, Identity, Uid, User};

#[derive(Default)]
struct Tables {
    users: HashMap<String, User>,
    emails: HashMap<String, String>,
    invoices: HashMap<(String, String), OpenInvoice>,
    purchases: HashMap<String, Purchase>,
    events: HashMap<String, i64>,
}

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn purchase_count(&self) -> usize {
        self.tables().purchases.len()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn user(&self, uid: &Uid) -> Result<Option<User>, Unavailable> {
        Ok(self.tables().users.get(uid.as_str()).cloned())
    }

    async fn create_user(&self, user: &User) -> Result<User, CreateUserError> {
        let mut t = self.tables();
        if let Some(existing) = t.users.get(user.uid.as_str()) {
            return Ok(existing.clone());
        }
        if let Some(email) = &user.email {
            match t.emails.get(email.as_str()) {
                Some(owner) if owner != user.uid.as_str() => {
                    return Err(CreateUserError::EmailTaken);
                }
                _ => {}
            }
            t.emails
                .insert(email.as_str().to_owned(), user.uid.to_string());
        }
        t.users.insert(user.uid.to_string(), user.clone());
        Ok(user.clone())
    }

    async fn set_stripe_customer(
        &self,
        uid: &Uid,
        customer_id: &str,
    ) -> Result<String, Unavailable> {
        let mut t = self.tables();
        let user = t
            .users
            .get_mut(uid.as_str())
            .ok_or_else(|| Unavailable::new("store", "no such user"))?;
        Ok(user
            .stripe_customer_id
            .get_or_insert_with(|| customer_id.to_owned())
            .clone())
    }

    async fn open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
    ) -> Result<Option<OpenInvoice>, Unavailable> {
        Ok(self
            .tables()
            .invoices
            .get(&(uid.to_string(), product_id.to_owned()))
            .cloned())
    }

    async fn save_open_invoice(
        &self,
        uid: &Uid,
        invoice: &OpenInvoice,
    ) -> Result<OpenInvoice, Unavailable> {
        let mut t = self.tables();
        Ok(t.invoices
            .entry((uid.to_string(), invoice.product_id.clone()))
            .or_insert_with(|| invoice.clone())
            .clone())
    }

    async fn close_open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
        invoice_id: &str,
    ) -> Result<(), Unavailable> {
        let mut t = self.tables();
        let key = (uid.to_string(), product_id.to_owned());
        if t.invoices
            .get(&key)
            .is_some_and(|i| i.invoice_id == invoice_id)
        {
            t.invoices.remove(&key);
        }
        Ok(())
    }

    async fn record_purchase(&self, purchase: &Purchase) -> Result<bool, Unavailable> {
        let mut t = self.tables();
        let key = format!("{}#{}", purchase.uid, purchase.purchase_id);
        if t.purchases.contains_key(&key) {
            return Ok(false);
        }
        t.purchases.insert(key, purchase.clone());
        Ok(true)
    }

    async fn purchases(&self, uid: &Uid) -> Result<Vec<Purchase>, Unavailable> {
        let mut list: Vec<Purchase> = self
            .tables()
            .purchases
            .values()
            .filter(|p| &p.uid == uid)
            .cloned()
            .collect();
        list.sort_by(|a, b| b.paid_at.cmp(&a.paid_at));
        Ok(list)
    }

    async fn event_seen(&self, event_id: &str) -> Result<bool, Unavailable> {
        Ok(self.tables().events.contains_key(event_id))
    }

    async fn mark_event_seen(&self, event_id: &str, now_unix: i64) -> Result<(), Unavailable> {
        self.tables().events.insert(event_id.to_owned(), now_unix);
        Ok(())
    }
}

/// Counts calls; makes one customer per uid and one invoice per uid and product, as Stripe
/// does with our idempotency keys.
#[derive(Default)]
pub struct MemoryBilling {
    pub customer_calls: AtomicUsize,
    pub invoice_calls: AtomicUsize,
}

#[async_trait]
impl Billing for MemoryBilling {
    async fn customer(&self, uid: &Uid, _email: &Email) -> Result<String, Unavailable> {
        self.customer_calls.fetch_add(1, Ordering::SeqCst);
        Ok(format!("cus_{uid}"))
    }

    async fn invoice(
        &self,
        customer_id: &str,
        uid: &Uid,
        product: &Service,
    ) -> Result<OpenInvoice, Unavailable> {
        self.invoice_calls.fetch_add(1, Ordering::SeqCst);
        Ok(OpenInvoice {
            invoice_id: format!("in_{uid}_{}", product.id),
            hosted_url: format!("https://invoice.example/{customer_id}/{}", product.id),
            product_id: product.id.to_owned(),
            amount_cents: product.price_cents.get(),
            currency: "usd".into(),
            created_at: "2026-11-25T00:00:00Z".into(),
        })
    }
}

/// Accepts tokens of the form `uid:<uid>:<email>`.
pub struct PlainVerifier;

#[async_trait]
impl IdentityVerifier for PlainVerifier {
    async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let mut parts = token.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("uid"), Some(uid), email) => Ok(Identity {
                uid: Uid::parse(uid).map_err(|e| AuthError::Invalid(e.to_string()))?,
                email: email.and_then(|e| Email::parse(e).ok()),
            }),
            _ => Err(AuthError::Invalid("not a test token".into())),
        }
    }
}

pub struct FixedClock(pub AtomicI64);

impl FixedClock {
    pub fn at(unix: i64) -> Self {
        FixedClock(AtomicI64::new(unix))
    }
}

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
