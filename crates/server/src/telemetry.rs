//! Logs: tracing with a pretty or JSON formatter, levels from `RUST_LOG`.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::cli::LogFormat;

/// Installs the global subscriber. Logs go to stderr; stdout is kept for what a command
/// prints on purpose (first-start credentials, tokens, URLs).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true).with_writer(std::io::stderr))
            .init(),
        LogFormat::Pretty => registry.with(fmt::layer().with_writer(std::io::stderr)).init(),
    }
}
