//! Cold start: telemetry, then every request goes to the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dotm::web::telemetry::init();
    lambda_http::run(api::router()).await
}
