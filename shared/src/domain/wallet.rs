//! Ethereum wallet addresses as people type them: EIP-55 checksummed, or all lower case.

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadWallet {
    #[error("a wallet address is 0x followed by 40 hexadecimal characters; got {0:?}")]
    Shape(String),
    #[error(
        "{0} has mixed case but a wrong EIP-55 checksum: check for a typo, or send it all in lower case"
    )]
    Checksum(String),
    #[error("the zero address cannot receive tokens")]
    Zero,
}

/// A wallet that can receive DOTM, kept in its EIP-55 checksummed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Wallet(Address);

impl Wallet {
    pub fn parse(text: &str) -> Result<Wallet, BadWallet> {
        let t = text.trim();
        let hex = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or("");
        if hex.len() != 40 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(BadWallet::Shape(text.to_owned()));
        }
        let mixed = hex.chars().any(|c| c.is_ascii_uppercase())
            && hex.chars().any(|c| c.is_ascii_lowercase());
        let address = if mixed {
            Address::parse_checksummed(format!("0x{hex}"), None)
                .map_err(|_| BadWallet::Checksum(t.to_owned()))?
        } else {
            format!("0x{}", hex.to_ascii_lowercase())
                .parse::<Address>()
                .map_err(|_| BadWallet::Shape(text.to_owned()))?
        };
        if address.is_zero() {
            return Err(BadWallet::Zero);
        }
        Ok(Wallet(address))
    }

    pub fn address(&self) -> Address {
        self.0
    }
}

impl std::fmt::Display for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_checksum(None))
    }
}

impl TryFrom<String> for Wallet {
    type Error = BadWallet;
    fn try_from(s: String) -> Result<Wallet, BadWallet> {
        Wallet::parse(&s)
    }
}

impl From<Wallet> for String {
    fn from(w: Wallet) -> String {
        w.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKSUMMED: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

    #[test]
    fn checksummed_and_lowercase_are_accepted_and_normalised() {
        assert_eq!(Wallet::parse(CHECKSUMMED).unwrap().to_string(), CHECKSUMMED);
        let lower = CHECKSUMMED.to_lowercase();
        assert_eq!(Wallet::parse(&lower).unwrap().to_string(), CHECKSUMMED);
        assert_eq!(
            Wallet::parse(&format!(" {lower} ")).unwrap().to_string(),
            CHECKSUMMED
        );
    }

    #[test]
    fn a_wrong_checksum_is_refused_with_the_reason() {
        let typo = CHECKSUMMED.replace("aAeb", "AAeb");
        assert!(matches!(Wallet::parse(&typo), Err(BadWallet::Checksum(_))));
    }

    #[test]
    fn other_shapes_are_refused() {
        for bad in [
            "",
            "0x",
            "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae",
            "0xzzaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "vitalik.eth",
        ] {
            assert!(
                matches!(Wallet::parse(bad), Err(BadWallet::Shape(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            Wallet::parse("0x0000000000000000000000000000000000000000"),
            Err(BadWallet::Zero)
        );
    }
}
