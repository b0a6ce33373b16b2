//! Provider keys: one Secrets Manager secret (JSON), read once per cold start.

use serde::Deserialize;

use crate::ports::Unavailable;

#[derive(Clone, Deserialize)]
pub struct ProviderSecrets {
    pub stripe_secret_key: String,
    pub stripe_webhook_secret: String,
    /// Only the activation worker needs these.
    #[serde(default)]
    pub oxio_api_key: String,
    #[serde(default)]
    pub resend_api_key: String,
    /// 0x-hex private key of the DOTM minter.
    #[serde(default)]
    pub minter_private_key: String,
}

/// Never prints a key, whoever logs it.
impl std::fmt::Debug for ProviderSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSecrets").finish_non_exhaustive()
    }
}

pub async fn load(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<ProviderSecrets, Unavailable> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| Unavailable::new("secrets manager", e.into_service_error()))?;
    let text = out.secret_string().ok_or_else(|| {
        Unavailable::new("secrets manager", "the provider secret has no string value")
    })?;
    // The parse error could quote the secret: report only where it failed.
    serde_json::from_str(text).map_err(|e| {
        Unavailable::new(
            "secrets manager",
            format!(
                "the provider secret is not the expected JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}
