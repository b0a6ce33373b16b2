//! The SQS handler of the mint queue: each message asks for a person's next pending reward.
//! Mints wait for receipts (seconds on a real chain), so they run here, on their own queue,
//! with a timeout that fits them, and never hold up an activation.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use dotm::app::rewards::{self, RewardMinter};
use dotm::domain::activation::MintTask;

/// One message at a time, in order: each is one chain transaction and its receipt.
pub async fn handle_batch(minter: &RewardMinter, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        if !handle_message(minter, message).await
            && let Some(id) = message.message_id.clone().filter(|id| !id.is_empty())
        {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// True when the message is done with.
async fn handle_message(minter: &RewardMinter, message: &SqsMessage) -> bool {
    let id = message.message_id.as_deref().unwrap_or("<no id>");
    let task: MintTask = match message.body.as_deref().map(serde_json::from_str) {
        Some(Ok(task)) => task,
        Some(Err(e)) => {
            // Not a mint request: let SQS retry it and park it on the dead-letter queue.
            tracing::error!(message_id = id, error = %e, "unreadable mint request");
            return false;
        }
        None => {
            tracing::error!(message_id = id, "mint request without a body");
            return false;
        }
    };
    let uid = &task.mint_rewards_for;
    match rewards::mint(minter, uid).await {
        Ok(done) => {
            tracing::info!(message_id = id, uid = %uid.short(), outcome = ?done, "mint request handled");
            true
        }
        Err(e) => {
            tracing::error!(message_id = id, uid = %uid.short(), what = e.what, cause = %e.chain(), "mint failed; SQS will retry it");
            false
        }
    }
}
