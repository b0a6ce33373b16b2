//! The beta program: a person asks, an admin approves or rejects (once), an approval gives a
//! DOTM-chosen phone number on a line activated like a paid eSIM, and the `beta` role.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::users::{Email, Uid};

pub const BETA_SERVICE: &str = "beta_access";
/// How long an emailed decision link works.
pub const LINK_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BetaStatus {
    Pending,
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn status(self) -> BetaStatus {
        match self {
            Decision::Approve => BetaStatus::Approved,
            Decision::Reject => BetaStatus::Rejected,
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

impl BetaStatus {
    pub fn word(self) -> &'static str {
        match self {
            BetaStatus::Pending => "pending",
            BetaStatus::Approved => "approved",
            BetaStatus::Rejected => "rejected",
        }
    }
}

/// `USER#<uid>` / `BETA`: one per person, decided once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BetaRequest {
    pub uid: Uid,
    pub email: Email,
    pub status: BetaStatus,
    pub requested_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// `admin <uid>` or `email link`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

impl BetaRequest {
    /// The activation (and purchase) id of the beta line: one per person.
    pub fn line_id(uid: &Uid) -> String {
        format!("beta-{}", hex_of(uid.as_str()))
    }
}

/// Ids that go to the carrier as an idempotency key: the uid's bytes in hex, so any uid fits.
fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// `BETA_LINK#<sha256 of the token>` / `LINK`: what an emailed link decides. The token itself
/// (32 random bytes) is only in the email: it cannot be guessed or forged, the store keeps its
/// hash, its expiry and whether it was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionLink {
    pub uid: Uid,
    pub decision: Decision,
    pub expires_at: i64,
    #[serde(default)]
    pub used: bool,
}
