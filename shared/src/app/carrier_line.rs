//! One line per purchase at a carrier that offers no idempotency key (OXIO).
//!
//! OXIO's `POST /v3/lines/line` makes a new line on every call that reaches it, and a call can
//! fail halfway: the worker crashes, or the answer is lost to a timeout after the line was
//! made. The only way to learn what such a call did is to list the person's lines
//! (`GET /v3/end-users/{id}/lines`). So:
//!
//! 1. **One end user per person** ([`end_user`]): found by email first, created once (OXIO
//!    refuses a second end user with the same email, so a race or a crash between creating and
//!    recording finds the first one again), its id stored on the profile with a conditional
//!    write (`if_not_exists`: the first stored id wins).
//! 2. **Record before calling.** Right before the call (permit in hand, claim still held) the
//!    activation records the call: the end user and the line ids they had just before
//!    (`CarrierCall`, a write conditional on this worker's claim, so a worker that lost the job
//!    never calls).
//! 3. **Attribute, once.** A line this purchase gets is first claimed for it with a conditional
//!    put (`CARRIER_LINE#<line id>`: absent, or already this purchase's). A line belongs to one
//!    purchase for ever, so two purchases of one person can never share a line.
//! 4. **Settle before calling again** ([`settle`]). A job that finds a recorded call (its
//!    earlier attempt crashed, timed out or failed) lists the end user's lines first: a line
//!    not in the recorded `lines_before` that no other purchase owns was made by a call of this
//!    purchase (or by a concurrent purchase of the same person, whose own call then settles on
//!    whichever line is left: lines of one plan are alike). It is attributed and the job is
//!    done, with no permit and no second call. Only when no such line exists is the carrier
//!    called again.
//!
//! What this cannot see: a line the carrier makes *after* the listing that settles (a call
//! still being processed at the carrier when its client gave up). The worker's backoff before a
//! retry (2 s, then 4, 8 ...) and the claim (35 s, longer than any call) make that window small;
//! such a line would show up unattributed in the end user's list, for an operator.
//! Every DOTM line of a person is made by this module: a line made for them by hand at the
//! carrier while a call of theirs is unsettled could be attributed to it.

use crate::domain::activation::{Activation, CarrierCall, Line};
use crate::domain::users::Uid;
use crate::ports::{
    ActivationStore, Carrier, CarrierError, CarrierLine, NewEndUser, Unavailable, UserStore,
};

/// Why a carrier step stopped: the carrier's answer (the job decides what it means), or our
/// own store.
#[derive(Debug)]
pub enum Halt {
    Carrier(CarrierError),
    Store(Unavailable),
}

impl From<CarrierError> for Halt {
    fn from(e: CarrierError) -> Self {
        Halt::Carrier(e)
    }
}

impl From<Unavailable> for Halt {
    fn from(e: Unavailable) -> Self {
        Halt::Store(e)
    }
}

/// The person as the carrier knows them, and what they asked of their number.
pub struct Person {
    pub end_user_id: String,
    /// The area code the person wants (`activate_esim {area_code}`).
    pub area_code: Option<String>,
}

/// The person's OXIO end user: stored, else found by email, else made (once).
pub async fn person(
    carrier: &dyn Carrier,
    users: &dyn UserStore,
    uid: &Uid,
) -> Result<Person, Halt> {
    let user = users
        .user(uid)
        .await?
        .ok_or_else(|| Unavailable::new("profile", format!("no profile for {}", uid.short())))?;
    let area_code = user.area_code.clone();
    if let Some(end_user_id) = user.carrier_end_user_id {
        return Ok(Person {
            end_user_id,
            area_code,
        });
    }
    // Only a verified address identifies the person at the carrier.
    let email = user.email;
    let found = match &email {
        Some(email) => carrier.find_end_user(email).await?,
        None => None,
    };
    let id = match found {
        Some(id) => id,
        None => {
            // OXIO wants names; DOTM keeps none (data minimisation), so it sends neutral ones.
            let who = NewEndUser {
                first_name: "DOTM".into(),
                last_name: "Customer".into(),
                email: email.clone(),
            };
            match (carrier.create_end_user(&who).await, &email) {
                (Ok(id), _) => id,
                // Made by an earlier attempt that crashed before recording it.
                (Err(CarrierError::AlreadyExists), Some(email)) => {
                    carrier.find_end_user(email).await?.ok_or_else(|| {
                        CarrierError::Failed("end user exists but was not found".into())
                    })?
                }
                (Err(e), _) => return Err(e.into()),
            }
        }
    };
    let end_user_id = users.set_carrier_end_user(uid, &id).await?;
    tracing::info!(uid = %uid.short(), "the carrier knows this person");
    Ok(Person {
        end_user_id,
        area_code,
    })
}

/// The area code to ask the carrier for, checked against what it offers now: the person's wish
/// when offered; a beta line's first offered code otherwise; else none (the carrier picks).
/// Only asked of the carrier when there is something to check.
pub async fn area_code(
    carrier: &dyn Carrier,
    wanted: Option<&str>,
    beta: bool,
) -> Result<Option<String>, CarrierError> {
    if wanted.is_none() && !beta {
        return Ok(None);
    }
    let offered = carrier.area_codes().await?;
    if let Some(wanted) = wanted {
        if offered.iter().any(|c| c == wanted) {
            return Ok(Some(wanted.to_owned()));
        }
        tracing::info!(
            area_code = wanted,
            offered = offered.len(),
            "the carrier offers no numbers in the area code asked for"
        );
    }
    Ok(if beta {
        offered.into_iter().next()
    } else {
        None
    })
}

/// The line an earlier, unsettled call of this activation made, attributed to it; `None` when
/// that call made no line (then calling again is safe).
pub async fn settle(
    activations: &dyn ActivationStore,
    activation: &Activation,
    call: &CarrierCall,
    listed: &[CarrierLine],
) -> Result<Option<Line>, Unavailable> {
    for candidate in listed
        .iter()
        .filter(|l| !l.line.line_id.is_empty() && !call.lines_before.contains(&l.line.line_id))
    {
        if activations
            .attribute_line(
                &candidate.line.line_id,
                &activation.uid,
                &activation.purchase_id,
            )
            .await?
        {
            return Ok(Some(candidate.line.clone()));
        }
    }
    Ok(None)
}

/// Logs and counts what the carrier has no API for: the entitlement stands; the log line's
/// `metric` field is counted by the template (`CarrierUnsupported`) and raises an alarm.
pub fn unsupported(e: &CarrierError) {
    tracing::warn!(
        metric = "carrier_unsupported",
        what = %e,
        "not supported by this carrier: the entitlement is kept, an operator must act"
    );
}
