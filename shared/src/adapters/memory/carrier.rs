//! `Carrier` in memory: one line per purchase id, failures on request.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::domain::activation::Line;
use crate::domain::users::Uid;
use crate::ports::{Carrier, CarrierError};

/// One line per purchase id; fails the next `fail_next` calls.
#[derive(Default)]
pub struct MemoryCarrier {
    pub calls: AtomicUsize,
    pub fail_next: AtomicUsize,
    pub refuse: AtomicBool,
}

#[async_trait]
impl Carrier for MemoryCarrier {
    async fn activate(&self, purchase_id: &str, _uid: &Uid) -> Result<Line, CarrierError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.refuse.load(Ordering::SeqCst) {
            return Err(CarrierError::Refused("422 invalid plan".into()));
        }
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(CarrierError::Failed("503".into()));
        }
        Ok(Line {
            phone_number: "+15550100100".into(),
            iccid: "8901000000000000001".into(),
            smdp_address: "smdp.test".into(),
            activation_code: format!("CODE-{purchase_id}"),
        })
    }
}
