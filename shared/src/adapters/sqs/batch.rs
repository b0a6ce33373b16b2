//! The inbound side of a queue: one SQS batch, each message handled by the function's own
//! handler, and only the messages it did not finish reported back by id
//! (`ReportBatchItemFailures`), so SQS delivers just those again. Both queue functions (the
//! activation worker and the reward minter) run their batches through here.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::de::DeserializeOwned;

/// How a batch's messages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Side by side (jobs that mostly wait).
    Together,
    /// One after the other, in the batch's order (one chain transaction at a time).
    OneByOne,
}

/// Runs `handle` on every message; a message it answers `false` for (not done with) is
/// reported as a batch item failure. A message without an id cannot be reported, and SQS then
/// treats the whole batch as done: none is ever without one in Lambda's events.
pub async fn run<'a, F, Fut>(event: &'a SqsEvent, order: Order, handle: F) -> SqsBatchResponse
where
    F: Fn(&'a SqsMessage) -> Fut,
    Fut: Future<Output = bool>,
{
    let done: Vec<bool> = match order {
        Order::Together => futures::future::join_all(event.records.iter().map(&handle)).await,
        Order::OneByOne => {
            let mut done = Vec::with_capacity(event.records.len());
            for message in &event.records {
                done.push(handle(message).await);
            }
            done
        }
    };
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = event
        .records
        .iter()
        .zip(done)
        .filter(|(_, ok)| !ok)
        .filter_map(|(m, _)| m.message_id.clone().filter(|id| !id.is_empty()))
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// The message's id, for logs.
pub fn id(message: &SqsMessage) -> &str {
    message.message_id.as_deref().unwrap_or("<no id>")
}

/// The message's body as `T`; None (logged, naming `what`) when it has none or it is not a `T`:
/// such a message is left to SQS, which retries it and parks it on the dead-letter queue.
pub fn body<T: DeserializeOwned>(message: &SqsMessage, what: &str) -> Option<T> {
    let id = id(message);
    match message.body.as_deref().map(serde_json::from_str::<T>) {
        Some(Ok(body)) => Some(body),
        Some(Err(e)) => {
            tracing::error!(message_id = id, error = %e, "unreadable {what}");
            None
        }
        None => {
            tracing::error!(message_id = id, "{what} without a body");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    fn batch(bodies: &[(&str, &str)]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = bodies.iter().map(|(id, b)| message(id, b)).collect();
        event
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn only_the_messages_not_done_with_are_reported_in_either_order() {
        let event = batch(&[("a", "1"), ("b", "x"), ("c", "3"), ("d", "4")]);
        for order in [Order::Together, Order::OneByOne] {
            let response = run(&event, order, |m| async move {
                body::<u32>(m, "number").is_some_and(|n| n != 3)
            })
            .await;
            assert_eq!(failed(&response), ["b", "c"], "{order:?}");
        }
    }

    #[tokio::test]
    async fn one_by_one_keeps_the_batch_order() {
        let event = batch(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let seen = std::sync::Mutex::new(Vec::new());
        run(&event, Order::OneByOne, |m| {
            let seen = &seen;
            async move {
                seen.lock().unwrap().push(id(m).to_owned());
                true
            }
        })
        .await;
        assert_eq!(seen.into_inner().unwrap(), ["a", "b", "c"]);
    }
}
