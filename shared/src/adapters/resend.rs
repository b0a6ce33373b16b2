//! `Mailer` on Resend's API (`POST /emails`), or the sandbox's mailbox.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use serde_json::json;

use crate::ports::{Mailer, OutgoingEmail, Unavailable};

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

#[async_trait]
impl Mailer for ResendMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), Unavailable> {
        let attachments: Vec<_> = email
            .attachments
            .iter()
            .map(|a| {
                json!({
                    "filename": a.filename,
                    "content": base64::engine::general_purpose::STANDARD.encode(&a.content),
                    "content_type": a.content_type,
                    "content_id": a.content_id,
                })
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
        if !response.status().is_success() {
            return Err(Unavailable::new(
                "mail",
                format!("HTTP {}", response.status()),
            ));
        }
        Ok(())
    }
}
