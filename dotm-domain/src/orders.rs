//! Orders: what a person asked to buy, checked against the catalog before anything is written.
//!
//! An order is one-time items paid by one emailed invoice, plus one subscription per yearly or
//! monthly item (Stripe bills each interval on its own). [`Cart::parse`] is the only way to get
//! a cart, so an order can never hold an unknown, unbuyable or out-of-range item.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{self, BillingPeriod, Category, Service};
use crate::money::Cents;
use crate::users::Uid;

pub const DATA_PACKAGE: &str = "global_data_10gb";
pub const METAL_CARD: &str = "dotm_metal_card";
pub const ESIM: &str = "esim_beta";
/// What one unit of the data package adds to the line.
pub const DATA_PACKAGE_MB: u64 = 10 * 1024;
pub const MAX_DATA_UNITS: u32 = 10;

/// One line of a request, as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct ItemRequest {
    /// A catalog service id, e.g. `global_data_10gb`.
    pub service_id: String,
    /// 1-10 for `global_data_10gb`; 1 (the default) for everything else.
    #[serde(default)]
    pub quantity: Option<u32>,
}

/// Where the Metal Card is sent. Every field is trimmed and bounded; `country` is ISO 3166-1
/// alpha-2.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct ShippingAddress {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("an order needs at least one item")]
    Empty,
    #[error("at most 20 lines in one order")]
    TooManyLines,
    #[error("unknown service id {0:?}: see list_services for the ids")]
    Unknown(String),
    #[error("{id} cannot be bought: {how}")]
    NotForSale { id: String, how: &'static str },
    #[error("{id}: quantity {quantity} is out of range ({range})")]
    Quantity {
        id: String,
        quantity: u32,
        range: &'static str,
    },
    #[error("{0} is listed twice; give it once (with a quantity)")]
    Duplicate(String),
    #[error("the DOTM Metal Card needs a shipping address: {0}")]
    Shipping(String),
    #[error("a shipping address is only needed for the DOTM Metal Card")]
    UnneededShipping,
}

/// A checked line: a catalog service and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    pub service_id: String,
    pub name: String,
    pub quantity: u32,
    pub unit_cents: u64,
    pub amount_cents: u64,
    pub billing: String,
}

impl OrderLine {
    fn of(service: &Service, quantity: u32) -> OrderLine {
        OrderLine {
            service_id: service.id.to_owned(),
            name: service.name.to_owned(),
            quantity,
            unit_cents: service.price_cents.get(),
            amount_cents: service.price_cents.get() * u64::from(quantity),
            billing: service.billing.label().to_owned(),
        }
    }

    pub fn service(&self) -> Option<&'static Service> {
        catalog::find(&self.service_id)
    }

    pub fn recurring(&self) -> bool {
        self.service()
            .is_some_and(|s| matches!(s.billing, BillingPeriod::Monthly | BillingPeriod::Yearly))
    }
}

/// A valid request: known, buyable items in range, a shipping address exactly when the card is
/// in it. Lines are sorted by service id, so the same request always makes the same cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    pub lines: Vec<OrderLine>,
    pub shipping: Option<ShippingAddress>,
}

impl Cart {
    pub fn parse(
        items: &[ItemRequest],
        shipping: Option<ShippingAddress>,
    ) -> Result<Cart, OrderError> {
        if items.is_empty() {
            return Err(OrderError::Empty);
        }
        if items.len() > 20 {
            return Err(OrderError::TooManyLines);
        }
        let mut seen = BTreeMap::new();
        for item in items {
            let id = item.service_id.trim();
            let service = catalog::find(id)
                .ok_or_else(|| OrderError::Unknown(item.service_id.chars().take(64).collect()))?;
            buyable(service)?;
            let quantity = item.quantity.unwrap_or(1);
            let (max, range) = if service.id == DATA_PACKAGE {
                (MAX_DATA_UNITS, "1 to 10")
            } else {
                (1, "exactly 1")
            };
            if quantity == 0 || quantity > max {
                return Err(OrderError::Quantity {
                    id: service.id.to_owned(),
                    quantity,
                    range,
                });
            }
            if seen
                .insert(service.id, OrderLine::of(service, quantity))
                .is_some()
            {
                return Err(OrderError::Duplicate(service.id.to_owned()));
            }
        }
        let card = seen.contains_key(METAL_CARD);
        let shipping = match (card, shipping) {
            (true, Some(address)) => Some(address.checked().map_err(OrderError::Shipping)?),
            (true, None) => return Err(OrderError::Shipping("none was given".into())),
            (false, Some(_)) => return Err(OrderError::UnneededShipping),
            (false, None) => None,
        };
        Ok(Cart {
            lines: seen.into_values().collect(),
            shipping,
        })
    }

    pub fn has(&self, service_id: &str) -> bool {
        self.lines.iter().any(|l| l.service_id == service_id)
    }

    /// Data goes onto an eSIM line: without a line (paid or in this cart) the $1.00 activation
    /// joins the same invoice, so the person is never sold data they cannot use.
    pub fn with_esim_for_data(mut self, has_line: bool) -> Cart {
        if self.has(DATA_PACKAGE)
            && !has_line
            && !self.has(ESIM)
            && let Some(esim) = catalog::find(ESIM)
        {
            self.lines.push(OrderLine::of(esim, 1));
            self.lines.sort_by(|a, b| a.service_id.cmp(&b.service_id));
        }
        self
    }

    pub fn one_time(&self) -> impl Iterator<Item = &OrderLine> {
        self.lines.iter().filter(|l| !l.recurring())
    }

    pub fn recurring(&self) -> impl Iterator<Item = &OrderLine> {
        self.lines.iter().filter(|l| l.recurring())
    }

    /// Identifies the request: the same items and address give the same fingerprint.
    pub fn fingerprint(&self) -> String {
        let text = serde_json::to_string(&(&self.lines, &self.shipping)).unwrap_or_default();
        hex::encode(&Sha256::digest(text.as_bytes())[..16])
    }
}

fn buyable(service: &Service) -> Result<(), OrderError> {
    let how = match service.billing {
        BillingPeriod::OneTime | BillingPeriod::Monthly | BillingPeriod::Yearly => return Ok(()),
        BillingPeriod::Free => "it is free with approval: ask for beta access from your profile",
        BillingPeriod::Info => match service.category {
            Category::Token => "DOTM tokens are earned with purchases, not bought",
            Category::Support => "support comes with the eSIM and memberships",
            _ => "it comes with the product and is not sold on its own",
        },
    };
    Err(OrderError::NotForSale {
        id: service.id.to_owned(),
        how,
    })
}

fn bounded(field: &str, value: &str, max: usize) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(format!(
            "{field} must be at most {max} printable characters"
        ));
    }
    Ok(v.to_owned())
}

impl ShippingAddress {
    fn checked(self) -> Result<ShippingAddress, String> {
        let country = bounded("country", &self.country, 2)?.to_ascii_uppercase();
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "country {:?} is not an ISO 3166-1 alpha-2 code such as US",
                self.country
            ));
        }
        let optional = |field: &str, v: Option<String>| -> Result<Option<String>, String> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(text) => bounded(field, text, 100).map(Some),
            }
        };
        let postal_code = bounded("postal_code", &self.postal_code, 12)?;
        if !postal_code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        {
            return Err(format!("postal_code {postal_code:?} is not a postal code"));
        }
        Ok(ShippingAddress {
            name: bounded("name", &self.name, 100)?,
            line1: bounded("line1", &self.line1, 100)?,
            line2: optional("line2", self.line2)?,
            city: bounded("city", &self.city, 100)?,
            state: optional("state", self.state)?,
            postal_code,
            country,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Waiting for its invoice to be paid.
    Open,
    Paid,
    /// Paid, then refunded in full: what it granted was taken back.
    Refunded,
    /// Paid, then disputed: what it granted was taken back.
    Disputed,
}

/// Where the Metal Card is; set by an admin after payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CardStatus {
    Ordered,
    Shipped { tracking: String },
}

/// An invoice DOTM made and emailed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceRef {
    pub invoice_id: String,
    pub invoice_url: String,
    pub amount_cents: u64,
}

/// One invoice of an order and what it pays for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPayment {
    #[serde(flatten)]
    pub invoice: InvoiceRef,
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
}

/// `USER#<uid>` / `ORDER#<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub uid: Uid,
    pub lines: Vec<OrderLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<ShippingAddress>,
    /// The one-time lines' total: what the invoice asks for.
    pub one_time_cents: u64,
    pub currency: String,
    pub status: OrderStatus,
    /// The invoice of the one-time lines, then one per subscription; empty until sent.
    #[serde(default)]
    pub payments: Vec<OrderPayment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardStatus>,
    pub fingerprint: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
}

impl Order {
    pub fn new(order_id: String, uid: Uid, cart: Cart, created_at: String) -> Order {
        let fingerprint = cart.fingerprint();
        let one_time_cents = cart.one_time().map(|l| l.amount_cents).sum();
        Order {
            order_id,
            uid,
            one_time_cents,
            currency: "usd".into(),
            status: OrderStatus::Open,
            payments: Vec::new(),
            card: None,
            shipping: cart.shipping,
            lines: cart.lines,
            fingerprint,
            created_at,
            paid_at: None,
        }
    }

    pub fn one_time(&self) -> impl Iterator<Item = &OrderLine> {
        self.lines.iter().filter(|l| !l.recurring())
    }

    pub fn recurring(&self) -> impl Iterator<Item = &OrderLine> {
        self.lines.iter().filter(|l| l.recurring())
    }

    pub fn has(&self, service_id: &str) -> bool {
        self.lines.iter().any(|l| l.service_id == service_id)
    }

    /// Everything the order costs at first: one-time lines plus each subscription's first period.
    pub fn total(&self) -> Cents {
        Cents(self.lines.iter().map(|l| l.amount_cents).sum())
    }
}

/// What an invoice pays for, written by DOTM before the invoice can be paid: the webhook grants
/// something only for an invoice it finds here (`INVOICE#<id>` / `ORDER`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentClaim {
    pub invoice_id: String,
    pub uid: Uid,
    /// The person's Stripe customer: the paid invoice must be theirs.
    pub customer_id: String,
    /// At least this much must be paid, in `currency`.
    pub amount_cents: u64,
    pub currency: String,
    pub pays: Pays,
    #[serde(default)]
    pub state: ClaimState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pays {
    /// The $1.00 activation of `activate_esim`.
    Esim,
    /// The one-time lines of an order.
    Order { order_id: String },
    /// A period of a subscription (its first, from an order, or a renewal).
    Subscription {
        subscription_id: String,
        order_id: String,
        service_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    #[default]
    Open,
    Paid,
    /// Refunded or disputed (possibly before its payment arrived): it grants nothing.
    Revoked,
}

/// Why a payment's grant is taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Takeback {
    /// Refunded in full.
    Refunded,
    /// Disputed: the amount left our balance when the dispute opened.
    Disputed,
}

/// A refund or dispute that arrived before DOTM knew which invoice its payment paid (Stripe
/// names the payment intent in refunds and disputes, and only `invoice_payment` objects tie a
/// payment intent to an invoice; events come in any order). Applied when that tie arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldTakeback {
    pub takeback: Takeback,
    /// The refunded charge's customer, checked against the claim's when it is applied.
    pub customer_id: Option<String>,
}

/// A payment the webhook could not match to a record of ours: it granted nothing, operators look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedPayment {
    pub invoice_id: String,
    pub event_id: String,
    pub customer_id: Option<String>,
    pub amount_paid: u64,
    pub currency: String,
    pub reason: String,
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, quantity: Option<u32>) -> ItemRequest {
        ItemRequest {
            service_id: id.into(),
            quantity,
        }
    }

    fn address() -> ShippingAddress {
        ShippingAddress {
            name: " Ada Lovelace ".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Springfield".into(),
            state: Some("IL".into()),
            postal_code: "62701".into(),
            country: "us".into(),
        }
    }

    #[test]
    fn every_priced_item_can_be_ordered_and_nothing_else() {
        for s in catalog::services() {
            let shipping = (s.id == METAL_CARD).then(address);
            let got = Cart::parse(&[item(s.id, None)], shipping);
            let priced = s.price_cents.get() > 0;
            assert_eq!(got.is_ok(), priced, "{}: {got:?}", s.id);
            if let Err(e) = got {
                assert!(e.to_string().contains(s.id), "{e}");
            }
        }
    }

    #[test]
    fn data_comes_in_one_to_ten_units_and_the_rest_one_each() {
        assert!(Cart::parse(&[item(DATA_PACKAGE, Some(10))], None).is_ok());
        for q in [0, 11] {
            let e = Cart::parse(&[item(DATA_PACKAGE, Some(q))], None).unwrap_err();
            assert!(matches!(e, OrderError::Quantity { .. }), "{e}");
        }
        let e = Cart::parse(&[item("vpn_access", Some(2))], None).unwrap_err();
        assert!(e.to_string().contains("exactly 1"), "{e}");
    }

    #[test]
    fn the_card_needs_a_valid_address_and_nothing_else_takes_one() {
        let e = Cart::parse(&[item(METAL_CARD, None)], None).unwrap_err();
        assert!(matches!(e, OrderError::Shipping(_)));
        let mut bad = address();
        bad.country = "USA".into();
        assert!(Cart::parse(&[item(METAL_CARD, None)], Some(bad)).is_err());
        let mut bad = address();
        bad.line1 = "  ".into();
        assert!(Cart::parse(&[item(METAL_CARD, None)], Some(bad)).is_err());
        let cart = Cart::parse(&[item(METAL_CARD, None)], Some(address())).unwrap();
        let shipped = cart.shipping.unwrap();
        assert_eq!(
            (shipped.name.as_str(), shipped.country.as_str()),
            ("Ada Lovelace", "US")
        );
        assert_eq!(
            Cart::parse(&[item(ESIM, None)], Some(address())),
            Err(OrderError::UnneededShipping)
        );
    }

    #[test]
    fn the_same_items_in_any_order_are_the_same_cart() {
        let a = Cart::parse(&[item("vpn_access", None), item(ESIM, None)], None).unwrap();
        let b = Cart::parse(&[item(ESIM, None), item("vpn_access", Some(1))], None).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = Cart::parse(&[item(ESIM, None)], None).unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert!(Cart::parse(&[item(ESIM, None), item(ESIM, None)], None).is_err());
    }

    #[test]
    fn data_without_a_line_brings_the_activation_along() {
        let cart = Cart::parse(&[item(DATA_PACKAGE, Some(2))], None).unwrap();
        let with = cart.clone().with_esim_for_data(false);
        assert!(with.has(ESIM));
        assert!(!cart.with_esim_for_data(true).has(ESIM));
        let order = Order::new("ord_1".into(), Uid::parse("u").unwrap(), with, "t".into());
        assert_eq!(order.one_time_cents, 2 * 2000 + 100);
    }

    #[test]
    fn recurring_lines_are_not_on_the_invoice() {
        let cart = Cart::parse(
            &[
                item("basic_membership", None),
                item(DATA_PACKAGE, None),
                item(ESIM, None),
            ],
            None,
        )
        .unwrap();
        let order = Order::new("o".into(), Uid::parse("u").unwrap(), cart, "t".into());
        assert_eq!(order.one_time_cents, 2100);
        assert_eq!(order.total(), Cents(4500));
        assert_eq!(order.recurring().count(), 1);
    }
}
