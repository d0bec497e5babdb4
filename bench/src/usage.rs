//! `wharf-bench usage` (`just bench-usage`): what recording pull events costs.
//!
//! On the entitlement benchmark's data, two `wharf serve` processes share the database: one
//! with `WHARF_USAGE_EVENTS=on` (the default), one with `off`. wrk drives customer manifest
//! GETs by tag at each in turn, alternating which goes first in every run, and the report
//! gives the medians and the on/off ratio, plus how many events the recording server
//! counted, wrote and dropped (from its metrics listener and the database).

use std::{path::Path, time::Duration};

use anyhow::bail;
use serde_json::json;

use crate::{Args, median, procs, seed::World, wrk};

/// A counter from Prometheus text.
pub fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

pub async fn run(
    args: &Args,
    wharf: &Path,
    database_url: &str,
    scratch: &Path,
    world: &World,
) -> anyhow::Result<()> {
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let on = procs::Server::start_with(
        wharf,
        database_url,
        &scratch.join("data-on"),
        &[
            ("WHARF_USAGE_EVENTS", "on".to_owned()),
            ("WHARF_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
        ],
    )
    .await?;
    let off = procs::Server::start_with(
        wharf,
        database_url,
        &scratch.join("data-off"),
        &[("WHARF_USAGE_EVENTS", "off".to_owned())],
    )
    .await?;
    let path = format!("/v2/{}/manifests/{}", world.repository, world.tag);
    let labels = ["on", "off"];
    let mut bearers = Vec::new();
    for server in [&on, &off] {
        let bearer = server.bearer(&world.customer_token, &world.repository).await?;
        let status = server.status(&path, &bearer).await?;
        if status != 200 {
            bail!("GET {path} answered {status}, not 200");
        }
        bearers.push(bearer);
    }
    let mut measured: [Vec<wrk::Run>; 2] = [Vec::new(), Vec::new()];
    for run in 0..args.runs {
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (label, server) = (labels[i], if i == 0 { &on } else { &off });
            let url = format!("{}{path}", server.url());
            let r =
                wrk::run(&url, &bearers[i], args.connections, Duration::from_secs(args.duration))?;
            eprintln!(
                "run {}: events {label}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                run + 1,
                r.requests_per_second,
                r.p50_ms,
                r.p99_ms
            );
            measured[i].push(r);
        }
    }
    // Let the recorder write its last batch, then count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics = on.text(&metrics_url).await?;
    let pool = wharf_db::PgPool::connect(database_url).await?;
    // GETs written (identical GETs in one second are one row that counts them) and rows.
    let (written, rows_written): (i64, i64) =
        sqlx::query_as("select coalesce(sum(requests), 0)::int8, count(*) from pull_events")
            .fetch_one(&pool)
            .await?;
    drop((on, off));

    println!();
    println!(
        "| manifest GET by tag, customer token ({} connections, {} s, median of {}) | req/s | p50 ms | p99 ms |",
        args.connections, args.duration, args.runs
    );
    println!("|---|---|---|---|");
    let mut rows = Vec::new();
    let mut rates = [0.0; 2];
    for (i, label) in labels.iter().enumerate() {
        let runs = &measured[i];
        let rate = median(&mut runs.iter().map(|r| r.requests_per_second).collect::<Vec<_>>());
        let p50 = median(&mut runs.iter().map(|r| r.p50_ms).collect::<Vec<_>>());
        let p99 = median(&mut runs.iter().map(|r| r.p99_ms).collect::<Vec<_>>());
        rates[i] = rate;
        println!("| usage events {label} | {rate:.0} | {p50:.2} | {p99:.2} |");
        rows.push(json!({
            "usage_events": label, "requests_per_second": rate, "p50_ms": p50, "p99_ms": p99,
            "runs": runs.iter().map(|r| json!({
                "requests_per_second": r.requests_per_second, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
            })).collect::<Vec<_>>(),
        }));
    }
    let ratio = rates[0] / rates[1];
    let pulls = counter(&metrics, "wharf_pulls_total");
    let dropped = counter(&metrics, "wharf_usage_events_dropped_total");
    println!("on/off: {ratio:.3}");
    println!(
        "GETs recorded: {pulls}, written: {written} (in {rows_written} rows), dropped (buffer full): {dropped}"
    );
    let report = json!({
        "benchmark": "usage",
        "connections": args.connections, "duration_seconds": args.duration, "runs": args.runs,
        "manifest_get": rows,
        "on_over_off": ratio,
        "events": {"recorded": pulls, "written": written, "rows": rows_written, "dropped": dropped},
    });
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
