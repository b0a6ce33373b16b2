//! Cold start: telemetry, config, secrets and clients, then every request goes to the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dotm::web::telemetry::init();
    let config = mcp::Config::from_env()?;
    let services = dotm::adapters::wiring::Services::from_env().await?;
    let backend = mcp::Backend {
        deps: services.deps,
        verifier: services.verifier,
    };
    lambda_http::run(mcp::router(config, backend)).await
}
