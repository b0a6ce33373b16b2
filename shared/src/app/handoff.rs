//! Payment links safe to show in a chat or an email: `/pay/<token>` names nothing personal and
//! signs nobody in; the page checks our own records (the claims the webhook settles) and
//! forwards to what is still unpaid.

use crate::app::Deps;
use crate::app::orders::{self, OrderFailure, OrderRequest};
use crate::domain::handoff::{PAY_LINK_SECONDS, PayLink, PayTarget, token_hash};
use crate::domain::orders::{ClaimState, DATA_PACKAGE, InvoiceRef, ItemRequest};
use crate::domain::users::{Identity, Uid};
use crate::ports::{Invoicing, Unavailable};

/// What `/pay/<token>` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayPage {
    /// One invoice is unpaid: straight to Stripe's page.
    Forward(String),
    /// Several are (an order with subscriptions): one link each, with what it pays for.
    Choose(Vec<(String, String)>),
    /// Everything it asked for is paid.
    Paid,
    /// The low-data offer: a button that orders 10 GB more.
    TopUpOffer,
    /// Unknown or expired.
    Gone,
}

/// A new link to pay for `target`, under `base_url`.
pub async fn pay_link(
    deps: &Deps,
    uid: &Uid,
    target: PayTarget,
    base_url: &str,
) -> Result<String, Unavailable> {
    let token = deps.random.token()?;
    let link = PayLink {
        uid: uid.clone(),
        target,
        expires_at: deps.clock.now_unix() + PAY_LINK_SECONDS,
    };
    deps.handoff
        .save_pay_link(&token_hash(&token), &link)
        .await?;
    Ok(format!("{}/pay/{token}", base_url.trim_end_matches('/')))
}

async fn find(deps: &Deps, token: &str) -> Result<Option<PayLink>, Unavailable> {
    // A token is 43 base64url characters; anything else is not worth a read.
    if token.len() > 64
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    let link = deps.handoff.pay_link(&token_hash(token)).await?;
    Ok(link.filter(|l| l.expires_at > deps.clock.now_unix()))
}

/// The invoices of a target that are not paid yet, with a label each.
pub async fn unpaid(
    deps: &Deps,
    uid: &Uid,
    target: &PayTarget,
) -> Result<Vec<(String, InvoiceRef)>, Unavailable> {
    let invoices: Vec<(String, InvoiceRef)> = match target {
        PayTarget::Esim { invoice_id } => match deps
            .purchases
            .open_invoice(uid, crate::app::esim::ESIM_PRODUCT)
            .await?
        {
            Some(open) if &open.invoice_id == invoice_id => vec![(
                "DOT eSIM".into(),
                InvoiceRef {
                    invoice_id: open.invoice_id,
                    invoice_url: open.hosted_url,
                    amount_cents: open.amount_cents,
                },
            )],
            _ => Vec::new(),
        },
        PayTarget::Order { order_id } => match deps.orders.order(uid, order_id).await? {
            Some(order) => order
                .payments
                .into_iter()
                .map(|p| (p.services.join(", "), p.invoice))
                .collect(),
            None => Vec::new(),
        },
        PayTarget::TopUp { .. } => Vec::new(),
    };
    let mut open = Vec::new();
    for (label, invoice) in invoices {
        let claim = deps.orders.claim(&invoice.invoice_id).await?;
        if claim.is_none_or(|c| c.state == ClaimState::Open) {
            open.push((label, invoice));
        }
    }
    Ok(open)
}

pub async fn open(deps: &Deps, token: &str) -> Result<PayPage, Unavailable> {
    let Some(link) = find(deps, token).await? else {
        return Ok(PayPage::Gone);
    };
    if matches!(link.target, PayTarget::TopUp { .. }) {
        return Ok(PayPage::TopUpOffer);
    }
    let mut open = unpaid(deps, &link.uid, &link.target).await?;
    Ok(match open.len() {
        0 => PayPage::Paid,
        1 => PayPage::Forward(open.remove(0).1.invoice_url),
        _ => PayPage::Choose(
            open.into_iter()
                .map(|(label, i)| (label, i.invoice_url))
                .collect(),
        ),
    })
}

/// The top-up button: orders `global_data_10gb` once per link (the token is the order's
/// idempotency key, so a double tap is one order) and answers where to pay it.
pub async fn accept_top_up(
    deps: &Deps,
    invoicing: &dyn Invoicing,
    token: &str,
) -> Result<PayPage, OrderFailure> {
    let Some(link) = find(deps, token).await? else {
        return Ok(PayPage::Gone);
    };
    if !matches!(link.target, PayTarget::TopUp { .. }) {
        return Ok(PayPage::Gone);
    }
    let user = deps.users.user(&link.uid).await?;
    let identity = Identity {
        uid: link.uid.clone(),
        email: user.and_then(|u| u.email),
        unverified_email: None,
        anonymous: false,
    };
    let request = OrderRequest {
        items: vec![ItemRequest {
            service_id: DATA_PACKAGE.into(),
            quantity: Some(1),
        }],
        shipping_address: None,
    };
    let key = format!("topup-{}", &token_hash(token)[..32]);
    let order = orders::place(deps, invoicing, &identity, request, Some(&key)).await?;
    Ok(match order.payments.into_iter().find(|p| !p.paid) {
        Some(p) => PayPage::Forward(p.payment.invoice.invoice_url),
        None => PayPage::Paid,
    })
}
