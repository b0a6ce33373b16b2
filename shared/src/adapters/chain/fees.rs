//! EIP-1559 fees of a mint transaction and of its replacements, in integer wei per gas.
//!
//! A node takes a transaction with the nonce of one in its pool only when both the max fee
//! and the max priority fee are at least 10 % higher (geth's `--txpool.pricebump`, which other
//! nodes copy); a replacement raises both by 25 %, or to what the node now suggests if that is
//! more, and never past the configured cap, so a runaway fee cannot happen.

/// Fees of one transaction, wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

impl Fees {
    /// The first send: what the node suggests, within the cap (the tip never above the max fee).
    pub fn first(suggested: Fees, cap: u128) -> Fees {
        let max_fee_per_gas = suggested.max_fee_per_gas.min(cap);
        Fees {
            max_fee_per_gas,
            max_priority_fee_per_gas: suggested.max_priority_fee_per_gas.min(max_fee_per_gas),
        }
    }

    /// The fees that replace `self`: +25 %, or the node's suggestion when higher, within the
    /// cap. None when the cap leaves no room for the 10 % a node requires: the transaction in
    /// the pool already pays about as much as we ever will, and waiting is all that is left.
    pub fn replacement(self, suggested: Fees, cap: u128) -> Option<Fees> {
        let max_fee_per_gas = raise(self.max_fee_per_gas)
            .max(suggested.max_fee_per_gas)
            .min(cap);
        let max_priority_fee_per_gas = raise(self.max_priority_fee_per_gas)
            .max(suggested.max_priority_fee_per_gas)
            .min(max_fee_per_gas);
        let next = Fees {
            max_fee_per_gas,
            max_priority_fee_per_gas,
        };
        next.replaces(self).then_some(next)
    }

    /// True when a node accepts `self` in place of `old`: both fees at least 10 % higher.
    pub fn replaces(self, old: Fees) -> bool {
        self.max_fee_per_gas >= at_least(old.max_fee_per_gas)
            && self.max_priority_fee_per_gas >= at_least(old.max_priority_fee_per_gas)
            && self.max_fee_per_gas > old.max_fee_per_gas
    }
}

/// +25 %, and at least +1 wei so that a zero tip still rises.
fn raise(wei: u128) -> u128 {
    wei.saturating_add((wei / 4).max(1))
}

/// The least a node takes in place of `wei`: +10 %, rounded up.
fn at_least(wei: u128) -> u128 {
    wei.saturating_add(wei.div_ceil(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GWEI: u128 = 1_000_000_000;

    fn fees(max: u128, tip: u128) -> Fees {
        Fees {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: tip,
        }
    }

    #[test]
    fn the_first_send_takes_the_suggestion_within_the_cap() {
        assert_eq!(
            Fees::first(fees(3 * GWEI, GWEI), 100 * GWEI),
            fees(3 * GWEI, GWEI)
        );
        assert_eq!(
            Fees::first(fees(300 * GWEI, 200 * GWEI), 100 * GWEI),
            fees(100 * GWEI, 100 * GWEI)
        );
    }

    #[test]
    fn a_replacement_raises_both_fees_by_a_quarter() {
        let old = fees(4 * GWEI, 2 * GWEI);
        let new = old.replacement(fees(GWEI, GWEI), 100 * GWEI).unwrap();
        assert_eq!(new, fees(5 * GWEI, 5 * GWEI / 2));
        assert!(new.replaces(old));
        // A busier network: the node's suggestion wins.
        let new = old
            .replacement(fees(9 * GWEI, 3 * GWEI), 100 * GWEI)
            .unwrap();
        assert_eq!(new, fees(9 * GWEI, 3 * GWEI));
    }

    #[test]
    fn tiny_fees_still_rise_enough() {
        for wei in 0..50u128 {
            let old = fees(wei, wei);
            let new = old.replacement(fees(0, 0), u128::MAX).unwrap();
            assert!(new.replaces(old), "{wei}: {new:?}");
            assert!(new.max_fee_per_gas * 10 >= old.max_fee_per_gas * 11);
        }
    }

    #[test]
    fn the_cap_is_never_passed_and_ends_the_raising() {
        let cap = 10 * GWEI;
        let mut f = Fees::first(fees(2 * GWEI, GWEI), cap);
        let mut sends = 1;
        while let Some(next) = f.replacement(fees(0, 0), cap) {
            assert!(next.max_fee_per_gas <= cap && next.max_priority_fee_per_gas <= cap);
            assert!(next.replaces(f));
            f = next;
            sends += 1;
            assert!(sends < 50);
        }
        // It stops within the 10 % a node wants of the cap.
        assert!(f.max_fee_per_gas * 11 > cap * 10, "{f:?}");
        // At the cap, no replacement: the one in the pool pays as much as we would.
        assert_eq!(fees(cap, cap).replacement(fees(cap * 2, cap), cap), None);
    }
}
