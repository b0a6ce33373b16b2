//! `OrderStore` in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::orders::{
    CardStatus, ClaimState, HeldTakeback, Order, OrderPayment, OrderStatus, PaymentClaim,
    UnmatchedPayment,
};
use crate::domain::users::Uid;
use crate::ports::{OrderStore, RequestKey, Unavailable};

#[derive(Default)]
pub struct MemoryOrders {
    keys: Mutex<HashMap<(String, String), RequestKey>>,
    orders: Mutex<HashMap<(String, String), Order>>,
    claims: Mutex<HashMap<String, PaymentClaim>>,
    payments: Mutex<HashMap<String, String>>,
    held: Mutex<HashMap<String, HeldTakeback>>,
    unmatched: Mutex<HashMap<(String, String), UnmatchedPayment>>,
}

fn key(uid: &Uid, id: &str) -> (String, String) {
    (uid.to_string(), id.to_owned())
}

#[async_trait]
impl OrderStore for MemoryOrders {
    async fn bind_request(
        &self,
        uid: &Uid,
        request_key: &str,
        claim: &RequestKey,
        _now_unix: i64,
        _ttl_seconds: i64,
    ) -> Result<RequestKey, Unavailable> {
        Ok(lock(&self.keys)
            .entry(key(uid, request_key))
            .or_insert_with(|| claim.clone())
            .clone())
    }

    async fn unbind_request(
        &self,
        uid: &Uid,
        request_key: &str,
        order_id: &str,
    ) -> Result<(), Unavailable> {
        let mut keys = lock(&self.keys);
        if keys
            .get(&key(uid, request_key))
            .is_some_and(|k| k.order_id == order_id)
        {
            keys.remove(&key(uid, request_key));
        }
        Ok(())
    }

    async fn create_order(&self, order: &Order) -> Result<Order, Unavailable> {
        Ok(lock(&self.orders)
            .entry(key(&order.uid, &order.order_id))
            .or_insert_with(|| order.clone())
            .clone())
    }

    async fn order(&self, uid: &Uid, order_id: &str) -> Result<Option<Order>, Unavailable> {
        Ok(lock(&self.orders).get(&key(uid, order_id)).cloned())
    }

    async fn orders(&self, uid: &Uid) -> Result<Vec<Order>, Unavailable> {
        let mut orders: Vec<Order> = lock(&self.orders)
            .values()
            .filter(|o| &o.uid == uid)
            .cloned()
            .collect();
        orders.sort_by(|a, b| (&b.created_at, &b.order_id).cmp(&(&a.created_at, &a.order_id)));
        Ok(orders)
    }

    async fn set_payments(
        &self,
        uid: &Uid,
        order_id: &str,
        payments: &[OrderPayment],
    ) -> Result<(), Unavailable> {
        if let Some(order) = lock(&self.orders).get_mut(&key(uid, order_id))
            && order.payments.is_empty()
        {
            order.payments = payments.to_vec();
        }
        Ok(())
    }

    async fn set_order_status(
        &self,
        uid: &Uid,
        order_id: &str,
        from: &[OrderStatus],
        to: OrderStatus,
        at: &str,
    ) -> Result<bool, Unavailable> {
        let mut orders = lock(&self.orders);
        let Some(order) = orders.get_mut(&key(uid, order_id)) else {
            return Ok(false);
        };
        if !from.contains(&order.status) {
            return Ok(false);
        }
        order.status = to;
        if to == OrderStatus::Paid {
            order.paid_at = Some(at.to_owned());
        }
        Ok(true)
    }

    async fn set_card_status(
        &self,
        uid: &Uid,
        order_id: &str,
        card: &CardStatus,
    ) -> Result<bool, Unavailable> {
        let mut orders = lock(&self.orders);
        match orders.get_mut(&key(uid, order_id)) {
            Some(order) => {
                order.card = Some(card.clone());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn save_claim(&self, claim: &PaymentClaim) -> Result<(), Unavailable> {
        lock(&self.claims)
            .entry(claim.invoice_id.clone())
            .or_insert_with(|| claim.clone());
        Ok(())
    }

    async fn claim(&self, invoice_id: &str) -> Result<Option<PaymentClaim>, Unavailable> {
        Ok(lock(&self.claims).get(invoice_id).cloned())
    }

    async fn settle_claim(
        &self,
        invoice_id: &str,
        from: ClaimState,
        to: ClaimState,
    ) -> Result<bool, Unavailable> {
        let mut claims = lock(&self.claims);
        match claims.get_mut(invoice_id) {
            Some(claim) if claim.state == from => {
                claim.state = to;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn save_payment(&self, payment_id: &str, invoice_id: &str) -> Result<(), Unavailable> {
        lock(&self.payments)
            .entry(payment_id.to_owned())
            .or_insert_with(|| invoice_id.to_owned());
        Ok(())
    }

    async fn payment_invoice(&self, payment_id: &str) -> Result<Option<String>, Unavailable> {
        Ok(lock(&self.payments).get(payment_id).cloned())
    }

    async fn hold_takeback(
        &self,
        payment_id: &str,
        held: &HeldTakeback,
    ) -> Result<(), Unavailable> {
        lock(&self.held)
            .entry(payment_id.to_owned())
            .or_insert_with(|| held.clone());
        Ok(())
    }

    async fn held_takeback(&self, payment_id: &str) -> Result<Option<HeldTakeback>, Unavailable> {
        Ok(lock(&self.held).get(payment_id).cloned())
    }

    async fn record_unmatched(&self, payment: &UnmatchedPayment) -> Result<(), Unavailable> {
        lock(&self.unmatched)
            .entry((payment.invoice_id.clone(), payment.event_id.clone()))
            .or_insert_with(|| payment.clone());
        Ok(())
    }

    async fn unmatched(&self) -> Result<Vec<UnmatchedPayment>, Unavailable> {
        let mut all: Vec<UnmatchedPayment> = lock(&self.unmatched).values().cloned().collect();
        all.sort_by(|a, b| (&b.at, &b.event_id).cmp(&(&a.at, &a.event_id)));
        Ok(all)
    }
}
