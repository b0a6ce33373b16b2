//! Resend: the key, and the sender's domain verified on the account (until it is, Resend refuses
//! every email with a 403).

use dotm::adapters::resend::ResendMailer;
use dotm::adapters::secrets::FulfilmentKeys;
use dotm::config::Config;
use dotm::ports::MailError;

use super::{Row, Status};
use crate::keys::Keys;

const P: &str = "resend";

pub(super) async fn check(config: &Config, keys: &Keys) -> Vec<Row> {
    let Some(from) = config.mail_from.as_deref() else {
        return vec![Row::new(
            P,
            "sender",
            Status::Fail,
            "MAIL_FROM is not set (a sender on a domain verified at Resend)",
        )];
    };
    let domain = sender_domain(from);
    let key = match keys
        .get(
            "RESEND_API_KEY",
            config.secrets.fulfilment.as_deref(),
            "FULFILMENT_SECRET_ID",
            |k: FulfilmentKeys| k.resend_api_key,
        )
        .await
    {
        Ok(key) => key,
        Err(e) => return vec![Row::new(P, "key", Status::Fail, e)],
    };
    let mailer = match ResendMailer::new(&config.mail_api_base, &key, from) {
        Ok(m) => m,
        Err(e) => return vec![Row::new(P, "key", Status::Fail, e.to_string())],
    };
    let Some(domain) = domain else {
        return vec![Row::new(
            P,
            "sender",
            Status::Fail,
            format!("MAIL_FROM `{from}` has no address with a domain"),
        )];
    };
    match mailer.domains().await {
        Ok(domains) => {
            let key_row = Row::new(
                P,
                "key accepted",
                Status::Ok,
                format!("by {}", config.mail_api_base),
            );
            let sender = match domains
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(&domain))
            {
                Some(d) if d.status == "verified" => Row::new(
                    P,
                    "sender domain",
                    Status::Ok,
                    format!("{domain} is verified (MAIL_FROM {from})"),
                ),
                Some(d) => Row::new(
                    P,
                    "sender domain",
                    Status::Fail,
                    format!(
                        "MAIL_FROM: {domain} is {} at Resend, not verified: every email would be refused",
                        d.status
                    ),
                ),
                None => Row::new(
                    P,
                    "sender domain",
                    Status::Fail,
                    format!(
                        "MAIL_FROM: {domain} is not a domain of this Resend account: every email would be refused"
                    ),
                ),
            };
            vec![key_row, sender]
        }
        // A key made for sending only may not list domains: it works, the domain is not known.
        Err(MailError::Refused(why)) if why.contains("restricted_api_key") => vec![
            Row::new(P, "key accepted", Status::Ok, "a sending-only key"),
            Row::new(
                P,
                "sender domain",
                Status::Unchecked,
                format!(
                    "a sending-only key cannot list domains: check {domain} in Resend's dashboard"
                ),
            ),
        ],
        Err(MailError::Refused(why)) => vec![Row::new(
            P,
            "key accepted",
            Status::Fail,
            format!("RESEND_API_KEY: Resend refused it ({why})"),
        )],
        Err(MailError::Unavailable(e)) => vec![Row::new(
            P,
            "key accepted",
            Status::Fail,
            format!("MAIL_API_BASE {}: {}", config.mail_api_base, e.chain()),
        )],
    }
}

/// `DOTM <esim@dotm.example>` or `esim@dotm.example` -> `dotm.example`.
fn sender_domain(from: &str) -> Option<String> {
    let address = match (from.rfind('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close => &from[open + 1..close],
        _ => from,
    };
    let (_, domain) = address.trim().rsplit_once('@')?;
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::sender_domain;

    #[test]
    fn the_sender_domain_is_read_from_either_form() {
        assert_eq!(
            sender_domain("DOTM <esim@Dotm.Example>").as_deref(),
            Some("dotm.example")
        );
        assert_eq!(
            sender_domain("esim@dotm.local").as_deref(),
            Some("dotm.local")
        );
        assert_eq!(sender_domain("DOTM"), None);
    }
}
