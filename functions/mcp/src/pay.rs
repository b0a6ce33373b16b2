//! `/pay/<token>`: the payment page an assistant or an email links to. It names nothing
//! personal, signs nobody in, and forwards to whatever is still unpaid (from our records).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use dotm::app::handoff::{self, PayPage};
use dotm::app::orders::OrderFailure;
use dotm::domain::catalog;
use dotm::domain::orders::DATA_PACKAGE;
use dotm::web::html::{escape, page};

use crate::App;

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            // The token is the whole secret: never hand it to another site.
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(page(title, body)),
    )
        .into_response()
}

fn render(found: PayPage, token: &str) -> Response {
    match found {
        PayPage::Forward(url) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, url.as_str()),
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
        )
            .into_response(),
        PayPage::Choose(links) => {
            let items: String = links
                .iter()
                .map(|(label, url)| {
                    format!(
                        "<li><a href=\"{}\">Pay for {}</a></li>",
                        escape(url),
                        escape(label)
                    )
                })
                .collect();
            html(
                StatusCode::OK,
                "DOTM payment",
                &format!(
                    "<h1>Your DOTM order</h1><p>It has {} invoices to pay, one for each kind of billing:</p><ul>{items}</ul>",
                    links.len()
                ),
            )
        }
        PayPage::Paid => html(
            StatusCode::OK,
            "Paid",
            "<h1>Paid, thank you</h1><p>Everything this link asked for is paid. You can go back to your assistant.</p>",
        ),
        PayPage::TopUpOffer => {
            let price = catalog::find(DATA_PACKAGE)
                .map(|s| s.price.display())
                .unwrap_or_default();
            html(
                StatusCode::OK,
                "Add data",
                &format!(
                    "<h1>Add 10 GB of Global Data</h1><p>{} on your DOT eSIM, billed by invoice.</p>\
<form method=\"post\" action=\"/pay/{}\"><button type=\"submit\">Order 10 GB</button></form>",
                    escape(&price),
                    escape(token)
                ),
            )
        }
        PayPage::Gone => html(
            StatusCode::NOT_FOUND,
            "Link not valid",
            "<h1>This payment link is not valid</h1><p>It may have expired. Ask your assistant again, or open the DOTM app.</p>",
        ),
    }
}

pub async fn show(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    match handoff::open(&app.server.ports().deps, &token).await {
        Ok(found) => render(found, &token),
        Err(e) => unavailable(&e),
    }
}

/// The top-up offer's button.
pub async fn accept(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    let ports = app.server.ports();
    match handoff::accept_top_up(&ports.deps, ports.invoicing.as_ref(), &token).await {
        Ok(found) => render(found, &token),
        Err(OrderFailure::Unavailable(e)) => unavailable(&e),
        Err(e) => html(
            StatusCode::CONFLICT,
            "Not ordered",
            &format!("<h1>Not ordered</h1><p>{}</p>", escape(&e.to_string())),
        ),
    }
}

fn unavailable(e: &dotm::ports::Unavailable) -> Response {
    tracing::error!(what = e.what, cause = %e.chain(), "payment page failed");
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "<h1>Please try again in a minute</h1><p>DOTM could not reach its payment service.</p>",
    )
}
