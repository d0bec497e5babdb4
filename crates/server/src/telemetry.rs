//! Logs: tracing with a pretty or JSON formatter, levels from `RUST_LOG`.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::cli::LogFormat;

/// Levels when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info";

/// Installs the global subscriber with levels from `RUST_LOG`, else `default_filter`. Logs go
/// to stderr; stdout is kept for what a command prints on purpose (first-start credentials,
/// tokens, URLs).
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true).with_writer(std::io::stderr))
            .init(),
        LogFormat::Pretty => registry.with(fmt::layer().with_writer(std::io::stderr)).init(),
    }
}
