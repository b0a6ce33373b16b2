//! Cold start: telemetry, config, then every request goes to the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dotm::web::telemetry::init();
    let config = mcp::Config::from_env()?;
    lambda_http::run(mcp::router(config)).await
}
