//! What people bought and the invoices they were asked to pay.

use serde::{Deserialize, Serialize};

use crate::money::Cents;
use crate::users::Uid;

/// `USER#<uid>` / `INVOICE#<product>`: the one open invoice per user and product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenInvoice {
    pub invoice_id: String,
    pub hosted_url: String,
    pub product_id: String,
    pub amount_cents: u64,
    pub currency: String,
    pub created_at: String,
}

impl OpenInvoice {
    pub fn amount(&self) -> Cents {
        Cents(self.amount_cents)
    }
}

/// `USER#<uid>` / `PURCHASE#<invoice id>`: written once, by the first delivery of the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub uid: Uid,
    pub purchase_id: String,
    pub product_id: String,
    /// Every service the invoice paid for (the product first).
    #[serde(default)]
    pub items: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub amount_cents: u64,
    pub currency: String,
    pub paid_at: String,
    pub event_id: String,
}

impl Purchase {
    pub fn includes(&self, service_id: &str) -> bool {
        self.product_id == service_id || self.items.iter().any(|i| i == service_id)
    }

    pub fn amount(&self) -> Cents {
        Cents(self.amount_cents)
    }
}

/// A purchase as the apps list it (`GET /api/user-purchases`).
#[derive(Debug, Clone, Serialize)]
pub struct PurchaseView {
    pub purchase_id: String,
    pub product_id: String,
    pub product_name: String,
    #[serde(serialize_with = "Cents::serialize_dollars")]
    pub amount: Cents,
    pub amount_cents: u64,
    pub currency: String,
    pub paid_at: String,
}

impl From<&Purchase> for PurchaseView {
    fn from(p: &Purchase) -> Self {
        PurchaseView {
            purchase_id: p.purchase_id.clone(),
            product_id: p.product_id.clone(),
            product_name: crate::catalog::find(&p.product_id)
                .map_or_else(|| p.product_id.clone(), |s| s.name.to_owned()),
            amount: p.amount(),
            amount_cents: p.amount_cents,
            currency: p.currency.clone(),
            paid_at: p.paid_at.clone(),
        }
    }
}
