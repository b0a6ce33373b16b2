//! Cold start: typed settings from the environment, then every client built once.

use std::sync::Arc;

use crate::activation::Deps;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::firebase::{FirebaseVerifier, GOOGLE_JWKS_URL};
use crate::adapters::secrets::{self, ProviderSecrets};
use crate::adapters::stripe::StripeBilling;
use crate::ports::{IdentityVerifier, SystemClock, Unavailable};

/// What the functions read from their environment (see README, Configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    pub table_name: String,
    pub provider_secret_id: String,
    pub firebase_project_id: String,
    pub firebase_jwks_url: String,
    pub stripe_api_base: String,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct MissingSetting(pub &'static str);

impl Settings {
    pub fn from_env() -> Result<Settings, MissingSetting> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, MissingSetting> {
        let need = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(MissingSetting(name))
        };
        let mut stripe_api_base =
            get("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com/".into());
        if !stripe_api_base.ends_with('/') {
            stripe_api_base.push('/');
        }
        Ok(Settings {
            table_name: need("TABLE_NAME")?,
            provider_secret_id: need("PROVIDER_SECRET_ID")?,
            firebase_project_id: need("FIREBASE_PROJECT_ID")?,
            firebase_jwks_url: get("FIREBASE_JWKS_URL").unwrap_or_else(|| GOOGLE_JWKS_URL.into()),
            stripe_api_base,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Setting(#[from] MissingSetting),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// The clients a function holds for its whole life.
#[derive(Clone)]
pub struct Services {
    pub deps: Deps,
    pub verifier: Arc<dyn IdentityVerifier>,
    pub secrets: ProviderSecrets,
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
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            settings.table_name.clone(),
        );
        let billing = StripeBilling::new(&secrets.stripe_secret_key, &settings.stripe_api_base)?;
        let verifier = FirebaseVerifier::new(
            settings.firebase_project_id.clone(),
            settings.firebase_jwks_url.clone(),
        )?;
        Ok(Services {
            deps: Deps {
                store: Arc::new(store),
                billing: Arc::new(billing),
                clock: Arc::new(SystemClock),
            },
            verifier: Arc::new(verifier),
            secrets,
        })
    }
}
