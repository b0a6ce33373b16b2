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
    pub amount_cents: u64,
    pub currency: String,
    pub paid_at: String,
    pub event_id: String,
}

impl Purchase {
    pub fn amount(&self) -> Cents {
        Cents(self.amount_cents)
    }
}
