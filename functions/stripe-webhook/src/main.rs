//! Cold start: telemetry, settings, the webhook secret (refused when empty) and the table and
//! queue clients; then the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dotm::web::telemetry::init();
    let config = dotm::config::Config::from_env()?;
    let ports = dotm::wiring::stripe_webhook(&config).await?;
    lambda_http::run(stripe_webhook::router(ports)).await
}
