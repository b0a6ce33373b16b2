//! Cold start: telemetry, the provider secret and the clients, then the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dotm::web::telemetry::init();
    let services = dotm::adapters::wiring::Services::from_env().await?;
    let webhook = stripe_webhook::Webhook {
        signing_secret: services.secrets.stripe_webhook_secret.clone(),
        deps: services.deps,
    };
    lambda_http::run(stripe_webhook::router(webhook)).await
}
