//! `IdentityVerifier` for tests: the token names the identity.

use async_trait::async_trait;

use crate::domain::users::{Email, Identity, Uid};
use crate::ports::{AuthError, IdentityVerifier};

/// Accepts tokens of the form `uid:<uid>[:<email>]` (a verified email),
/// `unverified:<uid>:<email>` and `anonymous:<uid>`.
pub struct PlainVerifier;

#[async_trait]
impl IdentityVerifier for PlainVerifier {
    async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let mut parts = token.splitn(3, ':');
        let (kind, uid, email) = (parts.next(), parts.next(), parts.next());
        let uid =
            Uid::parse(uid.unwrap_or_default()).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let email = email.and_then(|e| Email::parse(e).ok());
        match kind {
            Some("uid") => Ok(Identity::verified(uid, email)),
            Some("unverified") => Ok(Identity {
                unverified_email: email,
                ..Identity::verified(uid, None)
            }),
            Some("anonymous") => Ok(Identity {
                anonymous: true,
                ..Identity::verified(uid, None)
            }),
            _ => Err(AuthError::Invalid("not a test token".into())),
        }
    }
}
