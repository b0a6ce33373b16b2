//! People: who they are (from a verified ID token) and what we keep about them.

use serde::{Deserialize, Serialize};

/// A Firebase user id: 1 to 128 characters, as Firebase guarantees for `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uid(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadIdentity {
    #[error("a user id must be 1 to 128 printable characters")]
    Uid,
    #[error("{0:?} is not an email address")]
    Email(String),
}

impl Uid {
    pub fn parse(text: &str) -> Result<Uid, BadIdentity> {
        let ok =
            !text.is_empty() && text.chars().count() <= 128 && !text.chars().any(char::is_control);
        if ok {
            Ok(Uid(text.to_owned()))
        } else {
            Err(BadIdentity::Uid)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 characters, for logs: enough to correlate, not enough to identify.
    pub fn short(&self) -> String {
        let head: String = self.0.chars().take(8).collect();
        format!("{head}…")
    }
}

impl TryFrom<String> for Uid {
    type Error = BadIdentity;
    fn try_from(s: String) -> Result<Uid, BadIdentity> {
        Uid::parse(&s)
    }
}

impl From<Uid> for String {
    fn from(u: Uid) -> String {
        u.0
    }
}

impl std::fmt::Display for Uid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed and lower-cased so one address is one claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Email, BadIdentity> {
        let t = text.trim().to_lowercase();
        let bad = || BadIdentity::Email(text.to_owned());
        let (local, domain) = t.split_once('@').ok_or_else(bad)?;
        let ok = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && t.len() <= 254
            && !t.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok { Ok(Email(t)) } else { Err(bad()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `j***@example.com`, for logs.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl TryFrom<String> for Email {
    type Error = BadIdentity;
    fn try_from(s: String) -> Result<Email, BadIdentity> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// Who is calling, as proven by a verified ID token. Never built from request arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: Uid,
    /// Only an address the identity provider verified: the one DOTM claims and mails.
    pub email: Option<Email>,
    /// An address the provider has not verified: contact data, never claimed or mailed.
    pub unverified_email: Option<Email>,
    /// An anonymous sign-in (no account behind it): it can look, not buy or earn.
    pub anonymous: bool,
}

impl Identity {
    /// A signed-in person whose email (if any) is verified.
    pub fn verified(uid: Uid, email: Option<Email>) -> Identity {
        Identity {
            uid,
            email,
            unverified_email: None,
            anonymous: false,
        }
    }
}

/// `USER#<uid>` / `PROFILE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub uid: Uid,
    // Absent, not null, when unknown: `if_not_exists` in the store relies on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// An unverified address the person gave: kept, never claimed, never mailed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<Email>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// The person's OXIO end user, once the carrier knows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_end_user_id: Option<String>,
    /// The area code the person asked their next line's number to be in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uids_are_bounded() {
        assert!(Uid::parse("abc123").is_ok());
        assert!(Uid::parse("").is_err());
        assert!(Uid::parse(&"x".repeat(128)).is_ok());
        assert!(Uid::parse(&"x".repeat(129)).is_err());
        assert!(Uid::parse("a\nb").is_err());
        assert_eq!(Uid::parse("abcdefghijkl").unwrap().short(), "abcdefgh…");
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            Email::parse("ada@example.com").unwrap().masked(),
            "a***@example.com"
        );
    }

    #[test]
    fn unknown_fields_are_left_out_not_null() {
        let user = User {
            uid: Uid::parse("u1").unwrap(),
            email: None,
            contact_email: None,
            created_at: "2026-11-25T00:00:00Z".into(),
            stripe_customer_id: None,
            wallet: None,
            roles: vec![],
            carrier_end_user_id: None,
            area_code: None,
        };
        let json = serde_json::to_value(&user).unwrap();
        for absent in ["email", "stripe_customer_id", "wallet"] {
            assert!(json.get(absent).is_none(), "{absent} serialized: {json}");
        }
    }

    #[test]
    fn deserializing_checks_too() {
        assert!(serde_json::from_str::<Uid>("\"\"").is_err());
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    /// Addresses as people have them: a local part, labels, a top-level domain.
    fn email() -> impl Strategy<Value = String> {
        (
            "[A-Za-z0-9][A-Za-z0-9._%+-]{0,30}",
            proptest::collection::vec("[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", 1..4),
            "[A-Za-z]{2,6}",
        )
            .prop_map(|(local, labels, tld)| format!("{local}@{}.{tld}", labels.join(".")))
    }

    proptest! {
        #[test]
        fn a_real_address_parses_trimmed_and_lower_cased(text in email(), pad in "[ \t\n]{0,3}") {
            let email = Email::parse(&format!("{pad}{text}{pad}")).unwrap();
            prop_assert_eq!(email.as_str(), text.to_lowercase());
            // Parsing is idempotent, and what is stored (serde) reads back the same.
            prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
            let json = serde_json::to_string(&email).unwrap();
            prop_assert_eq!(serde_json::from_str::<Email>(&json).unwrap(), email.clone());
            let masked = email.masked();
            prop_assert!(masked.ends_with(text.split_once('@').unwrap().1.to_lowercase().as_str()));
            prop_assert!(masked.contains("***@"));
        }

        #[test]
        fn any_text_is_an_address_only_if_it_looks_like_one(
            text in prop_oneof!["\\PC{0,80}", "\\PC{0,10}@\\PC{0,10}", "[^@]{0,5}@[a-z.]{0,8}"],
        ) {
            match Email::parse(&text) {
                Ok(email) => {
                    let e = email.as_str();
                    let (local, domain) = e.split_once('@').unwrap();
                    prop_assert!(!local.is_empty() && !domain.contains('@'));
                    prop_assert!(domain.contains('.'));
                    prop_assert!(!domain.starts_with('.') && !domain.ends_with('.'));
                    prop_assert!(e.len() <= 254 && !e.chars().any(char::is_whitespace));
                    prop_assert_eq!(e, text.trim().to_lowercase());
                    prop_assert_eq!(Email::parse(e), Ok(email.clone()));
                    let stored = serde_json::from_value::<Email>(serde_json::json!(e));
                    prop_assert_eq!(stored.ok(), Some(email));
                }
                Err(BadIdentity::Email(echo)) => prop_assert_eq!(echo, text),
                Err(other) => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn an_address_without_its_at_or_a_dotted_domain_is_refused(
            local in "[a-z0-9]{1,10}",
            domain in "[a-z0-9]{1,10}",
            space in "[ \t]",
        ) {
            for bad in [
                format!("{local}{domain}.com"),
                format!("{local}@{domain}"),
                format!("@{domain}.com"),
                format!("{local}@.{domain}.com"),
                format!("{local}@{domain}.com."),
                format!("{local}@{domain}@x.com"),
                format!("{local}{space}x@{domain}.com"),
                format!("{local}@{}.com", "a".repeat(250)),
            ] {
                prop_assert!(Email::parse(&bad).is_err(), "{:?} accepted", bad);
            }
        }

        #[test]
        fn a_uid_is_any_1_to_128_printable_characters(
            text in prop_oneof![
                "\\PC{0,140}",
                "\\PC{120,130}",
                "\\PC{0,5}[\\x00-\\x1f\\x7f]\\PC{0,5}",
            ],
        ) {
            let n = text.chars().count();
            let printable = !text.chars().any(char::is_control);
            match Uid::parse(&text) {
                Ok(uid) => {
                    prop_assert!((1..=128).contains(&n) && printable);
                    prop_assert_eq!(uid.as_str(), text.as_str());
                    let json = serde_json::to_string(&uid).unwrap();
                    prop_assert_eq!(serde_json::from_str::<Uid>(&json).unwrap(), uid.clone());
                    prop_assert!(uid.short().chars().count() <= 9);
                }
                Err(e) => {
                    prop_assert_eq!(e, BadIdentity::Uid);
                    prop_assert!(n == 0 || n > 128 || !printable);
                }
            }
        }
    }
}
