//! eSIM activation codes (GSMA SGP.22 §4.1) and the links built from them.
//!
//! `LPA:1$<SM-DP+ address>$<Matching ID>[$<SM-DP+ OID>[$<Confirmation Code Required Flag>]]`.
//! An `ActivationCode` can only be had by parsing or by building from checked parts, so the
//! QR code, the install card and the iOS link never carry a code a phone would refuse.

use std::fmt;

/// The scheme a QR code puts in front of the activation code.
const SCHEME: &str = "LPA:";
/// The only activation code format SGP.22 defines.
const FORMAT: &str = "1";
/// SGP.22 caps the activation code (without `LPA:`) at 255 characters.
pub const MAX_CODE_CHARS: usize = 255;
/// iOS 17.4+ installs an eSIM from this link with the code appended.
pub const IOS_INSTALL_PREFIX: &str =
    "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationCode {
    smdp_address: String,
    matching_id: String,
    smdp_oid: Option<String>,
    confirmation_code_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LpaError {
    #[error("an activation code starts with \"LPA:1$\" (format 1 of SGP.22)")]
    Format,
    #[error("an activation code has 3 to 5 fields separated by '$', this has {0}")]
    Fields(usize),
    #[error("the SM-DP+ address {0:?} is not a domain name")]
    Address(String),
    #[error("the matching ID may only use A-Z, a-z, 0-9 and '-'")]
    MatchingId,
    #[error("the SM-DP+ OID {0:?} is not a dotted object identifier")]
    Oid(String),
    #[error("the confirmation code flag can only be \"1\", not {0:?}")]
    Flag(String),
    #[error("the activation code is {0} characters; SGP.22 allows at most {MAX_CODE_CHARS}")]
    TooLong(usize),
}

impl ActivationCode {
    /// An activation code without OID or confirmation code: what the carrier gives today.
    pub fn new(smdp_address: &str, matching_id: &str) -> Result<Self, LpaError> {
        Self::from_parts(smdp_address, matching_id, None, false)
    }

    pub fn from_parts(
        smdp_address: &str,
        matching_id: &str,
        smdp_oid: Option<&str>,
        confirmation_code_required: bool,
    ) -> Result<Self, LpaError> {
        check_address(smdp_address)?;
        if !matching_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(LpaError::MatchingId);
        }
        // An empty OID may stand before the flag (`$$1`); it is the same as none.
        let smdp_oid = smdp_oid.filter(|oid| !oid.is_empty());
        if let Some(oid) = smdp_oid {
            check_oid(oid)?;
        }
        let code = ActivationCode {
            smdp_address: smdp_address.to_owned(),
            matching_id: matching_id.to_owned(),
            smdp_oid: smdp_oid.map(str::to_owned),
            confirmation_code_required,
        };
        let length = code.to_string().len() - SCHEME.len();
        if length > MAX_CODE_CHARS {
            return Err(LpaError::TooLong(length));
        }
        Ok(code)
    }

    /// Parses what a QR code carries. The `LPA:` scheme is matched without regard to case.
    pub fn parse(text: &str) -> Result<Self, LpaError> {
        let scheme = text.get(..SCHEME.len()).ok_or(LpaError::Format)?;
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return Err(LpaError::Format);
        }
        let fields: Vec<&str> = text[SCHEME.len()..].split('$').collect();
        if fields[0] != FORMAT {
            return Err(LpaError::Format);
        }
        if !(3..=5).contains(&fields.len()) {
            return Err(LpaError::Fields(fields.len()));
        }
        let flag = match fields.get(4) {
            None => false,
            Some(&"1") => true,
            Some(other) => return Err(LpaError::Flag((*other).to_owned())),
        };
        Self::from_parts(fields[1], fields[2], fields.get(3).copied(), flag)
    }

    pub fn smdp_address(&self) -> &str {
        &self.smdp_address
    }

    pub fn matching_id(&self) -> &str {
        &self.matching_id
    }

    pub fn smdp_oid(&self) -> Option<&str> {
        self.smdp_oid.as_deref()
    }

    /// The phone asks the person for a confirmation code the seller sent separately.
    pub fn confirmation_code_required(&self) -> bool {
        self.confirmation_code_required
    }

    /// The one-tap install link for iOS 17.4+. Every character of a checked code is allowed in
    /// a query string (`$` and `:` are sub-delimiters), so nothing needs escaping.
    pub fn ios_install_url(&self) -> String {
        format!("{IOS_INSTALL_PREFIX}{self}")
    }
}

impl fmt::Display for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}{FORMAT}${}${}",
            self.smdp_address, self.matching_id
        )?;
        match (&self.smdp_oid, self.confirmation_code_required) {
            (None, false) => Ok(()),
            (Some(oid), false) => write!(f, "${oid}"),
            (oid, true) => write!(f, "${}$1", oid.as_deref().unwrap_or("")),
        }
    }
}

/// A fully qualified domain name: dot-separated labels of letters, digits and inner hyphens.
fn check_address(address: &str) -> Result<(), LpaError> {
    let bad = || LpaError::Address(address.to_owned());
    if address.is_empty() || address.len() > 253 {
        return Err(bad());
    }
    for label in address.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// Dotted decimal arcs, at least two (`1.3.6.1.4.1.31746`), no leading zeros.
fn check_oid(oid: &str) -> Result<(), LpaError> {
    let arcs: Vec<&str> = oid.split('.').collect();
    let arc_ok = |a: &&str| {
        !a.is_empty()
            && a.bytes().all(|b| b.is_ascii_digit())
            && (a.len() == 1 || !a.starts_with('0'))
    };
    if arcs.len() < 2 || !arcs.iter().all(arc_ok) {
        return Err(LpaError::Oid(oid.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_every_form_the_standard_gives() {
        let plain = ActivationCode::parse("LPA:1$smdp.example.com$K2-ABC").unwrap();
        assert_eq!(plain.smdp_address(), "smdp.example.com");
        assert_eq!(plain.matching_id(), "K2-ABC");
        assert!(!plain.confirmation_code_required());

        let oid = ActivationCode::parse("LPA:1$rsp.example.com$ABC$1.3.6.1.4.1.31746").unwrap();
        assert_eq!(oid.smdp_oid(), Some("1.3.6.1.4.1.31746"));

        let cc = ActivationCode::parse("LPA:1$rsp.example.com$ABC$$1").unwrap();
        assert!(cc.confirmation_code_required());
        assert_eq!(cc.smdp_oid(), None);
        assert_eq!(cc.to_string(), "LPA:1$rsp.example.com$ABC$$1");

        // An empty matching ID is allowed (the SM-DP+ finds the profile by the EID).
        assert!(ActivationCode::parse("LPA:1$rsp.example.com$").is_ok());
        assert!(ActivationCode::parse("lpa:1$rsp.example.com$X").is_ok());
    }

    #[test]
    fn refuses_what_the_standard_refuses() {
        for (text, error) in [
            ("1$smdp.example.com$A", LpaError::Format),
            ("LPA:2$smdp.example.com$A", LpaError::Format),
            ("LPA:1$smdp.example.com", LpaError::Fields(2)),
            ("LPA:1$a.b$C$1.2$1$x", LpaError::Fields(6)),
            (
                "LPA:1$smdp_example.com$A",
                LpaError::Address("smdp_example.com".into()),
            ),
            (
                "LPA:1$.example.com$A",
                LpaError::Address(".example.com".into()),
            ),
            ("LPA:1$a.b$A B", LpaError::MatchingId),
            ("LPA:1$a.b$A$1.03", LpaError::Oid("1.03".into())),
            ("LPA:1$a.b$A$1", LpaError::Oid("1".into())),
            ("LPA:1$a.b$A$1.2$0", LpaError::Flag("0".into())),
        ] {
            assert_eq!(ActivationCode::parse(text), Err(error), "{text}");
        }
        let long = format!("LPA:1$a.b${}", "A".repeat(260));
        assert!(matches!(
            ActivationCode::parse(&long),
            Err(LpaError::TooLong(_))
        ));
    }

    #[test]
    fn the_ios_link_carries_the_code() {
        let code = ActivationCode::new("smdp.example.com", "K2-ABC").unwrap();
        assert_eq!(
            code.ios_install_url(),
            "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=LPA:1$smdp.example.com$K2-ABC"
        );
    }

    fn address() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..4)
            .prop_map(|labels| labels.join("."))
    }

    proptest! {
        #[test]
        fn what_is_built_parses_back_the_same(
            address in address(),
            matching_id in "[A-Za-z0-9-]{0,40}",
            oid in proptest::option::of("[1-9][0-9]{0,3}(\\.(0|[1-9][0-9]{0,4})){1,6}"),
            flag in any::<bool>(),
        ) {
            let code = ActivationCode::from_parts(&address, &matching_id, oid.as_deref(), flag)
                .unwrap();
            let text = code.to_string();
            prop_assert_eq!(ActivationCode::parse(&text), Ok(code.clone()));
            prop_assert!(text.len() <= MAX_CODE_CHARS + SCHEME.len());
            // A phone scans the same string the iOS link carries.
            prop_assert!(code.ios_install_url().ends_with(&text));
        }

        #[test]
        fn any_text_is_parsed_or_refused_never_a_panic(
            text in prop_oneof!["\\PC{0,300}", "(?i:lpa):1\\$[a-z.$0-9-]{0,40}\\PC{0,4}"],
        ) {
            if let Ok(code) = ActivationCode::parse(&text) {
                // Whatever parses is printable as a code that parses to itself.
                prop_assert_eq!(ActivationCode::parse(&code.to_string()), Ok(code));
            }
        }

        #[test]
        fn a_matching_id_outside_the_alphabet_is_refused(
            prefix in "[A-Z0-9]{0,5}",
            bad in "[^A-Za-z0-9$-]",
        ) {
            let text = format!("LPA:1$smdp.example.com${prefix}{bad}");
            prop_assert_eq!(ActivationCode::parse(&text), Err(LpaError::MatchingId));
        }
    }
}
