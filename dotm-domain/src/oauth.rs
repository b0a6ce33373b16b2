//! OAuth 2.1 for the MCP resource (the MCP authorization spec): scopes, PKCE S256, redirect
//! URI matching (exact; loopback per RFC 8252), the error codes of RFC 6749 / 7591 / 8707, and
//! sealed values (HMAC) that let a stateless server carry a request through the sign-in pages.
//! Pure: no I/O, no clock (times are arguments).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a DOTM access token can allow, by tool family.
pub const SCOPES: [&str; 3] = ["esim", "purchases", "account"];
/// Access tokens are short-lived: a stolen one is worth minutes.
pub const ACCESS_TOKEN_SECONDS: i64 = 900;
pub const REFRESH_TOKEN_SECONDS: i64 = 30 * 24 * 3600;
/// Codes are single-use and short-lived (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_SECONDS: i64 = 120;
/// How long a person has to finish the sign-in and consent pages.
pub const PAGE_SECONDS: i64 = 600;

/// An RFC 6749 error: `error` is the standard code, `error_description` names the problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}: {error_description}")]
pub struct OAuthError {
    pub error: &'static str,
    pub error_description: String,
}

macro_rules! codes {
    ($($name:ident),*) => {$(
        pub fn $name(why: impl Into<String>) -> OAuthError {
            OAuthError { error: stringify!($name), error_description: why.into() }
        }
    )*};
}

impl OAuthError {
    codes!(
        invalid_request,
        invalid_client,
        invalid_grant,
        unsupported_grant_type,
        unsupported_response_type,
        invalid_scope,
        invalid_target,
        access_denied,
        invalid_redirect_uri,
        invalid_client_metadata
    );
}

/// Space-separated scopes, each known; empty means all of them.
pub fn parse_scopes(text: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let asked: Vec<&str> = text
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if asked.is_empty() {
        return Ok(SCOPES.iter().map(|s| s.to_string()).collect());
    }
    let mut scopes = Vec::new();
    for s in asked {
        if !SCOPES.contains(&s) {
            return Err(OAuthError::invalid_scope(format!(
                "unknown scope {s:?}; DOTM's scopes are {}",
                SCOPES.join(", ")
            )));
        }
        if !scopes.iter().any(|x: &String| x == s) {
            scopes.push(s.to_owned());
        }
    }
    Ok(scopes)
}

/// RFC 7636: `BASE64URL(SHA256(verifier)) == challenge`, the verifier 43-128 unreserved chars.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// A challenge is a base64url SHA-256: 43 characters.
pub fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && URL_SAFE_NO_PAD
            .decode(challenge)
            .is_ok_and(|b| b.len() == 32)
}

fn loopback(uri: &url::Url) -> bool {
    uri.scheme() == "http" && matches!(uri.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

/// What a client may register as a redirect: HTTPS, or HTTP on a loopback address (native
/// apps, RFC 8252 §7.3). No fragments.
pub fn valid_redirect_uri(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        u.fragment().is_none() && (u.scheme() == "https" || loopback(&u)) && u.host_str().is_some()
    })
}

/// Exact match, except that a loopback redirect may use any port (RFC 8252 §7.3).
pub fn redirect_matches(registered: &str, asked: &str) -> bool {
    if registered == asked {
        return true;
    }
    match (url::Url::parse(registered), url::Url::parse(asked)) {
        (Ok(mut r), Ok(mut a)) if loopback(&r) && loopback(&a) => {
            let _ = r.set_port(None);
            let _ = a.set_port(None);
            r == a
        }
        _ => false,
    }
}

/// A token's store key: only its hash is kept, so a read of the table yields no usable token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the value was tampered with or is not ours")]
    Tampered,
    #[error("the value has expired")]
    Expired,
}

/// HMAC-SHA256 sealing of a value the client carries and gives back: a page form field, an
/// authorization request between redirects. Never secret (base64 JSON), never forgeable.
#[derive(Clone)]
pub struct Sealer {
    key: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Sealed<T> {
    /// What kind of value, so one sealed for a page cannot be replayed as another.
    purpose: String,
    exp: i64,
    value: T,
}

impl Sealer {
    pub fn new(key: &[u8]) -> Sealer {
        Sealer { key: key.to_vec() }
    }

    fn mac(&self, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(data);
        mac
    }

    pub fn seal<T: Serialize>(&self, purpose: &str, value: &T, exp: i64) -> String {
        let body = serde_json::to_vec(&Sealed {
            purpose: purpose.to_owned(),
            exp,
            value,
        })
        .unwrap_or_default();
        let tag = self.mac(&body).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    pub fn open<T: DeserializeOwned>(
        &self,
        purpose: &str,
        sealed: &str,
        now: i64,
    ) -> Result<T, SealError> {
        let (body, tag) = sealed.split_once('.').ok_or(SealError::Tampered)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Tampered)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| SealError::Tampered)?;
        self.mac(&body)
            .verify_slice(&tag)
            .map_err(|_| SealError::Tampered)?;
        let sealed: Sealed<T> = serde_json::from_slice(&body).map_err(|_| SealError::Tampered)?;
        if sealed.purpose != purpose {
            return Err(SealError::Tampered);
        }
        if sealed.exp < now {
            return Err(SealError::Expired);
        }
        Ok(sealed.value)
    }
}

/// `OAUTH_CLIENT#<id>` / `CLIENT`: a client registered by RFC 7591 (public: no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub created_at: i64,
}

/// A Client ID Metadata Document: what the `client_id` URL serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMetadataDocument {
    pub client_id: String,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
}

/// A `client_id` that names a metadata document: an HTTPS URL on a domain name (not an IP
/// address) with a path, no credentials or fragment; with `allow_loopback` (local stacks
/// only) also `http://127.0.0.1` / `localhost`.
pub fn metadata_client_id(client_id: &str, allow_loopback: bool) -> Option<url::Url> {
    let url = url::Url::parse(client_id).ok()?;
    let plain = url.username().is_empty() && url.password().is_none() && url.fragment().is_none();
    let has_path = url.path().len() > 1;
    let domain = matches!(url.host(), Some(url::Host::Domain(_)));
    let ok = match url.scheme() {
        "https" => domain && url.host_str() != Some("localhost"),
        "http" => allow_loopback && loopback(&url),
        _ => false,
    };
    (ok && plain && has_path).then_some(url)
}

impl ClientMetadataDocument {
    /// The client this document describes, if it describes `client_id` safely.
    pub fn client(&self, client_id: &str, now: i64) -> Result<OAuthClient, OAuthError> {
        let bad =
            |why: String| OAuthError::invalid_client(format!("client metadata document: {why}"));
        if self.client_id != client_id {
            return Err(bad(format!(
                "its client_id is {:?}, not its own URL",
                self.client_id
            )));
        }
        if self.redirect_uris.is_empty() {
            return Err(bad("it lists no redirect_uris".into()));
        }
        if let Some(u) = self.redirect_uris.iter().find(|u| !valid_redirect_uri(u)) {
            return Err(bad(format!(
                "{u:?} is not an HTTPS or loopback redirect URI"
            )));
        }
        if self
            .token_endpoint_auth_method
            .as_deref()
            .is_some_and(|m| m != "none")
        {
            return Err(bad("token_endpoint_auth_method must be \"none\"".into()));
        }
        let name = self
            .client_name
            .clone()
            .unwrap_or_else(|| client_id.to_owned());
        if name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(bad(
                "client_name must be at most 100 printable characters".into()
            ));
        }
        Ok(OAuthClient {
            client_id: client_id.to_owned(),
            client_name: name,
            redirect_uris: self.redirect_uris.clone(),
            created_at: now,
        })
    }
}

/// What `/oauth/authorize` was asked, checked, carried sealed through the sign-in pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub scopes: Vec<String>,
    pub resource: String,
}

/// `OAUTH_CODE#<hash>` / `GRANT`: what a code grants, for one exchange before `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scopes: Vec<String>,
    pub resource: String,
    pub uid: String,
    pub email: Option<String>,
    pub expires_at: i64,
}

/// `OAUTH_REFRESH#<hash>` / `GRANT`: one refresh token of a rotating family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshGrant {
    pub family: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub resource: String,
    pub uid: String,
    pub email: Option<String>,
    #[serde(default)]
    pub used: bool,
    pub expires_at: i64,
}

/// A DOTM access token's claims (a JWT signed by the authorization server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The MCP resource's canonical URL (RFC 8707): a token for another audience is refused.
    pub aud: String,
    pub sub: String,
    /// Verified only (the sign-in step drops an unverified one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Space-separated.
    pub scope: String,
    pub client_id: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl AccessClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pkce_s256_is_rfc7636() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(valid_challenge(challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
        assert!(!valid_challenge("plain-challenge"));
    }

    #[test]
    fn redirects_match_exactly_except_loopback_ports() {
        assert!(redirect_matches(
            "https://claude.ai/cb",
            "https://claude.ai/cb"
        ));
        assert!(!redirect_matches(
            "https://claude.ai/cb",
            "https://claude.ai/cb2"
        ));
        assert!(!redirect_matches(
            "https://claude.ai/cb",
            "https://claude.ai:8443/cb"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53121/cb"
        ));
        assert!(redirect_matches(
            "http://localhost:1/cb",
            "http://localhost:2/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5/other"
        ));
        assert!(valid_redirect_uri("https://chatgpt.com/connector/oauth/x"));
        assert!(valid_redirect_uri("http://127.0.0.1:33418/callback"));
        assert!(!valid_redirect_uri("http://evil.example/cb"));
        assert!(!valid_redirect_uri("https://a.example/cb#frag"));
        assert!(!valid_redirect_uri("javascript:alert(1)"));
    }

    #[test]
    fn metadata_client_ids_are_https_urls_on_domains() {
        assert!(metadata_client_id("https://claude.ai/oauth/client.json", false).is_some());
        assert!(
            metadata_client_id("https://claude.ai/", false).is_none(),
            "needs a path"
        );
        assert!(
            metadata_client_id("https://10.0.0.1/c.json", false).is_none(),
            "no IP literal"
        );
        assert!(metadata_client_id("https://u:p@claude.ai/c.json", false).is_none());
        assert!(metadata_client_id("http://claude.ai/c.json", true).is_none());
        assert!(metadata_client_id("http://127.0.0.1:5/c.json", false).is_none());
        assert!(metadata_client_id("http://127.0.0.1:5/c.json", true).is_some());
        assert!(metadata_client_id("dotm-abc", true).is_none());
        let doc = ClientMetadataDocument {
            client_id: "https://a.example/c.json".into(),
            client_name: Some("A".into()),
            redirect_uris: vec!["https://a.example/cb".into()],
            token_endpoint_auth_method: None,
        };
        assert_eq!(
            doc.client("https://a.example/c.json", 0)
                .unwrap()
                .client_name,
            "A"
        );
        assert_eq!(
            doc.client("https://b.example/c.json", 0).unwrap_err().error,
            "invalid_client"
        );
    }

    #[test]
    fn scopes_are_known_and_default_to_all() {
        assert_eq!(
            parse_scopes(None).unwrap(),
            ["esim", "purchases", "account"]
        );
        assert_eq!(parse_scopes(Some("esim esim")).unwrap(), ["esim"]);
        assert_eq!(
            parse_scopes(Some("admin")).unwrap_err().error,
            "invalid_scope"
        );
    }

    #[test]
    fn sealed_values_refuse_tampering_expiry_and_other_purposes() {
        let sealer = Sealer::new(b"k");
        let sealed = sealer.seal("request", &"hello", 100);
        assert_eq!(
            sealer.open::<String>("request", &sealed, 99).unwrap(),
            "hello"
        );
        assert_eq!(
            sealer.open::<String>("request", &sealed, 101),
            Err(SealError::Expired)
        );
        assert_eq!(
            sealer.open::<String>("consent", &sealed, 99),
            Err(SealError::Tampered)
        );
        let mut forged = sealed.clone();
        forged.replace_range(0..1, if sealed.starts_with('e') { "f" } else { "e" });
        assert_eq!(
            sealer.open::<String>("request", &forged, 99),
            Err(SealError::Tampered)
        );
        assert_eq!(
            Sealer::new(b"other").open::<String>("request", &sealed, 99),
            Err(SealError::Tampered)
        );
    }

    /// Sealed-looking text: two base64url halves, or anything.
    fn sealed_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,200}",
            "[A-Za-z0-9_-]{0,120}\\.[A-Za-z0-9_-]{0,60}",
            (any::<Vec<u8>>(), any::<[u8; 32]>()).prop_map(|(body, tag)| {
                format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(body),
                    URL_SAFE_NO_PAD.encode(tag)
                )
            }),
        ]
    }

    proptest! {
        #[test]
        fn no_value_sealed_without_the_key_opens(text in sealed_like(), now in any::<i64>()) {
            let sealer = Sealer::new(b"the-key");
            let opened = sealer.open::<serde_json::Value>("request", &text, now);
            prop_assert_eq!(opened, Err(SealError::Tampered));
        }

        #[test]
        fn what_is_sealed_opens_the_same_until_it_expires(
            value in ("\\PC{0,60}", any::<i64>(), proptest::option::of("\\PC{0,20}")),
            exp in any::<i64>(),
            now in any::<i64>(),
            key in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let sealer = Sealer::new(&key);
            let sealed = sealer.seal("consent", &value, exp);
            let opened = sealer.open::<(String, i64, Option<String>)>("consent", &sealed, now);
            prop_assert_eq!(opened, if exp < now { Err(SealError::Expired) } else { Ok(value) });
            prop_assert_eq!(
                sealer.open::<(String, i64, Option<String>)>("request", &sealed, now),
                Err(SealError::Tampered)
            );
        }

        #[test]
        fn a_sealed_value_with_one_character_changed_does_not_open(
            value in "\\PC{0,40}",
            at in any::<prop::sample::Index>(),
            to in "[A-Za-z0-9_.-]",
        ) {
            let sealer = Sealer::new(b"the-key");
            let sealed = sealer.seal("request", &value, i64::MAX);
            let i = at.index(sealed.len());
            let mut changed = sealed.clone();
            changed.replace_range(i..=i, &to);
            prop_assume!(changed != sealed);
            // Changing the last character of a base64 half can leave its bytes the same
            // (unused low bits); then it opens to the same value, never to another.
            match sealer.open::<String>("request", &changed, 0) {
                Ok(opened) => prop_assert_eq!(opened, value),
                Err(e) => prop_assert_eq!(e, SealError::Tampered),
            }
        }

        #[test]
        fn scopes_are_the_known_ones_or_refused(
            text in "((esim|purchases|account|admin|\\PC{0,8})[ ]{0,2}){0,5}",
        ) {
            match parse_scopes(Some(&text)) {
                Ok(scopes) => {
                    prop_assert!(!scopes.is_empty());
                    prop_assert!(scopes.iter().all(|s| SCOPES.contains(&s.as_str())));
                    let unique: std::collections::HashSet<&String> = scopes.iter().collect();
                    prop_assert_eq!(unique.len(), scopes.len());
                    let asked: Vec<&str> = text.split(' ').filter(|s| !s.is_empty()).collect();
                    prop_assert!(asked.iter().all(|s| SCOPES.contains(s)));
                }
                Err(e) => prop_assert_eq!(e.error, "invalid_scope"),
            }
        }

        #[test]
        fn a_pkce_verifier_matches_its_own_challenge_only(
            verifier in "[A-Za-z0-9._~-]{43,128}",
            other in "[A-Za-z0-9._~-]{43,128}",
            text in "\\PC{0,130}",
        ) {
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            prop_assert!(valid_challenge(&challenge));
            prop_assert!(pkce_matches(&verifier, &challenge));
            prop_assert_eq!(pkce_matches(&other, &challenge), other == verifier);
            // Arbitrary text: no panic, and a match only for a well-formed verifier.
            if pkce_matches(&text, &challenge) {
                prop_assert_eq!(&text, &verifier);
            }
            let _ = valid_challenge(&text);
        }

        #[test]
        fn redirect_uris_are_https_or_loopback_and_match_themselves(
            uri in prop_oneof![
                "\\PC{0,60}",
                "(https?|javascript|ftp)://[a-z0-9.:@\\[\\]-]{0,20}(/[a-z0-9%#?=&]{0,10}){0,3}",
            ],
        ) {
            if valid_redirect_uri(&uri) {
                let parsed = url::Url::parse(&uri).unwrap();
                prop_assert!(parsed.scheme() == "https" || loopback(&parsed));
                prop_assert!(parsed.fragment().is_none());
            }
            prop_assert!(redirect_matches(&uri, &uri));
            let longer = format!("{uri}x");
            prop_assert!(!redirect_matches(&uri, &longer), "{} matched {}", uri, longer);
            if let Some(url) = metadata_client_id(&uri, true) {
                prop_assert!(matches!(url.scheme(), "https" | "http"));
                prop_assert!(url.path().len() > 1 && url.fragment().is_none());
            }
        }
    }
}
