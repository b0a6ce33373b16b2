//! `Mailer` in memory: who got which message, failures on request.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::ports::{MailError, Mailer, OutgoingEmail, Unavailable};

#[derive(Default)]
pub struct MemoryMailer {
    pub sent: Mutex<Vec<(String, String)>>,
    pub fail_next: AtomicUsize,
    /// The next sends are refused for good (a 4xx).
    pub refuse_next: AtomicUsize,
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let take = |n: &AtomicUsize| {
            n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        };
        if take(&self.fail_next) {
            return Err(Unavailable::new("mail", "503").into());
        }
        if take(&self.refuse_next) {
            return Err(MailError::Refused("403 domain not verified".into()));
        }
        lock(&self.sent).push((email.to.as_str().to_owned(), email.idempotency_key.clone()));
        Ok(())
    }
}
