//! `Mailer` in memory: who got which message, failures on request.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::ports::{Mailer, OutgoingEmail, Unavailable};

#[derive(Default)]
pub struct MemoryMailer {
    pub sent: Mutex<Vec<(String, String)>>,
    pub fail_next: AtomicUsize,
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), Unavailable> {
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Unavailable::new("mail", "503"));
        }
        lock(&self.sent).push((email.to.as_str().to_owned(), email.idempotency_key.clone()));
        Ok(())
    }
}
