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

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use jsonwebtoken::{EncodingKey, Header, encode};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::adapters::test_keys::{RSA_E, RSA_N, RSA_PKCS1_BASE64};

    const PROJECT: &str = "dotm-test";

    /// A verifier that already holds the key `k1`, as if it had fetched Google's keys. The
    /// key URL is a closed port: no test reaches the network.
    fn verifier() -> FirebaseVerifier {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = DecodingKey::from_rsa_components(RSA_N, RSA_E).unwrap();
        let now = Instant::now();
        FirebaseVerifier {
            project_id: PROJECT.into(),
            jwks_url: "http://127.0.0.1:9/keys".into(),
            http: reqwest::Client::new(),
            keys: RwLock::new(Some(Keys {
                by_kid: HashMap::from([("k1".to_owned(), key)]),
                fresh_until: now + Duration::from_secs(3600),
                fetched_at: now,
            })),
        }
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    /// An ID token as Firebase would sign it, with `claims` over the valid ones.
    fn id_token(claims: &Value) -> String {
        let mut all = json!({
            "iss": format!("https://securetoken.google.com/{PROJECT}"),
            "aud": PROJECT,
            "iat": now(),
            "exp": now() + 3600,
        });
        for (k, v) in claims.as_object().unwrap() {
            all[k] = v.clone();
        }
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("k1".into());
        let der = STANDARD.decode(RSA_PKCS1_BASE64).unwrap();
        encode(&header, &all, &EncodingKey::from_rsa_der(&der)).unwrap()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn why(verdict: Result<Identity, AuthError>) -> String {
        match verdict {
            Err(AuthError::Invalid(why)) => why,
            other => format!("not refused as invalid: {other:?}"),
        }
    }

    fn b64(bytes: impl AsRef<[u8]>) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Text that looks like an ID token to various degrees: any header (RS256 and `k1` too),
    /// any payload (valid claims too), any signature; and plain noise.
    fn jwt_like() -> impl Strategy<Value = String> {
        let alg = prop_oneof![
            Just("RS256".to_owned()),
            Just("ES256".to_owned()),
            Just("HS256".to_owned()),
            Just("none".to_owned()),
            "\\PC{0,8}"
        ];
        let kid = prop_oneof![Just("k1".to_owned()), "\\PC{0,8}"];
        let payload = prop_oneof![
            "\\PC{1,20}".prop_map(|sub| {
                json!({"iss": format!("https://securetoken.google.com/{PROJECT}"), "aud": PROJECT,
                       "iat": now(), "exp": now() + 3600, "sub": sub})
                .to_string()
                .into_bytes()
            }),
            proptest::collection::vec(any::<u8>(), 0..80),
        ];
        let signature = proptest::collection::vec(any::<u8>(), 0..300);
        prop_oneof![
            "\\PC{0,300}",
            "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,90}",
            (alg, kid, payload, signature).prop_map(|(alg, kid, payload, signature)| {
                let header = json!({"alg": alg, "kid": kid, "typ": "JWT"}).to_string();
                format!("{}.{}.{}", b64(header), b64(payload), b64(signature))
            }),
        ]
    }

    #[test]
    fn no_text_made_without_the_key_verifies() {
        let verifier = verifier();
        proptest!(|(token in jwt_like())| {
            let verdict = block_on(verifier.verify(&token));
            prop_assert!(verdict.is_err(), "{:?} verified", token);
        });
    }

    #[test]
    fn a_signed_id_token_verifies_to_its_subject_and_verified_email_only() {
        let verifier = verifier();
        let config = ProptestConfig::with_cases(64);
        proptest!(config, |(
            sub in "[A-Za-z0-9]{1,40}",
            email in proptest::option::of("[A-Za-z0-9.]{1,10}@[a-z]{1,8}\\.[a-z]{2,4}"),
            verified in any::<bool>(),
            provider in prop_oneof![Just("anonymous"), Just("password"), Just("google.com")],
        )| {
            let token = id_token(&json!({"sub": sub, "email": email, "email_verified": verified,
                                          "firebase": {"sign_in_provider": provider}}));
            let identity = block_on(verifier.verify(&token)).map_err(|e| e.to_string()).unwrap();
            let email = email.map(|e| Email::parse(&e).unwrap());
            prop_assert_eq!(identity.uid.as_str(), sub.as_str());
            prop_assert_eq!(&identity.email, &email.clone().filter(|_| verified));
            prop_assert_eq!(&identity.unverified_email, &email.filter(|_| !verified));
            prop_assert_eq!(identity.anonymous, provider == "anonymous");
        });
    }

    #[test]
    fn a_signed_id_token_for_another_project_time_or_subject_is_refused() {
        let verifier = verifier();
        let config = ProptestConfig::with_cases(32);
        proptest!(config, |(
            other in "[a-z-]{1,20}",
            late in 31i64..100_000,
            sub in "\\PC{0,3}[\\x00-\\x1f]\\PC{0,3}",
        )| {
            prop_assume!(other != PROJECT);
            for (claims, expected) in [
                (json!({"sub": "u", "aud": other}), "the token is for another project (aud)"),
                (json!({"sub": "u", "iss": format!("https://securetoken.google.com/{other}")}),
                 "the token has the wrong issuer (iss)"),
                (json!({"sub": "u", "exp": now() - late}), "the token has expired"),
                (json!({"sub": "u", "iat": now() + late}),
                 "the token was issued in the future (iat)"),
                (json!({"sub": sub}), "the token's subject (sub) is not a user id"),
            ] {
                let verdict = block_on(verifier.verify(&id_token(&claims)));
                prop_assert_eq!(why(verdict), expected, "{}", claims);
            }
        });
    }

    #[test]
    fn a_signed_id_token_with_one_character_changed_is_refused() {
        let verifier = verifier();
        let token = id_token(&json!({"sub": "ada", "email": "ada@example.com"}));
        assert!(block_on(verifier.verify(&token)).is_ok());
        proptest!(|(at in any::<prop::sample::Index>(), to in "[A-Za-z0-9_.-]")| {
            let i = at.index(token.len());
            let mut changed = token.clone();
            changed.replace_range(i..=i, &to);
            prop_assume!(changed != token);
            prop_assert!(block_on(verifier.verify(&changed)).is_err());
        });
    }
}
