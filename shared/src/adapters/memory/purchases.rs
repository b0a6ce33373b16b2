//! `PurchaseStore` in memory: purchases and the one open invoice per person and product.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::purchases::{OpenInvoice, Purchase};
use crate::domain::users::Uid;
use crate::ports::{PurchaseStore, Unavailable};

#[derive(Default)]
pub struct MemoryPurchases {
    invoices: Mutex<HashMap<(String, String), OpenInvoice>>,
    purchases: Mutex<HashMap<String, Purchase>>,
}

impl MemoryPurchases {
    pub fn purchase_count(&self) -> usize {
        lock(&self.purchases).len()
    }
}

#[async_trait]
impl PurchaseStore for MemoryPurchases {
    async fn open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
    ) -> Result<Option<OpenInvoice>, Unavailable> {
        Ok(lock(&self.invoices)
            .get(&(uid.to_string(), product_id.to_owned()))
            .cloned())
    }

    async fn save_open_invoice(
        &self,
        uid: &Uid,
        invoice: &OpenInvoice,
    ) -> Result<OpenInvoice, Unavailable> {
        Ok(lock(&self.invoices)
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
        let mut invoices = lock(&self.invoices);
        let key = (uid.to_string(), product_id.to_owned());
        if invoices
            .get(&key)
            .is_some_and(|i| i.invoice_id == invoice_id)
        {
            invoices.remove(&key);
        }
        Ok(())
    }

    async fn record_purchase(&self, purchase: &Purchase) -> Result<bool, Unavailable> {
        let mut purchases = lock(&self.purchases);
        let key = format!("{}#{}", purchase.uid, purchase.purchase_id);
        if purchases.contains_key(&key) {
            return Ok(false);
        }
        purchases.insert(key, purchase.clone());
        Ok(true)
    }

    async fn purchases(&self, uid: &Uid) -> Result<Vec<Purchase>, Unavailable> {
        let mut list: Vec<Purchase> = lock(&self.purchases)
            .values()
            .filter(|p| &p.uid == uid)
            .cloned()
            .collect();
        list.sort_by(|a, b| b.paid_at.cmp(&a.paid_at));
        Ok(list)
    }
}
