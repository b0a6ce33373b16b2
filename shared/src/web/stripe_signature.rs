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
    // `abs_diff`: a signed `t` near the ends of i64 must not overflow `now - t`.
    if now.abs_diff(timestamp) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        // Signed timestamps at the ends of i64 are stale, not an overflow.
        for t in [i64::MIN, i64::MAX] {
            let header = format!("t={t},v1={}", sign("whsec_a", t, BODY));
            assert_eq!(
                verify_signature(BODY, Some(&header), &secret(), 1000),
                Err(SignatureError::Stale)
            );
        }
        let moved = format!("t=1001,v1={good}");
        assert_eq!(
            verify_signature(BODY, Some(&moved), &secret(), 1000),
            Err(SignatureError::NoMatch)
        );
    }

    /// Timestamps anywhere, the edges of `i64` included.
    fn timestamp() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            NOW - 1000..NOW + 1000,
        ]
    }

    const NOW: i64 = 1_795_608_000;

    /// Headers as Stripe writes them, as proxies mangle them, and plain noise.
    fn header() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            "t=-?[0-9]{0,20}",
            "v1=[0-9a-f]{0,70}",
            "v0=[0-9a-zA-Z]{0,10}",
            "[a-z0-9]{0,3}=?\\PC{0,10}",
        ];
        prop_oneof![
            "\\PC{0,120}",
            proptest::collection::vec(part, 0..6).prop_map(|p| p.join(",")),
        ]
    }

    proptest! {
        #[test]
        fn no_header_made_without_the_secret_verifies(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            header in header(),
            now in timestamp(),
        ) {
            prop_assert!(verify_signature(&payload, Some(&header), &secret(), now).is_err());
        }

        #[test]
        fn a_signature_verifies_within_the_tolerance_only(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            t in timestamp(),
            now in timestamp(),
        ) {
            let header = format!("t={t},v1={}", sign("whsec_a", t, &payload));
            let verdict = verify_signature(&payload, Some(&header), &secret(), now);
            let fresh = now.abs_diff(t) <= TOLERANCE_SECONDS as u64;
            prop_assert_eq!(verdict, if fresh { Ok(()) } else { Err(SignatureError::Stale) });
        }

        #[test]
        fn a_changed_byte_or_another_secret_is_refused(
            payload in proptest::collection::vec(any::<u8>(), 1..200),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
            other in "[A-Za-z0-9_]{1,20}",
        ) {
            let header = format!("t={NOW},v1={}", sign("whsec_a", NOW, &payload));
            let mut changed = payload.clone();
            changed[at.index(payload.len())] ^= flip;
            prop_assert_eq!(
                verify_signature(&changed, Some(&header), &secret(), NOW),
                Err(SignatureError::NoMatch)
            );
            prop_assume!(other != "whsec_a");
            let forged = format!("t={NOW},v1={}", sign(&other, NOW, &payload));
            prop_assert_eq!(
                verify_signature(&payload, Some(&forged), &secret(), NOW),
                Err(SignatureError::NoMatch)
            );
        }

        #[test]
        fn a_secret_is_any_text_without_spaces_or_control_characters(
            text in "\\PC{0,20}|[ -~\\t\\n\\r]{0,20}",
        ) {
            let ok = !text.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control());
            prop_assert_eq!(WebhookSecret::parse(&text).is_ok(), ok);
        }
    }
}
