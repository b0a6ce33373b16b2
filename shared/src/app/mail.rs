//! Transactional email templates, compiled into the binary (`shared/templates/mail`): each
//! email has a text and an HTML part (values HTML-escaped there, inside one phone-sized layout)
//! and an idempotency key, so a repeated task sends nothing new.

use crate::domain::html::escape;
use crate::domain::users::Email;
use crate::ports::OutgoingEmail;

const LAYOUT: &str = include_str!("../../templates/mail/layout.html");

pub struct Template {
    pub subject: &'static str,
    pub text: &'static str,
    pub html: &'static str,
}

pub const WELCOME: Template = Template {
    subject: "Welcome to DOTM",
    text: include_str!("../../templates/mail/welcome.txt"),
    html: include_str!("../../templates/mail/welcome.html"),
};
pub const BETA_REQUEST: Template = Template {
    subject: "DOTM beta request from {email}",
    text: include_str!("../../templates/mail/beta_request.txt"),
    html: include_str!("../../templates/mail/beta_request.html"),
};
pub const BETA_APPROVED: Template = Template {
    subject: "Your DOTM beta request was approved",
    text: include_str!("../../templates/mail/beta_approved.txt"),
    html: include_str!("../../templates/mail/beta_approved.html"),
};
pub const ESIM_ACTIVE: Template = Template {
    subject: "Your DOT eSIM is active: {phone}",
    text: include_str!("../../templates/mail/esim_active.txt"),
    html: include_str!("../../templates/mail/esim_active.html"),
};
pub const BETA_REJECTED: Template = Template {
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

pub fn email(t: &Template, to: Email, values: &[(&str, &str)], key: String) -> OutgoingEmail {
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

pub const LOW_DATA: Template = Template {
    subject: "You have used {threshold}% of your DOT eSIM data",
    text: include_str!("../../templates/mail/low_data.txt"),
    html: include_str!("../../templates/mail/low_data.html"),
};

/// Sends one email. A refusal for good (a 4xx: an unverified sender domain, a bad address) is
/// not retried: it is logged with its reason and counted (`metric` `mail_refused`, the
/// template's `MailRefused` alarm), and the email is settled. Anything else comes back to be
/// retried.
pub async fn deliver(
    mailer: &dyn crate::ports::Mailer,
    email: &crate::ports::OutgoingEmail,
) -> Result<(), crate::ports::Unavailable> {
    match mailer.send(email).await {
        Ok(()) => Ok(()),
        Err(crate::ports::MailError::Refused(reason)) => {
            tracing::error!(
                metric = "mail_refused",
                to = %email.to.masked(),
                key = %email.idempotency_key,
                reason,
                "the mail provider refused an email for good; not retried"
            );
            Ok(())
        }
        Err(crate::ports::MailError::Unavailable(e)) => Err(e),
    }
}
