//! `make stripe-setup`: makes the Stripe webhook endpoint for `STRIPE_WEBHOOK_URL` (or `--url`)
//! receive exactly the events the webhook handles (`dotm::app::payments::Handled::ALL`), in the
//! pinned API version. Creates it when missing and prints its signing secret (Stripe shows it
//! only then: put it into the webhook's secret); replaces the event list of an existing one.
//! The key: `STRIPE_SECRET_KEY`, else the functions' `STRIPE_API_SECRET_ID`.

use std::process::ExitCode;

use dotm::adapters::stripe::account::{Registered, StripeAccount};
use dotm::app::payments::Handled;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(args) = Args::parse(std::env::args().skip(1)) else {
        eprintln!(
            "usage: stripe-setup [--url <webhook URL>] [--secret-to <file>]\n  --url: default STRIPE_WEBHOOK_URL (the stack's output StripeWebhookUrl)\n  --secret-to: write a new endpoint's signing secret there instead of printing it"
        );
        return ExitCode::from(2);
    };
    let url = args.url;
    let config = match ops::config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stripe-setup: {e}");
            return ExitCode::from(2);
        }
    };
    let key = match ops::keys::Keys::default().stripe(&config).await {
        Ok(k) => k,
        Err(e) => {
            eprintln!("stripe-setup: {e}");
            return ExitCode::from(2);
        }
    };
    let events: Vec<&str> = Handled::ALL.iter().map(|h| h.event_type()).collect();
    let account = match StripeAccount::new(&key, &config.stripe_api_base) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("stripe-setup: {}", e.chain());
            return ExitCode::FAILURE;
        }
    };
    match account.register_webhook(&url, &events).await {
        Ok(Registered::Created { endpoint, secret }) => {
            println!("created {} -> {url} for {}", endpoint.id, events.join(", "));
            match args.secret_to {
                Some(path) => {
                    if let Err(e) = std::fs::write(&path, format!("{secret}\n")) {
                        eprintln!("stripe-setup: cannot write the signing secret to {path}: {e}");
                        return ExitCode::FAILURE;
                    }
                    println!("its signing secret is in {path}");
                }
                None => {
                    println!(
                        "signing secret (shown once; put it into StripeWebhookSecret as stripe_webhook_secret):"
                    );
                    println!("{secret}");
                }
            }
            ExitCode::SUCCESS
        }
        Ok(Registered::Updated { endpoint }) => {
            println!(
                "updated {} -> {url}: now {}",
                endpoint.id,
                endpoint.enabled_events.join(", ")
            );
            println!("its signing secret is unchanged (Stripe shows it only at creation)");
            ExitCode::SUCCESS
        }
        Ok(Registered::Unchanged { endpoint }) => {
            println!(
                "{} -> {url} already receives {}",
                endpoint.id,
                events.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stripe-setup: {}", e.chain());
            ExitCode::FAILURE
        }
    }
}

struct Args {
    url: String,
    secret_to: Option<String>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Option<Args> {
        let mut url = std::env::var("STRIPE_WEBHOOK_URL").ok();
        let mut secret_to = None;
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--url" => url = Some(args.next()?),
                "--secret-to" => secret_to = Some(args.next()?),
                _ => return None,
            }
        }
        let url = url.filter(|u| !u.trim().is_empty())?;
        Some(Args { url, secret_to })
    }
}
