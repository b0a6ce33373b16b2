//! Handing a payment to the person: an opaque link to what they owe, safe to show in a chat.
//!
//! The link's token is random and stored only as its SHA-256, like the beta decision links: the
//! URL carries no name, email or uid, and a leaked table row cannot be turned back into a link.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::users::Uid;

/// How long a payment link works: longer than Stripe's invoice stays payable is pointless,
/// shorter than a person takes to find their card is unkind.
pub const PAY_LINK_SECONDS: i64 = 7 * 24 * 3600;

/// What a link pays for. Only ids of our own records: the page looks the rest up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PayTarget {
    /// The $1.00 eSIM invoice.
    Esim { invoice_id: String },
    /// An order's invoice and subscriptions.
    Order { order_id: String },
    /// A one-tap top-up offer (the low-data email): opening it shows a button that orders
    /// `global_data_10gb`; nothing is ordered by merely following the link.
    TopUp { iccid: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayLink {
    pub uid: Uid,
    pub target: PayTarget,
    /// Unix seconds; also the table's TTL.
    pub expires_at: i64,
}

/// How a link token is stored: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
