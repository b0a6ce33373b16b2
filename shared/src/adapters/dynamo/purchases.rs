//! `PurchaseStore`: purchases (conditional puts keyed by invoice id) and open invoices.

use async_trait::async_trait;

use super::{DynamoStore, conditional, s, to_item, user_pk};
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
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(uid)))
            .key("sk", s(format!("INVOICE#{product_id}")))
            .condition_expression("invoice_id = :id")
            .expression_attribute_values(":id", s(invoice_id))
            .send()
            .await;
        // A condition that did not hold means there is nothing (more) to do.
        conditional(
            "dynamodb close invoice",
            result.map_err(|e| e.into_service_error()),
        )?;
        Ok(())
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
