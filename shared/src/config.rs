//! Every setting, read from the environment once at cold start and typed here (README,
//! Configuration). Settings that only some functions use are optional here and required by
//! that function's wiring, so a function never fails to start over a setting it does not use.

use std::time::Duration;

use crate::adapters::firebase::GOOGLE_JWKS_URL;
use crate::domain::rewards::{BadRate, CashbackRate};
use crate::domain::throttle::ThrottleConfig;
use crate::domain::users::Uid;

/// Loopback only: behind API Gateway the template sets the real host names.
pub const DEFAULT_MCP_ALLOWED_HOSTS: &str = "localhost,127.0.0.1,::1";

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub activation_queue_url: String,
    pub activation_dlq_url: Option<String>,
    /// The mint queue: the reward minter's own (functions that credit rewards send to it).
    pub mint_queue_url: Option<String>,
    pub limits: ThrottleConfig,
    /// Real carrier failures before a job is parked on the dead-letter queue.
    pub max_attempts: u32,
    /// At most 900 (SQS); lower only to exercise long waits in tests.
    pub max_delay_seconds: u32,
    /// DOTM per USD of cashback (`DOTM_USD_PRICE`, USD per DOTM, default 1).
    pub cashback: CashbackRate,
    /// `PUBLIC_RATE_LIMIT`: requests per minute one client may send to the public endpoints.
    pub public_rate_limit: u64,
    /// `PUBLIC_RATE_LIMIT_EXEMPT`: client addresses never limited (comma-separated).
    pub rate_limit_exempt: Vec<String>,
    /// `USAGE_REFRESH_SECONDS`: how often at most the carrier is asked for one line's usage.
    pub usage_refresh_seconds: i64,
    /// Firebase uids with the `admin` role (`ADMIN_UIDS`, comma-separated; default none).
    pub admins: Vec<Uid>,
    pub firebase_project_id: Option<String>,
    pub firebase_jwks_url: String,
    /// With a trailing slash, as async-stripe wants it.
    pub stripe_api_base: String,
    pub carrier_api_base: String,
    /// `OXIO_BRAND_ID` and the plan ids: not secret, the worker's only.
    pub carrier: CarrierSettings,
    /// `CARRIER_LINE_SERVICES`: who serves features, top-ups, reversals and usage readings.
    pub line_services: LineServicesKind,
    pub mail_api_base: String,
    /// `MAIL_FROM`: the sender, on a domain verified at Resend. No default: a placeholder
    /// sender gets every email refused, so the worker refuses to start without one.
    pub mail_from: Option<String>,
    pub chain_rpc_url: Option<String>,
    /// `CHAIN_ID`: the chain `CHAIN_RPC_URL` must serve (1 mainnet, 11155111 Sepolia, 31337
    /// anvil); the minter signs for it and refuses to start on another.
    pub chain_id: Option<u64>,
    /// How the reward minter waits for its transactions (defaults chosen by `CHAIN_ID`).
    pub chain: ChainSettings,
    pub dotm_token_address: Option<String>,
    pub secrets: SecretIds,
    /// How clients reach this deployment (`https://api.dotm.example`); unset: the request's
    /// `Host`. The OAuth issuer, and with `/mcp` the MCP resource (tokens' audience).
    pub public_base_url: Option<String>,
    /// The Firebase sign-in page of the OAuth flow (it posts the ID token back).
    pub oauth_signin_url: Option<String>,
    /// Local stacks only: Client ID Metadata Documents served on loopback HTTP.
    pub oauth_allow_loopback_documents: bool,
    /// `host` or `host:port` names the MCP endpoint answers to.
    pub mcp_allowed_hosts: Vec<String>,
    /// `scheme://host[:port]` browser origins allowed on the MCP endpoint (empty: none).
    pub mcp_allowed_origins: Vec<String>,
}

/// OXIO's staging host: the default, so nothing reaches production by accident.
pub const OXIO_STAGING: &str = "https://api-staging.brandvno.com";

/// What the carrier adapter sends besides the credentials (which are secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarrierSettings {
    /// `OXIO_BRAND_ID`: the brand every end user's line is made under.
    pub brand_id: Option<String>,
    /// `OXIO_ESIM_PLAN_ID`: the plan of a paid DOT eSIM (none: the carrier's default plan).
    pub esim_plan_id: Option<String>,
    /// `OXIO_BETA_PLAN_ID`: the plan of a beta line (none: the eSIM plan).
    pub beta_plan_id: Option<String>,
    /// `OXIO_BOOSTER_PLAN_ID`: the 10 GB data booster (`POST /v3/subscriptions`, unconfirmed).
    pub booster_plan_id: Option<String>,
}

/// Who serves the line services OXIO shows no API for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineServicesKind {
    /// `none` (production): OXIO. Boosters go to `/v3/subscriptions` (unconfirmed); features,
    /// reversals and usage readings answer "not supported by this carrier", logged and counted.
    Oxio,
    /// `sandbox` (the local stack only): the provider sandbox's extension serves all of them.
    Sandbox,
}

/// How the reward minter waits for and replaces its transactions (README, "Ethereum").
/// Defaults depend on the chain: mainnet and Sepolia (and any chain not named here) wait
/// for blocks of ~12 s and a reorg of the last block; anvil mines at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSettings {
    /// `CHAIN_RECEIPT_WAIT_SECS`: how long a sent transaction may go unmined before it is
    /// replaced (same nonce, higher fees). 30 on mainnet and Sepolia, 2 on anvil; 1 to 60.
    pub receipt_wait: Duration,
    /// `CHAIN_CONFIRMATIONS`: blocks (the mining one included) before a mint counts as done.
    /// 2 on mainnet and Sepolia, 1 on anvil; 1 to 5.
    pub confirmations: u64,
    /// `CHAIN_MAX_FEE_GWEI`: the most one gas may cost, in whole gwei (stored in wei). No
    /// replacement raises the max fee or the priority fee past it. 100 by default; 1 to 10 000.
    pub max_fee_per_gas_wei: u128,
    /// One mint call gives up (and is retried from the queue, on the same nonce) after this:
    /// inside the reward minter's 120 s timeout and its 120 s lease. Not an environment
    /// setting; tests shorten it.
    pub give_up_after: Duration,
}

const WEI_PER_GWEI: u128 = 1_000_000_000;

impl ChainSettings {
    /// Mainnet's 12 s blocks leave room for two replacements within `give_up_after`.
    pub const GIVE_UP_AFTER: Duration = Duration::from_secs(90);

    /// The defaults for `chain_id` (none: mainnet's, the careful ones).
    pub fn defaults_for(chain_id: Option<u64>) -> ChainSettings {
        let (wait_secs, confirmations) = match chain_id {
            Some(31337) => (2, 1),
            // 1 mainnet, 11155111 Sepolia, and any other: real blocks, real reorgs.
            _ => (30, 2),
        };
        ChainSettings {
            receipt_wait: Duration::from_secs(wait_secs),
            confirmations,
            max_fee_per_gas_wei: 100 * WEI_PER_GWEI,
            give_up_after: Self::GIVE_UP_AFTER,
        }
    }

    fn from_lookup(
        chain_id: Option<u64>,
        value: impl Fn(&str) -> Option<String>,
    ) -> Result<ChainSettings, ConfigError> {
        let mut settings = ChainSettings::defaults_for(chain_id);
        let within = |name: &'static str, lo: u64, hi: u64, must: &'static str| match value(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .map(Some)
                .ok_or(ConfigError::Choice(name, v, must)),
        };
        if let Some(secs) = within(
            "CHAIN_RECEIPT_WAIT_SECS",
            1,
            60,
            "a whole number of seconds from 1 to 60 (a replacement must fit in one mint call)",
        )? {
            settings.receipt_wait = Duration::from_secs(secs);
        }
        if let Some(blocks) = within(
            "CHAIN_CONFIRMATIONS",
            1,
            5,
            "a whole number of blocks from 1 to 5",
        )? {
            settings.confirmations = blocks;
        }
        if let Some(gwei) = within(
            "CHAIN_MAX_FEE_GWEI",
            1,
            10_000,
            "a whole number of gwei from 1 to 10000",
        )? {
            settings.max_fee_per_gas_wei = u128::from(gwei) * WEI_PER_GWEI;
        }
        Ok(settings)
    }
}

/// Which Secrets Manager secret holds which keys; each function's role may read only its own.
#[derive(Debug, Clone, Default)]
pub struct SecretIds {
    pub stripe_api: Option<String>,
    pub stripe_webhook: Option<String>,
    pub fulfilment: Option<String>,
    pub minter: Option<String>,
    pub oauth_signing: Option<String>,
    /// The MCP function's key that seals multi-round-trip request state.
    pub mcp_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} must be a positive whole number, not {1:?}")]
    NotANumber(&'static str, String),
    #[error("environment variable DOTM_USD_PRICE: {0}")]
    Price(#[from] BadRate),
    #[error("environment variable {0} is {1:?}; it must be {2}")]
    Choice(&'static str, String, &'static str),
    #[error("environment variable {0}: {1:?} is not a Firebase uid")]
    BadUid(&'static str, String),
}

fn list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let value = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let need = |name: &'static str| value(name).ok_or(ConfigError::Missing(name));
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match value(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError::NotANumber(name, v)),
            }
        };
        let mut stripe_api_base =
            value("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com/".into());
        if !stripe_api_base.ends_with('/') {
            stripe_api_base.push('/');
        }
        let chain_id = match value("CHAIN_ID") {
            Some(id) => Some(
                id.trim()
                    .parse()
                    .map_err(|_| ConfigError::NotANumber("CHAIN_ID", id.clone()))?,
            ),
            None => None,
        };
        Ok(Config {
            table_name: need("TABLE_NAME")?,
            activation_queue_url: need("ACTIVATION_QUEUE_URL")?,
            activation_dlq_url: value("ACTIVATION_DLQ_URL"),
            mint_queue_url: value("MINT_QUEUE_URL"),
            limits: ThrottleConfig {
                limit: number("ACTIVATIONS_PER_WINDOW", 100)?.min(u64::from(u32::MAX)) as u32,
                window_ms: number("ACTIVATION_WINDOW_SECONDS", 3600)?.saturating_mul(1000) as i64,
            },
            max_attempts: number("ACTIVATION_MAX_ATTEMPTS", 5)?.min(100) as u32,
            max_delay_seconds: number("ACTIVATION_MAX_DELAY_SECONDS", 900)?.min(900) as u32,
            public_rate_limit: number("PUBLIC_RATE_LIMIT", 100)?,
            rate_limit_exempt: list(get("PUBLIC_RATE_LIMIT_EXEMPT")),
            usage_refresh_seconds: number(
                "USAGE_REFRESH_SECONDS",
                crate::domain::usage::CARRIER_ASK_SECONDS as u64,
            )?
            .min(86_400) as i64,
            cashback: match value("DOTM_USD_PRICE") {
                Some(price) => CashbackRate::parse_usd_per_dotm(&price)?,
                None => CashbackRate::default(),
            },
            admins: list(value("ADMIN_UIDS"))
                .iter()
                .map(|u| Uid::parse(u).map_err(|_| ConfigError::BadUid("ADMIN_UIDS", u.clone())))
                .collect::<Result<_, _>>()?,
            firebase_project_id: value("FIREBASE_PROJECT_ID"),
            firebase_jwks_url: value("FIREBASE_JWKS_URL").unwrap_or_else(|| GOOGLE_JWKS_URL.into()),
            stripe_api_base,
            carrier_api_base: value("CARRIER_API_BASE").unwrap_or_else(|| OXIO_STAGING.into()),
            carrier: CarrierSettings {
                brand_id: value("OXIO_BRAND_ID"),
                esim_plan_id: value("OXIO_ESIM_PLAN_ID"),
                beta_plan_id: value("OXIO_BETA_PLAN_ID"),
                booster_plan_id: value("OXIO_BOOSTER_PLAN_ID"),
            },
            line_services: match value("CARRIER_LINE_SERVICES").as_deref() {
                None | Some("none") => LineServicesKind::Oxio,
                Some("sandbox") => LineServicesKind::Sandbox,
                Some(other) => {
                    return Err(ConfigError::Choice(
                        "CARRIER_LINE_SERVICES",
                        other.to_owned(),
                        "none or sandbox",
                    ));
                }
            },
            mail_api_base: value("MAIL_API_BASE")
                .unwrap_or_else(|| "https://api.resend.com".into()),
            mail_from: value("MAIL_FROM"),
            chain_rpc_url: value("CHAIN_RPC_URL"),
            chain_id,
            chain: ChainSettings::from_lookup(chain_id, value)?,
            dotm_token_address: value("DOTM_TOKEN_ADDRESS"),
            secrets: SecretIds {
                stripe_api: value("STRIPE_API_SECRET_ID"),
                stripe_webhook: value("STRIPE_WEBHOOK_SECRET_ID"),
                fulfilment: value("FULFILMENT_SECRET_ID"),
                minter: value("MINTER_SECRET_ID"),
                oauth_signing: value("OAUTH_SIGNING_SECRET_ID"),
                mcp_state: value("MCP_STATE_SECRET_ID"),
            },
            public_base_url: value("PUBLIC_BASE_URL"),
            oauth_signin_url: value("OAUTH_SIGNIN_URL"),
            oauth_allow_loopback_documents: value("OAUTH_ALLOW_LOOPBACK_CLIENT_METADATA")
                .is_some_and(|v| v.trim() == "true"),
            mcp_allowed_hosts: list(
                get("MCP_ALLOWED_HOSTS").or_else(|| Some(DEFAULT_MCP_ALLOWED_HOSTS.into())),
            ),
            mcp_allowed_origins: list(get("MCP_ALLOWED_ORIGINS")),
        })
    }
}

/// A setting only some functions use, required by the one asking.
pub fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, ConfigError> {
    value.as_deref().ok_or(ConfigError::Missing(name))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| env.get(k).cloned())
    }

    const BASE: &[(&str, &str)] = &[("TABLE_NAME", "t"), ("ACTIVATION_QUEUE_URL", "q")];

    #[test]
    fn defaults_are_the_production_ones() {
        let c = config(BASE).unwrap();
        assert_eq!(c.limits.limit, 100);
        assert_eq!(c.limits.window_ms, 3_600_000);
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.max_delay_seconds, 900);
        assert_eq!(c.cashback, CashbackRate::default());
        assert_eq!(c.stripe_api_base, "https://api.stripe.com/");
        assert_eq!(c.firebase_jwks_url, GOOGLE_JWKS_URL);
        assert_eq!(c.mcp_allowed_hosts, ["localhost", "127.0.0.1", "::1"]);
        assert!(c.mcp_allowed_origins.is_empty());
        assert!(c.secrets.minter.is_none());
    }

    #[test]
    fn the_table_and_queue_are_required() {
        assert_eq!(
            config(&[("TABLE_NAME", "t")]).unwrap_err(),
            ConfigError::Missing("ACTIVATION_QUEUE_URL")
        );
        assert_eq!(
            config(&[("ACTIVATION_QUEUE_URL", "q"), ("TABLE_NAME", " ")]).unwrap_err(),
            ConfigError::Missing("TABLE_NAME")
        );
    }

    #[test]
    fn numbers_must_be_positive_whole_numbers() {
        for bad in ["0", "-1", "ten", "1.5"] {
            let mut env = BASE.to_vec();
            env.push(("ACTIVATIONS_PER_WINDOW", bad));
            assert_eq!(
                config(&env).unwrap_err(),
                ConfigError::NotANumber("ACTIVATIONS_PER_WINDOW", bad.into())
            );
        }
        let mut env = BASE.to_vec();
        env.extend([
            ("ACTIVATION_MAX_DELAY_SECONDS", "5000"),
            ("STRIPE_API_BASE", "http://127.0.0.1:3001"),
        ]);
        let c = config(&env).unwrap();
        assert_eq!(c.max_delay_seconds, 900, "SQS caps delays at 900 s");
        assert_eq!(c.stripe_api_base, "http://127.0.0.1:3001/");
    }

    #[test]
    fn the_dotm_price_is_parsed_once_here() {
        let mut env = BASE.to_vec();
        env.push(("DOTM_USD_PRICE", "abc"));
        assert!(matches!(config(&env), Err(ConfigError::Price(_))));
        let mut env = BASE.to_vec();
        env.push(("DOTM_USD_PRICE", "0.5"));
        assert_ne!(config(&env).unwrap().cashback, CashbackRate::default());
    }

    #[test]
    fn chain_waits_depend_on_the_chain() {
        for (id, wait, confirmations) in [("1", 30, 2), ("11155111", 30, 2), ("31337", 2, 1)] {
            let mut env = BASE.to_vec();
            env.push(("CHAIN_ID", id));
            let c = config(&env).unwrap();
            assert_eq!(c.chain.receipt_wait, Duration::from_secs(wait), "{id}");
            assert_eq!(c.chain.confirmations, confirmations, "{id}");
            assert_eq!(c.chain.max_fee_per_gas_wei, 100_000_000_000, "{id}");
            assert_eq!(c.chain.give_up_after, ChainSettings::GIVE_UP_AFTER);
        }
        // No CHAIN_ID (a function that does not mint): the careful ones.
        assert_eq!(
            config(BASE).unwrap().chain,
            ChainSettings::defaults_for(Some(1))
        );
        let mut env = BASE.to_vec();
        env.extend([
            ("CHAIN_ID", "31337"),
            ("CHAIN_RECEIPT_WAIT_SECS", "5"),
            ("CHAIN_CONFIRMATIONS", "3"),
            ("CHAIN_MAX_FEE_GWEI", "7"),
        ]);
        let c = config(&env).unwrap().chain;
        assert_eq!(c.receipt_wait, Duration::from_secs(5));
        assert_eq!(c.confirmations, 3);
        assert_eq!(c.max_fee_per_gas_wei, 7_000_000_000);
    }

    #[test]
    fn bad_chain_waits_name_their_variable() {
        for (name, bad) in [
            ("CHAIN_RECEIPT_WAIT_SECS", "0"),
            ("CHAIN_RECEIPT_WAIT_SECS", "61"),
            ("CHAIN_RECEIPT_WAIT_SECS", "1.5"),
            ("CHAIN_CONFIRMATIONS", "0"),
            ("CHAIN_CONFIRMATIONS", "6"),
            ("CHAIN_MAX_FEE_GWEI", "-1"),
            ("CHAIN_MAX_FEE_GWEI", "10001"),
            ("CHAIN_MAX_FEE_GWEI", "0.5"),
        ] {
            let mut env = BASE.to_vec();
            env.push((name, bad));
            let err = config(&env).unwrap_err();
            assert!(matches!(&err, ConfigError::Choice(n, v, _) if *n == name && v == bad));
            assert!(
                err.to_string()
                    .starts_with(&format!("environment variable {name} is"))
            );
        }
    }

    #[test]
    fn function_settings_are_required_only_where_used() {
        let c = config(BASE).unwrap();
        assert_eq!(
            required(&c.secrets.minter, "MINTER_SECRET_ID").unwrap_err(),
            ConfigError::Missing("MINTER_SECRET_ID")
        );
        let mut env = BASE.to_vec();
        env.push(("MINTER_SECRET_ID", "arn:minter"));
        let c = config(&env).unwrap();
        assert_eq!(
            required(&c.secrets.minter, "MINTER_SECRET_ID"),
            Ok("arn:minter")
        );
    }
}
