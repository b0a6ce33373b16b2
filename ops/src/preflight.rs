//! `preflight`: can this deployment take money, activate lines, mail and mint? Each provider is
//! asked with read-only calls, through the adapters the functions use and with their settings;
//! the answer is a table, one row per check, each naming the setting to fix. Nothing is written
//! anywhere (a missing webhook endpoint is reported, `stripe-setup` makes it).

use dotm::config::Config;

use crate::keys::Keys;

mod carrier;
mod chain;
mod firebase;
mod mail;
mod report;
mod stripe;

pub use report::{Report, Row, Status};

/// What preflight is told besides the functions' settings.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// `STRIPE_MODE` (`live` or `test`, default `live`): the mode the Stripe key must be in.
    pub stripe_live: bool,
    /// `STRIPE_WEBHOOK_URL`: where Stripe must deliver (the stack's output `StripeWebhookUrl`).
    pub webhook_url: Option<String>,
    /// `DOTM_MINTER_ADDRESS`: the minter's address; else derived from the minter's key.
    pub minter_address: Option<String>,
}

impl Expectations {
    pub fn from_env() -> Result<Expectations, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let stripe_live = match var("STRIPE_MODE").as_deref() {
            None | Some("live") => true,
            Some("test") => false,
            Some(other) => return Err(format!("STRIPE_MODE is `{other}`: `live` or `test`")),
        };
        Ok(Expectations {
            stripe_live,
            webhook_url: var("STRIPE_WEBHOOK_URL"),
            minter_address: var("DOTM_MINTER_ADDRESS"),
        })
    }
}

/// Every check, the providers asked at the same time.
pub async fn run(config: &Config, expect: &Expectations) -> Report {
    let keys = Keys::default();
    let (stripe, mail, carrier, firebase, chain) = tokio::join!(
        stripe::check(config, expect, &keys),
        mail::check(config, &keys),
        carrier::check(config, &keys),
        firebase::check(config),
        chain::check(config, expect, &keys),
    );
    Report::of(
        [stripe, mail, carrier, firebase, chain]
            .into_iter()
            .flatten(),
    )
}
