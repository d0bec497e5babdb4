//! Running wrk and reading its report.

use std::{process::Command, time::Duration};

use anyhow::{Context, bail};

/// One wrk run.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub fn check_installed() -> anyhow::Result<()> {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(_) => bail!("wrk is not installed (apt-get install wrk, or `just bench-tools`)"),
    }
}

/// `wrk -t2 -c<connections> -d<duration> --latency -H 'Authorization: Bearer …' URL`.
pub fn run(url: &str, bearer: &str, connections: u32, duration: Duration) -> anyhow::Result<Run> {
    run_with(url, &[format!("Authorization: Bearer {bearer}")], connections, duration)
}

/// `wrk -t2 -c<connections> -d<duration> --latency --timeout 30s -H <header>… URL`: GET only (wrk cannot
/// measure HEAD: its parser waits for the body a HEAD answer's `Content-Length` announces, see
/// `http1.rs`).
pub fn run_with(
    url: &str,
    headers: &[String],
    connections: u32,
    duration: Duration,
) -> anyhow::Result<Run> {
    run_script(url, headers, None, connections, duration)
}

/// Like [`run_with`], with a Lua script (`wrk -s`) shaping each request.
pub fn run_script(
    url: &str,
    headers: &[String],
    script: Option<&std::path::Path>,
    connections: u32,
    duration: Duration,
) -> anyhow::Result<Run> {
    let mut command = Command::new("wrk");
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    command
        .args(["-t2", &format!("-c{connections}"), &format!("-d{}s", duration.as_secs())])
        // A request slower than wrk's default 2 s timeout would be left out of the latency
        // figures and fail the run; let it count instead.
        .args(["--latency", "--timeout", "30s"]);
    for header in headers {
        command.args(["-H", header]);
    }
    let out = command.arg(url).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    parse(&text)
}

fn millis(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => return None,
    })
}

/// Reads requests/s and the 50th and 99th latency percentiles; refuses a run with non-2xx
/// answers or socket errors (it would measure failures, not pulls).
pub fn parse(text: &str) -> anyhow::Result<Run> {
    let mut run = Run { requests_per_second: f64::NAN, p50_ms: f64::NAN, p99_ms: f64::NAN };
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(v)) => run.requests_per_second = v.parse()?,
            (Some("50.000%" | "50%"), Some(v)) => run.p50_ms = millis(v).context("p50")?,
            (Some("99.000%" | "99%"), Some(v)) => run.p99_ms = millis(v).context("p99")?,
            (Some("Non-2xx"), _) | (Some("Socket"), Some("errors:")) => {
                bail!("wrk saw failures: {line}")
            }
            _ => {}
        }
    }
    if run.requests_per_second.is_nan() || run.p50_ms.is_nan() || run.p99_ms.is_nan() {
        bail!("could not read wrk's report:\n{text}");
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_report() {
        let report = "Running 10s test @ http://127.0.0.1:1/v2/x\n  2 threads and 64 connections\n  \
            Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     2.10ms    1.00ms  \
            30.00ms   90.00%\n  Latency Distribution\n     50%    1.50ms\n     75%    2.00ms\n     \
            90%    3.00ms\n     99%  850.00us\n  100000 requests in 10.00s, 50.00MB read\n\
            Requests/sec:  10000.50\nTransfer/sec:      5.00MB\n";
        let run = parse(report).unwrap();
        assert_eq!(run.requests_per_second, 10000.5);
        assert_eq!(run.p50_ms, 1.5);
        assert_eq!(run.p99_ms, 0.85);
        let failing = format!("{report}  Non-2xx or 3xx responses: 12\n");
        assert!(parse(&failing).is_err());
        assert!(parse("nothing").is_err());
        assert_eq!(millis("1.2s"), Some(1200.0));
    }
}
