//! The carrier (OXIO): the people it knows (end users), the lines it makes for them, the numbers
//! it offers; and, behind a port of their own, the line services OXIO shows no API for.
//!
//! OXIO offers **no idempotency key**: a line-creation call that fails halfway (a timeout, a
//! crash) can only be settled by listing the end user's lines. How DOTM still makes exactly one
//! line per purchase is `app::carrier_line`'s job; these ports only say what the carrier does.

use async_trait::async_trait;

use crate::domain::activation::Line;
use crate::domain::usage::LineUsage;
use crate::domain::users::Email;

/// What went wrong at the carrier. The carrier's own message stays in the logs (`Display`),
/// never reaches the person.
#[derive(Debug, thiserror::Error)]
pub enum CarrierError {
    /// 5xx, 408, 429, timeout, connection error: the same call may succeed later. For a call
    /// that makes something, it may also have made it (the answer was lost).
    #[error("the carrier failed ({0})")]
    Failed(String),
    /// Any other 4xx: the carrier refused this call for good; asking again would get the same.
    #[error("the carrier refused the call ({0})")]
    Refused(String),
    /// An end user with this email exists already (find it instead).
    #[error("the carrier already has an end user with this email")]
    AlreadyExists,
    /// The carrier has no API for this (see [`LineServices`]): the entitlement stands, an
    /// operator is told.
    #[error("not supported by this carrier: {0}")]
    NotSupported(&'static str),
}

/// Who a new end user is: OXIO asks for names; the email is how DOTM finds them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndUser {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<Email>,
}

/// Which of DOTM's carrier plans a line is made on (plan ids come from config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinePlan {
    /// A paid DOT eSIM.
    Esim,
    /// A beta program line.
    Beta,
}

/// One line-creation call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRequest {
    pub end_user_id: String,
    pub plan: LinePlan,
    /// A NANP area code the carrier offers (OXIO `phoneNumberRequirements.preferredAreaCode`).
    pub area_code: Option<String>,
}

/// A line as the carrier lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierLine {
    /// OXIO's `status` (`ACTIVE`, `INITIATING`, ...).
    pub status: String,
    pub line: Line,
}

#[async_trait]
pub trait Carrier: Send + Sync {
    /// The end user with this email (OXIO `GET /v2/end-users?email=`), if any.
    async fn find_end_user(&self, email: &Email) -> Result<Option<String>, CarrierError>;
    /// Makes an end user (`POST /v2/end-users`): its id. [`CarrierError::AlreadyExists`] when
    /// the email is taken (then [`Carrier::find_end_user`] finds it).
    async fn create_end_user(&self, who: &NewEndUser) -> Result<String, CarrierError>;
    /// Every line of the end user (`GET /v3/end-users/{id}/lines`), in no promised order.
    async fn lines(&self, end_user_id: &str) -> Result<Vec<CarrierLine>, CarrierError>;
    /// Makes a line (`POST /v3/lines/line`). Not idempotent: every call that reaches the
    /// carrier may make a line, even one whose answer is lost.
    async fn make_line(&self, request: &LineRequest) -> Result<CarrierLine, CarrierError>;
    /// The area codes the carrier has numbers in (`GET /v3/phone-numbers/available-area-codes`).
    async fn area_codes(&self) -> Result<Vec<String>, CarrierError>;
}

/// A line as the line services address it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRef {
    pub iccid: String,
    /// The OXIO end user the line belongs to (a booster is bought for the end user).
    pub end_user_id: String,
}

/// What DOTM sells on top of a line: network features (add-ons), data top-ups and their
/// reversal (refunds), usage readings. OXIO shows an API for none of these except, unconfirmed,
/// data boosters (`POST /v3/subscriptions`): its production adapter answers
/// [`CarrierError::NotSupported`] for the rest, and the product keeps the entitlement and tells
/// an operator. The local stack serves them from the sandbox's extension (not OXIO).
#[async_trait]
pub trait LineServices: Send + Sync {
    /// Turns a network feature on or off for the line (idempotent).
    async fn set_feature(
        &self,
        line: &LineRef,
        feature: &str,
        on: bool,
    ) -> Result<(), CarrierError>;
    /// Adds data to the line once per `reference` (see [`LineServices::top_ups_idempotent`]).
    async fn top_up(&self, line: &LineRef, reference: &str, mb: u64) -> Result<(), CarrierError>;
    /// Takes back the top-up named `reference`, if it was made.
    async fn reverse_top_up(&self, line: &LineRef, reference: &str) -> Result<(), CarrierError>;
    /// The line's data as the carrier measures it (`fetched_at` is left 0 for the caller).
    async fn usage(&self, iccid: &str) -> Result<LineUsage, CarrierError>;
    /// True when the same top-up sent twice adds data once (a key the carrier honours). When
    /// false, the caller records a top-up before sending it and never sends it again.
    fn top_ups_idempotent(&self) -> bool;
}
