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
}
