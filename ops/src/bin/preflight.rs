//! `make preflight`: checks a deployment's settings against the real providers (read-only) and
//! prints a table; exits 1 when a check fails, 2 when the settings cannot be read. Reads the
//! functions' environment variables, their secrets (or the keys from the shell), and
//! `STRIPE_MODE`, `STRIPE_WEBHOOK_URL`, `DOTM_MINTER_ADDRESS` (README, Deploy).

use std::process::ExitCode;

use ops::preflight::{self, Expectations};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match ops::config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("preflight: {e}");
            return ExitCode::from(2);
        }
    };
    let expect = match Expectations::from_env() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("preflight: {e}");
            return ExitCode::from(2);
        }
    };
    let report = preflight::run(&config, &expect).await;
    println!("{report}");
    if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
