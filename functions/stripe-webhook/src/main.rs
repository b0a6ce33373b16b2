//! Cold start: telemetry, the provider secret and the table client, then the router.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dotm::web::telemetry::init();
    let services = dotm::adapters::wiring::Services::from_env().await?;
    let webhook = stripe_webhook::Webhook {
        store: services.deps.store.clone(),
        clock: Arc::new(dotm::ports::SystemClock),
        signing_secret: services.secrets.stripe_webhook_secret.clone(),
    };
    lambda_http::run(stripe_webhook::router(webhook)).await
}
