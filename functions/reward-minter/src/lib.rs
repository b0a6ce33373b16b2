//! The SQS handler of the mint queue: each message asks for a person's next pending reward.
//! Mints wait for receipts (seconds on a real chain), so they run here, on their own queue,
//! with a timeout that fits them, and never hold up an activation.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use dotm::adapters::sqs::batch::{self, Order};
use dotm::app::rewards::{self, RewardMinter};
use dotm::domain::activation::MintTask;

/// One message at a time, in order: each is one chain transaction and its receipt.
pub async fn handle_batch(minter: &RewardMinter, event: SqsEvent) -> SqsBatchResponse {
    batch::run(&event, Order::OneByOne, |m| handle_message(minter, m)).await
}

/// True when the message is done with.
async fn handle_message(minter: &RewardMinter, message: &SqsMessage) -> bool {
    let id = batch::id(message);
    let Some(task) = batch::body::<MintTask>(message, "mint request") else {
        return false;
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
