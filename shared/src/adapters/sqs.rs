//! `JobQueue` on SQS: the activation queue, its dead-letter queue, and the mint queue; and the
//! batches the queue functions receive ([`batch`]).

pub mod batch;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};

use crate::domain::activation::{FulfilTask, Job, MintTask, NoticeTask, UsageTask};
use crate::domain::users::Uid;
use crate::ports::{DeadLetter, JobQueue, Unavailable};

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dead_letter_url: Option<String>,
    mint_url: Option<String>,
    /// SQS's own cap is 900 s. A lower cap (tests) makes long waits re-send more often,
    /// which must never count as a failed receive.
    max_delay_seconds: u32,
}

impl SqsQueue {
    pub fn new(
        client: Client,
        queue_url: impl Into<String>,
        dead_letter_url: Option<String>,
    ) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
            dead_letter_url,
            mint_url: None,
            max_delay_seconds: 900,
        }
    }

    pub fn with_mint_queue(mut self, url: Option<String>) -> Self {
        self.mint_url = url;
        self
    }

    pub fn with_max_delay(mut self, seconds: u32) -> Self {
        self.max_delay_seconds = seconds.clamp(1, 900);
        self
    }

    fn dlq(&self) -> Result<&str, Unavailable> {
        self.dead_letter_url
            .as_deref()
            .ok_or_else(|| Unavailable::new("sqs", "ACTIVATION_DLQ_URL is not set"))
    }
}

fn body(job: &Job) -> Result<String, Unavailable> {
    serde_json::to_string(job).map_err(|e| Unavailable::new("encode job", e))
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn send(&self, job: &Job, delay_seconds: u32) -> Result<(), Unavailable> {
        // The lower cap is for waiting jobs (re-sent often, to show that waiting never counts
        // as a failed receive); a watch is no wait and arrives when it is due.
        let cap = if job.watch {
            900
        } else {
            self.max_delay_seconds
        };
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body(job)?)
            .delay_seconds(delay_seconds.min(cap) as i32)
            .send()
            .await
            .map_err(|e| Unavailable::new("sqs send", e.into_service_error()))?;
        Ok(())
    }

    async fn dead_letter(&self, job: &Job, reason: &str) -> Result<(), Unavailable> {
        let reason = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| Unavailable::new("sqs dead letter", e))?;
        self.client
            .send_message()
            .queue_url(self.dlq()?)
            .message_body(body(job)?)
            .message_attributes("reason", reason)
            .send()
            .await
            .map_err(|e| Unavailable::new("sqs dead letter", e.into_service_error()))?;
        Ok(())
    }

    async fn send_mint(&self, uid: &Uid) -> Result<(), Unavailable> {
        let url = self
            .mint_url
            .as_deref()
            .ok_or_else(|| Unavailable::new("sqs", "MINT_QUEUE_URL is not set"))?;
        let task = MintTask {
            mint_rewards_for: uid.clone(),
        };
        let body = serde_json::to_string(&task).map_err(|e| Unavailable::new("encode task", e))?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| Unavailable::new("sqs send mint", e.into_service_error()))?;
        Ok(())
    }

    async fn send_fulfilment(&self, task: &FulfilTask) -> Result<(), Unavailable> {
        self.send_task(task).await
    }

    async fn send_notice(&self, task: &NoticeTask) -> Result<(), Unavailable> {
        self.send_task(task).await
    }

    async fn take_dead_letters(&self) -> Result<Vec<DeadLetter>, Unavailable> {
        let out = self
            .client
            .receive_message()
            .queue_url(self.dlq()?)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| Unavailable::new("sqs receive dead letters", e.into_service_error()))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let job = m.body.as_deref().and_then(|b| serde_json::from_str(b).ok());
                Some(DeadLetter {
                    job,
                    receipt: m.receipt_handle?,
                })
            })
            .collect())
    }

    async fn drop_dead_letter(&self, receipt: &str) -> Result<(), Unavailable> {
        self.client
            .delete_message()
            .queue_url(self.dlq()?)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| Unavailable::new("sqs delete dead letter", e.into_service_error()))?;
        Ok(())
    }

    async fn send_usage(&self, task: &UsageTask) -> Result<(), Unavailable> {
        self.send_task(task).await
    }

    async fn dead_letters(&self) -> Result<u64, Unavailable> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(self.dlq()?)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| Unavailable::new("sqs attributes", e.into_service_error()))?;
        Ok(out
            .attributes
            .and_then(|a| {
                a.get(&QueueAttributeName::ApproximateNumberOfMessages)
                    .cloned()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or_default())
    }
}

impl SqsQueue {
    /// A task the worker runs as soon as it can (no delay, no throttle).
    async fn send_task(&self, task: &impl serde::Serialize) -> Result<(), Unavailable> {
        let body = serde_json::to_string(task).map_err(|e| Unavailable::new("encode job", e))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| Unavailable::new("sqs send", e.into_service_error()))?;
        Ok(())
    }
}
