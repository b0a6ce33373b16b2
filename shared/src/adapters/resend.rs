//! `Mailer` on Resend's API (`POST /emails`), or the sandbox's mailbox; and what an operator's
//! preflight asks Resend about the account (`GET /domains`).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use serde_json::json;

use crate::ports::{MailError, Mailer, OutgoingEmail, Unavailable};

pub struct ResendMailer {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    from: String,
}

impl ResendMailer {
    pub fn new(base_url: &str, api_key: &str, from: &str) -> Result<Self, reqwest::Error> {
        Ok(ResendMailer {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            from: from.to_owned(),
        })
    }
}

/// One of the account's sending domains, as `GET /domains` lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SendingDomain {
    pub name: String,
    /// `verified`, `pending`, `not_started`, `failed`, `temporary_failure`.
    pub status: String,
}

#[derive(serde::Deserialize)]
struct DomainList {
    data: Vec<SendingDomain>,
}

impl ResendMailer {
    /// The account's sending domains. A key Resend refuses, or one made for sending only (it
    /// may not list domains), is `Refused` with Resend's reason.
    pub async fn domains(&self) -> Result<Vec<SendingDomain>, MailError> {
        let response = self
            .http
            .get(format!("{}/domains", self.base_url))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(|e| Unavailable::new("mail domains", e))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            return serde_json::from_str::<DomainList>(&body)
                .map(|l| l.data)
                .map_err(|e| Unavailable::new("mail domains", e).into());
        }
        let reason = resend_reason(&body);
        let text = format!("HTTP {status}: {reason}");
        if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(MailError::Refused(text));
        }
        Err(Unavailable::new("mail domains", text).into())
    }
}

/// Resend's error body `{"statusCode", "name", "message"}` as "name: message".
fn resend_reason(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let name = v.get("name")?.as_str()?.to_owned();
            let message = v.get("message").and_then(|m| m.as_str()).unwrap_or("");
            Some(format!("{name}: {message}"))
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

#[async_trait]
impl Mailer for ResendMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let attachments: Vec<_> = email
            .attachments
            .iter()
            .map(|a| {
                let mut attachment = json!({
                    "filename": a.filename,
                    "content": base64::engine::general_purpose::STANDARD.encode(&a.content),
                    "content_type": a.content_type,
                });
                // Only an inline image has one; Resend's schema has no null for it.
                if let Some(id) = &a.content_id {
                    attachment["content_id"] = json!(id);
                }
                attachment
            })
            .collect();
        let response = self
            .http
            .post(format!("{}/emails", self.base_url))
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", &email.idempotency_key)
            .json(&json!({
                "from": self.from,
                "to": [email.to.as_str()],
                "subject": email.subject,
                "text": email.text,
                "html": email.html,
                "attachments": attachments,
            }))
            .send()
            .await
            .map_err(|e| Unavailable::new("mail", e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Resend's error body: `{"statusCode", "name", "message"}`; the reason is kept.
        let body = response.text().await.unwrap_or_default();
        let text = format!("HTTP {status}: {}", resend_reason(&body));
        if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(MailError::Refused(text));
        }
        Err(Unavailable::new("mail", text).into())
    }
}
