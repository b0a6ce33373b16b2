//! Cold start, per function: typed settings, then only the clients that function uses. The
//! API and MCP functions read balances with no key and never see the minter's; only the
//! webhook reads the webhook secret; only the activation worker reads the carrier, mail and
//! minter keys (each secret is its own, and template.yaml grants each role only its own).

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::adapters::access_tokens::{Es256Signer, JwksVerifier};
use crate::adapters::carrier::{
    OxioCarrier, OxioCredentials, OxioLineServices, SandboxLineServices,
};
use crate::adapters::chain::{ChainBalances, ChainMinter};
use crate::adapters::client_metadata::HttpClientMetadata;
use crate::adapters::clock::SystemClock;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::firebase::FirebaseVerifier;
use crate::adapters::random::OsRandom;
use crate::adapters::resend::ResendMailer;
use crate::adapters::secrets::{
    self, FulfilmentKeys, McpStateKeys, MinterKeys, OAuthKeys, StripeApiKeys, StripeWebhookKeys,
};
use crate::adapters::sqs::SqsQueue;
use crate::adapters::stripe::StripeInvoicing;
use crate::app::Deps;
use crate::app::activation_worker::Worker;
use crate::app::oauth::AuthServer;
use crate::app::rewards::RewardMinter;
use crate::config::LineServicesKind;
use crate::config::{Config, ConfigError, required};
use crate::domain::oauth::Sealer;
use crate::domain::rate_limit::RateLimit;
use crate::ports::{AccessTokenVerifier, Balances, IdentityVerifier, Invoicing, Unavailable};
use crate::web::auth::HasVerifier;
use crate::web::rate_limit::Limiter;
use crate::web::stripe_signature::WebhookSecret;

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// What the `api` function holds for its whole life.
#[derive(Clone)]
pub struct ApiPorts {
    pub deps: Deps,
    pub invoicing: Arc<dyn Invoicing>,
    pub balances: Arc<dyn Balances>,
    /// Firebase ID tokens: the apps' sign-in (DOTM access tokens are for `/mcp` only).
    pub verifier: Arc<dyn IdentityVerifier>,
    /// The OAuth authorization server for AI assistants.
    pub oauth: AuthServer,
    pub public_base_url: Option<String>,
    pub signin_url: Option<String>,
    /// The public endpoints' rate limit (`/api/health`, stats, OAuth pages).
    pub limiter: Arc<Limiter>,
    /// `/api/activation-stats` of the last few seconds.
    pub stats: Arc<crate::app::activation_line::StatsCache>,
}

/// What the `mcp` function holds for its whole life.
#[derive(Clone)]
pub struct McpPorts {
    pub deps: Deps,
    pub invoicing: Arc<dyn Invoicing>,
    /// Firebase ID tokens, accepted from first-party and development clients.
    pub verifier: Arc<dyn IdentityVerifier>,
    /// DOTM access tokens (OAuth), checked against the issuer's public keys.
    pub access: Arc<dyn AccessTokenVerifier>,
    pub public_base_url: Option<String>,
    /// Seals the `requestState` of multi-round-trip tool calls.
    pub request_state: Sealer,
    /// The public endpoints' and tools' rate limit.
    pub limiter: Arc<Limiter>,
}

/// What the `stripe-webhook` function holds for its whole life.
#[derive(Clone)]
pub struct WebhookPorts {
    pub deps: Deps,
    pub signing_secret: WebhookSecret,
}

impl HasVerifier for ApiPorts {
    fn verifier(&self) -> &dyn IdentityVerifier {
        self.verifier.as_ref()
    }
}

impl HasVerifier for McpPorts {
    fn verifier(&self) -> &dyn IdentityVerifier {
        self.verifier.as_ref()
    }
}

pub async fn api(config: &Config) -> Result<ApiPorts, WiringError> {
    let aws = aws().await;
    let keys: OAuthKeys = secrets::load(
        &secrets_client(&aws),
        required(&config.secrets.oauth_signing, "OAUTH_SIGNING_SECRET_ID")?,
    )
    .await?;
    if keys.state_key.len() < 32 {
        return Err(
            Unavailable::new("oauth secret", "state_key must be at least 32 characters").into(),
        );
    }
    let store = store(&aws, config);
    let verifier = verifier(config)?;
    let oauth = AuthServer {
        store: store.clone(),
        signer: Arc::new(Es256Signer::new(
            &keys.signing_key_pkcs8,
            keys.public_jwk.clone(),
        )?),
        identities: verifier.clone(),
        sealer: Sealer::new(keys.state_key.as_bytes()),
        clock: Arc::new(SystemClock),
        random: Arc::new(OsRandom),
        documents: Arc::new(HttpClientMetadata::new()?),
        allow_loopback_documents: config.oauth_allow_loopback_documents,
    };
    Ok(ApiPorts {
        limiter: limiter(store.clone(), config),
        stats: Arc::new(crate::app::activation_line::StatsCache::new(STATS_SECONDS)),
        deps: deps(store, &aws, config),
        invoicing: invoicing(&aws, config).await?,
        balances: Arc::new(ChainBalances::new(
            required(&config.chain_rpc_url, "CHAIN_RPC_URL")?,
            required(&config.dotm_token_address, "DOTM_TOKEN_ADDRESS")?,
        )?),
        verifier,
        oauth,
        public_base_url: config.public_base_url.clone(),
        signin_url: config.oauth_signin_url.clone(),
    })
}

pub async fn mcp(config: &Config) -> Result<McpPorts, WiringError> {
    let aws = aws().await;
    let keys: McpStateKeys = secrets::load(
        &secrets_client(&aws),
        required(&config.secrets.mcp_state, "MCP_STATE_SECRET_ID")?,
    )
    .await?;
    if keys.request_state_key.len() < 32 {
        return Err(Unavailable::new(
            "mcp state secret",
            "request_state_key must be at least 32 characters",
        )
        .into());
    }
    let store = store(&aws, config);
    Ok(McpPorts {
        limiter: limiter(store.clone(), config),
        request_state: Sealer::new(keys.request_state_key.as_bytes()),
        deps: deps(store, &aws, config),
        invoicing: invoicing(&aws, config).await?,
        verifier: verifier(config)?,
        access: Arc::new(JwksVerifier::new()?),
        public_base_url: config.public_base_url.clone(),
    })
}

pub async fn stripe_webhook(config: &Config) -> Result<WebhookPorts, WiringError> {
    let aws = aws().await;
    let id = required(&config.secrets.stripe_webhook, "STRIPE_WEBHOOK_SECRET_ID")?;
    let keys: StripeWebhookKeys = secrets::load(&secrets_client(&aws), id).await?;
    // An empty key would make every forged signature verify: refuse to start instead.
    let signing_secret = WebhookSecret::parse(&keys.stripe_webhook_secret)
        .map_err(|e| Unavailable::new("stripe webhook secret", e))?;
    Ok(WebhookPorts {
        deps: deps(store(&aws, config), &aws, config),
        signing_secret,
    })
}

pub async fn activation_worker(config: &Config) -> Result<Worker, WiringError> {
    // First: without a real sender every email is refused, so the worker does not start.
    let mail_from = required(&config.mail_from, "MAIL_FROM")?;
    let aws = aws().await;
    let sm = secrets_client(&aws);
    let fulfilment: FulfilmentKeys = secrets::load(
        &sm,
        required(&config.secrets.fulfilment, "FULFILMENT_SECRET_ID")?,
    )
    .await?;
    let carrier = Arc::new(
        OxioCarrier::new(
            &config.carrier_api_base,
            OxioCredentials {
                api_key: fulfilment.oxio_api_key.clone(),
                auth_token: fulfilment.oxio_auth_token.clone(),
            },
            config.carrier.clone(),
            config.limits.send_within(),
        )
        .map_err(|e| Unavailable::new("carrier client", e))?,
    );
    let line_services: Arc<dyn crate::ports::LineServices> = match config.line_services {
        LineServicesKind::Oxio => {
            tracing::info!(
                carrier = %config.carrier_api_base,
                "line services: OXIO (boosters via /v3/subscriptions, unconfirmed; network features, booster reversal and usage readings are not supported by this carrier)"
            );
            Arc::new(OxioLineServices {
                carrier: carrier.clone(),
            })
        }
        LineServicesKind::Sandbox => {
            tracing::warn!(
                carrier = %config.carrier_api_base,
                "line services: the provider sandbox's extension (CARRIER_LINE_SERVICES=sandbox; not OXIO, local stacks only)"
            );
            Arc::new(SandboxLineServices {
                carrier: carrier.clone(),
            })
        }
    };
    let mailer = ResendMailer::new(&config.mail_api_base, &fulfilment.resend_api_key, mail_from)
        .map_err(|e| Unavailable::new("mail client", e))?;
    Ok(Worker {
        deps: deps(store(&aws, config), &aws, config),
        carrier,
        line_services,
        mailer: Arc::new(mailer),
        max_attempts: config.max_attempts,
    })
}

/// The reward minter: the only function that reads the minter key.
pub async fn reward_minter(config: &Config) -> Result<RewardMinter, WiringError> {
    let aws = aws().await;
    let sm = secrets_client(&aws);
    let keys: MinterKeys =
        secrets::load(&sm, required(&config.secrets.minter, "MINTER_SECRET_ID")?).await?;
    let chain_id = config.chain_id.ok_or(ConfigError::Missing("CHAIN_ID"))?;
    let minter = ChainMinter::new(
        required(&config.chain_rpc_url, "CHAIN_RPC_URL")?,
        required(&config.dotm_token_address, "DOTM_TOKEN_ADDRESS")?,
        &keys.minter_private_key,
        chain_id,
        config.chain.clone(),
    )?;
    // Cold start: never mint on a chain the settings do not name.
    minter.check_chain().await?;
    Ok(RewardMinter {
        deps: deps(store(&aws, config), &aws, config),
        minter: Arc::new(minter),
    })
}

/// AWS clients honour `AWS_ENDPOINT_URL` (the local emulator) and `AWS_REGION`.
async fn aws() -> SdkConfig {
    // Two rustls providers are compiled in (ring for Stripe, aws-lc for the AWS SDK and
    // reqwest); name the process default so no client has to guess.
    let _ = rustls::crypto::ring::default_provider().install_default();
    aws_config::load_from_env().await
}

fn secrets_client(aws: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(aws)
}

/// The one table client of a function: every store port is served by it.
fn store(aws: &SdkConfig, config: &Config) -> Arc<DynamoStore> {
    Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        config.table_name.clone(),
    ))
}

/// What an operator command needs: the table and the queues (`make redrive`), no secret.
pub async fn operator(config: &Config) -> Deps {
    let aws = aws().await;
    deps(store(&aws, config), &aws, config)
}

/// How old the public activation stats may be.
const STATS_SECONDS: i64 = 5;

fn limiter(store: Arc<DynamoStore>, config: &Config) -> Arc<Limiter> {
    Arc::new(Limiter {
        store,
        clock: Arc::new(SystemClock),
        rule: RateLimit::per_minute(config.public_rate_limit),
        exempt: config.rate_limit_exempt.iter().cloned().collect(),
    })
}

/// The table, the queue and the clock: every function has these.
fn deps(store: Arc<DynamoStore>, aws: &SdkConfig, config: &Config) -> Deps {
    let queue = Arc::new(
        SqsQueue::new(
            aws_sdk_sqs::Client::new(aws),
            config.activation_queue_url.clone(),
            config.activation_dlq_url.clone(),
        )
        .with_max_delay(config.max_delay_seconds)
        .with_mint_queue(config.mint_queue_url.clone()),
    );
    Deps {
        users: store.clone(),
        purchases: store.clone(),
        events: store.clone(),
        activations: store.clone(),
        throttle: store.clone(),
        rewards: store.clone(),
        orders: store.clone(),
        subscriptions: store.clone(),
        entitlements: store.clone(),
        beta: store.clone(),
        handoff: store.clone(),
        usage: store,
        random: Arc::new(crate::adapters::random::OsRandom),
        queue,
        clock: Arc::new(SystemClock),
        limits: config.limits,
        cashback: config.cashback,
        usage_refresh_seconds: config.usage_refresh_seconds,
        carrier_usage: config.line_services == crate::config::LineServicesKind::Sandbox,
        admins: config.admins.iter().cloned().collect(),
    }
}

async fn invoicing(aws: &SdkConfig, config: &Config) -> Result<Arc<dyn Invoicing>, WiringError> {
    let id = required(&config.secrets.stripe_api, "STRIPE_API_SECRET_ID")?;
    let keys: StripeApiKeys = secrets::load(&secrets_client(aws), id).await?;
    Ok(Arc::new(StripeInvoicing::new(
        &keys.stripe_secret_key,
        &config.stripe_api_base,
    )?))
}

fn verifier(config: &Config) -> Result<Arc<dyn IdentityVerifier>, WiringError> {
    Ok(Arc::new(FirebaseVerifier::new(
        required(&config.firebase_project_id, "FIREBASE_PROJECT_ID")?,
        config.firebase_jwks_url.clone(),
    )?))
}
