//! What `wharf-bench compare` measured, per metric, per server and per run; the targets the
//! figures are judged against; the table of medians with ratios (taken within each run, then
//! the median) and PASS/MISS, and the JSON.
//! Nothing here measures: it only keeps and judges numbers handed to it.

use std::collections::BTreeMap;

use serde_json::json;

/// Who a number is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Who {
    Wharf,
    /// The reference registry without authentication.
    Distribution,
    /// The reference registry with htpasswd basic auth.
    Htpasswd,
    /// nginx serving the same bytes as static files.
    Nginx,
    /// One core hashing sha256 in process.
    Sha256,
    /// s3s-fs serving the object Wharf's S3 store holds, through a presigned GET.
    S3sFs,
}

impl Who {
    pub fn key(self) -> &'static str {
        match self {
            Self::Wharf => "wharf",
            Self::Distribution => "distribution",
            Self::Htpasswd => "distribution_htpasswd",
            Self::Nginx => "nginx",
            Self::Sha256 => "sha256_one_core",
            Self::S3sFs => "s3s_fs",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Nginx => "nginx",
            Self::Sha256 => "sha256",
            Self::S3sFs => "s3s-fs",
            _ => self.key(),
        }
    }
}

/// What Wharf's median must reach for a row to PASS.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    None,
    /// At least this fraction of the ceiling and this multiple of distribution (unauthenticated).
    Ratios {
        ceiling: Option<f64>,
        distribution: Option<f64>,
    },
    AtMost(f64),
    AtLeast(f64),
}

/// One line of the table: a metric, where its ceiling comes from, and its goal.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub metric: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    /// The metric and the server whose median is the ceiling (nginx, or the sha256 rate).
    pub ceiling: Option<(&'static str, Who)>,
    pub goal: Goal,
}

const fn row(
    metric: &'static str,
    label: &'static str,
    unit: &'static str,
    ceiling: Option<(&'static str, Who)>,
    goal: Goal,
) -> Row {
    Row { metric, label, unit, ceiling, goal }
}

const fn ratios(ceiling: Option<f64>, distribution: Option<f64>) -> Goal {
    Goal::Ratios { ceiling, distribution }
}

const SHA: Option<(&str, Who)> = Some(("sha256_mbps", Who::Sha256));

/// The table, in order. Metrics a row names but nobody measured show as "—".
pub const ROWS: &[Row] = &[
    row(
        "manifest_get_tag_rps",
        "manifest GET by tag",
        "req/s",
        Some(("manifest_get_tag_rps", Who::Nginx)),
        ratios(Some(0.35), Some(12.0)),
    ),
    row("manifest_get_tag_p50_ms", "… p50", "ms", None, Goal::None),
    row("manifest_get_tag_p99_ms", "… p99", "ms", None, Goal::AtMost(15.0)),
    row(
        "manifest_get_digest_rps",
        "manifest GET by digest",
        "req/s",
        Some(("manifest_get_digest_rps", Who::Nginx)),
        ratios(Some(0.35), Some(12.0)),
    ),
    row("manifest_get_digest_p50_ms", "… p50", "ms", None, Goal::None),
    row("manifest_get_digest_p99_ms", "… p99", "ms", None, Goal::AtMost(15.0)),
    row(
        "usage_events_dropped_share",
        "usage events dropped (share of manifest GETs)",
        "share",
        None,
        Goal::None,
    ),
    row(
        "blob_head_rps",
        "blob HEAD",
        "req/s",
        Some(("blob_head_rps", Who::Nginx)),
        ratios(Some(0.35), None),
    ),
    row("blob_head_p50_ms", "… p50", "ms", None, Goal::None),
    row("blob_head_p99_ms", "… p99", "ms", None, Goal::None),
    row(
        "blob_get_1_stream_mbps",
        "blob GET, 1 stream",
        "MB/s",
        Some(("blob_get_1_stream_mbps", Who::Nginx)),
        ratios(Some(0.8), Some(1.1)),
    ),
    row(
        "blob_get_8_streams_mbps",
        "blob GET, 8 streams",
        "MB/s",
        Some(("blob_get_8_streams_mbps", Who::Nginx)),
        ratios(Some(0.9), None),
    ),
    row("blob_get_cpu_ms_per_gb", "… server CPU per GB sent", "ms/GB", None, Goal::None),
    row("blob_get_2x_1_stream_mbps", "blob GET ×2 size, 1 stream", "MB/s", None, Goal::None),
    row("blob_get_2x_8_streams_mbps", "blob GET ×2 size, 8 streams", "MB/s", None, Goal::None),
    row(
        "s3_blob_get_1_stream_mbps",
        "blob GET on S3 (s3s-fs), 1 stream",
        "MB/s",
        Some(("s3_blob_get_1_stream_mbps", Who::S3sFs)),
        Goal::None,
    ),
    row(
        "s3_blob_get_8_streams_mbps",
        "blob GET on S3 (s3s-fs), 8 streams",
        "MB/s",
        Some(("s3_blob_get_8_streams_mbps", Who::S3sFs)),
        Goal::None,
    ),
    row("s3_blob_get_cpu_ms_per_gb", "… server CPU per GB sent", "ms/GB", None, Goal::None),
    row("rss_s3_blob_get_mib", "peak RSS, blob GET on S3", "MiB", None, Goal::AtMost(48.0)),
    row(
        "push_64mib_monolithic_mbps",
        "push 4 × 64 MiB, monolithic",
        "MB/s",
        SHA,
        ratios(Some(0.5), Some(2.0)),
    ),
    row(
        "push_64mib_chunked_mbps",
        "push 4 × 64 MiB, chunked",
        "MB/s",
        SHA,
        ratios(None, Some(2.0)),
    ),
    row(
        "push_1mib_monolithic_mbps",
        "push 64 × 1 MiB, monolithic",
        "MB/s",
        SHA,
        ratios(None, Some(2.0)),
    ),
    row("push_1mib_chunked_mbps", "push 64 × 1 MiB, chunked", "MB/s", SHA, ratios(None, Some(2.0))),
    row("manifest_put_1_per_s", "manifest PUT, sequential", "PUT/s", None, ratios(None, Some(3.0))),
    row(
        "manifest_put_per_s",
        "manifest PUT, 4 connections",
        "PUT/s",
        None,
        ratios(None, Some(3.0)),
    ),
    row("token_rps", "/token, customer access token", "req/s", None, Goal::AtLeast(5000.0)),
    row("rss_manifest_get_mib", "peak RSS, manifest GET phase", "MiB", None, Goal::AtMost(48.0)),
    row("rss_blob_get_mib", "peak RSS, blob GET phase", "MiB", None, Goal::AtMost(48.0)),
    row("rss_blob_get_2x_mib", "peak RSS, blob GET ×2 size", "MiB", None, Goal::AtMost(48.0)),
    row("rss_growth_2x", "peak RSS ×2 size / ×1 size", "×", None, Goal::AtMost(1.10)),
];

/// Every number of every run.
#[derive(Debug, Default)]
pub struct Results {
    values: BTreeMap<&'static str, BTreeMap<Who, Vec<f64>>>,
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn format(value: f64, unit: &str) -> String {
    match unit {
        "ms" => format!("{value:.2}"),
        "MiB" => format!("{value:.1}"),
        "×" | "share" => format!("{value:.2}"),
        _ if value >= 100.0 => format!("{value:.0}"),
        _ => format!("{value:.1}"),
    }
}

impl Results {
    pub fn record(&mut self, metric: &'static str, who: Who, value: f64) {
        self.values.entry(metric).or_default().entry(who).or_default().push(value);
    }

    pub fn median(&self, metric: &str, who: Who) -> Option<f64> {
        self.values.get(metric)?.get(&who).filter(|v| !v.is_empty()).map(|v| median(v))
    }

    /// The median over runs of Wharf's figure for `metric` divided by `other`'s figure of the
    /// same run (runs alternate the servers, so a ratio within a run is what cancels drift).
    fn ratio(&self, metric: &str, of: (&str, Who)) -> Option<f64> {
        let ratios = self.ratios(metric, of)?;
        (!ratios.is_empty()).then(|| median(&ratios))
    }

    /// Each run's ratio of Wharf's figure for `metric` to `other`'s.
    fn ratios(&self, metric: &str, (other_metric, other): (&str, Who)) -> Option<Vec<f64>> {
        let wharf = self.values.get(metric)?.get(&Who::Wharf)?;
        let other = self.values.get(other_metric)?.get(&other)?;
        Some(wharf.iter().zip(other).filter(|(_, b)| **b > 0.0).map(|(a, b)| a / b).collect())
    }

    /// The median ratio, with the runs' lowest and highest when there was more than one run:
    /// `0.95 (0.90–1.02)`.
    fn ratio_text(&self, metric: &str, of: (&str, Who)) -> String {
        let Some(ratios) = self.ratios(metric, of).filter(|r| !r.is_empty()) else {
            return "—".to_owned();
        };
        let mid = median(&ratios);
        if ratios.len() < 2 {
            return format!("{mid:.2}");
        }
        let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{mid:.2} ({low:.2}–{high:.2})")
    }

    /// Wharf's median against a row's goal: `Some(true)` PASS, `Some(false)` MISS, `None`
    /// when the row has no goal or a number is missing.
    fn judge(&self, row: &Row) -> Option<bool> {
        let wharf = self.median(row.metric, Who::Wharf)?;
        match row.goal {
            Goal::None => None,
            Goal::AtMost(limit) => Some(wharf <= limit),
            Goal::AtLeast(limit) => Some(wharf >= limit),
            Goal::Ratios { ceiling, distribution } => {
                let mut pass = true;
                if let Some(factor) = ceiling {
                    pass &= self.ratio(row.metric, row.ceiling?)? >= factor;
                }
                if let Some(factor) = distribution {
                    pass &= self.ratio(row.metric, (row.metric, Who::Distribution))? >= factor;
                }
                Some(pass)
            }
        }
    }

    fn goal_text(row: &Row) -> String {
        match row.goal {
            Goal::None => String::new(),
            Goal::AtMost(limit) => format!("≤ {} {}", format(limit, row.unit), row.unit),
            Goal::AtLeast(limit) => format!("≥ {} {}", format(limit, row.unit), row.unit),
            Goal::Ratios { ceiling, distribution } => {
                let mut parts = Vec::new();
                if let (Some(factor), Some((_, who))) = (ceiling, row.ceiling) {
                    parts.push(format!("≥ {factor}× {}", who.name()));
                }
                if let Some(factor) = distribution {
                    parts.push(format!("≥ {factor}× distribution"));
                }
                parts.join(", ")
            }
        }
    }

    /// The markdown table: medians of each server's figures, and medians of the per-run
    /// ratios with their range over the runs (the run-to-run spread).
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| measurement | unit | Wharf | distribution | distribution + htpasswd | ceiling \
             | Wharf/distribution | Wharf/ceiling | target | |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
        );
        let cell = |v: Option<f64>, unit: &str| v.map_or("—".to_owned(), |v| format(v, unit));
        for row in ROWS {
            let wharf = self.median(row.metric, Who::Wharf);
            let distribution = self.median(row.metric, Who::Distribution);
            let htpasswd = self.median(row.metric, Who::Htpasswd);
            if wharf.is_none() && distribution.is_none() && htpasswd.is_none() {
                // A phase left out with `--phases`.
                continue;
            }
            let ceiling = row.ceiling.and_then(|(m, who)| Some((self.median(m, who)?, who)));
            let ratio = |of: Option<(&str, Who)>| match (of, row.unit) {
                (_, "ms" | "MiB" | "×" | "share") => "—".to_owned(),
                (Some(of), _) => self.ratio_text(row.metric, of),
                (None, _) => "—".to_owned(),
            };
            let verdict = match self.judge(row) {
                Some(true) => "PASS",
                Some(false) => "MISS",
                None => "",
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                row.label,
                row.unit,
                cell(wharf, row.unit),
                cell(distribution, row.unit),
                cell(htpasswd, row.unit),
                ceiling.map_or("—".to_owned(), |(v, who)| format!(
                    "{} ({})",
                    format(v, row.unit),
                    who.name()
                )),
                ratio(Some((row.metric, Who::Distribution))),
                ratio(row.ceiling),
                Self::goal_text(row),
                verdict,
            ));
        }
        out
    }

    /// Every run's numbers, the medians, and the judged table.
    pub fn json(&self) -> serde_json::Value {
        let metrics: serde_json::Map<String, serde_json::Value> = self
            .values
            .iter()
            .map(|(metric, by_who)| {
                let runs: serde_json::Map<_, _> =
                    by_who.iter().map(|(who, v)| (who.key().to_owned(), json!(v))).collect();
                let medians: serde_json::Map<_, _> = by_who
                    .iter()
                    .map(|(who, v)| (who.key().to_owned(), json!(median(v))))
                    .collect();
                ((*metric).to_owned(), json!({"runs": runs, "median": medians}))
            })
            .collect();
        let table: Vec<_> = ROWS
            .iter()
            .map(|row| {
                let wharf = self.median(row.metric, Who::Wharf);
                let distribution = self.median(row.metric, Who::Distribution);
                let ceiling = row.ceiling.and_then(|(m, who)| self.median(m, who));
                json!({
                    "metric": row.metric, "label": row.label, "unit": row.unit,
                    "wharf": wharf, "distribution": distribution,
                    "distribution_htpasswd": self.median(row.metric, Who::Htpasswd),
                    "ceiling": ceiling, "ceiling_of": row.ceiling.map(|(_, who)| who.key()),
                    "wharf_over_distribution": self.ratio(row.metric, (row.metric, Who::Distribution)),
                    "wharf_over_ceiling": row.ceiling.and_then(|of| self.ratio(row.metric, of)),
                    "target": Self::goal_text(row),
                    "pass": self.judge(row),
                })
            })
            .collect();
        json!({"metrics": metrics, "table": table})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_medians_against_goals() {
        let mut results = Results::default();
        for (w, d, n) in [(100.0, 5.0, 200.0), (120.0, 6.0, 250.0), (80.0, 50.0, 300.0)] {
            results.record("manifest_get_tag_rps", Who::Wharf, w);
            results.record("manifest_get_tag_rps", Who::Distribution, d);
            results.record("manifest_get_tag_rps", Who::Nginx, n);
        }
        results.record("manifest_get_tag_p99_ms", Who::Wharf, 16.0);
        // Medians 100, 6, 250; per-run ratios 0.5, 0.48, 0.27 of nginx and 20, 20, 1.6 of
        // distribution, whose medians (0.48, 20) are what is judged.
        assert_eq!(
            results.ratio("manifest_get_tag_rps", ("manifest_get_tag_rps", Who::Nginx)),
            Some(0.48)
        );
        assert_eq!(results.judge(&ROWS[0]), Some(true));
        assert_eq!(results.judge(&ROWS[2]), Some(false));
        assert_eq!(results.judge(&ROWS[3]), None);
        let table = results.table();
        assert!(table.contains(
            "| manifest GET by tag | req/s | 100 | 6.0 | — | 250 (nginx) | 20.00 (1.60–20.00) | 0.48 (0.27–0.50) |"
        ));
        assert!(table.contains("PASS"));
        assert!(table.contains("MISS"));
    }
}
