//! Money is integer US cents everywhere. Dollars appear only at the JSON edge.

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// An amount in US cents. Arithmetic stays in integers; see [`Cents::serialize_dollars`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, JsonSchema,
)]
#[serde(transparent)]
pub struct Cents(pub u64);

impl Cents {
    pub const ZERO: Cents = Cents(0);

    pub fn get(self) -> u64 {
        self.0
    }

    /// `"$20.00"`, for text meant for people.
    pub fn display(self) -> String {
        format!("${}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// Dollars as a JSON number (`20.0`, `99.99`), as the catalog's clients expect.
    ///
    /// The float is made from the exact decimal text, so it is the nearest double to the
    /// cent amount and prints back as that amount; nothing is ever computed with it.
    pub fn serialize_dollars<S: Serializer>(cents: &Cents, s: S) -> Result<S::Ok, S::Error> {
        let text = format!("{}.{:02}", cents.0 / 100, cents.0 % 100);
        let dollars: f64 = text.parse().map_err(serde::ser::Error::custom)?;
        s.serialize_f64(dollars)
    }
}

impl std::ops::Add for Cents {
    type Output = Cents;
    fn add(self, rhs: Cents) -> Cents {
        Cents(self.0 + rhs.0)
    }
}

impl std::iter::Sum for Cents {
    fn sum<I: Iterator<Item = Cents>>(iter: I) -> Cents {
        Cents(iter.map(|c| c.0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Shown {
        #[serde(serialize_with = "Cents::serialize_dollars")]
        price: Cents,
    }

    fn shown(cents: u64) -> String {
        serde_json::to_string(&Shown {
            price: Cents(cents),
        })
        .unwrap_or_default()
    }

    #[test]
    fn dollars_are_shown_with_their_exact_cents() {
        assert_eq!(shown(2000), r#"{"price":20.0}"#);
        assert_eq!(shown(9999), r#"{"price":99.99}"#);
        assert_eq!(shown(550), r#"{"price":5.5}"#);
        assert_eq!(shown(1), r#"{"price":0.01}"#);
        assert_eq!(shown(0), r#"{"price":0.0}"#);
    }

    #[test]
    fn display_always_has_two_decimals() {
        assert_eq!(Cents(9999).display(), "$99.99");
        assert_eq!(Cents(500).display(), "$5.00");
        assert_eq!(Cents(7).display(), "$0.07");
    }
}
