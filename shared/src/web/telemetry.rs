//! Logs: one JSON object per line, with the Lambda request id, set up once per cold start.

use tracing_subscriber::EnvFilter;

/// Default filter: our own INFO; rmcp logs three INFO lines per request, so only its warnings.
pub const DEFAULT_FILTER: &str = "info,rmcp=warn";

/// Installs the JSON subscriber. `RUST_LOG` overrides [`DEFAULT_FILTER`].
///
/// The runtime opens a `Lambda runtime invoke` span carrying `requestId` for each event;
/// listing the spans on every line puts that id on every line logged while handling it.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_span_list(true)
        .with_current_span(false)
        .with_target(true)
        .try_init();
}
