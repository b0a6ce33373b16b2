//! DOTM token amounts: integer wei (18 decimals), never floats.

use alloy_primitives::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::Cents;

/// Cashback on every paid purchase, as the product sheet states it.
pub const CASHBACK_PERCENT: &str = "10.33";
/// 10.33 % as basis points of a basis point: amount × 1033 / 10 000.
const CASHBACK_PER_10K: u128 = 1033;
const WEI_PER_DOTM: u128 = 1_000_000_000_000_000_000;
const MICROS_PER_CENT: u128 = 10_000;

/// A DOTM amount in wei (U256, as on chain). Serialized as a decimal string: JSON numbers
/// lose precision past 2^53.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Wei(pub U256);

impl Serialize for Wei {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Wei {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Wei, D::Error> {
        let text = String::deserialize(d)?;
        U256::from_str_radix(&text, 10)
            .map(Wei)
            .map_err(serde::de::Error::custom)
    }
}

impl Wei {
    pub fn from_wei(wei: u128) -> Wei {
        Wei(U256::from(wei))
    }

    /// Whole DOTM.
    pub fn dotm(whole: u64) -> Wei {
        Wei(U256::from(whole) * U256::from(WEI_PER_DOTM))
    }

    /// `"2.066"`: whole DOTM with the fraction's trailing zeros dropped.
    pub fn to_dotm_string(self) -> String {
        let per = U256::from(WEI_PER_DOTM);
        let whole = self.0 / per;
        let frac = self.0 % per;
        if frac.is_zero() {
            return whole.to_string();
        }
        let frac = format!("{:0>18}", frac.to_string());
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }
}

impl std::ops::Add for Wei {
    type Output = Wei;
    fn add(self, rhs: Wei) -> Wei {
        Wei(self.0.saturating_add(rhs.0))
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
        let cashback_usd_micros_x10k =
            U256::from(paid.get()) * U256::from(MICROS_PER_CENT) * U256::from(CASHBACK_PER_10K);
        Wei(cashback_usd_micros_x10k * U256::from(WEI_PER_DOTM)
            / U256::from(10_000u64)
            / U256::from(self.usd_micros_per_dotm))
    }
}

/// Why a reward is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// 10.33 % of a paid purchase.
    Cashback,
    /// 10.33 DOTM, once per member.
    NewMemberBonus,
    /// 100 DOTM for a DOTM Metal Card buyer.
    FoundingMember,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardStatus {
    /// Waiting for a wallet, or for the mint job.
    Pending,
    Minted,
    /// The chain refused it for good (the supply cap); `reason` says why.
    Refused,
}

/// `USER#<uid>` / `REWARD#<key>`: one reward, minted at most once (its `reward_id` is the
/// on-chain once-only id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reward {
    pub uid: crate::users::Uid,
    /// `signup`, `<purchase id>` or `founding#<purchase id>`.
    pub key: String,
    pub kind: RewardKind,
    pub amount_wei: Wei,
    /// 0x-hex bytes32, derived from uid and key.
    pub reward_id: String,
    pub status: RewardStatus,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub const NEW_MEMBER_BONUS_WEI: u128 = 10_330_000_000_000_000_000;
pub const FOUNDING_MEMBER_DOTM: u64 = 100;
pub const METAL_CARD: &str = "dotm_metal_card";

/// The on-chain id of a reward: SHA-256 of a domain tag, the uid and the key. The same reward
/// always gets the same id, so the contract refuses to pay it twice.
pub fn reward_id(uid: &crate::users::Uid, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("dotm-reward-v1:{uid}:{key}").as_bytes());
    format!("0x{}", hex::encode(digest))
}

fn reward(
    uid: &crate::users::Uid,
    key: String,
    kind: RewardKind,
    amount: Wei,
    now: &str,
) -> Reward {
    Reward {
        reward_id: reward_id(uid, &key),
        uid: uid.clone(),
        key,
        kind,
        amount_wei: amount,
        status: RewardStatus::Pending,
        created_at: now.to_owned(),
        tx_hash: None,
        reason: None,
    }
}

/// What a paid purchase earns: the cashback, and the founding allocation with a metal card.
pub fn for_purchase(p: &crate::purchases::Purchase, rate: &CashbackRate, now: &str) -> Vec<Reward> {
    let mut rewards = Vec::new();
    let cashback = rate.cashback_on(p.amount());
    if !cashback.0.is_zero() {
        rewards.push(reward(
            &p.uid,
            p.purchase_id.clone(),
            RewardKind::Cashback,
            cashback,
            now,
        ));
    }
    if p.includes(METAL_CARD) {
        let key = format!("founding#{}", p.purchase_id);
        rewards.push(reward(
            &p.uid,
            key,
            RewardKind::FoundingMember,
            Wei::dotm(FOUNDING_MEMBER_DOTM),
            now,
        ));
    }
    rewards
}

pub fn new_member_bonus(uid: &crate::users::Uid, now: &str) -> Reward {
    reward(
        uid,
        "signup".into(),
        RewardKind::NewMemberBonus,
        Wei::from_wei(NEW_MEMBER_BONUS_WEI),
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_dollars_earn_two_point_zero_six_six_dotm() {
        let wei = CashbackRate::default().cashback_on(Cents(2000));
        assert_eq!(wei, Wei::from_wei(2066 * 10u128.pow(15)));
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

    fn purchase(product: &str, cents: u64) -> crate::purchases::Purchase {
        crate::purchases::Purchase {
            uid: crate::users::Uid::parse("ada").unwrap(),
            purchase_id: "in_1".into(),
            product_id: product.into(),
            items: Vec::new(),
            order_id: None,
            amount_cents: cents,
            currency: "usd".into(),
            paid_at: "t".into(),
            event_id: "evt".into(),
        }
    }

    #[test]
    fn a_twenty_dollar_purchase_earns_its_cashback_only() {
        let r = for_purchase(
            &purchase("global_data_10gb", 2000),
            &CashbackRate::default(),
            "t",
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, RewardKind::Cashback);
        assert_eq!(r[0].amount_wei, Wei::from_wei(2_066_000_000_000_000_000));
        assert_eq!(r[0].key, "in_1");
    }

    #[test]
    fn a_metal_card_adds_the_founding_allocation() {
        let r = for_purchase(
            &purchase("dotm_metal_card", 9999),
            &CashbackRate::default(),
            "t",
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].kind, RewardKind::FoundingMember);
        assert_eq!(r[1].amount_wei.to_dotm_string(), "100");
        assert_ne!(r[0].reward_id, r[1].reward_id);
    }

    #[test]
    fn the_bonus_is_ten_point_three_three_dotm_with_a_stable_id() {
        let uid = crate::users::Uid::parse("ada").unwrap();
        let bonus = new_member_bonus(&uid, "t");
        assert_eq!(bonus.amount_wei.to_dotm_string(), "10.33");
        assert_eq!(bonus.reward_id, new_member_bonus(&uid, "later").reward_id);
        assert_eq!(bonus.reward_id.len(), 66);
        let json = serde_json::to_value(&bonus).unwrap();
        assert_eq!(json["amount_wei"], "10330000000000000000");
        let back: Reward = serde_json::from_value(json).unwrap();
        assert_eq!(back, bonus);
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
