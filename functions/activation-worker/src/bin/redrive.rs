//! `make redrive`: puts the jobs parked on the dead-letter queue back in line, from the start.
//! Reads the same settings as the functions (TABLE_NAME, ACTIVATION_QUEUE_URL,
//! ACTIVATION_DLQ_URL and the AWS credentials of the shell); `--purchase <id>` redrives one.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    dotm::web::telemetry::init();
    let mut args = std::env::args().skip(1);
    let purchase = match (args.next().as_deref(), args.next()) {
        (None, _) => None,
        (Some("--purchase"), Some(id)) => Some(id),
        _ => {
            eprintln!("usage: redrive [--purchase <purchase id>]");
            return ExitCode::from(2);
        }
    };
    let config = match dotm::config::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("redrive: {e}");
            return ExitCode::from(2);
        }
    };
    let deps = dotm::wiring::operator(&config).await;
    match dotm::app::redrive::redrive(&deps, purchase.as_deref()).await {
        Ok(done) => {
            println!(
                "{}",
                serde_json::json!({
                    "requeued": done.requeued,
                    "settled": done.settled,
                    "left": done.left,
                })
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("redrive failed: {}: {}", e.what, e.chain());
            ExitCode::FAILURE
        }
    }
}
