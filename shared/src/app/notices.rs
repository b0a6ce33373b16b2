//! Transactional email sent by the worker (it holds the mailer): welcome, the admins' beta
//! notification, the beta decision.

use crate::app::activation_worker::Worker;
use crate::app::mail::{BETA_APPROVED, BETA_REJECTED, BETA_REQUEST, WELCOME, email};
use crate::domain::activation::Notice;
use crate::ports::Unavailable;

/// Sends what the notice says; how many emails went out.
pub async fn send(w: &Worker, notice: &Notice) -> Result<usize, Unavailable> {
    let users = w.deps.users.as_ref();
    let mut outgoing = Vec::new();
    match notice {
        Notice::Welcome { uid } => {
            if let Some(to) = users.user(uid).await?.and_then(|u| u.email) {
                let values = [("email", to.as_str().to_owned())];
                let values: Vec<(&str, &str)> =
                    values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                outgoing.push(email(
                    &WELCOME,
                    to.clone(),
                    &values,
                    format!("dotm-welcome-{uid}"),
                ));
            }
        }
        Notice::BetaRequested {
            uid,
            email: requester,
            approve_url,
            reject_url,
        } => {
            let values = [
                ("email", requester.as_str()),
                ("approve_url", approve_url.as_str()),
                ("reject_url", reject_url.as_str()),
            ];
            for admin in w.deps.admins.iter() {
                // An admin is mailed at the verified address of their DOTM profile.
                let Some(to) = users.user(admin).await?.and_then(|u| u.email) else {
                    tracing::warn!(admin = %admin.short(), "admin without a registered email: not notified");
                    continue;
                };
                let key = format!("dotm-beta-request-{uid}-{admin}");
                outgoing.push(email(&BETA_REQUEST, to, &values, key));
            }
        }
        Notice::BetaDecided { uid, approved } => {
            if let Some(to) = users.user(uid).await?.and_then(|u| u.email) {
                let template = if *approved {
                    &BETA_APPROVED
                } else {
                    &BETA_REJECTED
                };
                let values = [("email", to.as_str().to_owned())];
                let values: Vec<(&str, &str)> =
                    values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                outgoing.push(email(
                    template,
                    to.clone(),
                    &values,
                    format!("dotm-beta-decision-{uid}"),
                ));
            }
        }
    }
    for message in &outgoing {
        crate::app::mail::deliver(w.mailer.as_ref(), message).await?;
    }
    Ok(outgoing.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::users::Email;

    #[test]
    fn values_are_escaped_in_html_and_not_in_text() {
        let to = Email::parse("ada@example.com").unwrap();
        let values = [
            ("email", "<b>eve</b>@example.com"),
            ("approve_url", "https://x/?a=1&b=2"),
            ("reject_url", "https://x/r"),
        ];
        let m = email(&BETA_REQUEST, to, &values, "k".into());
        assert!(
            m.html.contains("&lt;b&gt;eve&lt;/b&gt;@example.com"),
            "{}",
            m.html
        );
        assert!(!m.html.contains("<b>eve"));
        assert!(m.html.contains("https://x/?a=1&amp;b=2"));
        assert!(m.text.contains("Approve: https://x/?a=1&b=2"), "{}", m.text);
        assert!(m.subject.contains("<b>eve</b>@example.com"));
        for t in [&WELCOME, &BETA_REQUEST, &BETA_APPROVED, &BETA_REJECTED] {
            let m = email(t, Email::parse("a@b.co").unwrap(), &values, "k".into());
            assert!(!m.text.is_empty() && m.html.starts_with("<!doctype html>"));
            assert!(
                !m.html.contains("{body}") && !m.html.contains("{email}"),
                "{}",
                t.subject
            );
        }
    }
}
