//! The SQS handler: each message is one activation job. Only real failures are reported back
//! (by message id), so SQS delivers just those again; waiting jobs re-send themselves.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use dotm::adapters::sqs::batch::{self, Order};
use dotm::app::activation_worker::{Handled, Worker, process};
use dotm::app::{fulfilment, notices, usage};
use dotm::domain::activation::{FulfilTask, MintTask, NoticeTask, Task, UsageTask};

/// Jobs of one batch run side by side: most of their time is spent waiting for a slot.
pub async fn handle_batch(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    batch::run(&event, Order::Together, |m| handle_message(worker, m)).await
}

/// True when the message is done with (handled, or re-sent as a new message).
async fn handle_message(worker: &Worker, message: &SqsMessage) -> bool {
    let id = batch::id(message);
    let job = match batch::body::<Task>(message, "activation job") {
        Some(Task::Activation(job)) => job,
        Some(Task::Mint(task)) => return handle_mint(worker, id, &task).await,
        Some(Task::Fulfil(task)) => return handle_fulfil(worker, id, &task).await,
        Some(Task::Notice(task)) => return handle_notice(worker, id, &task).await,
        Some(Task::Usage(task)) => return handle_usage(worker, id, &task).await,
        Some(Task::UsageSweep(task)) => {
            return match usage::sweep(worker, &task.usage_sweep.base_url).await {
                Ok(queued) => {
                    tracing::info!(message_id = id, queued, "usage sweep");
                    true
                }
                Err(e) => {
                    tracing::error!(message_id = id, what = e.what, cause = %e.chain(), "usage sweep failed; SQS will retry it");
                    false
                }
            };
        }
        // Not a job: SQS retries it and parks it on the dead-letter queue.
        None => return false,
    };
    match process(worker, &job).await {
        Ok(handled) => {
            let label = match handled {
                Handled::Activated => "activated",
                Handled::AlreadyDone => "already_done",
                Handled::Waiting { .. } => "waiting",
                Handled::Retrying { .. } => "retrying",
                Handled::DeadLettered => "dead_lettered",
                Handled::Emailed => "emailed",
            };
            tracing::info!(message_id = id, uid = %job.uid.short(), ticket = job.ticket, watch = job.watch, outcome = label, "job handled");
            true
        }
        Err(e) => {
            tracing::error!(message_id = id, uid = %job.uid.short(), what = e.what, cause = %e.chain(), "job failed; SQS will retry it");
            false
        }
    }
}

/// Mints are the reward minter's, on the mint queue; one that still comes here (sent before
/// the queues were split) is passed on.
async fn handle_mint(worker: &Worker, id: &str, task: &MintTask) -> bool {
    let uid = &task.mint_rewards_for;
    match worker.deps.queue.send_mint(uid).await {
        Ok(()) => {
            tracing::info!(message_id = id, uid = %uid.short(), "mint request passed to the mint queue");
            true
        }
        Err(e) => {
            tracing::error!(message_id = id, uid = %uid.short(), what = e.what, cause = %e.chain(), "mint request not passed on; SQS will retry it");
            false
        }
    }
}

async fn handle_fulfil(worker: &Worker, id: &str, task: &FulfilTask) -> bool {
    let uid = &task.fulfil_for;
    match fulfilment::fulfil(worker, task).await {
        Ok(done) => {
            tracing::info!(message_id = id, uid = %uid.short(), carrier_calls = done.carrier_calls, receipt = done.receipt, "fulfilment handled");
            true
        }
        Err(e) => {
            tracing::error!(message_id = id, uid = %uid.short(), what = e.what, cause = %e.chain(), "fulfilment failed; SQS will retry it");
            false
        }
    }
}

async fn handle_notice(worker: &Worker, id: &str, task: &NoticeTask) -> bool {
    match notices::send(worker, &task.notice).await {
        Ok(sent) => {
            tracing::info!(message_id = id, sent, "notice handled");
            true
        }
        Err(e) => {
            tracing::error!(message_id = id, what = e.what, cause = %e.chain(), "notice failed; SQS will retry it");
            false
        }
    }
}

async fn handle_usage(worker: &Worker, id: &str, task: &UsageTask) -> bool {
    match usage::refresh(worker, task).await {
        Ok(notices) => {
            tracing::info!(message_id = id, uid = %task.usage_for.short(), notices, "usage read");
            true
        }
        Err(e) => {
            tracing::error!(message_id = id, what = e.what, cause = %e.chain(), "usage read failed; SQS will retry it");
            false
        }
    }
}
