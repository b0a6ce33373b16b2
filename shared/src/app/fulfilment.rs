//! Fulfilment, run by the worker (it holds the carrier and the mailer): the person's line at
//! the carrier is brought in step with their entitlements, and a paid invoice's receipt is
//! mailed. Both are safe to repeat: the plan is recomputed from our records every time, every
//! carrier call is idempotent, and the receipt is keyed by invoice.

use crate::app::activation_worker::Worker;
use crate::domain::activation::FulfilTask;
use crate::domain::entitlements;
use crate::domain::html::escape;
use crate::domain::money::Cents;
use crate::domain::users::Uid;
use crate::ports::{CarrierError, LineRef, OutgoingEmail, Unavailable};

#[derive(Debug, PartialEq, Eq)]
pub struct Fulfilled {
    /// Carrier calls made (0 without a line: it is done when the line activates).
    pub carrier_calls: usize,
    pub receipt: bool,
}

pub async fn fulfil(w: &Worker, task: &FulfilTask) -> Result<Fulfilled, Unavailable> {
    let carrier_calls = sync_line(w, &task.fulfil_for).await?;
    let receipt = match &task.receipt_for {
        Some(invoice) => receipt(w, task, invoice).await?,
        None => false,
    };
    Ok(Fulfilled {
        carrier_calls,
        receipt,
    })
}

fn carrier(e: CarrierError) -> Unavailable {
    Unavailable::new("carrier line update", e)
}

/// A top-up sent to a carrier that has no idempotency key is recorded first and never sent
/// again (at most once: a lost answer leaves it for an operator, never a second booster).
const TOP_UP_MARKER_SECONDS: i64 = 400 * 24 * 3600;

/// One line service call: done, or not supported by this carrier (logged, counted, the
/// entitlement kept), or a failure the task is retried for.
fn settled(result: Result<(), CarrierError>) -> Result<bool, Unavailable> {
    match result {
        Ok(()) => Ok(true),
        Err(e @ CarrierError::NotSupported(_)) => {
            crate::app::carrier_line::unsupported(&e);
            Ok(false)
        }
        Err(e) => Err(carrier(e)),
    }
}

async fn sync_line(w: &Worker, uid: &Uid) -> Result<usize, Unavailable> {
    let activations = w.deps.activations.activations(uid).await?;
    let Some((line, call)) = activations
        .iter()
        .find_map(|a| a.line.as_ref().map(|l| (l, a.carrier_call.as_ref())))
    else {
        return Ok(0);
    };
    let granted = w.deps.entitlements.entitlements(uid).await?;
    let plan = entitlements::line_plan(&granted, w.deps.clock.now_unix());
    let target = LineRef {
        iccid: line.iccid.clone(),
        end_user_id: call.map(|c| c.end_user_id.clone()).unwrap_or_default(),
    };
    let services = w.line_services.as_ref();
    let mut calls = 0;
    for (feature, on) in plan
        .features_on
        .iter()
        .map(|f| (f, true))
        .chain(plan.features_off.iter().map(|f| (f, false)))
    {
        calls += usize::from(settled(services.set_feature(&target, feature, on).await)?);
    }
    for (reference, mb) in &plan.top_ups {
        if !services.top_ups_idempotent() {
            let key = format!("CARRIER_TOPUP#{}#{reference}", target.iccid);
            let now = w.deps.clock.now_unix();
            if !w
                .deps
                .handoff
                .use_once(&key, now + TOP_UP_MARKER_SECONDS)
                .await?
            {
                continue;
            }
            if let Err(e) = services.top_up(&target, reference, *mb).await {
                tracing::error!(uid = %uid.short(), reference, error = %e, "a data booster may not have reached the carrier; it is not sent again: check it at the carrier");
                crate::app::carrier_line::unsupported(&e);
                continue;
            }
            calls += 1;
            continue;
        }
        calls += usize::from(settled(services.top_up(&target, reference, *mb).await)?);
    }
    for reference in &plan.reversals {
        calls += usize::from(settled(services.reverse_top_up(&target, reference).await)?);
    }
    Ok(calls)
}

async fn receipt(w: &Worker, task: &FulfilTask, invoice_id: &str) -> Result<bool, Unavailable> {
    let uid = &task.fulfil_for;
    let Some(to) = w.deps.users.user(uid).await?.and_then(|u| u.email) else {
        return Ok(false);
    };
    let purchases = w.deps.purchases.purchases(uid).await?;
    let Some(purchase) = purchases.iter().find(|p| p.purchase_id == invoice_id) else {
        return Ok(false);
    };
    // The lines as ordered, else the services the purchase names.
    let lines: Vec<(String, u64)> = match &purchase.order_id {
        Some(order_id) => w
            .deps
            .orders
            .order(uid, order_id)
            .await?
            .map(|o| {
                o.one_time()
                    .map(|l| (format!("{} x {}", l.name, l.quantity), l.amount_cents))
                    .collect()
            })
            .unwrap_or_default(),
        None => purchase
            .items
            .iter()
            .chain(std::iter::once(&purchase.product_id))
            .take(1)
            .map(|id| {
                let name = crate::domain::catalog::find(id).map_or(id.as_str(), |s| s.name);
                (name.to_owned(), purchase.amount_cents)
            })
            .collect(),
    };
    let total = purchase.amount();
    let cashback = w.deps.cashback.cashback_on(total).to_dotm_string();
    let link = task.invoice_url.clone().unwrap_or_default();
    let mut text = format!("Thank you for your DOTM purchase.\n\nInvoice {invoice_id}\n");
    let mut rows = String::new();
    for (name, cents) in &lines {
        text.push_str(&format!("  {name}: {}\n", Cents(*cents).display()));
        rows.push_str(&format!(
            "<tr><td>{}</td><td align=right>{}</td></tr>",
            escape(name),
            Cents(*cents).display()
        ));
    }
    text.push_str(&format!(
        "Total paid: {} USD\nDOTM cashback: {cashback} DOTM\n",
        total.display()
    ));
    if !link.is_empty() {
        text.push_str(&format!("Invoice: {link}\n"));
    }
    let html = format!(
        "<p>Thank you for your DOTM purchase.</p><p>Invoice {}</p><table>{rows}\
<tr><td><b>Total paid</b></td><td align=right><b>{} USD</b></td></tr></table>\
<p>DOTM cashback: <b>{cashback} DOTM</b></p>{}",
        escape(invoice_id),
        total.display(),
        if link.is_empty() {
            String::new()
        } else {
            format!("<p><a href=\"{0}\">{0}</a></p>", escape(&link))
        }
    );
    crate::app::mail::deliver(
        w.mailer.as_ref(),
        &OutgoingEmail {
            to,
            subject: format!("Your DOTM receipt: {} USD", total.display()),
            text,
            html,
            attachments: Vec::new(),
            idempotency_key: format!("dotm-receipt-{invoice_id}"),
        },
    )
    .await?;
    Ok(true)
}
