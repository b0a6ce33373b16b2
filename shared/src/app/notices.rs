//! Transactional email, sent by the worker (it holds the mailer): welcome, the admins' beta
//! notification, the beta decision. Templates are compiled into the binary
//! (`shared/templates/mail`); every value is HTML-escaped in the HTML part; each email has a
//! text and an HTML part and an idempotency key, so a repeated task sends nothing new.

use crate::app::activation_worker::Worker;
use crate::domain::activation::Notice;
use crate::domain::html::escape;
use crate::domain::users::Email;
use crate::ports::{OutgoingEmail, Unavailable};

const LAYOUT: &str = include_str!("../../templates/mail/layout.html");

struct Template {
    subject: &'static str,
    text: &'static str,
    html: &'static str,
}

const WELCOME: Template = Template {
    subject: "Welcome to DOTM",
    text: include_str!("../../templates/mail/welcome.txt"),
    html: include_str!("../../templates/mail/welcome.html"),
};
const BETA_REQUEST: Template = Template {
    subject: "DOTM beta request from {email}",
    text: include_str!("../../templates/mail/beta_request.txt"),
    html: include_str!("../../templates/mail/beta_request.html"),
};
const BETA_APPROVED: Template = Template {
    subject: "Your DOTM beta request was approved",
    text: include_str!("../../templates/mail/beta_approved.txt"),
    html: include_str!("../../templates/mail/beta_approved.html"),
};
const BETA_REJECTED: Template = Template {
    subject: "Your DOTM beta request was not approved",
    text: include_str!("../../templates/mail/beta_rejected.txt"),
    html: include_str!("../../templates/mail/beta_rejected.html"),
};

fn fill(template: &str, values: &[(&str, &str)], html: bool) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        let value = if html {
            escape(value)
        } else {
            (*value).to_owned()
        };
        out = out.replace(&format!("{{{name}}}"), &value);
    }
    out
}

fn email(t: &Template, to: Email, values: &[(&str, &str)], key: String) -> OutgoingEmail {
    let subject = fill(t.subject, values, false);
    let body = fill(t.html, values, true);
    let html = LAYOUT
        .replace("{title}", &escape(&subject))
        .replace("{body}", &body);
    OutgoingEmail {
        to,
        text: fill(t.text, values, false),
        html,
        subject,
        attachments: Vec::new(),
        idempotency_key: key,
    }
}

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
        w.mailer.send(message).await?;
    }
    Ok(outgoing.len())
}

#[cfg(test)]
mod tests {
    use super::*;

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
