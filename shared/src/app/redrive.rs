//! The operator's redrive of the dead-letter queue (`make redrive`): each parked job whose
//! activation failed is put in line again from the start, and its dead letter removed. Moving
//! the raw messages back would not do: the worker reads a failed activation as done.

use crate::app::{Deps, activation_line};
use crate::domain::activation::Status;
use crate::ports::Unavailable;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Redriven {
    /// Purchase ids put in line again.
    pub requeued: Vec<String>,
    /// Dead letters whose activation was not failed any more (active, or waiting): dropped.
    pub settled: Vec<String>,
    /// Messages left on the queue (not a job, or not the purchase asked for).
    pub left: usize,
}

/// Redrives every parked job, or only the one of `purchase` (the rest stay parked).
pub async fn redrive(deps: &Deps, purchase: Option<&str>) -> Result<Redriven, Unavailable> {
    let mut done = Redriven::default();
    loop {
        let batch = deps.queue.take_dead_letters().await?;
        if batch.is_empty() {
            return Ok(done);
        }
        let mut progressed = false;
        for letter in batch {
            let Some(job) = letter
                .job
                .filter(|j| purchase.is_none_or(|p| p == j.purchase_id))
            else {
                done.left += 1;
                continue;
            };
            let found = deps
                .activations
                .activation(&job.uid, &job.purchase_id)
                .await?;
            match found.map(|a| a.status) {
                Some(Status::Failed) => {
                    activation_line::reopen(deps, &job.uid, &job.purchase_id).await?;
                    tracing::info!(uid = %job.uid.short(), purchase = %job.purchase_id, "redriven");
                    done.requeued.push(job.purchase_id);
                }
                _ => done.settled.push(job.purchase_id),
            }
            deps.queue.drop_dead_letter(&letter.receipt).await?;
            progressed = true;
        }
        // What is left is hidden for a minute: another pass would only see the same messages.
        if !progressed {
            return Ok(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryWorld;
    use crate::domain::activation::{Activation, Job};
    use crate::domain::users::Uid;

    #[tokio::test]
    async fn a_parked_failed_job_is_put_in_line_again_from_the_start() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let uid = Uid::parse("ada").unwrap();
        let failed = Activation {
            status: Status::Failed,
            attempts: 5,
            failed_reason: Some("HTTP 503".into()),
            ..Activation::pending(uid.clone(), "in_1".into(), "t".into())
        };
        deps.activations.create_activation(&failed).await.unwrap();
        let job = Job {
            purchase_id: "in_1".into(),
            uid: uid.clone(),
            ticket: 1,
            slot_ms: 0,
            attempts: 5,
            watch: false,
        };
        deps.queue.dead_letter(&job, "HTTP 503").await.unwrap();

        let done = redrive(&deps, None).await.unwrap();
        assert_eq!(done.requeued, ["in_1"]);
        let after = deps
            .activations
            .activation(&uid, "in_1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((after.status, after.attempts), (Status::Queued, 0));
        assert!(after.failed_reason.is_none() && after.ticket.is_some());
        let sent = world.queue.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0.attempts, 0);
        assert!(world.queue.dead.lock().unwrap().is_empty());
        // A second redrive finds nothing parked, and a reopened job is not reopened again.
        assert_eq!(redrive(&deps, None).await.unwrap(), Redriven::default());
        assert!(
            deps.activations
                .reopen_activation(&uid, "in_1")
                .await
                .unwrap()
                .is_none()
        );
    }
}
