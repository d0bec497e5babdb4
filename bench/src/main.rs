//! `wharf-bench`: benchmarks that drive a release `wharf` binary from the outside.
//!
//! `wharf-bench usage` (`just bench-usage`): manifest-GET throughput with usage events
//! recorded and not, see `usage.rs`.
//!
//! `wharf-bench pages` (`just bench-pages`): what a signed-in portal page costs, see
//! `pages.rs`.
//!
//! `wharf-bench airgap` (`just bench-airgap`): peak memory and throughput of `wharf export`
//! for a small and a large bundle, see `airgap.rs`.
//!
//! `wharf-bench compare` (`just bench`): Wharf side by side with the reference registry (CNCF
//! distribution) and nginx: pulls, pushes, /token and peak memory, see `compare.rs`.
//!
//! `wharf-bench entitlements` (run it with `just bench-entitlements`): a vendor with 1,000
//! customers (one license of three grants each), 100 repositories and 10,000 tags, seeded
//! straight into a private Postgres. It reports
//!
//! 1. the per-decision cost on that data, in process: building the customer's
//!    `EntitledSet` for one repository from the database's facts, and one tag or manifest
//!    check against it;
//! 2. manifest-GET throughput and latency of `wharf serve` under wrk (64 connections), by tag
//!    and by digest, with a customer bearer token (token check, entitlement check) and with a
//!    vendor bearer token (the same path without the entitlement check), alternating the two
//!    so machine drift cancels out.
//!
//! Output: a table of medians on stdout and a JSON file. Needs `wrk` on PATH (and for
//! `compare`, nginx and Debian's `docker-registry`: `just bench-tools`).

mod airgap;
mod compare;
mod content;
mod distribution;
mod http1;
mod nginx;
mod oci;
mod pages;
mod procs;
mod report;
mod seed;
mod usage;
mod wrk;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::json;
use wharf_entitlements::EntitledSet;

/// Which benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Decision cost and manifest GETs with and without the entitlement check.
    Entitlements,
    /// Manifest GETs with usage events recorded and not.
    Usage,
    /// Side by side with the reference registry and nginx.
    Compare,
    /// Signed-in portal pages.
    Pages,
    /// Air-gap bundle export.
    Airgap,
}

struct Args {
    mode: Mode,
    wharf: PathBuf,
    runs: usize,
    duration: u64,
    connections: u32,
    out: PathBuf,
    /// Instead of measuring, keep the seeded server up this long (for profiling by hand).
    hold: Option<u64>,
    /// `compare`: the size of the blob pulled (MiB); Wharf is also pulled at twice this.
    blob_mib: usize,
    /// `compare`: the reference registry's binary.
    distribution: PathBuf,
    /// `compare`: the phases to run (`--phases push,manifest-put`); all when `None`.
    phases: Option<Vec<compare::Phase>>,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let mut args = Self {
            mode: Mode::Entitlements,
            wharf: PathBuf::from("target/release/wharf"),
            runs: 3,
            duration: 10,
            connections: 64,
            out: PathBuf::from("bench/results/entitlements.json"),
            hold: None,
            blob_mib: 1024,
            distribution: compare::default_distribution(),
            phases: None,
        };
        let mut it = std::env::args().skip(1);
        match it.next().as_deref() {
            Some("entitlements") => {}
            Some("usage") => {
                args.mode = Mode::Usage;
                args.out = PathBuf::from("bench/results/usage.json");
            }
            Some("pages") => {
                args.mode = Mode::Pages;
                args.out = PathBuf::from("bench/results/pages.json");
            }
            Some("airgap") => {
                args.mode = Mode::Airgap;
                args.out = PathBuf::from("bench/results/airgap.json");
            }
            Some("compare") => {
                args.mode = Mode::Compare;
                args.out = PathBuf::from("bench/results/compare.json");
            }
            Some("--help" | "-h") => help(),
            other => bail!("{USAGE} (got {other:?})"),
        }
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                help();
            }
            if flag == "--quick" {
                // A smoke run: every phase once, briefly, with a small blob.
                (args.runs, args.duration, args.blob_mib) = (1, 2, 64);
                continue;
            }
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--wharf" => args.wharf = value.into(),
                "--runs" => args.runs = value.parse()?,
                "--duration" => args.duration = value.parse()?,
                "--connections" => args.connections = value.parse()?,
                "--out" => args.out = value.into(),
                "--hold" => args.hold = Some(value.parse()?),
                "--blob-mib" => args.blob_mib = value.parse()?,
                "--distribution" => args.distribution = value.into(),
                "--phases" => {
                    args.phases = Some(
                        value.split(',').map(compare::Phase::parse).collect::<Result<_, _>>()?,
                    )
                }
                _ => bail!("unknown flag {flag}"),
            }
        }
        if args.runs == 0 {
            bail!("--runs must be at least 1");
        }
        if args.blob_mib == 0 || args.duration == 0 {
            bail!("--blob-mib and --duration must be at least 1");
        }
        Ok(args)
    }
}

/// The command line, as `--help` prints it and a wrong one is refused with.
const USAGE: &str = "usage: wharf-bench entitlements|usage|pages|airgap|compare [--wharf PATH] \
     [--runs N] [--duration SECS] [--connections N] [--out FILE] [--hold SECS] [--blob-mib N] \
     [--distribution PATH] [--phases LIST] [--quick]";

/// Prints [`USAGE`] (and the phases `compare` knows) and exits successfully.
fn help() -> ! {
    println!("{USAGE}");
    let phases: Vec<&str> = compare::Phase::NAMES.iter().map(|(name, _)| *name).collect();
    println!("compare phases (--phases, comma-separated): {}", phases.join(","));
    std::process::exit(0)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let wharf = std::fs::canonicalize(&args.wharf)
        .with_context(|| format!("no wharf binary at {}", args.wharf.display()))?;
    if args.mode == Mode::Compare {
        return compare::run(&args, &wharf).await;
    }
    let scratch = procs::Scratch::new()?;
    if args.mode == Mode::Airgap {
        let postgres = procs::Postgres::start(&wharf, &scratch.path().join("pg"))?;
        return airgap::run(&args, &wharf, postgres.url(), scratch.path()).await;
    }
    wrk::check_installed()?;
    let postgres = procs::Postgres::start(&wharf, &scratch.path().join("pg"))?;
    procs::migrate(&wharf, postgres.url())?;
    if args.mode == Mode::Pages {
        return pages::run(&args, &wharf, postgres.url(), scratch.path()).await;
    }
    let pool = wharf_db::PgPool::connect(postgres.url()).await?;
    eprintln!("seeding 1,000 customers, 100 repositories, 10,000 tags ...");
    let world = seed::seed(&pool).await?;
    if args.mode == Mode::Usage {
        return usage::run(&args, &wharf, postgres.url(), scratch.path(), &world).await;
    }

    // 1. The decision, in process, on the seeded data.
    let now = time::OffsetDateTime::now_utc();
    let grace = time::Duration::minutes(6);
    let facts = wharf_db::registry::facts::load(&pool, &world.repository, now - grace)
        .await?
        .context("the seeded repository")?
        .facts;
    let licenses =
        wharf_db::licenses::entitlements_of(&pool, world.organization, world.customer).await?;
    let mut builds = Vec::new();
    let mut set = None;
    for _ in 0..21 {
        let start = Instant::now();
        set = Some(EntitledSet::build(&licenses, &facts, now, grace));
        builds.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let set = set.context("built")?;
    let lookups = 2_000_000u32;
    let tags: Vec<&str> = facts.tags().iter().map(|t| t.name.as_str()).collect();
    let digests: Vec<&str> = facts.tags().iter().map(|t| t.digest.as_str()).collect();
    let start = Instant::now();
    let mut allowed = 0u32;
    for i in 0..lookups {
        let i = i as usize;
        allowed += u32::from(std::hint::black_box(&set).allows_tag(tags[i % tags.len()]));
        allowed += u32::from(set.allows_manifest(digests[(i * 7) % digests.len()]));
    }
    let per_decision_ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(lookups * 2);
    let build_us = median(&mut builds);
    eprintln!(
        "decision: {per_decision_ns:.0} ns per check; building the set: {build_us:.0} µs \
         ({} of {} tags visible, {allowed} allowed checks)",
        set.visible_tags().len(),
        tags.len()
    );

    // 2. Manifest GETs through the real server.
    let server = procs::Server::start(&wharf, postgres.url(), &scratch.path().join("data")).await?;
    let customer = server.bearer(&world.customer_token, &world.repository).await?;
    let vendor = server.bearer(&world.vendor_token, &world.repository).await?;
    if let Some(seconds) = args.hold {
        println!("URL={}", server.url());
        println!("CUSTOMER_BEARER={customer}");
        println!("VENDOR_BEARER={vendor}");
        println!("TAG_PATH=/v2/{}/manifests/{}", world.repository, world.tag);
        println!("PID={}", server.pid());
        println!("CUSTOMER_TOKEN={}", world.customer_token);
        println!("REPOSITORY={}", world.repository);
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        return Ok(());
    }
    let paths = [
        ("by tag", format!("/v2/{}/manifests/{}", world.repository, world.tag)),
        ("by digest", format!("/v2/{}/manifests/{}", world.repository, world.digest)),
    ];
    for (_, path) in &paths {
        for bearer in [&customer, &vendor] {
            let status = server.status(path, bearer).await?;
            if status != 200 {
                bail!("GET {path} answered {status}, not 200");
            }
        }
    }
    let mut results: Vec<(String, String, Vec<wrk::Run>)> = Vec::new();
    for (what, _) in &paths {
        for who in ["customer", "vendor"] {
            results.push(((*what).to_owned(), who.to_owned(), Vec::new()));
        }
    }
    for run in 0..args.runs {
        for (p, (_, path)) in paths.iter().enumerate() {
            // Alternate which goes first, so drift does not favour one.
            let order: [(usize, &str); 2] = if run % 2 == 0 {
                [(0, &customer), (1, &vendor)]
            } else {
                [(1, &vendor), (0, &customer)]
            };
            for (who, bearer) in order {
                let url = format!("{}{path}", server.url());
                let measured =
                    wrk::run(&url, bearer, args.connections, Duration::from_secs(args.duration))?;
                eprintln!(
                    "run {}: {} {}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                    run + 1,
                    results[p * 2 + who].0,
                    results[p * 2 + who].1,
                    measured.requests_per_second,
                    measured.p50_ms,
                    measured.p99_ms
                );
                results[p * 2 + who].2.push(measured);
            }
        }
    }
    drop(server);

    println!();
    println!(
        "| manifest GET ({} connections, {} s, median of {}) | req/s | p50 ms | p99 ms |",
        args.connections, args.duration, args.runs
    );
    println!("|---|---|---|---|");
    let mut rows = Vec::new();
    let mut rates = std::collections::HashMap::new();
    for (what, who, runs) in &results {
        let rate = median(&mut runs.iter().map(|r| r.requests_per_second).collect::<Vec<_>>());
        let p50 = median(&mut runs.iter().map(|r| r.p50_ms).collect::<Vec<_>>());
        let p99 = median(&mut runs.iter().map(|r| r.p99_ms).collect::<Vec<_>>());
        let label = if who == "customer" {
            "customer token, entitlement check"
        } else {
            "vendor token, no entitlement check"
        };
        println!("| {what}, {label} | {rate:.0} | {p50:.2} | {p99:.2} |");
        rates.insert((what.clone(), who.clone()), rate);
        rows.push(json!({
            "request": what, "principal": who, "requests_per_second": rate,
            "p50_ms": p50, "p99_ms": p99,
            "runs": runs.iter().map(|r| json!({
                "requests_per_second": r.requests_per_second, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
            })).collect::<Vec<_>>(),
        }));
    }
    let mut ratios = serde_json::Map::new();
    for (what, _) in &paths {
        let with = rates[&((*what).to_owned(), "customer".to_owned())];
        let without = rates[&((*what).to_owned(), "vendor".to_owned())];
        println!("with/without entitlement check, {what}: {:.3}", with / without);
        ratios.insert((*what).to_owned(), json!(with / without));
    }
    println!(
        "per decision: {per_decision_ns:.0} ns; building one customer's set for a 100-tag \
         repository: {build_us:.0} µs"
    );
    let report = json!({
        "benchmark": "entitlements",
        "data": {"customers": 1000, "repositories": 100, "tags": 10000,
                 "licenses_per_customer": 1, "grants_per_license": 3},
        "connections": args.connections, "duration_seconds": args.duration, "runs": args.runs,
        "decision": {"ns_per_check": per_decision_ns, "set_build_us": build_us},
        "manifest_get": rows,
        "with_over_without": ratios,
    });
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
