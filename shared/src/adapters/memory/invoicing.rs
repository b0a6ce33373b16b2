//! `Invoicing` in memory.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::domain::catalog::Service;
use crate::domain::purchases::OpenInvoice;
use crate::domain::users::{Email, Uid};
use crate::ports::{Invoicing, Unavailable};

/// Counts calls; makes one customer per uid and one invoice per uid and product, as Stripe
/// does with our idempotency keys.
#[derive(Default)]
pub struct MemoryInvoicing {
    pub customer_calls: AtomicUsize,
    pub invoice_calls: AtomicUsize,
}

#[async_trait]
impl Invoicing for MemoryInvoicing {
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
