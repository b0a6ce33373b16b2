//! Cold start: telemetry, settings, the carrier, mail and minter keys and clients; then
//! batches from the queue.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    dotm::web::telemetry::init();
    let config = dotm::config::Config::from_env()?;
    let worker = dotm::wiring::activation_worker(&config).await?;
    let worker = &worker;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(
                activation_worker::handle_batch(worker, event.payload).await,
            )
        },
    ))
    .await
}
