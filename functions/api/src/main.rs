//! Cold start: telemetry, settings, secrets and clients, then every request goes to the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dotm::web::telemetry::init();
    let services = dotm::adapters::wiring::Services::from_env().await?;
    lambda_http::run(api::router(api::Api {
        deps: services.deps,
        verifier: services.verifier,
    }))
    .await
}
