//! Typed configuration of the MCP function, read once at cold start.

use dotm::rewards::{BadRate, CashbackRate};

use crate::access::{Access, BadOrigin};

#[derive(Debug, Clone)]
pub struct Config {
    pub access: Access,
    pub cashback: CashbackRate,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("MCP_ALLOWED_ORIGINS: {0}")]
    Origin(#[from] BadOrigin),
    #[error("DOTM_USD_PRICE: {0}")]
    Rate(#[from] BadRate),
}

/// Loopback only: behind API Gateway the template sets the real host names.
pub const DEFAULT_ALLOWED_HOSTS: &str = "localhost,127.0.0.1,::1";

fn list(value: Option<String>, default: &str) -> Vec<String> {
    value
        .as_deref()
        .unwrap_or(default)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|key| std::env::var(key).ok())
    }

    /// `MCP_ALLOWED_HOSTS` (comma-separated `host` or `host:port`), `MCP_ALLOWED_ORIGINS`
    /// (comma-separated `scheme://host[:port]`; empty: every browser origin is refused) and
    /// `DOTM_USD_PRICE` (USD per DOTM, default `1`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let hosts = list(get("MCP_ALLOWED_HOSTS"), DEFAULT_ALLOWED_HOSTS);
        let origins = list(get("MCP_ALLOWED_ORIGINS"), "");
        let cashback = match get("DOTM_USD_PRICE") {
            Some(price) if !price.trim().is_empty() => CashbackRate::parse_usd_per_dotm(&price)?,
            _ => CashbackRate::default(),
        };
        Ok(Config {
            access: Access::new(hosts, origins)?,
            cashback,
        })
    }

    /// What the tests and the benchmark use: loopback hosts, one local origin.
    pub fn local() -> Config {
        Config {
            access: Access::new(
                list(None, DEFAULT_ALLOWED_HOSTS),
                vec!["http://127.0.0.1:3000".into()],
            )
            .unwrap_or_else(|_| unreachable!("constant origin parses")),
            cashback: CashbackRate::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_variable() {
        let err =
            Config::from_lookup(|k| (k == "DOTM_USD_PRICE").then(|| "free".into())).unwrap_err();
        assert!(err.to_string().starts_with("DOTM_USD_PRICE:"), "{err}");
        let err = Config::from_lookup(|k| (k == "MCP_ALLOWED_ORIGINS").then(|| "claude.ai".into()))
            .unwrap_err();
        assert!(err.to_string().starts_with("MCP_ALLOWED_ORIGINS:"), "{err}");
    }

    #[test]
    fn defaults_are_loopback_and_no_origins() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert!(c.access.host_allowed("127.0.0.1:3000"));
        assert!(!c.access.host_allowed("evil.example"));
        assert!(!c.access.origin_allowed("http://127.0.0.1:3000"));
    }
}
