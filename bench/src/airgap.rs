//! `wharf-bench airgap` (`just bench-airgap`): what exporting an air-gap bundle costs in
//! memory and time (docs/airgap.md). A customer entitled to one image whose layer is
//! `--blob-mib` MiB (1 GiB by default), pushed through `/v2` of a release `wharf serve`; then
//! `wharf export` of a small bundle (a tag with a 1 MiB layer) and of the large one, each
//! process's peak RSS read from `/proc/<pid>/status` (`VmHWM`) while it runs. The figure the
//! design promises: the large export's peak within 64 MiB of the small one's, and throughput
//! in MB/s. Then the large bundle again from `GET /api/v1/customers/{id}/export`: the
//! server's peak RSS while it streams, over its idle peak (target: within 64 MiB).

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::json;

use crate::{
    Args,
    content::{self, Prng},
    oci::{Auth, Registry},
    procs::{self, Server},
    seed,
};

pub async fn run(args: &Args, wharf: &Path, database_url: &str, dir: &Path) -> anyhow::Result<()> {
    procs::migrate(wharf, database_url)?;
    let data = dir.join("data");
    let server = Server::start(wharf, database_url, &data).await?;
    let pool = wharf_db::PgPool::connect(database_url).await?;
    let accounts = seed::one_customer(&pool, "acme/big", ">=1.0.0").await?;
    let registry = Registry::new(
        server.url(),
        Auth::Basic { user: "acme".into(), password: accounts.vendor_token.clone() },
    );
    let mut prng = Prng::new(7);
    for (tag, mib) in [("1.0.0", 1), ("2.0.0", args.blob_mib)] {
        eprintln!("pushing acme/big:{tag} with a {mib} MiB layer ...");
        let file = content::write_blob_file(&dir.join(format!("layer-{tag}")), mib, &mut prng)?;
        registry.push_file("acme/big", &file, 64 << 20).await?;
        let config = content::image_config(&[&file.digest])?;
        registry.push_monolithic("acme/big", &config).await?;
        let manifest = content::image_manifest(
            (&config.digest, config.bytes.len() as u64),
            &[(&file.digest, file.size)],
            &[("org.opencontainers.image.version", tag)],
        )?;
        registry.put_manifest("acme/big", tag, &manifest).await?;
        std::fs::remove_file(&file.path)?;
    }
    drop(server);

    let mut results = Vec::new();
    for (label, tag) in [("small (1 MiB layer)", "1.0.0"), ("large", "2.0.0")] {
        let mut samples = Vec::new();
        for _ in 0..args.runs {
            let out = dir.join("bundle.tar");
            let started = Instant::now();
            let mut child = Command::new(wharf)
                .args(["export", "--org", "acme", "--customer", "Customer 0001", "--tag", tag])
                .arg("--out")
                .arg(&out)
                .env("DATABASE_URL", database_url)
                .env("WHARF_DATA_DIR", &data)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting wharf export")?;
            let pid = child.id();
            let mut peak = 0;
            let status = loop {
                if let Ok(kib) = procs::peak_rss_kib(pid) {
                    peak = peak.max(kib);
                }
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let elapsed = started.elapsed();
            if !status.success() {
                bail!("wharf export failed: {status}");
            }
            let bytes = std::fs::metadata(&out)?.len();
            std::fs::remove_file(&out)?;
            samples.push((peak, elapsed, bytes));
        }
        samples.sort_by_key(|s| s.0);
        let (peak, _, bytes) = samples[samples.len() / 2];
        let mut times: Vec<Duration> = samples.iter().map(|s| s.1).collect();
        times.sort();
        let time = times[times.len() / 2];
        let rate = bytes as f64 / 1e6 / time.as_secs_f64();
        println!(
            "{label:>22}: bundle {:>8.1} MB, peak RSS {:>6.1} MiB, {:>6.2} s, {rate:>7.0} MB/s (median of {})",
            bytes as f64 / 1e6,
            peak as f64 / 1024.0,
            time.as_secs_f64(),
            args.runs
        );
        results.push(json!({"bundle": label, "bytes": bytes, "peak_rss_kib": peak, "seconds": time.as_secs_f64(), "mb_per_s": rate}));
    }
    // The same large bundle downloaded from the API: the server's own peak over its idle one.
    let server = Server::start(wharf, database_url, &data).await?;
    procs::reset_peak_rss(server.pid())?;
    let http = crate::procs::http_client();
    let url =
        format!("{}/api/v1/customers/{}/export?tag=2.0.0", server.url(), accounts.customer_id);
    let mut api = Vec::new();
    for _ in 0..args.runs {
        // Warm: one small download first, so the idle figure includes what any export loads.
        let small = format!("{}?tag=1.0.0", url.trim_end_matches("?tag=2.0.0"));
        let mut warm = http.get(&small).bearer_auth(&accounts.vendor_token).send().await?;
        while warm.chunk().await?.is_some() {}
        procs::reset_peak_rss(server.pid())?;
        let idle = procs::peak_rss_kib(server.pid())?;
        let started = Instant::now();
        let mut answer =
            http.get(&url).bearer_auth(&accounts.vendor_token).send().await?.error_for_status()?;
        let announced = answer.content_length().unwrap_or(0);
        let (mut bytes, mut peak) = (0u64, idle);
        while let Some(chunk) = answer.chunk().await? {
            bytes += chunk.len() as u64;
            if bytes % (64 << 20) < chunk.len() as u64 {
                peak = peak.max(procs::peak_rss_kib(server.pid())?);
            }
        }
        peak = peak.max(procs::peak_rss_kib(server.pid())?);
        if bytes != announced {
            bail!("the API announced {announced} bytes and sent {bytes}");
        }
        api.push((peak.saturating_sub(idle), started.elapsed(), bytes, idle));
    }
    api.sort_by_key(|s| s.0);
    let (growth_kib, _, bytes, idle) = api[api.len() / 2];
    let mut times: Vec<Duration> = api.iter().map(|s| s.1).collect();
    times.sort();
    let time = times[times.len() / 2];
    let api_growth = growth_kib as f64 / 1024.0;
    let api_verdict = if api_growth <= 64.0 { "PASS" } else { "MISS" };
    println!(
        "{:>22}: bundle {:>8.1} MB, server peak RSS {:.1} MiB over its idle {:.1} MiB, {:>6.2} s, {:>7.0} MB/s (median of {}) (target ≤ 64 MiB): {api_verdict}",
        "large, from the API",
        bytes as f64 / 1e6,
        api_growth,
        idle as f64 / 1024.0,
        time.as_secs_f64(),
        bytes as f64 / 1e6 / time.as_secs_f64(),
        args.runs
    );
    drop(server);

    let small = results[0]["peak_rss_kib"].as_u64().unwrap_or(0);
    let large = results[1]["peak_rss_kib"].as_u64().unwrap_or(0);
    let growth = large.saturating_sub(small) as f64 / 1024.0;
    let verdict = if growth <= 64.0 { "PASS" } else { "MISS" };
    println!(
        "peak RSS growth from the small to the large bundle: {growth:.1} MiB (target ≤ 64 MiB): {verdict}"
    );
    std::fs::create_dir_all(args.out.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(
        &args.out,
        serde_json::to_vec_pretty(&json!({
            "runs": results,
            "rss_growth_mib": growth,
            "api": {"bytes": bytes, "server_idle_rss_kib": idle, "server_rss_growth_mib": api_growth, "seconds": time.as_secs_f64()},
        }))?,
    )?;
    Ok(())
}
