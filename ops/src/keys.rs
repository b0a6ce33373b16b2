//! Provider keys for operator commands: the environment variable the operator set in their
//! shell, else the field of the functions' own secret (Secrets Manager, read as the functions
//! read it, with the shell's AWS credentials). Never printed.

use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use dotm::adapters::secrets::{self, StripeApiKeys};
use dotm::config::Config;

/// Reads each secret once.
#[derive(Default)]
pub struct Keys {
    client: OnceCell<aws_sdk_secretsmanager::Client>,
}

impl Keys {
    /// `env` when set, else `pick` of the secret whose id is in `secret_id` (named
    /// `secret_id_name` in messages). The error names both settings.
    pub async fn get<T: DeserializeOwned>(
        &self,
        env: &str,
        secret_id: Option<&str>,
        secret_id_name: &str,
        pick: impl FnOnce(T) -> String,
    ) -> Result<String, String> {
        if let Some(v) = std::env::var(env).ok().filter(|v| !v.trim().is_empty()) {
            return Ok(v);
        }
        let Some(id) = secret_id.filter(|id| !id.trim().is_empty()) else {
            return Err(format!("neither {env} nor {secret_id_name} is set"));
        };
        let client = self
            .client
            .get_or_init(|| async {
                let _ = rustls::crypto::ring::default_provider().install_default();
                aws_sdk_secretsmanager::Client::new(&aws_config::load_from_env().await)
            })
            .await;
        let value: T = secrets::load(client, id)
            .await
            .map_err(|e| format!("{secret_id_name} ({id}): {}", e.chain()))?;
        let key = pick(value);
        if key.trim().is_empty() {
            return Err(format!("{secret_id_name} ({id}) holds an empty {env}"));
        }
        Ok(key)
    }
}

impl Keys {
    /// The Stripe secret key: `STRIPE_SECRET_KEY`, else `StripeApiSecret` (`STRIPE_API_SECRET_ID`).
    pub async fn stripe(&self, config: &Config) -> Result<String, String> {
        self.get(
            "STRIPE_SECRET_KEY",
            config.secrets.stripe_api.as_deref(),
            "STRIPE_API_SECRET_ID",
            |k: StripeApiKeys| k.stripe_secret_key,
        )
        .await
    }
}
