//! One contract per port, run against the in-memory adapter (always) and against the real one
//! on the local AWS emulator (`#[ignore]`d here; `make test` runs them with `--ignored` once
//! moto is up, each run in a table and queues of its own). The in-memory adapters cannot drift
//! from the conditional writes they imitate: both pass the same assertions.

mod aws;
mod carrier;
mod commerce;
mod conversation;
mod mail;
mod ports;
mod recording;

use std::sync::Arc;

use dotm::adapters::memory::{
    MemoryActivations, MemoryBeta, MemoryEntitlements, MemoryHandoff, MemoryOAuth, MemoryOrders,
    MemoryPaymentEvents, MemoryPurchases, MemoryQueue, MemoryRateLimits, MemoryRewards,
    MemorySubscriptions, MemoryThrottle, MemoryUsage, MemoryUsers,
};

#[tokio::test]
async fn memory_users() {
    ports::users(&MemoryUsers::default()).await;
}

#[tokio::test]
async fn memory_purchases() {
    ports::purchases(&MemoryPurchases::default()).await;
}

#[tokio::test]
async fn memory_payment_events() {
    ports::payment_events(&MemoryPaymentEvents::default()).await;
}

#[tokio::test]
async fn memory_activations() {
    ports::activations(&MemoryActivations::default()).await;
}

#[tokio::test]
async fn memory_throttle() {
    ports::throttle(&MemoryThrottle::default()).await;
}

#[tokio::test]
async fn memory_throttle_under_concurrency() {
    ports::throttle_concurrent(Arc::new(MemoryThrottle::default())).await;
}

#[tokio::test]
async fn memory_rewards() {
    ports::rewards(&MemoryRewards::default()).await;
}

#[tokio::test]
async fn memory_oauth() {
    ports::oauth(&MemoryOAuth::default()).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_oauth() {
    ports::oauth(&aws::store().await).await;
}

#[tokio::test]
async fn memory_queue() {
    ports::queue(&MemoryQueue::default()).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_users() {
    ports::users(&aws::store().await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_purchases() {
    ports::purchases(&aws::store().await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_payment_events() {
    ports::payment_events(&aws::store().await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_activations() {
    ports::activations(&aws::store().await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_throttle() {
    ports::throttle(&aws::store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_throttle_under_concurrency() {
    ports::throttle_concurrent(Arc::new(aws::store().await)).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_rewards() {
    ports::rewards(&aws::store().await).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn sqs_queue() {
    ports::queue(&aws::queue().await).await;
}

#[tokio::test]
async fn memory_orders() {
    commerce::orders(&MemoryOrders::default()).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_orders() {
    commerce::orders(&aws::store().await).await;
}

#[tokio::test]
async fn memory_subscriptions() {
    commerce::subscriptions(&MemorySubscriptions::default()).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_subscriptions() {
    commerce::subscriptions(&aws::store().await).await;
}

#[tokio::test]
async fn memory_entitlements() {
    commerce::entitlements(&MemoryEntitlements::default()).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_entitlements() {
    commerce::entitlements(&aws::store().await).await;
}

#[tokio::test]
async fn memory_beta() {
    commerce::beta(&MemoryBeta::default()).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_beta() {
    commerce::beta(&aws::store().await).await;
}

#[tokio::test]
async fn memory_handoff() {
    conversation::handoff(&MemoryHandoff::default()).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_handoff() {
    conversation::handoff(&aws::store().await).await;
}

#[tokio::test]
async fn memory_usage() {
    conversation::usage(&MemoryUsage::default()).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_usage() {
    conversation::usage(&aws::store().await).await;
}

#[tokio::test]
async fn memory_rate_limits() {
    conversation::rate_limits(&MemoryRateLimits::default()).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_rate_limits() {
    conversation::rate_limits(&aws::store().await).await;
}

#[tokio::test]
async fn memory_reopen() {
    conversation::reopen(&MemoryActivations::default()).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make test runs it with --ignored"]
async fn dynamo_reopen() {
    conversation::reopen(&aws::store().await).await;
}
