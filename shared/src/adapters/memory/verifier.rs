//! `IdentityVerifier` for tests: the token names the identity.

use async_trait::async_trait;

use crate::domain::users::{Email, Identity, Uid};
use crate::ports::{AuthError, IdentityVerifier};

/// Accepts tokens of the form `uid:<uid>:<email>`.
pub struct PlainVerifier;

#[async_trait]
impl IdentityVerifier for PlainVerifier {
    async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let mut parts = token.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("uid"), Some(uid), email) => Ok(Identity {
                uid: Uid::parse(uid).map_err(|e| AuthError::Invalid(e.to_string()))?,
                email: email.and_then(|e| Email::parse(e).ok()),
            }),
            _ => Err(AuthError::Invalid("not a test token".into())),
        }
    }
}
