//! North American phone numbers (NANP) that DOTM hands out: `+1 NPA NXX XXXX` where the area
//! code (NPA) and the exchange (NXX) start with 2-9, neither is an N11 service code (211, 411,
//! 911, ...), and 555-0100..0199 (the range set aside for fiction) is never used.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a North American number DOTM can assign (+1 NPA NXX XXXX)")]
pub struct NotNanp(pub String);

fn n11(code: &[u8]) -> bool {
    code[1] == b'1' && code[2] == b'1'
}

/// A NANP area code (NPA) a person may ask their number to be in: three digits, the first 2-9,
/// not an N11 service code. Whether the carrier has numbers there is the carrier's to say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AreaCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a North American area code: three digits, the first 2-9, not an N11 code such as 411"
)]
pub struct NotAreaCode(pub String);

impl AreaCode {
    pub fn parse(text: &str) -> Result<AreaCode, NotAreaCode> {
        let code = text.trim().as_bytes();
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) || code[0] < b'2' || n11(code) {
            return Err(NotAreaCode(text.chars().take(10).collect()));
        }
        Ok(AreaCode(text.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PhoneNumber {
    pub fn parse(text: &str) -> Result<PhoneNumber, NotNanp> {
        let bad = || NotNanp(text.chars().take(20).collect());
        let digits = text.strip_prefix("+1").ok_or_else(bad)?.as_bytes();
        if digits.len() != 10 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let (npa, nxx, line) = (&digits[0..3], &digits[3..6], &digits[6..10]);
        let starts_ok = |code: &[u8]| code[0] >= b'2';
        if !starts_ok(npa) || !starts_ok(nxx) || n11(npa) || n11(nxx) {
            return Err(bad());
        }
        if nxx == b"555" && line[0] == b'0' && line[1] == b'1' {
            return Err(bad());
        }
        Ok(PhoneNumber(text.to_owned()))
    }

    /// A number from 10 random digits' worth of entropy (`seed`), redrawn until valid.
    pub fn from_random(mut next: impl FnMut() -> u64) -> PhoneNumber {
        loop {
            let n = next();
            let npa = 200 + n % 800;
            let nxx = 200 + (n / 800) % 800;
            let line = (n / 640_000) % 10_000;
            if let Ok(number) = PhoneNumber::parse(&format!("+1{npa:03}{nxx:03}{line:04}")) {
                return number;
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = NotNanp;
    fn try_from(text: String) -> Result<Self, NotNanp> {
        PhoneNumber::parse(&text)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_codes_follow_the_plan() {
        for good in ["212", "646", " 303 ", "999"] {
            assert!(AreaCode::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "12", "2125", "112", "411", "911", "a12", "０12", "21 2"] {
            assert!(AreaCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rules_of_the_plan() {
        assert!(PhoneNumber::parse("+12025551234").is_ok());
        for bad in [
            "+10255501234",  // area code starts with 0
            "+11255501234",  // ... or 1
            "+12021501234",  // exchange starts with 1
            "+12115501234",  // N11 area code
            "+12029111234",  // N11 exchange
            "+12025550150",  // fiction range
            "+1202555014",   // too short
            "12025550143",   // no +1
            "+1202555014x",  // not a digit
            "+442025550143", // not +1
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_numbers_are_always_valid() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..10_000 {
            let number = PhoneNumber::from_random(|| {
                // xorshift: enough to walk the space in a test.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            });
            assert!(PhoneNumber::parse(number.as_str()).is_ok(), "{number}");
        }
    }
}
