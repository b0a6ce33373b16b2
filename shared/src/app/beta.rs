//! The beta program: `POST /api/beta-request` and `beta_program`, the admins' decision (from
//! the API or from an emailed link), and what an approval gives: a line on the carrier's beta
//! plan, with a number in an area code the carrier offers, activated through the same queue and
//! throttle as a paid eSIM, and the `beta` role.

use schemars::JsonSchema;
use serde::Serialize;

use crate::app::accounts::{self, AccountError};
use crate::app::{Deps, activation_line};
use crate::domain::activation::{Notice, NoticeTask};
use crate::domain::beta::{BETA_SERVICE, BetaRequest, BetaStatus, Decision, DecisionLink};
use crate::domain::handoff::token_hash;
use crate::domain::purchases::Purchase;
use crate::domain::time::rfc3339;
use crate::domain::users::{Identity, Uid};
use crate::ports::Unavailable;

#[derive(Debug, thiserror::Error)]
pub enum BetaError {
    #[error(
        "the beta program needs a verified email address: verify the email of your sign-in account and ask again"
    )]
    NoEmail,
    #[error("no beta request from {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// What a person (or the MCP tool) sees of their beta request.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BetaView {
    /// `none` before any request.
    pub status: String,
    pub requested_at: Option<String>,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    /// The beta line's number, once it is active.
    pub phone_number: Option<String>,
    pub message: String,
}

/// An admin's decision as answered: `first_decision: false` means it had been decided before
/// (and `status` says how).
#[derive(Debug, Clone, Serialize)]
pub struct DecisionView {
    pub uid: Uid,
    pub status: BetaStatus,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub first_decision: bool,
    pub message: String,
}

/// Why an emailed link does nothing.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this link is not valid")]
    NotValid,
    #[error("this link has expired")]
    Expired,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// A new single-use link for the admins' email, under `base_url` (the API's public URL).
async fn new_link(
    deps: &Deps,
    base_url: &str,
    uid: &Uid,
    decision: Decision,
    expires_at: i64,
) -> Result<String, Unavailable> {
    let token = deps.random.token()?;
    let link = DecisionLink {
        uid: uid.clone(),
        decision,
        expires_at,
        used: false,
    };
    deps.beta.save_link(&token_hash(&token), &link).await?;
    Ok(format!(
        "{}/api/beta-decision?token={token}",
        base_url.trim_end_matches('/')
    ))
}

async fn view(deps: &Deps, request: Option<BetaRequest>) -> Result<BetaView, Unavailable> {
    let Some(r) = request else {
        return Ok(BetaView {
            status: "none".into(),
            requested_at: None,
            decided_at: None,
            decided_by: None,
            phone_number: None,
            message:
                "No beta request yet: ask with POST /api/beta-request (or the beta_program tool)."
                    .into(),
        });
    };
    let line = deps
        .activations
        .activation(&r.uid, &BetaRequest::line_id(&r.uid))
        .await?
        .and_then(|a| a.line);
    let phone_number = line.map(|l| l.phone_number).or(r.phone_number.clone());
    let message = match r.status {
        BetaStatus::Pending => "Your beta request is waiting for an admin's decision; you will get an email.".to_owned(),
        BetaStatus::Approved => match &phone_number {
            Some(n) => format!("Approved: your beta number is {n}; its QR code was emailed to you."),
            None => "Approved: your beta line is being activated; its number and QR code will be emailed to you.".to_owned(),
        },
        BetaStatus::Rejected => "Your beta request was not approved.".to_owned(),
    };
    Ok(BetaView {
        status: r.status.word().to_owned(),
        requested_at: Some(r.requested_at),
        decided_at: r.decided_at,
        decided_by: r.decided_by,
        phone_number,
        message,
    })
}

pub async fn status(deps: &Deps, identity: &Identity) -> Result<BetaView, Unavailable> {
    view(deps, deps.beta.beta_request(&identity.uid).await?).await
}

/// Asks for beta access (once: a second call answers the first request). True when this call
/// made the request; the admins are then mailed the decision links.
pub async fn request(
    deps: &Deps,
    identity: &Identity,
    base_url: &str,
) -> Result<(BetaView, bool), BetaError> {
    if identity.anonymous {
        return Err(AccountError::Anonymous.into());
    }
    // Refused before anything is written: no profile is made for a request that cannot be.
    let stored = deps.users.user(&identity.uid).await?;
    if identity.email.is_none() && stored.and_then(|u| u.email).is_none() {
        return Err(BetaError::NoEmail);
    }
    let user = accounts::find_or_create_user(deps, identity).await?;
    let email = user.email.clone().ok_or(BetaError::NoEmail)?;
    let now = deps.clock.now_unix();
    let (stored, created) = deps
        .beta
        .create_beta_request(&BetaRequest {
            uid: user.uid.clone(),
            email: email.clone(),
            status: BetaStatus::Pending,
            requested_at: rfc3339(now),
            decided_at: None,
            decided_by: None,
            phone_number: None,
        })
        .await?;
    if created {
        let exp = now + crate::domain::beta::LINK_SECONDS;
        let notice = Notice::BetaRequested {
            uid: user.uid.clone(),
            email,
            approve_url: new_link(deps, base_url, &user.uid, Decision::Approve, exp).await?,
            reject_url: new_link(deps, base_url, &user.uid, Decision::Reject, exp).await?,
        };
        deps.queue.send_notice(&NoticeTask { notice }).await?;
        tracing::info!(uid = %user.uid.short(), "beta requested");
    }
    Ok((view(deps, Some(stored)).await?, created))
}

pub async fn pending(deps: &Deps) -> Result<Vec<BetaRequest>, Unavailable> {
    deps.beta.pending_beta_requests().await
}

/// Decides once. The first approval picks the number, puts the line in the activation queue
/// and mails the person; a later call changes nothing and says what was decided first.
pub async fn decide(
    deps: &Deps,
    uid: &Uid,
    decision: Decision,
    by: &str,
) -> Result<DecisionView, BetaError> {
    let at = rfc3339(deps.clock.now_unix());
    let (request, first) = deps
        .beta
        .decide_beta(uid, decision.status(), &at, by)
        .await?
        .ok_or_else(|| BetaError::NotFound(uid.as_str().chars().take(64).collect()))?;
    // Also when not first: an approval that crashed before the line was queued is finished here.
    if request.status == BetaStatus::Approved {
        provision(deps, &request).await?;
    }
    if first {
        let notice = Notice::BetaDecided {
            uid: uid.clone(),
            approved: request.status == BetaStatus::Approved,
        };
        deps.queue.send_notice(&NoticeTask { notice }).await?;
        tracing::info!(uid = %uid.short(), decision = decision.verb(), by, "beta decided");
    }
    let message = if first {
        format!("{} {}.", request.email.as_str(), request.status.word())
    } else {
        format!(
            "Already {} on {} ({}); nothing changed.",
            request.status.word(),
            request.decided_at.as_deref().unwrap_or("an earlier date"),
            request.decided_by.as_deref().unwrap_or("an admin")
        )
    };
    Ok(DecisionView {
        uid: request.uid,
        status: request.status,
        decided_at: request.decided_at,
        decided_by: request.decided_by,
        first_decision: first,
        message,
    })
}

/// The beta line: a number no one else at DOTM has, activated like a paid eSIM (keyed by the
/// person, so doing it again finds the same line).
async fn provision(deps: &Deps, request: &BetaRequest) -> Result<(), Unavailable> {
    let line_id = BetaRequest::line_id(&request.uid);
    if let Some(existing) = deps.activations.activation(&request.uid, &line_id).await? {
        // Queued before (a crash may have lost the job): send it again.
        let purchase = beta_purchase(request, &line_id, &existing.created_at);
        activation_line::enqueue_line(deps, &purchase, true, true).await?;
        return Ok(());
    }
    let now = rfc3339(deps.clock.now_unix());
    let purchase = beta_purchase(request, &line_id, &now);
    deps.purchases.record_purchase(&purchase).await?;
    // The carrier gives the number: the worker asks for one in an area code it offers.
    activation_line::enqueue_line(deps, &purchase, true, true).await?;
    Ok(())
}

fn beta_purchase(request: &BetaRequest, line_id: &str, at: &str) -> Purchase {
    Purchase {
        uid: request.uid.clone(),
        purchase_id: line_id.to_owned(),
        product_id: BETA_SERVICE.to_owned(),
        items: vec![BETA_SERVICE.to_owned()],
        order_id: None,
        amount_cents: 0,
        currency: "usd".into(),
        paid_at: at.to_owned(),
        event_id: "beta-approval".into(),
    }
}

/// What an emailed link decides, if it is one of ours and has not expired (used or not).
pub async fn open_link(deps: &Deps, token: &str) -> Result<DecisionLink, LinkError> {
    if token.is_empty() || token.len() > 100 {
        return Err(LinkError::NotValid);
    }
    let link = deps
        .beta
        .link(&token_hash(token))
        .await?
        .ok_or(LinkError::NotValid)?;
    if deps.clock.now_unix() >= link.expires_at {
        return Err(LinkError::Expired);
    }
    Ok(link)
}

/// Uses a link once: false when it was used before.
pub async fn use_link(deps: &Deps, token: &str) -> Result<bool, Unavailable> {
    deps.beta.use_link(&token_hash(token)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryWorld;
    use crate::domain::users::Email;

    fn ada() -> Identity {
        Identity::verified(
            Uid::parse("ada").unwrap(),
            Some(Email::parse("ada@example.com").unwrap()),
        )
    }

    fn links_of(world: &MemoryWorld) -> (String, String) {
        let notices = world.queue.notices.lock().unwrap();
        let found = notices.iter().find_map(|n| match n {
            Notice::BetaRequested {
                approve_url,
                reject_url,
                ..
            } => Some((approve_url.clone(), reject_url.clone())),
            _ => None,
        });
        found.expect("the admins were notified")
    }

    fn token(url: &str) -> &str {
        url.split_once("token=").map(|(_, t)| t).unwrap_or_default()
    }

    #[tokio::test]
    async fn one_request_a_link_decides_once_and_an_approval_queues_a_chosen_number() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let (view, created) = request(&deps, &ada(), "https://dotm.example")
            .await
            .unwrap();
        assert!(created && view.status == "pending");
        let (_, again) = request(&deps, &ada(), "https://dotm.example")
            .await
            .unwrap();
        assert!(!again, "a second request answers the first");
        let (approve, reject) = links_of(&world);
        assert!(approve.starts_with("https://dotm.example/api/beta-decision?token="));

        let link = open_link(&deps, token(&approve)).await.unwrap();
        assert_eq!(link.decision, Decision::Approve);
        assert!(matches!(
            open_link(&deps, "forged").await,
            Err(LinkError::NotValid)
        ));
        assert!(use_link(&deps, token(&approve)).await.unwrap());
        assert!(
            !use_link(&deps, token(&approve)).await.unwrap(),
            "single use"
        );

        let done = decide(&deps, &link.uid, link.decision, "email link")
            .await
            .unwrap();
        assert!(done.first_decision && done.status == BetaStatus::Approved);
        let activation = deps
            .activations
            .activation(&link.uid, &BetaRequest::line_id(&link.uid))
            .await
            .unwrap()
            .expect("the beta line is in the activation queue");
        assert!(activation.beta, "a beta line, on the carrier's beta plan");
        assert_eq!(world.queue.sent.lock().unwrap().len(), 1);
        assert!(accounts::has_role(&deps, &link.uid, "beta").await.unwrap());

        // The reject link afterwards: nothing changes, it says what was decided.
        let other = open_link(&deps, token(&reject)).await.unwrap();
        let later = decide(&deps, &other.uid, other.decision, "email link")
            .await
            .unwrap();
        assert!(!later.first_decision && later.status == BetaStatus::Approved);
        assert!(
            later.message.contains("Already approved"),
            "{}",
            later.message
        );
        let decided = world
            .queue
            .notices
            .lock()
            .unwrap()
            .iter()
            .filter(|n| matches!(n, Notice::BetaDecided { .. }))
            .count();
        assert_eq!(decided, 1, "the person is mailed once");
    }

    #[tokio::test]
    async fn a_rejection_gives_no_line_and_an_expired_link_does_nothing() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        request(&deps, &ada(), "https://dotm.example")
            .await
            .unwrap();
        let (_, reject) = links_of(&world);
        let uid = Uid::parse("ada").unwrap();
        let done = decide(&deps, &uid, Decision::Reject, "admin root")
            .await
            .unwrap();
        assert_eq!(done.status, BetaStatus::Rejected);
        assert!(deps.activations.activations(&uid).await.unwrap().is_empty());
        assert!(!accounts::has_role(&deps, &uid, "beta").await.unwrap());
        world
            .clock
            .advance_ms(crate::domain::beta::LINK_SECONDS * 1000 + 1);
        assert!(matches!(
            open_link(&deps, token(&reject)).await,
            Err(LinkError::Expired)
        ));
    }

    #[tokio::test]
    async fn only_a_verified_non_anonymous_person_can_ask() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let nobody = Identity::verified(Uid::parse("phone").unwrap(), None);
        assert!(matches!(
            request(&deps, &nobody, "x").await,
            Err(BetaError::NoEmail)
        ));
        let anonymous = Identity {
            anonymous: true,
            ..Identity::verified(Uid::parse("anon").unwrap(), None)
        };
        assert!(matches!(
            request(&deps, &anonymous, "x").await,
            Err(BetaError::Account(AccountError::Anonymous))
        ));
        assert!(deps.beta.pending_beta_requests().await.unwrap().is_empty());
    }
}
