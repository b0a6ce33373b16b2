//! Ethereum wallet addresses as people type them: EIP-55 checksummed, or all lower case.

use alloy_primitives::Address;
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
    use proptest::prelude::*;

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

    /// Any address but the zero one, as its 20 bytes.
    fn address() -> impl Strategy<Value = Address> {
        any::<[u8; 20]>()
            .prop_filter("not the zero address", |b| b.iter().any(|&x| x != 0))
            .prop_map(Address::from)
    }

    proptest! {
        #[test]
        fn every_form_of_an_address_parses_to_it(address in address(), pad in "[ \t\n]{0,3}") {
            let checksummed = address.to_checksum(None);
            let hex = &checksummed[2..];
            for text in [
                checksummed.clone(),
                checksummed.to_lowercase(),
                format!("0X{}", hex.to_lowercase()),
                format!("0x{}", hex.to_uppercase()),
                format!("{pad}{checksummed}{pad}"),
            ] {
                let wallet = Wallet::parse(&text);
                prop_assert_eq!(wallet.map(|w| w.address()), Ok(address), "{:?}", text);
            }
            let wallet = Wallet::parse(&checksummed).unwrap();
            prop_assert_eq!(wallet.to_string(), checksummed.clone());
            // What is stored (serde) reads back the same.
            let json = serde_json::to_string(&wallet).unwrap();
            prop_assert_eq!(serde_json::from_str::<Wallet>(&json).unwrap(), wallet);
        }

        #[test]
        fn one_letter_of_the_wrong_case_breaks_the_checksum(
            address in address(),
            pick in any::<prop::sample::Index>(),
        ) {
            let checksummed = address.to_checksum(None);
            let letters: Vec<usize> = checksummed
                .char_indices()
                .skip(2)
                .filter(|(_, c)| c.is_ascii_alphabetic())
                .map(|(i, _)| i)
                .collect();
            prop_assume!(!letters.is_empty());
            let at = letters[pick.index(letters.len())];
            let mut typo: Vec<u8> = checksummed.into_bytes();
            typo[at] ^= 0x20; // flips the ASCII case
            let typo = String::from_utf8(typo).unwrap();
            let hex = &typo[2..];
            let mixed = hex.chars().any(|c| c.is_ascii_uppercase())
                && hex.chars().any(|c| c.is_ascii_lowercase());
            if mixed {
                let verdict = Wallet::parse(&typo);
                prop_assert!(matches!(verdict, Err(BadWallet::Checksum(_))), "{}", typo);
            } else {
                // One case only is read as unchecksummed: the same address.
                prop_assert_eq!(Wallet::parse(&typo).map(|w| w.address()), Ok(address));
            }
        }

        #[test]
        fn any_text_is_a_wallet_only_if_it_spells_one(
            text in prop_oneof![
                "\\PC{0,60}",
                "0[xX][0-9a-fA-F]{38,42}",
                "\\s*0x[0-9a-fA-FgG ]{40}\\s*",
            ],
        ) {
            match Wallet::parse(&text) {
                Ok(wallet) => {
                    // It is the trimmed text, in some case, and never the zero address.
                    let spelled = wallet.to_string();
                    let same = text.trim().eq_ignore_ascii_case(&spelled);
                    prop_assert!(same, "{:?} -> {}", text, spelled);
                    prop_assert!(!wallet.address().is_zero());
                }
                Err(BadWallet::Shape(echo)) => prop_assert_eq!(echo, text),
                Err(_) => {}
            }
        }

        #[test]
        fn the_wrong_length_or_a_non_hex_digit_is_refused(
            address in address(),
            cut in 1usize..40,
            bad in "[g-zG-Z_ .]",
        ) {
            let hex = address.to_checksum(None)[2..].to_lowercase();
            let short = format!("0x{}", &hex[cut..]);
            let long = format!("0x{hex}0");
            let replaced = format!("0x{}{bad}{}", &hex[..cut - 1], &hex[cut..]);
            for text in [short, long, hex, replaced] {
                let verdict = Wallet::parse(&text);
                prop_assert!(matches!(verdict, Err(BadWallet::Shape(_))), "{:?}", text);
            }
        }
    }
}
