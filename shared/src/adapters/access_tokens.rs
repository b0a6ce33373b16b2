//! DOTM access tokens as ES256 JWTs. `Es256Signer` holds the private key (the authorization
//! server only: its secret is readable by the API function's role alone); `JwksVerifier`
//! holds nothing secret and checks tokens against the issuer's published keys (JWKS), which it
//! fetches with a timeout and caches. An asymmetric key, not an HMAC secret, so the resource
//! server (MCP) can verify tokens but never mint one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde_json::Value;
use tokio::sync::RwLock;

use crate::domain::oauth::AccessClaims;
use crate::ports::{AccessTokenVerifier, AuthError, TokenSigner, Unavailable};

pub struct Es256Signer {
    key: EncodingKey,
    kid: String,
    public_jwk: Value,
}

impl Es256Signer {
    /// `pkcs8_base64`: the P-256 private key, PKCS#8 DER in base64; `public_jwk`: its public
    /// half, with a `kid`.
    pub fn new(pkcs8_base64: &str, public_jwk: Value) -> Result<Self, Unavailable> {
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(pkcs8_base64.trim())
            .map_err(|_| Unavailable::new("oauth signing key", "the signing key is not base64"))?;
        let key = EncodingKey::from_ec_der(&der);
        let kid = public_jwk
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| Unavailable::new("oauth signing key", "the public JWK has no kid"))?
            .to_owned();
        Ok(Es256Signer {
            key,
            kid,
            public_jwk,
        })
    }
}

impl TokenSigner for Es256Signer {
    fn sign(&self, claims: &AccessClaims) -> Result<String, Unavailable> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        encode(&header, claims, &self.key).map_err(|e| Unavailable::new("sign access token", e))
    }

    fn jwks(&self) -> Value {
        serde_json::json!({ "keys": [self.public_jwk] })
    }
}

/// What a token that is not a DOTM access token (e.g. a Firebase ID token) is refused with.
pub const NOT_AN_ACCESS_TOKEN: &str = "not a DOTM access token (ES256)";
/// Why a DOTM access token is refused, the same words whichever verifier refuses it.
pub const EXPIRED: &str = "the access token has expired";
pub const OTHER_AUDIENCE: &str = "the access token is for another resource (aud)";
pub const WRONG_ISSUER: &str = "the access token has the wrong issuer (iss)";

/// Keys are refetched after this long, or sooner for an unknown `kid` (at most once a minute).
const KEYS_TTL: Duration = Duration::from_secs(600);
const MIN_REFETCH: Duration = Duration::from_secs(60);

/// One issuer's keys by kid, and when they were fetched.
type Keys = (HashMap<String, DecodingKey>, Instant);

pub struct JwksVerifier {
    http: reqwest::Client,
    /// JWKS URL -> keys by kid, and when they were fetched.
    cache: RwLock<HashMap<String, Keys>>,
}

impl JwksVerifier {
    pub fn new() -> Result<Self, Unavailable> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Unavailable::new("http client", e))?;
        Ok(JwksVerifier {
            http,
            cache: RwLock::new(HashMap::new()),
        })
    }

    async fn key(&self, jwks_url: &str, kid: &str) -> Result<Option<DecodingKey>, Unavailable> {
        if let Some((keys, at)) = self.cache.read().await.get(jwks_url) {
            let hit = keys.get(kid).cloned();
            if (hit.is_some() && at.elapsed() < KEYS_TTL) || at.elapsed() < MIN_REFETCH {
                return Ok(hit);
            }
        }
        let set: JwkSet = self
            .http
            .get(jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| Unavailable::new("oauth keys", e))?
            .json()
            .await
            .map_err(|e| Unavailable::new("oauth keys", e))?;
        let keys: HashMap<String, DecodingKey> = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        let hit = keys.get(kid).cloned();
        self.cache
            .write()
            .await
            .insert(jwks_url.to_owned(), (keys, Instant::now()));
        Ok(hit)
    }
}

#[async_trait]
impl AccessTokenVerifier for JwksVerifier {
    async fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<AccessClaims, AuthError> {
        let invalid = |why: &str| AuthError::Invalid(why.to_owned());
        let header = decode_header(token).map_err(|_| invalid("not a JWT"))?;
        if header.alg != Algorithm::ES256 {
            return Err(invalid(NOT_AN_ACCESS_TOKEN));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token names no key (kid)"))?;
        let jwks_url = format!("{}/oauth/jwks.json", issuer.trim_end_matches('/'));
        let key = self
            .key(&jwks_url, &kid)
            .await?
            .ok_or_else(|| invalid("the token's key (kid) is not one of the issuer's"))?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        validation.leeway = 30;
        decode::<AccessClaims>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind::*;
                AuthError::Invalid(
                    match e.kind() {
                        ExpiredSignature => EXPIRED,
                        InvalidAudience => OTHER_AUDIENCE,
                        InvalidIssuer => WRONG_ISSUER,
                        InvalidSignature => "the access token's signature does not verify",
                        _ => "the access token is malformed",
                    }
                    .to_owned(),
                )
            })
    }
}
