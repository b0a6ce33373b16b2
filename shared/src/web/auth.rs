//! Bearer tokens in, identities out; and how auth and use-case errors look over HTTP.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::activation::ActivationError;
use crate::ports::{AuthError, IdentityVerifier, Unavailable};
use crate::users::Identity;
use crate::web::Problem;

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

/// 503 for the caller; the cause goes to the logs only.
pub fn unavailable(e: &Unavailable) -> Problem {
    tracing::error!(what = e.what, cause = %e.cause, "dependency unavailable");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Service unavailable",
        "a service we depend on did not answer; try again in a moment",
    )
}

/// 401 with `WWW-Authenticate` (RFC 6750), or 503 when the key endpoint is down.
pub fn auth_error(e: &AuthError) -> Response {
    let (problem, error) = match e {
        AuthError::Missing => (
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                e.to_string(),
            ),
            None,
        ),
        AuthError::Invalid(_) => (
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-token",
                "Unauthorized",
                e.to_string(),
            ),
            Some("invalid_token"),
        ),
        AuthError::Unavailable(u) => return unavailable(u).into_response(),
    };
    let challenge = match error {
        Some(code) => format!(r#"Bearer realm="dotm", error="{code}""#),
        None => r#"Bearer realm="dotm""#.to_owned(),
    };
    let mut response = problem.into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub fn activation_error(e: &ActivationError) -> Problem {
    match e {
        ActivationError::NoEmail => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no-email",
            "No email address",
            e.to_string(),
        ),
        ActivationError::EmailTaken(_) => Problem::new(
            StatusCode::CONFLICT,
            "email-taken",
            "Email already in use",
            e.to_string(),
        ),
        ActivationError::Unavailable(u) => unavailable(u),
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn a_refused_token_is_a_401_with_a_challenge() {
        let r = auth_error(&AuthError::Invalid("expired".into()));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
}
