//! An activation: one per paid eSIM purchase, from queued to active (or failed).

use serde::{Deserialize, Serialize};

use crate::throttle::Reservation;
use crate::users::Uid;

/// The value of the `queue` attribute while a job waits; the sparse index holds only these.
pub const WAITING: &str = "WAITING";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Recorded, not yet in line (an enqueue crashed before reserving; the next one finishes it).
    Pending,
    Queued,
    /// Its carrier call started.
    Activating,
    Active,
    Failed,
}

/// What the carrier gives for an activated line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The carrier's id of the line (OXIO `lineId`); empty on lines recorded before DOTM kept it.
    #[serde(default)]
    pub line_id: String,
    pub phone_number: String,
    pub iccid: String,
    pub smdp_address: String,
    pub activation_code: String,
}

impl Line {
    /// The string an eSIM QR code carries (GSMA SGP.22): `LPA:1$<SM-DP+ address>$<code>`.
    pub fn lpa(&self) -> String {
        format!("LPA:1${}${}", self.smdp_address, self.activation_code)
    }

    /// The same, checked: what the carrier gave is a code a phone accepts.
    pub fn code(&self) -> Result<crate::lpa::ActivationCode, crate::lpa::LpaError> {
        crate::lpa::ActivationCode::new(&self.smdp_address, &self.activation_code)
    }
}

/// A line-creation call this activation started at the carrier, recorded *before* the call.
///
/// OXIO has no idempotency key, so "did my call make a line?" can only be answered by listing
/// the person's lines: a line listed now that was not among `lines_before` was made since, and
/// (claimed through `ActivationStore::attribute_line`) belongs to the purchase that recorded
/// the call. See `app::carrier_line` for the whole argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierCall {
    /// The OXIO end user the line was asked for.
    pub end_user_id: String,
    pub started_at_ms: i64,
    /// The end user's line ids just before the call.
    pub lines_before: Vec<String>,
    /// The area code the person asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_code_wanted: Option<String>,
    /// The area code the call asked the carrier for (`preferredAreaCode`): the wanted one when
    /// the carrier offered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_code_asked: Option<String>,
}

/// `USER#<uid>` / `ACTIVATION#<purchase id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    pub uid: Uid,
    pub purchase_id: String,
    pub status: Status,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_ms: Option<i64>,
    /// Present (`WAITING`) only while queued: the index of waiting jobs is sparse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    /// A worker holds the job until then (ms); 0 when nobody does.
    #[serde(default)]
    pub claimed_until_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<Line>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_reason: Option<String>,
    #[serde(default)]
    pub emailed: bool,
    /// The last line-creation call started for this activation (see [`CarrierCall`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_call: Option<CarrierCall>,
    /// A beta program line (the carrier's beta plan, in an area code the carrier offers).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub beta: bool,
}

impl Activation {
    pub fn pending(uid: Uid, purchase_id: String, created_at: String) -> Activation {
        Activation {
            uid,
            purchase_id,
            status: Status::Pending,
            created_at,
            ticket: None,
            slot_ms: None,
            queue: None,
            attempts: 0,
            claimed_until_ms: 0,
            line: None,
            activated_at: None,
            failed_reason: None,
            emailed: false,
            carrier_call: None,
            beta: false,
        }
    }

    pub fn reservation(&self) -> Option<Reservation> {
        Some(Reservation {
            ticket: self.ticket?,
            slot_ms: self.slot_ms?,
        })
    }
}

/// The SQS message body of an activation job. `attempts` counts real carrier failures only:
/// waiting for a permit re-sends the message with the same count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub purchase_id: String,
    pub uid: Uid,
    pub ticket: u64,
    pub slot_ms: i64,
    #[serde(default)]
    pub attempts: u32,
    /// A watch: sent when a worker takes the job, arriving after that worker's claim ran
    /// out. It resumes the job only if the worker died with it; otherwise it is dropped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub watch: bool,
}

/// The SQS message asking the worker to mint one user's pending rewards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintTask {
    pub mint_rewards_for: Uid,
}

/// The SQS message asking the worker to bring a user's line in step with their entitlements
/// and, with `receipt_for`, to mail the receipt of that paid invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfilTask {
    pub fulfil_for: Uid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_for: Option<String>,
    /// The paid invoice's page, for the receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_url: Option<String>,
}

/// The SQS message asking the worker to send one transactional email (it holds the mailer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeTask {
    pub notice: Notice,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// The person's profile was just created.
    Welcome { uid: Uid },
    /// To the admins: someone asks for beta access; the links are sealed by the API.
    BetaRequested {
        uid: Uid,
        email: crate::users::Email,
        approve_url: String,
        reject_url: String,
    },
    /// To the person: the admins decided.
    BetaDecided { uid: Uid, approved: bool },
}

/// The SQS message asking the worker to read a line's data from the carrier, and to send the
/// low-data notices it calls for (their top-up links on `base_url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTask {
    pub usage_for: Uid,
    pub iccid: String,
    pub base_url: String,
}

/// The scheduled message (EventBridge Scheduler, every 15 minutes) that has the worker read the
/// data of every tracked line, so low-data notices reach people who never ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSweepTask {
    pub usage_sweep: UsageSweep,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSweep {
    /// Where the notices' top-up links point (the stack's public URL).
    pub base_url: String,
}

/// Every message on the job queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Task {
    Mint(MintTask),
    Fulfil(FulfilTask),
    Notice(NoticeTask),
    Usage(UsageTask),
    UsageSweep(UsageSweepTask),
    Activation(Job),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lpa_string_follows_sgp22() {
        let line = Line {
            line_id: "l-1".into(),
            phone_number: "+15551234567".into(),
            iccid: "8901260000000000001".into(),
            smdp_address: "smdp.example.com".into(),
            activation_code: "K2-ABC".into(),
        };
        assert_eq!(line.lpa(), "LPA:1$smdp.example.com$K2-ABC");
    }

    #[test]
    fn a_waiting_job_is_in_the_queue_index_and_others_are_not() {
        let mut a = Activation::pending(Uid::parse("u").unwrap(), "in_1".into(), "t".into());
        assert!(serde_json::to_value(&a).unwrap().get("queue").is_none());
        a.queue = Some(WAITING.into());
        a.status = Status::Queued;
        assert_eq!(serde_json::to_value(&a).unwrap()["queue"], WAITING);
    }

    #[test]
    fn jobs_without_attempts_start_at_zero() {
        let job: Job =
            serde_json::from_str(r#"{"purchase_id":"in_1","uid":"u","ticket":3,"slot_ms":5}"#)
                .unwrap();
        assert_eq!(job.attempts, 0);
    }
}
