//! `Invoicing` in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::domain::catalog::Service;
use crate::domain::orders::InvoiceRef;
use crate::domain::users::{Email, Uid};
use crate::ports::{InvoiceLine, Invoicing, NewSubscription, Unavailable};

/// Counts calls; makes one customer per uid, one invoice per scope and one subscription per
/// scope, as Stripe does with our idempotency keys.
#[derive(Default)]
pub struct MemoryInvoicing {
    pub customer_calls: AtomicUsize,
    pub invoice_calls: AtomicUsize,
    /// Invoice id -> its total, drafts included.
    pub invoices: Mutex<HashMap<String, u64>>,
    pub cancelled: Mutex<Vec<String>>,
}

#[async_trait]
impl Invoicing for MemoryInvoicing {
    async fn customer(&self, uid: &Uid, _email: &Email) -> Result<String, Unavailable> {
        self.customer_calls.fetch_add(1, Ordering::SeqCst);
        Ok(format!("cus_{uid}"))
    }

    async fn draft_invoice(
        &self,
        _customer_id: &str,
        scope: &str,
        _description: &str,
        lines: &[InvoiceLine],
        _metadata: &[(&str, &str)],
    ) -> Result<String, Unavailable> {
        self.invoice_calls.fetch_add(1, Ordering::SeqCst);
        let id = format!("in_{scope}");
        let total = lines.iter().map(|l| l.amount_cents).sum();
        lock(&self.invoices).insert(id.clone(), total);
        Ok(id)
    }

    async fn send_invoice(
        &self,
        invoice_id: &str,
        _scope: &str,
    ) -> Result<InvoiceRef, Unavailable> {
        let amount_cents = lock(&self.invoices)
            .get(invoice_id)
            .copied()
            .ok_or_else(|| Unavailable::new("memory invoicing", "no such draft"))?;
        Ok(InvoiceRef {
            invoice_id: invoice_id.to_owned(),
            invoice_url: format!("https://invoice.example/{invoice_id}"),
            amount_cents,
        })
    }

    async fn subscribe(
        &self,
        _customer_id: &str,
        scope: &str,
        service: &'static Service,
        _metadata: &[(&str, &str)],
    ) -> Result<NewSubscription, Unavailable> {
        let first_invoice_id = format!("in_{scope}");
        lock(&self.invoices).insert(first_invoice_id.clone(), service.price_cents.get());
        Ok(NewSubscription {
            subscription_id: format!("sub_{scope}"),
            first_invoice_id,
        })
    }

    async fn cancel_at_period_end(&self, subscription_id: &str) -> Result<(), Unavailable> {
        lock(&self.cancelled).push(subscription_id.to_owned());
        Ok(())
    }
}
