//! Access tokens in memory: readable claims under a marker, no cryptography. For tests of the
//! authorization server's rules only; the real signer and verifier are ES256 (`access_tokens`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::adapters::access_tokens::{EXPIRED, NOT_AN_ACCESS_TOKEN, OTHER_AUDIENCE, WRONG_ISSUER};
use crate::domain::oauth::{AccessClaims, ClientMetadataDocument};
use crate::ports::{
    AccessTokenVerifier, AuthError, ClientMetadataFetcher, Clock, RandomSource, TokenSigner,
    Unavailable,
};

const MARK: &str = "memory-access-token.";

pub struct MemorySigner;

impl TokenSigner for MemorySigner {
    fn sign(&self, claims: &AccessClaims) -> Result<String, Unavailable> {
        let json = serde_json::to_vec(claims).map_err(|e| Unavailable::new("sign", e))?;
        Ok(format!("{MARK}{}", URL_SAFE_NO_PAD.encode(json)))
    }

    fn jwks(&self) -> Value {
        serde_json::json!({"keys": []})
    }
}

/// Checks what the ES256 verifier checks, except the signature: issuer, audience, expiry.
pub struct MemoryAccessVerifier(pub Arc<dyn Clock>);

#[async_trait]
impl AccessTokenVerifier for MemoryAccessVerifier {
    async fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<AccessClaims, AuthError> {
        let invalid = |why: &str| AuthError::Invalid(why.to_owned());
        let body = token
            .strip_prefix(MARK)
            .ok_or_else(|| invalid(NOT_AN_ACCESS_TOKEN))?;
        let claims: AccessClaims = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("the access token is malformed"))?;
        let now = self.0.now_unix();
        if claims.iss != issuer {
            return Err(invalid(WRONG_ISSUER));
        }
        if claims.aud != audience {
            return Err(invalid(OTHER_AUDIENCE));
        }
        if claims.exp < now {
            return Err(invalid(EXPIRED));
        }
        Ok(claims)
    }
}

/// Distinct, predictable tokens.
#[derive(Default)]
pub struct CountingRandom(AtomicU64);

impl RandomSource for CountingRandom {
    fn token(&self) -> Result<String, Unavailable> {
        Ok(format!("tok{:040}", self.0.fetch_add(1, Ordering::SeqCst)))
    }
}

/// Client ID Metadata Documents by URL.
#[derive(Default)]
pub struct MemoryClientMetadata(pub std::sync::Mutex<HashMap<String, ClientMetadataDocument>>);

#[async_trait]
impl ClientMetadataFetcher for MemoryClientMetadata {
    async fn fetch(&self, url: &str) -> Result<ClientMetadataDocument, String> {
        super::lock(&self.0)
            .get(url)
            .cloned()
            .ok_or_else(|| format!("no client metadata document at {url}"))
    }
}
