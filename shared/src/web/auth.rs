//! Bearer tokens in, identities out: the signed-in caller as an axum extractor.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::domain::users::Identity;
use crate::ports::{AuthError, IdentityVerifier};
use crate::web::ApiError;

/// The token of `Authorization: Bearer <token>`, if there is one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Who is calling: the verified token's identity, never anything from the request body.
pub async fn identify(
    verifier: &dyn IdentityVerifier,
    headers: &HeaderMap,
) -> Result<Identity, AuthError> {
    let token = bearer(headers).ok_or(AuthError::Missing)?;
    verifier.verify(token).await
}

/// Router state that can verify tokens.
pub trait HasVerifier {
    fn verifier(&self) -> &dyn IdentityVerifier;
}

/// The signed-in caller. A handler that takes one answers 401 (with a `WWW-Authenticate`
/// challenge) before it runs when the bearer token is missing or refused.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl<S: HasVerifier + Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(identify(state.verifier(), &parts.headers).await?))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn only_bearer_tokens_count() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc.def"),
        );
        assert_eq!(bearer(&h), Some("abc.def"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer   xyz "),
        );
        assert_eq!(bearer(&h), Some("xyz"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcg=="),
        );
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }

    fn with_authorization(value: &[u8]) -> Option<HeaderMap> {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_bytes(value).ok()?);
        Some(h)
    }

    proptest! {
        #[test]
        fn a_bearer_token_comes_back_as_sent(
            scheme in "(?i:bearer)",
            gap in "[ ]{1,3}",
            token in "[A-Za-z0-9._~+/=-]{1,200}",
        ) {
            let h = with_authorization(format!("{scheme}{gap}{token} ").as_bytes()).unwrap();
            prop_assert_eq!(bearer(&h), Some(token.as_str()));
        }

        #[test]
        fn any_header_gives_a_trimmed_token_or_none(
            value in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..120),
                "[ \t]{0,2}(?i:bearer)[ \t]{0,3}[ -~\t]{0,40}".prop_map(String::into_bytes),
            ],
        ) {
            // Bytes a header cannot hold are refused by `http` before they get here.
            if let Some(h) = with_authorization(&value)
                && let Some(token) = bearer(&h)
            {
                let text = std::str::from_utf8(&value).unwrap().trim();
                prop_assert!(text[..6].eq_ignore_ascii_case("bearer"));
                prop_assert!(!token.is_empty() && token == token.trim());
                prop_assert!(text.ends_with(token));
            }
        }

        #[test]
        fn other_schemes_are_no_bearer_token(
            scheme in "[A-Za-z]{1,10}",
            token in "[A-Za-z0-9._~+/=-]{1,40}",
        ) {
            prop_assume!(!scheme.eq_ignore_ascii_case("bearer"));
            let h = with_authorization(format!("{scheme} {token}").as_bytes()).unwrap();
            prop_assert_eq!(bearer(&h), None);
            // A token alone, without its scheme, is not one either.
            let h = with_authorization(token.as_bytes()).unwrap();
            prop_assert_eq!(bearer(&h), None);
        }
    }
}
