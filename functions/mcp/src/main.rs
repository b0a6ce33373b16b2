//! Cold start: telemetry, settings, then only this function's clients; then the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dotm::web::telemetry::init();
    let settings = dotm::config::Config::from_env()?;
    let config = mcp::Config::new(&settings)?;
    let ports = dotm::wiring::mcp(&settings).await?;
    lambda_http::run(mcp::router(config, ports)).await
}
