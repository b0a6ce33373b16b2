//! `Invoicing` on Stripe: customers and invoices with async-stripe, subscriptions in
//! [`billing`]. Every call carries an idempotency key derived from our own ids (the uid, the
//! order), so racing calls and retries make one customer, one invoice, one subscription.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::invoice::{CreateInvoice, FinalizeInvoiceInvoice, SendInvoiceInvoice};
use stripe_billing::invoice_item::CreateInvoiceItem;
use stripe_core::customer::CreateCustomer;
use stripe_shared::InvoiceCollectionMethod;
use stripe_types::Currency;

use crate::domain::catalog::Service;
use crate::domain::orders::InvoiceRef;
use crate::domain::users::{Email, Uid};
use crate::ports::{InvoiceLine, Invoicing, NewSubscription, Unavailable};

/// The one Stripe API version DOTM speaks, on every request of both clients (async-stripe sends
/// its own, which a test keeps equal to this) and on the webhook endpoint, so the account's
/// default version never decides the shapes we read.
pub const API_VERSION: &str = "2026-09-30.endive";

/// Days a person has to pay an invoice.
const DAYS_UNTIL_DUE: u32 = 7;
/// Stripe answers 409 while a request with the same idempotency key is in flight.
const IN_FLIGHT_RETRIES: u32 = 20;

pub mod account;
mod billing;

pub struct StripeInvoicing {
    client: Client,
    billing: billing::Billing,
}

impl StripeInvoicing {
    /// `base_url` is Stripe's API (`https://api.stripe.com/`) or the sandbox, with a trailing slash.
    pub fn new(secret_key: &str, base_url: &str) -> Result<Self, Unavailable> {
        let client = ClientBuilder::new(secret_key)
            .url(base_url)
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Unavailable::new("stripe client", e))?;
        Ok(StripeInvoicing {
            client,
            billing: billing::Billing::new(secret_key, base_url)?,
        })
    }
}

fn key(text: String) -> Result<RequestStrategy, Unavailable> {
    IdempotencyKey::new(text)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| Unavailable::new("stripe idempotency key", e))
}

fn conflict(e: &StripeError) -> bool {
    matches!(e, StripeError::Stripe(_, 409))
}

/// Runs one keyed Stripe call, waiting out a concurrent twin that holds the same key.
macro_rules! keyed {
    ($what:literal, $key:expr, $request:expr, $client:expr) => {{
        let mut attempt = 0;
        loop {
            let result = $request
                .customize()
                .request_strategy(key($key)?)
                .send($client)
                .await;
            match result {
                Err(e) if conflict(&e) && attempt < IN_FLIGHT_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(5))))
                        .await;
                }
                other => break other.map_err(|e| Unavailable::new($what, e)),
            }
        }
    }};
}

#[async_trait]
impl Invoicing for StripeInvoicing {
    async fn customer(&self, uid: &Uid, email: &Email) -> Result<String, Unavailable> {
        let metadata = HashMap::from([("firebase_uid".to_owned(), uid.to_string())]);
        let request = CreateCustomer::new()
            .email(email.as_str())
            .metadata(metadata);
        let customer = keyed!(
            "stripe create customer",
            format!("dotm-customer-{uid}"),
            request,
            &self.client
        )?;
        Ok(customer.id.to_string())
    }

    async fn draft_invoice(
        &self,
        customer_id: &str,
        scope: &str,
        description: &str,
        lines: &[InvoiceLine],
        metadata: &[(&str, &str)],
    ) -> Result<String, Unavailable> {
        let metadata: HashMap<String, String> = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let draft = CreateInvoice::new()
            .customer(customer_id)
            .collection_method(InvoiceCollectionMethod::SendInvoice)
            .days_until_due(DAYS_UNTIL_DUE)
            .auto_advance(false)
            .currency(Currency::USD)
            .description(description)
            .metadata(metadata.clone());
        let draft = keyed!(
            "stripe create invoice",
            format!("dotm-invoice-{scope}"),
            draft,
            &self.client
        )?;
        let invoice_id = draft
            .id
            .clone()
            .ok_or_else(|| Unavailable::new("stripe create invoice", "the invoice has no id"))?;
        for (i, line) in lines.iter().enumerate() {
            let item = CreateInvoiceItem::new()
                .customer(customer_id)
                .invoice(invoice_id.to_string())
                .amount(i64::try_from(line.amount_cents).unwrap_or(i64::MAX))
                .currency(Currency::USD)
                .description(line.description.as_str())
                .metadata(metadata.clone());
            keyed!(
                "stripe create invoice item",
                format!("dotm-item-{scope}-{i}"),
                item,
                &self.client
            )?;
        }
        Ok(invoice_id.to_string())
    }

    async fn send_invoice(&self, invoice_id: &str, scope: &str) -> Result<InvoiceRef, Unavailable> {
        let finalized = FinalizeInvoiceInvoice::new(invoice_id);
        keyed!(
            "stripe finalize invoice",
            format!("dotm-finalize-{scope}-{invoice_id}"),
            finalized,
            &self.client
        )?;
        let send = SendInvoiceInvoice::new(invoice_id);
        let sent = keyed!(
            "stripe send invoice",
            format!("dotm-send-{scope}-{invoice_id}"),
            send,
            &self.client
        )?;
        let invoice_url = sent.hosted_invoice_url.clone().ok_or_else(|| {
            Unavailable::new("stripe send invoice", "the invoice has no hosted URL")
        })?;
        Ok(InvoiceRef {
            invoice_id: invoice_id.to_owned(),
            invoice_url,
            amount_cents: u64::try_from(sent.amount_due).unwrap_or_default(),
        })
    }

    async fn subscribe(
        &self,
        customer_id: &str,
        scope: &str,
        service: &'static Service,
        metadata: &[(&str, &str)],
    ) -> Result<NewSubscription, Unavailable> {
        let (subscription_id, first_invoice_id) = self
            .billing
            .subscribe(customer_id, scope, service, metadata)
            .await?;
        Ok(NewSubscription {
            subscription_id,
            first_invoice_id,
        })
    }

    async fn cancel_at_period_end(&self, subscription_id: &str) -> Result<(), Unavailable> {
        self.billing.cancel_at_period_end(subscription_id).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pinned_version_is_the_one_async_stripe_sends() {
        assert_eq!(stripe_shared::version::VERSION.as_str(), super::API_VERSION);
    }
}
