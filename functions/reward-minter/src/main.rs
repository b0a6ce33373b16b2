//! Cold start: telemetry, settings, the minter key and the chain client; then mint requests
//! from the queue, one at a time (reserved concurrency 1).

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    dotm::web::telemetry::init();
    let config = dotm::config::Config::from_env()?;
    let minter = dotm::wiring::reward_minter(&config).await?;
    let minter = &minter;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(reward_minter::handle_batch(minter, event.payload).await)
        },
    ))
    .await
}
