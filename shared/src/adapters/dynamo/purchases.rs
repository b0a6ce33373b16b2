//! `PurchaseStore`: purchases (conditional puts keyed by invoice id) and open invoices.

use async_trait::async_trait;

use super::{DynamoStore, to_item, user_pk};
use crate::domain::purchases::{OpenInvoice, Purchase};
use crate::domain::users::Uid;
use crate::ports::{PurchaseStore, Unavailable};

#[async_trait]
impl PurchaseStore for DynamoStore {
    async fn open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
    ) -> Result<Option<OpenInvoice>, Unavailable> {
        self.get(user_pk(uid), &format!("INVOICE#{product_id}"))
            .await
    }

    async fn save_open_invoice(
        &self,
        uid: &Uid,
        invoice: &OpenInvoice,
    ) -> Result<OpenInvoice, Unavailable> {
        let sk = format!("INVOICE#{}", invoice.product_id);
        Ok(self.put_or_get(user_pk(uid), sk, invoice).await?.0)
    }

    async fn close_open_invoice(
        &self,
        uid: &Uid,
        product_id: &str,
        invoice_id: &str,
    ) -> Result<(), Unavailable> {
        self.delete_if(
            "dynamodb close invoice",
            (user_pk(uid), format!("INVOICE#{product_id}")),
            "invoice_id",
            invoice_id,
        )
        .await
    }

    async fn record_purchase(&self, purchase: &Purchase) -> Result<bool, Unavailable> {
        let item = to_item(
            user_pk(&purchase.uid),
            format!("PURCHASE#{}", purchase.purchase_id),
            purchase,
        )?;
        self.put_new(item).await
    }

    async fn purchases(&self, uid: &Uid) -> Result<Vec<Purchase>, Unavailable> {
        let mut purchases: Vec<Purchase> = self
            .user_items(uid, "PURCHASE#", "dynamodb purchases")
            .await?;
        purchases.sort_by(|a, b| b.paid_at.cmp(&a.paid_at));
        Ok(purchases)
    }
}
