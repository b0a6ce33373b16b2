//! Stripe's webhook signature, checked over the raw body before anything is parsed.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The webhook signing secret (`whsec_...`). Cannot be built empty: an empty HMAC key would
/// let anyone sign events.
#[derive(Clone)]
pub struct WebhookSecret(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadWebhookSecret {
    #[error("the webhook signing secret is empty")]
    Empty,
    #[error("the webhook signing secret has spaces or control characters in it")]
    Malformed,
}

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<WebhookSecret, BadWebhookSecret> {
        if text.is_empty() {
            return Err(BadWebhookSecret::Empty);
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(BadWebhookSecret::Malformed);
        }
        Ok(WebhookSecret(text.to_owned()))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// Stripe's default: a signature older (or newer) than this is a replay.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("no v1 signature matches the payload")]
    NoMatch,
    #[error("the signature timestamp is outside the {TOLERANCE_SECONDS} s tolerance")]
    Stale,
}

/// Verifies `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]` as Stripe documents it:
/// HMAC-SHA256 of `"<t>.<raw body>"`, any matching `v1` passes (secret rotation), other
/// schemes (`v0`) are ignored, and `t` must be within the tolerance of `now`.
pub fn verify_signature(
    payload: &[u8],
    header: Option<&str>,
    secret: &WebhookSecret,
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoMatch);
    }
    let matches = signatures.iter().any(|sig| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes()) else {
            return false;
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        mac.verify_slice(sig).is_ok() // constant time
    });
    if !matches {
        return Err(SignatureError::NoMatch);
    }
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    fn secret() -> WebhookSecret {
        WebhookSecret::parse("whsec_a").unwrap()
    }

    #[test]
    fn an_empty_or_blank_secret_cannot_be_built() {
        assert_eq!(
            WebhookSecret::parse("").unwrap_err(),
            BadWebhookSecret::Empty
        );
        assert_eq!(
            WebhookSecret::parse("whsec_a b").unwrap_err(),
            BadWebhookSecret::Malformed
        );
        assert_eq!(format!("{:?}", secret()), "WebhookSecret(..)");
    }

    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    #[test]
    fn a_valid_signature_passes() {
        let header = format!("t=1000,v1={}", sign("whsec_a", 1000, BODY));
        assert_eq!(
            verify_signature(BODY, Some(&header), &secret(), 1000),
            Ok(())
        );
        assert_eq!(
            verify_signature(BODY, Some(&header), &secret(), 1300),
            Ok(())
        );
    }

    #[test]
    fn any_matching_v1_passes_and_v0_is_ignored() {
        let header = format!(
            "t=1000,v0=abcd,v1={},v1={}",
            sign("old", 1000, BODY),
            sign("whsec_a", 1000, BODY)
        );
        assert_eq!(
            verify_signature(BODY, Some(&header), &secret(), 1000),
            Ok(())
        );
    }

    #[test]
    fn forged_tampered_stale_and_missing_are_refused() {
        let good = sign("whsec_a", 1000, BODY);
        let forged = format!("t=1000,v1={}", sign("guess", 1000, BODY));
        assert_eq!(
            verify_signature(BODY, Some(&forged), &secret(), 1000),
            Err(SignatureError::NoMatch)
        );
        let header = format!("t=1000,v1={good}");
        let tampered = br#"{"id":"evt_1","type":"invoice.paid","x":1}"#;
        assert_eq!(
            verify_signature(tampered, Some(&header), &secret(), 1000),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_signature(BODY, Some(&header), &secret(), 1301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(BODY, None, &secret(), 1000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(BODY, Some("t=1000"), &secret(), 1000),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_signature(BODY, Some("garbage"), &secret(), 1000),
            Err(SignatureError::Malformed)
        );
        let moved = format!("t=1001,v1={good}");
        assert_eq!(
            verify_signature(BODY, Some(&moved), &secret(), 1000),
            Err(SignatureError::NoMatch)
        );
    }
}
