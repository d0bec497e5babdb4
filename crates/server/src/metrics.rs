//! Prometheus metrics, hand-rolled: the application's counters (`wharf_app::metrics`) and one
//! latency histogram per route class, rendered in the text exposition format on the metrics
//! listener (`WHARF_METRICS_LISTEN`, off by default; never on the public listener).
//!
//! Counting is an atomic add; nothing here allocates on the request path.

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use wharf_app::metrics::{COUNTERS, Counter, Counters};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// A latency histogram (cumulative buckets are computed when rendering).
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Route classes whose latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// `/v2` manifest requests.
    Manifest,
    /// `/v2` blob GET/HEAD/DELETE.
    Blob,
    /// `/v2` uploads.
    Upload,
    /// The rest of `/v2` (base, listings).
    Registry,
    /// `/token`.
    Token,
    /// `/api/v1`.
    Api,
    /// Everything else (health).
    Other,
}

impl RouteClass {
    const ALL: [RouteClass; 7] = [
        Self::Manifest,
        Self::Blob,
        Self::Upload,
        Self::Registry,
        Self::Token,
        Self::Api,
        Self::Other,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Manifest => "manifest",
            Self::Blob => "blob",
            Self::Upload => "upload",
            Self::Registry => "registry",
            Self::Token => "token",
            Self::Api => "api",
            Self::Other => "other",
        }
    }

    /// The class of a request path.
    pub fn of(path: &str) -> Self {
        if let Some(rest) = path.strip_prefix("/v2") {
            if rest.contains("/blobs/uploads") {
                Self::Upload
            } else if rest.contains("/manifests/") {
                Self::Manifest
            } else if rest.contains("/blobs/") {
                Self::Blob
            } else {
                Self::Registry
            }
        } else if path == "/token" {
            Self::Token
        } else if path.starts_with("/api/") {
            Self::Api
        } else {
            Self::Other
        }
    }
}

/// Every metric of the process: the application's counters and the latency histograms.
#[derive(Debug)]
pub struct Metrics {
    counters: &'static Counters,
    latency: [Histogram; RouteClass::ALL.len()],
}

/// The process's metrics.
pub static METRICS: Metrics =
    Metrics { counters: &COUNTERS, latency: [const { Histogram::new() }; RouteClass::ALL.len()] };

impl Metrics {
    /// Records the latency of one request.
    pub fn observe(&self, class: RouteClass, elapsed: Duration) {
        let i = RouteClass::ALL.iter().position(|c| *c == class).unwrap_or(0);
        self.latency[i].observe(elapsed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let c = self.counters;
        let counters: [(&str, &str, &Counter); 8] = [
            ("wharf_pulls_total", "Manifest GETs by customer and vendor tokens.", &c.pulls),
            (
                "wharf_version_checks_total",
                "Manifest HEADs by customer and vendor tokens.",
                &c.version_checks,
            ),
            ("wharf_blob_bytes_served_total", "Blob bytes sent to tokens.", &c.blob_bytes),
            ("wharf_pushes_total", "Manifests pushed.", &c.pushes),
            ("wharf_tokens_issued_total", "Registry bearer tokens issued.", &c.tokens_issued),
            ("wharf_auth_failures_total", "Failed authentications.", &c.auth_failures),
            (
                "wharf_usage_events_dropped_total",
                "Usage events dropped because the buffer was full.",
                &c.usage_events_dropped,
            ),
            (
                "wharf_usage_write_failures_total",
                "Usage batches the database refused.",
                &c.usage_write_failures,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.get()
            );
        }
        let name = "wharf_request_duration_seconds";
        let _ =
            writeln!(out, "# HELP {name} Request latency by route class.\n# TYPE {name} histogram");
        for (class, histogram) in RouteClass::ALL.iter().zip(&self.latency) {
            let class = class.as_str();
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&histogram.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ =
                    writeln!(out, "{name}_bucket{{class=\"{class}\",le=\"{bound}\"}} {cumulative}");
            }
            let count = histogram.count.load(Ordering::Relaxed);
            let sum = histogram.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{name}_bucket{{class=\"{class}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "{name}_sum{{class=\"{class}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{class=\"{class}\"}} {count}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_classes() {
        assert_eq!(RouteClass::of("/v2/acme/app/manifests/1.0"), RouteClass::Manifest);
        assert_eq!(RouteClass::of("/v2/acme/app/blobs/sha256:ab"), RouteClass::Blob);
        assert_eq!(RouteClass::of("/v2/acme/app/blobs/uploads/x"), RouteClass::Upload);
        assert_eq!(RouteClass::of("/v2/"), RouteClass::Registry);
        assert_eq!(RouteClass::of("/token"), RouteClass::Token);
        assert_eq!(RouteClass::of("/api/v1/pulls"), RouteClass::Api);
        assert_eq!(RouteClass::of("/healthz"), RouteClass::Other);
    }

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let counters: &'static Counters = Box::leak(Box::default());
        counters.pulls.add(3);
        let m = Metrics { counters, latency: [const { Histogram::new() }; RouteClass::ALL.len()] };
        m.observe(RouteClass::Manifest, Duration::from_micros(1500));
        m.observe(RouteClass::Manifest, Duration::from_secs(20));
        let text = m.render();
        assert!(text.contains("wharf_pulls_total 3\n"), "{text}");
        assert!(text.contains(
            "wharf_request_duration_seconds_bucket{class=\"manifest\",le=\"0.0025\"} 1\n"
        ));
        assert!(
            text.contains(
                "wharf_request_duration_seconds_bucket{class=\"manifest\",le=\"+Inf\"} 2\n"
            )
        );
        assert!(text.contains("wharf_request_duration_seconds_count{class=\"manifest\"} 2\n"));
    }
}
