//! The application's counters: pulls, pushes, bytes served, tokens issued, failed
//! authentications, and the usage recorder's drops and failed writes.
//!
//! Process-wide atomics; counting is an atomic add and allocates nothing. The binary renders
//! them, with its own latency histograms, on the metrics listener (`wharf-server`'s
//! `metrics.rs`); nothing here knows a metrics format.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Every counter of the application.
#[derive(Debug, Default)]
pub struct Counters {
    /// Manifest GETs recorded as pull events (before any drop).
    pub pulls: Counter,
    /// Manifest HEADs by access tokens (version checks, before any is taken back by the GET
    /// that followed it, and before any drop).
    pub version_checks: Counter,
    /// Blob bytes sent to attributed callers.
    pub blob_bytes: Counter,
    /// Manifests pushed.
    pub pushes: Counter,
    /// Bearer tokens issued at `/token`.
    pub tokens_issued: Counter,
    /// Failed authentications (registry and API).
    pub auth_failures: Counter,
    /// Usage events dropped because the buffer was full.
    pub usage_events_dropped: Counter,
    /// Failed writes of usage batches.
    pub usage_write_failures: Counter,
}

/// The process's counters.
pub static COUNTERS: Counters = Counters {
    pulls: Counter::new(),
    version_checks: Counter::new(),
    blob_bytes: Counter::new(),
    pushes: Counter::new(),
    tokens_issued: Counter::new(),
    auth_failures: Counter::new(),
    usage_events_dropped: Counter::new(),
    usage_write_failures: Counter::new(),
};
