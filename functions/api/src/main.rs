//! Cold start: telemetry, settings, then only this function's clients; then the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dotm::web::telemetry::init();
    let config = dotm::config::Config::from_env()?;
    let ports = dotm::wiring::api(&config).await?;
    lambda_http::run(api::router(ports)).await
}
