//! Batches as SQS hands them to the worker: only failed message ids come back.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use dotm::adapters::memory::{MemoryWorld, paid_event};

fn message(id: &str, body: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.body = Some(body.into());
    m
}

#[tokio::test(start_paused = true)]
async fn good_jobs_are_done_and_only_bad_ones_are_reported() {
    let world = MemoryWorld::new();
    // The person who paid (activate_esim made their profile with the invoice).
    world.register("ada", "ada@example.com").await;
    dotm::app::payments::apply_event(
        &world.deps(),
        &paid_event(&world.deps(), "evt_1", "in_1", "ada").await,
        0,
    )
    .await
    .unwrap();
    let (job, _) = world.queue.sent.lock().unwrap().pop().unwrap();
    let mut event = SqsEvent::default();
    event.records = vec![
        message("m-good", &serde_json::to_string(&job).unwrap()),
        message("m-garbage", "not json"),
        message("m-duplicate", &serde_json::to_string(&job).unwrap()),
    ];
    let response = activation_worker::handle_batch(&world.worker(), event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m-garbage"]);
    assert_eq!(
        world
            .carrier
            .calls
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the duplicate made no second call"
    );
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "m-garbage");
}

/// The sample event in `events/` decodes as the runtime decodes it; its job has no
/// activation record here, so it is reported failed (SQS would retry it, then park it).
#[tokio::test]
async fn the_sample_event_decodes_and_an_unknown_job_is_reported() {
    let path = format!(
        "{}/../../events/activation-job.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let event: SqsEvent = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let world = MemoryWorld::new();
    let response = activation_worker::handle_batch(&world.worker(), event).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier,
        "059f36b4-87a3-44ab-83d2-661975830a7d"
    );
}
