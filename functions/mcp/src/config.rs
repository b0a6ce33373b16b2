//! What the MCP function adds to the shared settings (`dotm::config`, parsed once there): the
//! checked Host and Origin lists.

use dotm::config::DEFAULT_MCP_ALLOWED_HOSTS;
use dotm::domain::rewards::CashbackRate;

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
}

impl Config {
    /// `MCP_ALLOWED_HOSTS` (`host` or `host:port`) and `MCP_ALLOWED_ORIGINS`
    /// (`scheme://host[:port]`; empty: every browser origin is refused), checked here.
    pub fn new(settings: &dotm::config::Config) -> Result<Config, ConfigError> {
        Ok(Config {
            access: Access::new(
                settings.mcp_allowed_hosts.clone(),
                settings.mcp_allowed_origins.clone(),
            )?,
            cashback: settings.cashback,
        })
    }

    /// What the tests and the benchmark use: loopback hosts, one local origin.
    pub fn local() -> Config {
        Config {
            access: Access::new(
                DEFAULT_MCP_ALLOWED_HOSTS
                    .split(',')
                    .map(str::to_owned)
                    .collect(),
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

    fn settings(pairs: &[(&str, &str)]) -> dotm::config::Config {
        let mut env: Vec<(&str, &str)> = vec![("TABLE_NAME", "t"), ("ACTIVATION_QUEUE_URL", "q")];
        env.extend_from_slice(pairs);
        dotm::config::Config::from_lookup(|k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    #[test]
    fn a_bad_origin_names_the_variable() {
        let err = Config::new(&settings(&[("MCP_ALLOWED_ORIGINS", "claude.ai")])).unwrap_err();
        assert!(err.to_string().starts_with("MCP_ALLOWED_ORIGINS:"), "{err}");
    }

    #[test]
    fn defaults_are_loopback_and_no_origins() {
        let c = Config::new(&settings(&[])).unwrap();
        assert!(c.access.host_allowed("127.0.0.1:3000"));
        assert!(!c.access.host_allowed("evil.example"));
        assert!(!c.access.origin_allowed("http://127.0.0.1:3000"));
    }
}
