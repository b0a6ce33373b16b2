//! `IdentityVerifier` for Firebase ID tokens, without the Admin SDK: RS256 only, `kid` from
//! the published keys (cached for their `max-age`, refetched on an unknown `kid`), issuer and
//! audience of the project, `exp`/`iat` with a small skew, `sub` as the uid.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::RwLock;

use crate::domain::users::{Email, Identity, Uid};
use crate::ports::{AuthError, IdentityVerifier, Unavailable};

/// Google's JWK set for Firebase ID tokens; the sandbox serves the same path.
pub const GOOGLE_JWKS_URL: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";
/// Clock skew tolerated on `exp` and `iat`.
const SKEW_SECONDS: u64 = 30;
/// An unknown `kid` refetches the keys at most this often, so garbage tokens cannot make us
/// hammer the key endpoint.
const MIN_REFETCH: Duration = Duration::from_secs(10);
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    firebase: FirebaseClaims,
}

#[derive(Debug, Default, Deserialize)]
struct FirebaseClaims {
    #[serde(default)]
    sign_in_provider: Option<String>,
}

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fresh_until: Instant,
    fetched_at: Instant,
}

pub struct FirebaseVerifier {
    project_id: String,
    jwks_url: String,
    http: reqwest::Client,
    keys: RwLock<Option<Keys>>,
}

fn max_age(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|d| d.trim().strip_prefix("max-age="))
                .find_map(|n| n.parse::<u64>().ok())
        })
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_MAX_AGE)
}

impl FirebaseVerifier {
    pub fn new(
        project_id: impl Into<String>,
        jwks_url: impl Into<String>,
    ) -> Result<Self, Unavailable> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Unavailable::new("http client", e))?;
        Ok(FirebaseVerifier {
            project_id: project_id.into(),
            jwks_url: jwks_url.into(),
            http,
            keys: RwLock::new(None),
        })
    }

    async fn fetch(&self) -> Result<Keys, Unavailable> {
        let response = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| Unavailable::new("firebase keys", e))?;
        let ttl = max_age(response.headers());
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| Unavailable::new("firebase keys", e))?;
        let by_kid = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        let now = Instant::now();
        Ok(Keys {
            by_kid,
            fresh_until: now + ttl,
            fetched_at: now,
        })
    }

    /// The key for `kid`: from the cache while fresh, else refetched (once per `MIN_REFETCH`).
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, Unavailable> {
        {
            let cached = self.keys.read().await;
            if let Some(keys) = cached.as_ref() {
                let fresh = Instant::now() < keys.fresh_until;
                let hit = keys.by_kid.get(kid).cloned();
                if fresh && hit.is_some() {
                    return Ok(hit);
                }
                if fresh && keys.fetched_at.elapsed() < MIN_REFETCH {
                    return Ok(None);
                }
            }
        }
        let mut cached = self.keys.write().await;
        let stale = cached.as_ref().is_none_or(|k| {
            Instant::now() >= k.fresh_until || k.fetched_at.elapsed() >= MIN_REFETCH
        });
        if stale {
            *cached = Some(self.fetch().await?);
        }
        Ok(cached.as_ref().and_then(|k| k.by_kid.get(kid).cloned()))
    }
}

#[async_trait]
impl IdentityVerifier for FirebaseVerifier {
    async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let invalid = |why: &str| AuthError::Invalid(why.to_owned());
        let header = decode_header(token).map_err(|_| invalid("not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid("only RS256 tokens are accepted"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token names no key (kid)"))?;
        let key = self
            .key(&kid)
            .await?
            .ok_or_else(|| invalid("the token's key (kid) is not a current Firebase key"))?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.project_id]);
        validation.set_issuer(&[format!(
            "https://securetoken.google.com/{}",
            self.project_id
        )]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        validation.leeway = SKEW_SECONDS;
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind::*;
            AuthError::Invalid(
                match e.kind() {
                    ExpiredSignature => "the token has expired",
                    InvalidAudience => "the token is for another project (aud)",
                    InvalidIssuer => "the token has the wrong issuer (iss)",
                    InvalidSignature => "the token's signature does not verify",
                    MissingRequiredClaim(_) => "the token lacks a required claim",
                    _ => "the token is malformed",
                }
                .to_owned(),
            )
        })?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        if data.claims.iat > now + SKEW_SECONDS {
            return Err(invalid("the token was issued in the future (iat)"));
        }
        let uid = Uid::parse(&data.claims.sub)
            .map_err(|_| invalid("the token's subject (sub) is not a user id"))?;
        let email = data
            .claims
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok());
        let verified = data.claims.email_verified;
        Ok(Identity {
            uid,
            email: email.clone().filter(|_| verified),
            unverified_email: email.filter(|_| !verified),
            anonymous: data.claims.firebase.sign_in_provider.as_deref() == Some("anonymous"),
        })
    }
}
