//! Provider keys from Secrets Manager, read once per cold start. One secret per trust
//! boundary (Stripe API, Stripe webhook, carrier and mail, minter), so each function's role can
//! read only the keys it uses (template.yaml).

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::ports::Unavailable;

/// `StripeApiSecret`: the API and MCP functions send invoices.
#[derive(Clone, Deserialize)]
pub struct StripeApiKeys {
    pub stripe_secret_key: String,
}

/// `StripeWebhookSecret`: the webhook checks signatures.
#[derive(Clone, Deserialize)]
pub struct StripeWebhookKeys {
    pub stripe_webhook_secret: String,
}

/// `FulfilmentSecret`: the activation worker calls the carrier and sends mail.
#[derive(Clone, Deserialize)]
pub struct FulfilmentKeys {
    /// OXIO's two credentials: HTTP Basic user and password.
    pub oxio_api_key: String,
    pub oxio_auth_token: String,
    pub resend_api_key: String,
}

/// `MinterSecret`: the activation worker mints DOTM. 0x-hex private key.
#[derive(Clone, Deserialize)]
pub struct MinterKeys {
    pub minter_private_key: String,
}

/// `McpStateSecret`: read by the mcp function only.
#[derive(Deserialize)]
pub struct McpStateKeys {
    /// HMAC key (at least 32 characters) for the `requestState` of multi-round-trip requests.
    pub request_state_key: String,
}

/// `OAuthSigningSecret`: the authorization server (the API function) signs access tokens and
/// seals its pages' state. Only its role can read this.
#[derive(Clone, Deserialize)]
pub struct OAuthKeys {
    /// P-256 private key, PKCS#8 DER, base64.
    pub signing_key_pkcs8: String,
    /// Its public half as a JWK with `kid` (published at `/oauth/jwks.json`).
    pub public_jwk: serde_json::Value,
    /// HMAC key for the sealed sign-in and consent state.
    pub state_key: String,
}

/// Never prints a key, whoever logs it.
macro_rules! redacted_debug {
    ($($keys:ty),*) => {$(
        impl std::fmt::Debug for $keys {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($keys)).finish_non_exhaustive()
            }
        }
    )*};
}

redacted_debug!(
    StripeApiKeys,
    StripeWebhookKeys,
    FulfilmentKeys,
    MinterKeys,
    OAuthKeys
);

pub async fn load<T: DeserializeOwned>(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<T, Unavailable> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| Unavailable::new("secrets manager", e.into_service_error()))?;
    let text = out.secret_string().ok_or_else(|| {
        Unavailable::new(
            "secrets manager",
            format!("the secret {secret_id} has no string value"),
        )
    })?;
    parse(secret_id, text)
}

/// The parse error could quote the secret: report only which secret and where it failed.
fn parse<T: DeserializeOwned>(secret_id: &str, text: &str) -> Result<T, Unavailable> {
    serde_json::from_str(text).map_err(|e| {
        Unavailable::new(
            "secrets manager",
            format!(
                "the secret {secret_id} is not the expected JSON ({:?} at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_secret_is_reported_without_its_value() {
        let err = parse::<MinterKeys>("minter", r#"{"minter_private_key": 0xdeadbeef}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("minter"), "{err}");
        assert!(!err.contains("deadbeef"), "{err}");
        let keys: MinterKeys = parse("minter", r#"{"minter_private_key": "0xab"}"#).unwrap();
        assert_eq!(format!("{keys:?}"), "MinterKeys { .. }");
    }
}
