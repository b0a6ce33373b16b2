//! Cold start: telemetry, settings, secrets and clients; then batches from the queue.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    dotm::web::telemetry::init();
    let services = dotm::adapters::wiring::Services::from_env().await?;
    let deps = services.worker()?;
    let deps = &deps;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(
                activation_worker::handle_batch(deps, event.payload).await,
            )
        },
    ))
    .await
}
