//! The Resend adapter: what it sends (no `content_id` on a plain attachment), and what Resend's
//! answers mean (a 4xx other than 429 is a refusal for good, with Resend's reason; 429 and 5xx
//! may pass), against the provider sandbox's Resend.

use dotm::adapters::resend::ResendMailer;
use dotm::domain::users::Email;
use dotm::ports::{Attachment, MailError, Mailer, OutgoingEmail};

use crate::recording::recording_server;

fn email(key: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: Email::parse("ada@example.com").unwrap(),
        subject: "Your DOT eSIM".into(),
        text: "text".into(),
        html: "<p>html</p>".into(),
        attachments: vec![
            Attachment {
                filename: "esim.png".into(),
                content_type: "image/png".into(),
                content: vec![1, 2, 3],
                content_id: Some("esim-qr".into()),
            },
            Attachment {
                filename: "terms.txt".into(),
                content_type: "text/plain".into(),
                content: b"terms".to_vec(),
                content_id: None,
            },
        ],
        idempotency_key: key.into(),
    }
}

#[tokio::test]
async fn a_plain_attachment_has_no_content_id() {
    let (url, seen) = recording_server().await;
    let mailer = ResendMailer::new(&url, "re_key", "DOTM <esim@mail.example.com>").unwrap();
    mailer.send(&email("k-1")).await.unwrap();
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent[0].path_and_query, "/emails");
    assert_eq!(sent[0].authorization.as_deref(), Some("Bearer re_key"));
    let attachments = sent[0].body["attachments"].as_array().unwrap().clone();
    assert_eq!(attachments[0]["content_id"], "esim-qr");
    assert!(
        attachments[1].get("content_id").is_none(),
        "{}",
        attachments[1]
    );
    assert_eq!(sent[0].body["from"], "DOTM <esim@mail.example.com>");
}

#[tokio::test]
#[ignore = "needs the provider sandbox: make test runs it with --ignored"]
async fn resend_refusals_are_final_and_failures_may_pass() {
    let sandbox = std::env::var("DOTM_SANDBOX_URL")
        .expect("DOTM_SANDBOX_URL must name the provider sandbox (make test sets it)");
    let key = std::env::var("RESEND_API_KEY").unwrap_or_else(|_| "re_test_local".into());
    let mailer = ResendMailer::new(&sandbox, &key, "DOTM <esim@dotm.local>").unwrap();
    let http = reqwest::Client::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    for (status, final_) in [(403, true), (422, true), (429, false), (503, false)] {
        let armed = http
            .post(format!("{sandbox}/__sandbox/mail/faults"))
            .json(&serde_json::json!({"fail_next": 1, "status": status}))
            .send()
            .await
            .unwrap();
        assert!(armed.status().is_success());
        let sent = mailer
            .send(&email(&format!("contract-{nanos}-{status}")))
            .await;
        match (sent, final_) {
            (Err(MailError::Refused(reason)), true) => {
                assert!(reason.contains(&status.to_string()), "{reason}");
                assert!(
                    reason.contains("Sandbox fault"),
                    "Resend's message kept: {reason}"
                );
            }
            (Err(MailError::Unavailable(_)), false) => {}
            (other, _) => panic!("{status}: {other:?}"),
        }
    }
    mailer
        .send(&email(&format!("contract-{nanos}-ok")))
        .await
        .expect("no fault left: sent");
}
