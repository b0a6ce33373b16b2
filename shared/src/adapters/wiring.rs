//! Cold start: typed settings from the environment, then every client built once.

use std::sync::Arc;

use crate::activation::Deps;
use crate::adapters::carrier::OxioCarrier;
use crate::adapters::chain::ChainLedger;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::firebase::{FirebaseVerifier, GOOGLE_JWKS_URL};
use crate::adapters::resend::ResendMailer;
use crate::adapters::secrets::{self, ProviderSecrets};
use crate::adapters::sqs::SqsQueue;
use crate::adapters::stripe::StripeBilling;
use crate::ports::{IdentityVerifier, SystemClock, Unavailable};
use crate::rewards::CashbackRate;
use crate::throttle::ThrottleConfig;
use crate::worker::WorkerDeps;

/// What the functions read from their environment (README, Configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    pub table_name: String,
    pub provider_secret_id: String,
    pub firebase_project_id: String,
    pub firebase_jwks_url: String,
    pub stripe_api_base: String,
    pub activation_queue_url: String,
    pub activation_dlq_url: Option<String>,
    pub limits: ThrottleConfig,
    pub max_attempts: u32,
    /// At most 900 (SQS); lower only to exercise long waits in tests.
    pub max_delay_seconds: u32,
    pub carrier_api_base: String,
    pub mail_api_base: String,
    pub mail_from: String,
    pub chain_rpc_url: String,
    pub dotm_token_address: String,
    pub cashback: CashbackRate,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} must be a positive whole number, not {1:?}")]
    NotANumber(&'static str, String),
    #[error("environment variable DOTM_USD_PRICE: {0}")]
    Price(#[from] crate::rewards::BadRate),
}

impl Settings {
    pub fn from_env() -> Result<Settings, SettingError> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingError> {
        let value = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let need = |name: &'static str| value(name).ok_or(SettingError::Missing(name));
        let number = |name: &'static str, default: u64| -> Result<u64, SettingError> {
            match value(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(SettingError::NotANumber(name, v)),
            }
        };
        let mut stripe_api_base =
            value("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com/".into());
        if !stripe_api_base.ends_with('/') {
            stripe_api_base.push('/');
        }
        Ok(Settings {
            table_name: need("TABLE_NAME")?,
            provider_secret_id: need("PROVIDER_SECRET_ID")?,
            firebase_project_id: need("FIREBASE_PROJECT_ID")?,
            firebase_jwks_url: value("FIREBASE_JWKS_URL").unwrap_or_else(|| GOOGLE_JWKS_URL.into()),
            stripe_api_base,
            activation_queue_url: need("ACTIVATION_QUEUE_URL")?,
            activation_dlq_url: value("ACTIVATION_DLQ_URL"),
            limits: ThrottleConfig {
                limit: number("ACTIVATIONS_PER_WINDOW", 100)?.min(u64::from(u32::MAX)) as u32,
                window_ms: number("ACTIVATION_WINDOW_SECONDS", 3600)?.saturating_mul(1000) as i64,
            },
            max_attempts: number("ACTIVATION_MAX_ATTEMPTS", 5)?.min(100) as u32,
            max_delay_seconds: number("ACTIVATION_MAX_DELAY_SECONDS", 900)?.min(900) as u32,
            carrier_api_base: value("CARRIER_API_BASE")
                .unwrap_or_else(|| "https://api.oxio.io".into()),
            mail_api_base: value("MAIL_API_BASE")
                .unwrap_or_else(|| "https://api.resend.com".into()),
            mail_from: value("MAIL_FROM").unwrap_or_else(|| "DOTM <esim@dotm.example>".into()),
            chain_rpc_url: need("CHAIN_RPC_URL")?,
            dotm_token_address: need("DOTM_TOKEN_ADDRESS")?,
            cashback: match value("DOTM_USD_PRICE") {
                Some(price) => CashbackRate::parse_usd_per_dotm(&price)?,
                None => CashbackRate::default(),
            },
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// The clients a function holds for its whole life.
#[derive(Clone)]
pub struct Services {
    pub settings: Settings,
    pub deps: Deps,
    pub verifier: Arc<dyn IdentityVerifier>,
    pub secrets: ProviderSecrets,
    store: Arc<DynamoStore>,
    queue: Arc<SqsQueue>,
    ledger: Arc<ChainLedger>,
}

impl Services {
    /// AWS clients honour `AWS_ENDPOINT_URL` (the local emulator) and `AWS_REGION`.
    pub async fn from_env() -> Result<Services, WiringError> {
        // Two rustls providers are compiled in (ring for Stripe, aws-lc for the AWS SDK and
        // reqwest); name the process default so no client has to guess.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let settings = Settings::from_env()?;
        let aws = aws_config::load_from_env().await;
        let secrets = secrets::load(
            &aws_sdk_secretsmanager::Client::new(&aws),
            &settings.provider_secret_id,
        )
        .await?;
        let store = Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            settings.table_name.clone(),
        ));
        let queue = Arc::new(
            SqsQueue::new(
                aws_sdk_sqs::Client::new(&aws),
                settings.activation_queue_url.clone(),
                settings.activation_dlq_url.clone(),
            )
            .with_max_delay(settings.max_delay_seconds),
        );
        let billing = StripeBilling::new(&secrets.stripe_secret_key, &settings.stripe_api_base)?;
        let verifier = FirebaseVerifier::new(
            settings.firebase_project_id.clone(),
            settings.firebase_jwks_url.clone(),
        )?;
        let ledger = Arc::new(ChainLedger::new(
            &settings.chain_rpc_url,
            &settings.dotm_token_address,
            &secrets.minter_private_key,
        )?);
        Ok(Services {
            deps: Deps {
                store: store.clone(),
                activations: store.clone(),
                throttle: store.clone(),
                queue: queue.clone(),
                billing: Arc::new(billing),
                clock: Arc::new(SystemClock),
                limits: settings.limits,
                rewards: store.clone(),
                ledger: ledger.clone(),
                cashback: settings.cashback,
            },
            verifier: Arc::new(verifier),
            secrets,
            settings,
            store,
            queue,
            ledger,
        })
    }

    /// What the activation worker needs besides: the carrier and the mailer.
    pub fn worker(&self) -> Result<WorkerDeps, Unavailable> {
        let carrier = OxioCarrier::new(&self.settings.carrier_api_base, &self.secrets.oxio_api_key)
            .map_err(|e| Unavailable::new("carrier client", e))?;
        let mailer = ResendMailer::new(
            &self.settings.mail_api_base,
            &self.secrets.resend_api_key,
            &self.settings.mail_from,
        )
        .map_err(|e| Unavailable::new("mail client", e))?;
        Ok(WorkerDeps {
            store: self.store.clone(),
            activations: self.store.clone(),
            throttle: self.store.clone(),
            queue: self.queue.clone(),
            carrier: Arc::new(carrier),
            mailer: Arc::new(mailer),
            clock: Arc::new(SystemClock),
            limits: self.settings.limits,
            max_attempts: self.settings.max_attempts,
            rewards: self.store.clone(),
            ledger: self.ledger.clone(),
        })
    }
}
