//! DOTM token amounts: integer wei (18 decimals), never floats.

use serde::{Serialize, Serializer};

use crate::money::Cents;

/// Cashback on every paid purchase, as the product sheet states it.
pub const CASHBACK_PERCENT: &str = "10.33";
/// 10.33 % as basis points of a basis point: amount × 1033 / 10 000.
const CASHBACK_PER_10K: u128 = 1033;
const WEI_PER_DOTM: u128 = 1_000_000_000_000_000_000;
const MICROS_PER_CENT: u128 = 10_000;

/// A DOTM amount in wei. Serialized as a decimal string: JSON numbers lose precision past 2^53.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Wei(pub u128);

impl Serialize for Wei {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl Wei {
    /// `"2.066"`: whole DOTM with the fraction's trailing zeros dropped.
    pub fn to_dotm_string(self) -> String {
        let whole = self.0 / WEI_PER_DOTM;
        let frac = self.0 % WEI_PER_DOTM;
        if frac == 0 {
            return whole.to_string();
        }
        let frac = format!("{frac:018}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "DOTM price must be a positive USD amount with at most 6 decimals, like 1.00 or 0.25; got {0:?}"
)]
pub struct BadRate(pub String);

/// What one DOTM costs in USD, in micro-dollars (1 DOTM = $1 unless configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CashbackRate {
    usd_micros_per_dotm: u128,
}

impl Default for CashbackRate {
    fn default() -> Self {
        CashbackRate {
            usd_micros_per_dotm: 1_000_000,
        }
    }
}

impl CashbackRate {
    /// Parses a USD price per DOTM such as `"1"`, `"1.00"` or `"0.125"`, without floats.
    pub fn parse_usd_per_dotm(text: &str) -> Result<CashbackRate, BadRate> {
        let bad = || BadRate(text.to_owned());
        let t = text.trim();
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 6
        {
            return Err(bad());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let frac_micros: u128 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
        let micros = whole
            .checked_mul(1_000_000)
            .and_then(|w| w.checked_add(frac_micros))
            .filter(|m| *m > 0 && *m < 10u128.pow(18))
            .ok_or_else(bad)?;
        Ok(CashbackRate {
            usd_micros_per_dotm: micros,
        })
    }

    /// 10.33 % of `paid`, converted to DOTM at this rate, rounded down to the wei.
    pub fn cashback_on(&self, paid: Cents) -> Wei {
        let cashback_usd_micros_x10k = u128::from(paid.get()) * MICROS_PER_CENT * CASHBACK_PER_10K;
        Wei(cashback_usd_micros_x10k * WEI_PER_DOTM / 10_000 / self.usd_micros_per_dotm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_dollars_earn_two_point_zero_six_six_dotm() {
        let wei = CashbackRate::default().cashback_on(Cents(2000));
        assert_eq!(wei, Wei(2066 * 10u128.pow(15)));
        assert_eq!(wei.to_dotm_string(), "2.066");
        assert_eq!(
            serde_json::to_string(&wei).unwrap(),
            "\"2066000000000000000\""
        );
    }

    #[test]
    fn one_dollar_earns_point_one_zero_three_three() {
        assert_eq!(
            CashbackRate::default()
                .cashback_on(Cents(100))
                .to_dotm_string(),
            "0.1033"
        );
    }

    #[test]
    fn a_cheaper_token_pays_more_tokens() {
        let quarter = CashbackRate::parse_usd_per_dotm("0.25").unwrap();
        assert_eq!(quarter.cashback_on(Cents(2000)).to_dotm_string(), "8.264");
        let two = CashbackRate::parse_usd_per_dotm("2").unwrap();
        assert_eq!(two.cashback_on(Cents(2000)).to_dotm_string(), "1.033");
    }

    #[test]
    fn rates_parse_without_floats() {
        assert_eq!(
            CashbackRate::parse_usd_per_dotm("1.00"),
            Ok(CashbackRate::default())
        );
        assert_eq!(
            CashbackRate::parse_usd_per_dotm(" 1 "),
            Ok(CashbackRate::default())
        );
        for bad in [
            "",
            ".",
            "0",
            "0.000",
            "-1",
            "1e3",
            "abc",
            "1.0000001",
            "1.2.3",
        ] {
            assert!(
                CashbackRate::parse_usd_per_dotm(bad).is_err(),
                "{bad:?} accepted"
            );
        }
    }
}
