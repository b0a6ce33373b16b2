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

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::adapters::test_keys::{EC_PKCS8_BASE64, EC_X, EC_Y};

    /// A closed port: nothing here may reach the network, and if it tried it would fail fast.
    const ISSUER: &str = "http://127.0.0.1:9";
    const AUDIENCE: &str = "http://127.0.0.1:9/mcp";

    fn signer() -> Es256Signer {
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "k1",
                         "alg": "ES256", "use": "sig"});
        Es256Signer::new(EC_PKCS8_BASE64, jwk).unwrap()
    }

    /// A verifier that already holds the issuer's key `k1`, as if it had fetched the JWKS.
    fn verifier() -> JwksVerifier {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = DecodingKey::from_ec_components(EC_X, EC_Y).unwrap();
        let keys = HashMap::from([("k1".to_owned(), key)]);
        let url = format!("{ISSUER}/oauth/jwks.json");
        JwksVerifier {
            http: reqwest::Client::new(),
            cache: RwLock::new(HashMap::from([(url, (keys, Instant::now()))])),
        }
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn claims() -> impl Strategy<Value = AccessClaims> {
        (
            "\\PC{1,40}",
            proptest::option::of("[a-z0-9.]{1,10}@[a-z]{1,8}\\.[a-z]{2,4}"),
            "((esim|purchases|account) ?){0,3}",
            "\\PC{0,30}",
            60i64..100_000,
            "[A-Za-z0-9]{1,20}",
        )
            .prop_map(|(sub, email, scope, client_id, ttl, jti)| AccessClaims {
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
                sub,
                email,
                scope,
                client_id,
                iat: now(),
                exp: now() + ttl,
                jti,
            })
    }

    fn b64(bytes: impl AsRef<[u8]>) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Text that looks like a JWT to various degrees: any header (the right `alg` and `kid`
    /// too), any payload (valid claims too), any signature; and plain noise.
    fn jwt_like() -> impl Strategy<Value = String> {
        let alg = prop_oneof![
            Just("ES256".to_owned()),
            Just("RS256".to_owned()),
            Just("HS256".to_owned()),
            Just("none".to_owned()),
            "\\PC{0,8}"
        ];
        let kid = prop_oneof![Just("k1".to_owned()), "\\PC{0,8}"];
        let payload = prop_oneof![
            claims().prop_map(|c| serde_json::to_vec(&c).unwrap()),
            proptest::collection::vec(any::<u8>(), 0..80),
        ];
        let signature = proptest::collection::vec(any::<u8>(), 0..80);
        prop_oneof![
            "\\PC{0,300}",
            "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,90}",
            (alg, kid, payload, signature).prop_map(|(alg, kid, payload, signature)| {
                let header = json!({"alg": alg, "kid": kid, "typ": "at+jwt"}).to_string();
                format!("{}.{}.{}", b64(header), b64(payload), b64(signature))
            }),
        ]
    }

    /// Why a token was refused as invalid (anything else is a failed expectation).
    fn why<T: std::fmt::Debug>(verdict: Result<T, AuthError>) -> String {
        match verdict {
            Err(AuthError::Invalid(why)) => why,
            other => format!("not refused as invalid: {other:?}"),
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn no_text_made_without_the_key_verifies() {
        let verifier = verifier();
        proptest!(|(token in jwt_like())| {
            let verdict = block_on(verifier.verify(&token, ISSUER, AUDIENCE));
            prop_assert!(verdict.is_err(), "{:?} verified", token);
        });
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims_for_its_audience_only() {
        let (signer, verifier) = (signer(), verifier());
        proptest!(|(claims in claims(), other in "https://[a-z]{1,10}\\.example/mcp")| {
            let token = signer.sign(&claims).unwrap();
            let verified = block_on(verifier.verify(&token, ISSUER, AUDIENCE));
            prop_assert_eq!(verified.map_err(|e| e.to_string()), Ok(claims.clone()));
            prop_assert_eq!(why(block_on(verifier.verify(&token, ISSUER, &other))), OTHER_AUDIENCE);
            let elsewhere = AccessClaims { iss: other.clone(), ..claims.clone() };
            let elsewhere = signer.sign(&elsewhere).unwrap();
            let verdict = block_on(verifier.verify(&elsewhere, ISSUER, AUDIENCE));
            prop_assert_eq!(why(verdict), WRONG_ISSUER);
            let expired = signer.sign(&AccessClaims { exp: now() - 31, ..claims }).unwrap();
            prop_assert_eq!(why(block_on(verifier.verify(&expired, ISSUER, AUDIENCE))), EXPIRED);
        });
    }

    #[test]
    fn a_signed_token_with_one_character_changed_is_refused() {
        let (signer, verifier) = (signer(), verifier());
        proptest!(|(
            claims in claims(),
            at in any::<prop::sample::Index>(),
            to in "[A-Za-z0-9_.-]",
        )| {
            let token = signer.sign(&claims).unwrap();
            let i = at.index(token.len());
            let mut changed = token.clone();
            changed.replace_range(i..=i, &to);
            prop_assume!(changed != token);
            prop_assert!(block_on(verifier.verify(&changed, ISSUER, AUDIENCE)).is_err());
        });
    }
}
