//! `JobQueue` in memory: what was sent, with its delay, for assertions.

use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::activation::{FulfilTask, Job, Notice, NoticeTask, UsageTask};
use crate::domain::users::Uid;
use crate::ports::{DeadLetter, JobQueue, Unavailable};

/// Records what was sent, with its delay.
#[derive(Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<(Job, u32)>>,
    pub dead: Mutex<Vec<Job>>,
    pub mints: Mutex<Vec<Uid>>,
    pub fulfilments: Mutex<Vec<FulfilTask>>,
    pub notices: Mutex<Vec<Notice>>,
    pub usage: Mutex<Vec<UsageTask>>,
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn send(&self, job: &Job, delay_seconds: u32) -> Result<(), Unavailable> {
        lock(&self.sent).push((job.clone(), delay_seconds));
        Ok(())
    }

    async fn dead_letter(&self, job: &Job, _reason: &str) -> Result<(), Unavailable> {
        lock(&self.dead).push(job.clone());
        Ok(())
    }

    async fn dead_letters(&self) -> Result<u64, Unavailable> {
        Ok(lock(&self.dead).len() as u64)
    }

    async fn send_mint(&self, uid: &Uid) -> Result<(), Unavailable> {
        lock(&self.mints).push(uid.clone());
        Ok(())
    }

    async fn send_fulfilment(&self, task: &FulfilTask) -> Result<(), Unavailable> {
        lock(&self.fulfilments).push(task.clone());
        Ok(())
    }

    async fn send_notice(&self, task: &NoticeTask) -> Result<(), Unavailable> {
        lock(&self.notices).push(task.notice.clone());
        Ok(())
    }

    async fn take_dead_letters(&self) -> Result<Vec<DeadLetter>, Unavailable> {
        Ok(lock(&self.dead)
            .iter()
            .enumerate()
            .map(|(i, job)| DeadLetter {
                job: Some(job.clone()),
                receipt: format!("{i}#{}", job.purchase_id),
            })
            .collect())
    }

    async fn drop_dead_letter(&self, receipt: &str) -> Result<(), Unavailable> {
        let purchase = receipt.split_once('#').map_or("", |(_, p)| p);
        lock(&self.dead).retain(|job| job.purchase_id != purchase);
        Ok(())
    }

    async fn send_usage(&self, task: &UsageTask) -> Result<(), Unavailable> {
        lock(&self.usage).push(task.clone());
        Ok(())
    }
}
