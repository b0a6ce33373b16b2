//! Operator commands over the functions' own adapters and settings (`dotm::config::Config`, the
//! same environment variables): `stripe-setup` registers the Stripe webhook endpoint for the
//! events the webhook handles, `preflight` checks a deployment's settings against the real
//! providers with read-only calls.

pub mod keys;
pub mod preflight;

/// The functions' settings, from the environment. Preflight and setup need neither the table
/// nor the queues, so those may be absent here.
pub fn config() -> Result<dotm::config::Config, dotm::config::ConfigError> {
    dotm::config::Config::from_lookup(|name| {
        std::env::var(name).ok().or_else(|| match name {
            "TABLE_NAME" | "ACTIVATION_QUEUE_URL" => Some("(unused by operator commands)".into()),
            _ => None,
        })
    })
}
