//! The real adapters on the local AWS emulator (`AWS_ENDPOINT_URL`), each test in a fresh
//! table (the template's keys and index) or fresh queues, so runs never see each other.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use dotm::adapters::dynamo::DynamoStore;
use dotm::adapters::sqs::SqsQueue;

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn config() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty()),
        "AWS_ENDPOINT_URL must name the local AWS emulator (make test sets it)"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    aws_config::load_from_env().await
}

fn attribute(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .unwrap()
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap()
}

/// A table like template.yaml's `Table`: `pk`/`sk`, and the sparse `queue-by-ticket` index.
pub async fn store() -> DynamoStore {
    let client = aws_sdk_dynamodb::Client::new(&config().await);
    let table = unique("dotm-contract");
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::S))
        .attribute_definitions(attribute("queue", ScalarAttributeType::S))
        .attribute_definitions(attribute("ticket", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("queue-by-ticket")
                .key_schema(key("queue", KeyType::Hash))
                .key_schema(key("ticket", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create the contract table");
    DynamoStore::new(client, table)
}

/// A job queue, its dead-letter queue and the mint queue.
pub async fn queue() -> SqsQueue {
    let client = aws_sdk_sqs::Client::new(&config().await);
    let mut urls = Vec::new();
    for name in [
        "dotm-contract-jobs",
        "dotm-contract-dlq",
        "dotm-contract-mints",
    ] {
        let out = client
            .create_queue()
            .queue_name(unique(name))
            .send()
            .await
            .expect("create a contract queue");
        urls.push(out.queue_url.unwrap());
    }
    SqsQueue::new(client, urls[0].clone(), Some(urls[1].clone()))
        .with_mint_queue(Some(urls[2].clone()))
}
