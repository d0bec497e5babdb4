//! `wharf-bench compare` (`just bench`): Wharf side by side with the reference registry (CNCF
//! distribution 2.8, Debian's `docker-registry`) and nginx serving the same files.
//!
//! Starts Wharf (release binary, filesystem storage, a private Postgres, usage events on),
//! distribution twice on one storage root (no auth; htpasswd basic auth) and nginx; pushes the
//! same image (config, small layer, tag `1.0.0`) and the same large blob (`--blob-mib`, in an
//! image tagged `1.0.1`, so the customer is entitled to it) to both registries, and a blob of
//! twice that size to Wharf only; then, in every run, alternating the servers (and reversing
//! their order every other run) so machine drift cancels out:
//!
//! 1. manifest GET by tag and by digest: wrk, `--connections`, `--duration`; Wharf with a
//!    customer bearer token (entitlement check, a usage event per GET), distribution without
//!    auth and with htpasswd, nginx the same bytes as a static file;
//! 2. blob HEAD under the same load (an in-process client: wrk cannot HEAD, see `http1.rs`);
//! 3. /token with a customer access token (Wharf only): wrk;
//! 4. blob GET of the large blob, 1 and 8 concurrent streams, MB/s; each server's bytes are
//!    checked once, untimed, against the sha256; nginx with sendfile is the ceiling; Wharf
//!    again with the blob of twice the size;
//! 5. push of 4 × 64 MiB and 64 × 1 MiB fresh random blobs, monolithic and chunked, one blob
//!    at a time, MB/s, with one core's sha256 rate as the ceiling;
//! 6. manifest PUT: distinct manifests on 4 connections for `--duration`, PUTs/s;
//! 7. peak RSS (`VmHWM`, reset through `clear_refs` before each phase) of each server process
//!    during the manifest GETs and the blob GETs, and of Wharf at twice the blob size;
//! 8. the share of Wharf's usage events (one per manifest GET) dropped during the manifest
//!    GETs because the writer fell behind (from its metrics listener).
//! 9. with `--phases s3-blob-get` only (it starts more servers): a second Wharf on S3 storage
//!    (s3s-fs, its own database in the same Postgres) holding the same image and large blob,
//!    pulled with 1 and 8 streams, against s3s-fs serving the same object to a presigned GET.
//!
//! Output: a markdown table of medians with the ratios Wharf/distribution and Wharf/ceiling
//! and PASS/MISS against the targets (`report.rs`), and a JSON file with every run.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::json;
use tokio::task::JoinSet;

use crate::{
    Args,
    content::{self, Blob, BlobFile, MIB, Prng},
    distribution::{Distribution, Htpasswd},
    http1,
    nginx::{self, Nginx},
    oci::{ACCEPT, Auth, Registry},
    procs,
    report::{Results, Who},
    seed, usage, wrk,
};

/// The repository pulled from, and the one pushed to (kept apart so pushes do not change
/// what the pulls read).
const PULL: &str = "acme/bench";
const PUSH: &str = "acme/push";
const STREAMS: usize = 8;
/// Manifest PUT clients: one (sequential) and four concurrent, with the metric of each.
const PUT_CONNECTIONS: [(usize, &str); 2] =
    [(1, "manifest_put_1_per_s"), (4, "manifest_put_per_s")];
const HTPASSWD_USER: &str = "bench";
const HTPASSWD_PASSWORD: &str = "bench-password";

/// The push batches: name, blob count, blob size, chunk size (`None`: monolithic).
const PUSHES: [(&str, usize, usize, Option<usize>); 4] = [
    ("push_64mib_monolithic_mbps", 4, 64 * MIB, None),
    ("push_64mib_chunked_mbps", 4, 64 * MIB, Some(8 * MIB)),
    ("push_1mib_monolithic_mbps", 64, MIB, None),
    ("push_1mib_chunked_mbps", 64, MIB, Some(MIB)),
];

/// What every registry holds, and nginx serves.
struct Content {
    config: Blob,
    layer: Blob,
    /// `1.0.0`: config and the small layer; the manifest the GETs read.
    manifest: Blob,
    /// The large blob and `1.0.1`, the manifest that entitles the customer to it.
    large: BlobFile,
    large_manifest: Blob,
    /// Twice as large, Wharf only, and `1.0.2`.
    double: BlobFile,
    double_manifest: Blob,
}

impl Content {
    fn generate(dir: &Path, blob_mib: usize, prng: &mut Prng) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        eprintln!("writing a {blob_mib} MiB and a {} MiB blob ...", 2 * blob_mib);
        let large = content::write_blob_file(&dir.join("large"), blob_mib, prng)?;
        let double = content::write_blob_file(&dir.join("double"), 2 * blob_mib, prng)?;
        let layer = Blob::random(prng, 32 * 1024);
        let config = content::image_config(&[&layer.digest])?;
        let config_ref = (config.digest.as_str(), config.bytes.len() as u64);
        let image = |layer: (&str, u64), version: &str| {
            content::image_manifest(
                config_ref,
                &[layer],
                &[("org.opencontainers.image.version", version)],
            )
        };
        Ok(Self {
            manifest: image((&layer.digest, layer.bytes.len() as u64), "1.0.0")?,
            large_manifest: image((&large.digest, large.size), "1.0.1")?,
            double_manifest: image((&double.digest, double.size), "1.0.2")?,
            config,
            layer,
            large,
            double,
        })
    }

    /// Pushes everything to `registry` (the double-size blob only when `double`), and the
    /// config and small layer to the push repository (through `push`, whose credentials may
    /// differ) for the manifest PUTs.
    async fn load(&self, registry: &Registry, push: &Registry, double: bool) -> anyhow::Result<()> {
        for (registry, repository) in [(registry, PULL), (push, PUSH)] {
            registry.push_monolithic(repository, &self.config).await?;
            registry.push_monolithic(repository, &self.layer).await?;
        }
        registry.put_manifest(PULL, "1.0.0", &self.manifest).await?;
        registry.push_file(PULL, &self.large, 64 * MIB).await?;
        registry.put_manifest(PULL, "1.0.1", &self.large_manifest).await?;
        if double {
            registry.push_file(PULL, &self.double, 64 * MIB).await?;
            registry.put_manifest(PULL, "1.0.2", &self.double_manifest).await?;
        }
        Ok(())
    }

    fn by_tag(&self) -> String {
        format!("/v2/{PULL}/manifests/1.0.0")
    }

    fn by_digest(&self) -> String {
        format!("/v2/{PULL}/manifests/{}", self.manifest.digest)
    }

    fn blob_path(blob: &BlobFile) -> String {
        format!("/v2/{PULL}/blobs/{}", blob.digest)
    }
}

/// One server a pull phase drives: its URL, the `Authorization` header it gets, its pid
/// (for its peak RSS; none for nginx, whose workers are several processes).
struct Endpoint {
    who: Who,
    url: String,
    auth: Option<String>,
    pid: Option<u32>,
}

impl Endpoint {
    fn headers(&self, extra: &[&str]) -> Vec<String> {
        extra.iter().map(|h| (*h).to_owned()).chain(self.auth.clone()).collect()
    }
}

/// Everything running.
struct Setup {
    content: Content,
    accounts: seed::Accounts,
    wharf: procs::Server,
    /// Wharf's Prometheus listener: how many usage events it recorded and dropped.
    metrics_url: String,
    distribution: Distribution,
    htpasswd: Distribution,
    nginx: Nginx,
}

impl Setup {
    /// `wharf_pulls_total` and `wharf_usage_events_dropped_total`.
    async fn usage_counters(&self) -> anyhow::Result<(u64, u64)> {
        let text = self.wharf.text(&self.metrics_url).await?;
        Ok((
            usage::counter(&text, "wharf_pulls_total"),
            usage::counter(&text, "wharf_usage_events_dropped_total"),
        ))
    }

    fn wharf_customer(&self, bearer: String) -> Registry {
        Registry::new(self.wharf.url(), Auth::Bearer(bearer))
    }

    async fn customer_bearer(&self) -> anyhow::Result<String> {
        self.wharf.bearer(&self.accounts.customer_token, PULL).await
    }

    /// The registries pushed to: Wharf with a vendor bearer token for `repository`.
    async fn pushers(&self, repository: &str) -> anyhow::Result<Vec<(Who, Registry)>> {
        let scope = format!("repository:{repository}:push,pull");
        let bearer = self.wharf.bearer_for(&self.accounts.vendor_token, &scope).await?;
        Ok(vec![
            (Who::Wharf, Registry::new(self.wharf.url(), Auth::Bearer(bearer))),
            (Who::Distribution, Registry::new(self.distribution.url(), Auth::Anonymous)),
        ])
    }

    /// The four pull endpoints, with a fresh customer bearer token for Wharf.
    async fn endpoints(&self) -> anyhow::Result<Vec<Endpoint>> {
        let basic =
            Auth::Basic { user: HTPASSWD_USER.to_owned(), password: HTPASSWD_PASSWORD.to_owned() };
        Ok(vec![
            Endpoint {
                who: Who::Wharf,
                url: self.wharf.url().to_owned(),
                auth: Auth::Bearer(self.customer_bearer().await?).header(),
                pid: Some(self.wharf.pid()),
            },
            Endpoint {
                who: Who::Distribution,
                url: self.distribution.url().to_owned(),
                auth: None,
                pid: Some(self.distribution.pid()),
            },
            Endpoint {
                who: Who::Htpasswd,
                url: self.htpasswd.url().to_owned(),
                auth: basic.header(),
                pid: Some(self.htpasswd.pid()),
            },
            Endpoint { who: Who::Nginx, url: self.nginx.url().to_owned(), auth: None, pid: None },
        ])
    }
}

/// `items` in the order of this run: as given in even runs, reversed in odd ones.
fn in_order<T>(mut items: Vec<T>, run: usize) -> Vec<T> {
    if run % 2 == 1 {
        items.reverse();
    }
    items
}

/// Free space under `dir`, in bytes (`df -Pk`).
fn free_bytes(dir: &Path) -> anyhow::Result<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output().context("running df")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("reading df: {text}"))?;
    Ok(kib * 1024)
}

fn version_of(binary: &Path, arg: &str) -> String {
    Command::new(binary)
        .arg(arg)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text).trim().to_owned()
        })
        .unwrap_or_default()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub async fn run(args: &Args, wharf: &Path) -> anyhow::Result<()> {
    wrk::check_installed()?;
    let nginx_binary = nginx::find()?;
    if !args.distribution.is_file() {
        bail!(
            "no reference registry at {} (apt-get install docker-registry, or `just bench-tools`)",
            args.distribution.display()
        );
    }
    let scratch = procs::Scratch::new()?;
    let dir = scratch.path();
    let blob = (args.blob_mib * MIB) as u64;
    let pushed_per_run: u64 =
        PUSHES.iter().map(|(_, n, size, _)| (n * size) as u64).sum::<u64>() * 2;
    // Source files (×1, ×2), Wharf's copies (×1, ×2), distribution's (×1), the pushes.
    let needed = 7 * blob + pushed_per_run * args.runs as u64 + (1 << 30);
    let free = free_bytes(dir)?;
    if free < needed {
        bail!(
            "{} has {} MiB free; this run needs about {} MiB (use a smaller --blob-mib)",
            dir.display(),
            free >> 20,
            needed >> 20
        );
    }
    let meta = Meta {
        args,
        wharf,
        nginx: &nginx_binary,
        started: time::OffsetDateTime::now_utc(),
        load_before: load_average(),
    };
    let seed = u64::from(std::process::id()) ^ (meta.started.unix_timestamp_nanos() as u64);
    let mut prng = Prng::new(seed);
    let content = Content::generate(&dir.join("content"), args.blob_mib, &mut prng)?;

    eprintln!("starting Postgres, Wharf, distribution (twice) and nginx ...");
    let postgres = procs::Postgres::start(wharf, &dir.join("pg"))?;
    procs::migrate(wharf, postgres.url())?;
    let pool = wharf_db::PgPool::connect(postgres.url()).await?;
    let accounts = seed::one_customer(&pool, PULL, ">=1.0.0 <2.0.0").await?;
    drop(pool);
    // Stated rather than left to the defaults: what the targets assume.
    let metrics_port = procs::free_port()?;
    let wharf_server = procs::Server::start_with(
        wharf,
        postgres.url(),
        &dir.join("wharf"),
        &[
            ("WHARF_STORAGE", "fs".to_owned()),
            ("WHARF_USAGE_EVENTS", "on".to_owned()),
            ("WHARF_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
        ],
    )
    .await?;
    let root = dir.join("distribution-storage");
    let distribution =
        Distribution::start(&args.distribution, &dir.join("distribution"), &root, None).await?;
    let htpasswd = Distribution::start(
        &args.distribution,
        &dir.join("distribution-htpasswd"),
        &root,
        Some(Htpasswd { user: HTPASSWD_USER, password: HTPASSWD_PASSWORD }),
    )
    .await?;
    let nginx = Nginx::start(&nginx_binary, &dir.join("nginx")).await?;
    let setup = Setup {
        content,
        accounts,
        wharf: wharf_server,
        metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
        distribution,
        htpasswd,
        nginx,
    };

    eprintln!("loading the same content into Wharf, distribution and nginx ...");
    for ((who, registry), (_, push)) in
        setup.pushers(PULL).await?.into_iter().zip(setup.pushers(PUSH).await?)
    {
        setup.content.load(&registry, &push, who == Who::Wharf).await?;
    }
    let c = &setup.content;
    setup.nginx.put(&c.by_tag(), &c.manifest.bytes)?;
    setup.nginx.put(&c.by_digest(), &c.manifest.bytes)?;
    setup.nginx.link(&Content::blob_path(&c.large), &c.large.path)?;
    let token_url = check_servers(&setup).await?;
    let s3 = match &args.phases {
        Some(phases) if phases.contains(&Phase::S3BlobGet) => {
            Some(S3Side::start(wharf, &postgres, dir, &setup.content).await?)
        }
        _ => None,
    };

    let mut results = Results::default();
    let mut load_per_run = Vec::new();
    for run in 0..args.runs {
        load_per_run.push(load_average());
        eprintln!("run {} of {} (load average {})", run + 1, args.runs, load_average());
        let sha = content::sha256_rate(&mut prng);
        eprintln!("  sha256, one core: {sha:.0} MB/s");
        results.record("sha256_mbps", Who::Sha256, sha);
        let wanted = |phase| args.phases.as_ref().is_none_or(|p| p.contains(&phase));
        if wanted(Phase::ManifestGet) {
            manifest_gets(&setup, args, run, &mut results).await?;
        }
        if wanted(Phase::BlobHead) {
            blob_heads(&setup, args, run, &mut results).await?;
        }
        if wanted(Phase::Token) {
            token_issuance(&setup, args, &token_url, &mut results)?;
        }
        if wanted(Phase::BlobGet) {
            blob_gets(&setup, run, &mut results).await?;
        }
        if wanted(Phase::Push) {
            pushes(&setup, run, &mut prng, &mut results).await?;
        }
        if wanted(Phase::ManifestPut) {
            manifest_puts(&setup, args, run, &mut results).await?;
        }
        if let Some(s3) = &s3 {
            s3_blob_gets(s3, &setup.content.large, run, &mut results).await?;
        }
        meta.write(&results, &load_per_run, run + 1)?;
    }
    drop(s3);
    drop(setup);
    let table = meta.write(&results, &load_per_run, args.runs)?;
    println!();
    println!(
        "Medians of {} run(s), ratios the median of each run's ratio; {} connections, {} s \
         per load; blob {} MiB; MB = 10^6 bytes.",
        args.runs, args.connections, args.duration, args.blob_mib
    );
    println!();
    print!("{table}");
    eprintln!("wrote {}", args.out.display());
    drop(postgres);
    drop(scratch);
    Ok(())
}

/// What the JSON says besides the figures.
struct Meta<'a> {
    args: &'a Args,
    wharf: &'a Path,
    nginx: &'a Path,
    started: time::OffsetDateTime,
    load_before: String,
}

impl Meta<'_> {
    /// Writes `--out` (after every run, so that a failure later keeps what was measured) and
    /// returns the markdown table.
    fn write(
        &self,
        results: &Results,
        load_per_run: &[String],
        runs_completed: usize,
    ) -> anyhow::Result<String> {
        let args = self.args;
        let table = results.table();
        let mut report = json!({
            "benchmark": "compare",
            "started": self.started.format(&time::format_description::well_known::Rfc3339)?,
            "runs_completed": runs_completed,
            "machine": {
                "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                "load_average_before": self.load_before,
                "load_average_at_each_run": load_per_run,
                "load_average_after": load_average(),
            },
            "versions": {
                "distribution": version_of(&args.distribution, "--version"),
                "nginx": version_of(self.nginx, "-v"),
                "wharf": format!("{} ({})", version_of(self.wharf, "--version"), self.wharf.display()),
            },
            "settings": {
                "runs": args.runs, "duration_seconds": args.duration,
                "connections": args.connections, "blob_mib": args.blob_mib,
                "blob_get_streams": STREAMS, "manifest_put_connections": PUT_CONNECTIONS.map(|(n, _)| n),
                "pushes": PUSHES.iter().map(|(name, n, size, chunk)| json!({
                    "metric": name, "blobs": n, "blob_bytes": size, "chunk_bytes": chunk,
                })).collect::<Vec<_>>(),
                "megabyte": 1_000_000,
            },
            "markdown": table,
        });
        if let (Some(report), serde_json::Value::Object(results)) =
            (report.as_object_mut(), results.json())
        {
            report.extend(results);
        }
        if let Some(parent) = args.out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)?;
        Ok(table)
    }
}

/// Before measuring: every server answers the same bytes, the blobs' sha256 match, htpasswd
/// refuses a request without credentials, and /token answers 200. Returns the /token URL.
async fn check_servers(setup: &Setup) -> anyhow::Result<String> {
    let c = &setup.content;
    let customer = setup.wharf_customer(setup.customer_bearer().await?);
    let distribution = Registry::new(setup.distribution.url(), Auth::Anonymous);
    let htpasswd = Registry::new(
        setup.htpasswd.url(),
        Auth::Basic { user: HTPASSWD_USER.into(), password: HTPASSWD_PASSWORD.into() },
    );
    let nginx = Registry::new(setup.nginx.url(), Auth::Anonymous);
    for registry in [&customer, &distribution, &htpasswd, &nginx] {
        for path in [c.by_tag(), c.by_digest()] {
            if registry.get(&path).await? != c.manifest.bytes {
                bail!("{}{path} answered other bytes than were pushed", registry.base);
            }
        }
    }
    let anonymous = reqwest::get(format!("{}/v2/", setup.htpasswd.url())).await?.status();
    if anonymous != 401 {
        bail!("distribution with htpasswd answered {anonymous} without credentials, not 401");
    }
    eprintln!("checking the sha256 of each server's blob (untimed) ...");
    for registry in [&customer, &distribution, &nginx] {
        registry.verify_blob(PULL, &c.large.digest, c.large.size).await?;
    }
    customer.verify_blob(PULL, &c.double.digest, c.double.size).await?;

    let challenge = reqwest::get(format!("{}/v2/", setup.wharf.url())).await?;
    let header = challenge
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .context("no WWW-Authenticate from Wharf's /v2/")?;
    let service = header
        .split("service=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .with_context(|| format!("no service in {header}"))?;
    let url = format!("{}/token?service={service}&scope=repository:{PULL}:pull", setup.wharf.url());
    let body: serde_json::Value = crate::procs::http_client()
        .get(&url)
        .basic_auth("bench", Some(&setup.accounts.customer_token))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if body["token"].as_str().is_none_or(str::is_empty) {
        bail!("/token answered without a token: {body}");
    }
    Ok(url)
}

fn log_load(what: &str, who: Who, run: &wrk::Run) {
    eprintln!(
        "  {what}: {} {:.0} req/s (p50 {:.2} ms, p99 {:.2} ms)",
        who.key(),
        run.requests_per_second,
        run.p50_ms,
        run.p99_ms
    );
}

/// Manifest GET by tag and by digest on every endpoint; peak RSS over both.
async fn manifest_gets(
    setup: &Setup,
    args: &Args,
    run: usize,
    results: &mut Results,
) -> anyhow::Result<()> {
    let endpoints = in_order(setup.endpoints().await?, run);
    for pid in endpoints.iter().filter_map(|e| e.pid) {
        procs::reset_peak_rss(pid)?;
    }
    let (pulls_before, dropped_before) = setup.usage_counters().await?;
    let paths = [
        (
            "by tag",
            setup.content.by_tag(),
            ["manifest_get_tag_rps", "manifest_get_tag_p50_ms", "manifest_get_tag_p99_ms"],
        ),
        (
            "by digest",
            setup.content.by_digest(),
            ["manifest_get_digest_rps", "manifest_get_digest_p50_ms", "manifest_get_digest_p99_ms"],
        ),
    ];
    for (what, path, [rps, p50, p99]) in &paths {
        for endpoint in &endpoints {
            let measured = wrk::run_with(
                &format!("{}{path}", endpoint.url),
                &endpoint.headers(&[ACCEPT]),
                args.connections,
                Duration::from_secs(args.duration),
            )
            .with_context(|| format!("manifest GET {what} on {}", endpoint.who.key()))?;
            log_load(&format!("manifest GET {what}"), endpoint.who, &measured);
            results.record(rps, endpoint.who, measured.requests_per_second);
            results.record(p50, endpoint.who, measured.p50_ms);
            results.record(p99, endpoint.who, measured.p99_ms);
        }
    }
    for endpoint in &endpoints {
        if let Some(pid) = endpoint.pid {
            let peak = mib(procs::peak_rss_kib(pid)?);
            eprintln!("  peak RSS, manifest GETs: {} {peak:.1} MiB", endpoint.who.key());
            results.record("rss_manifest_get_mib", endpoint.who, peak);
        }
    }
    // Events are handed to a bounded buffer and dropped when the writer falls behind: say
    // how many of this phase's pulls went unrecorded.
    let (pulls, dropped) = setup.usage_counters().await?;
    let (pulls, dropped) = (pulls - pulls_before, dropped - dropped_before);
    eprintln!("  usage events: {pulls} recorded, {dropped} of them dropped");
    if pulls > 0 {
        results.record("usage_events_dropped_share", Who::Wharf, dropped as f64 / pulls as f64);
    }
    Ok(())
}

async fn blob_heads(
    setup: &Setup,
    args: &Args,
    run: usize,
    results: &mut Results,
) -> anyhow::Result<()> {
    let path = Content::blob_path(&setup.content.large);
    for endpoint in in_order(setup.endpoints().await?, run) {
        let url = format!("{}{path}", endpoint.url);
        let request = http1::request("HEAD", &url, &endpoint.headers(&[]))?;
        let measured =
            http1::head_load(&url, &request, args.connections, Duration::from_secs(args.duration))
                .await
                .with_context(|| format!("blob HEAD on {}", endpoint.who.key()))?;
        log_load("blob HEAD", endpoint.who, &measured);
        results.record("blob_head_rps", endpoint.who, measured.requests_per_second);
        results.record("blob_head_p50_ms", endpoint.who, measured.p50_ms);
        results.record("blob_head_p99_ms", endpoint.who, measured.p99_ms);
    }
    Ok(())
}

/// `/token` with the customer's access token as basic auth: what every client login costs.
fn token_issuance(
    setup: &Setup,
    args: &Args,
    url: &str,
    results: &mut Results,
) -> anyhow::Result<()> {
    let basic =
        Auth::Basic { user: "bench".into(), password: setup.accounts.customer_token.clone() };
    let measured = wrk::run_with(
        url,
        &[basic.header().context("a basic auth header")?],
        args.connections,
        Duration::from_secs(args.duration),
    )
    .context("/token")?;
    log_load("/token", Who::Wharf, &measured);
    results.record("token_rps", Who::Wharf, measured.requests_per_second);
    Ok(())
}

/// One and `STREAMS` concurrent GETs of `blob` from `endpoint`: MB/s of each, and the
/// server's CPU time per GB sent over both (ms; when its process is known): on a loaded
/// machine the CPU a server spends per byte moves much less than its throughput.
async fn pull(endpoint: &Endpoint, blob: &BlobFile) -> anyhow::Result<([f64; 2], Option<f64>)> {
    let url = format!("{}{}", endpoint.url, Content::blob_path(blob));
    let request = http1::request("GET", &url, &endpoint.headers(&[]))?;
    let cpu_before = endpoint.pid.map(procs::cpu_seconds).transpose()?;
    let one = http1::get_streams(&url, &request, blob.size, 1).await?;
    let many = http1::get_streams(&url, &request, blob.size, STREAMS).await?;
    let cpu = match (endpoint.pid, cpu_before) {
        (Some(pid), Some(before)) => {
            let gb = (blob.size * (1 + STREAMS as u64)) as f64 / 1e9;
            Some((procs::cpu_seconds(pid)? - before) * 1e3 / gb)
        }
        _ => None,
    };
    eprintln!(
        "  blob GET {} MiB: {} {one:.0} MB/s (1 stream), {many:.0} MB/s ({STREAMS} streams){}",
        blob.size >> 20,
        endpoint.who.key(),
        cpu.map(|ms| format!(", server CPU {ms:.0} ms/GB")).unwrap_or_default()
    );
    Ok(([one, many], cpu))
}

/// The large blob from Wharf, distribution and nginx, then twice the size from Wharf; the
/// peak RSS of each registry over its pulls.
async fn blob_gets(setup: &Setup, run: usize, results: &mut Results) -> anyhow::Result<()> {
    let endpoints: Vec<Endpoint> =
        setup.endpoints().await?.into_iter().filter(|e| e.who != Who::Htpasswd).collect();
    let mut wharf_peak = None;
    for endpoint in in_order(endpoints, run) {
        if let Some(pid) = endpoint.pid {
            procs::reset_peak_rss(pid)?;
        }
        let ([one, many], cpu) = pull(&endpoint, &setup.content.large).await?;
        results.record("blob_get_1_stream_mbps", endpoint.who, one);
        results.record("blob_get_8_streams_mbps", endpoint.who, many);
        if let Some(cpu) = cpu {
            results.record("blob_get_cpu_ms_per_gb", endpoint.who, cpu);
        }
        if let Some(pid) = endpoint.pid {
            let peak = mib(procs::peak_rss_kib(pid)?);
            eprintln!("  peak RSS, blob GETs: {} {peak:.1} MiB", endpoint.who.key());
            results.record("rss_blob_get_mib", endpoint.who, peak);
            if endpoint.who == Who::Wharf {
                wharf_peak = Some(peak);
            }
        }
        if endpoint.who == Who::Wharf {
            procs::reset_peak_rss(setup.wharf.pid())?;
            let ([one, many], _) = pull(&endpoint, &setup.content.double).await?;
            results.record("blob_get_2x_1_stream_mbps", Who::Wharf, one);
            results.record("blob_get_2x_8_streams_mbps", Who::Wharf, many);
            let peak = mib(procs::peak_rss_kib(setup.wharf.pid())?);
            eprintln!("  peak RSS, blob GETs ×2 size: wharf {peak:.1} MiB");
            results.record("rss_blob_get_2x_mib", Who::Wharf, peak);
            if let Some(single) = wharf_peak {
                results.record("rss_growth_2x", Who::Wharf, peak / single);
            }
        }
    }
    Ok(())
}

/// Each batch of `PUSHES` to Wharf and distribution, fresh random bytes every time, one blob
/// after the other: MB/s over the batch's wall time.
async fn pushes(
    setup: &Setup,
    run: usize,
    prng: &mut Prng,
    results: &mut Results,
) -> anyhow::Result<()> {
    for (who, registry) in in_order(setup.pushers(PUSH).await?, run) {
        for (metric, count, size, chunk) in PUSHES {
            let blobs: Vec<Blob> = (0..count).map(|_| Blob::random(prng, size)).collect();
            let start = Instant::now();
            for blob in &blobs {
                match chunk {
                    None => registry.push_monolithic(PUSH, blob).await,
                    Some(chunk) => registry.push_chunked(PUSH, blob, chunk).await,
                }
                .with_context(|| format!("{metric} to {}", who.key()))?;
            }
            let rate = (count * size) as f64 / start.elapsed().as_secs_f64() / 1e6;
            eprintln!("  {metric}: {} {rate:.0} MB/s", who.key());
            results.record(metric, who, rate);
        }
    }
    Ok(())
}

/// Distinct manifests (an annotation and a tag each) over the pushed config and layer,
/// one at a time and then `PUT_CONNECTIONS` at a time, for `--duration` each: PUTs/s.
async fn manifest_puts(
    setup: &Setup,
    args: &Args,
    run: usize,
    results: &mut Results,
) -> anyhow::Result<()> {
    let c = &setup.content;
    let config = (c.config.digest.clone(), c.config.bytes.len() as u64);
    let layer = (c.layer.digest.clone(), c.layer.bytes.len() as u64);
    for (connections, metric) in PUT_CONNECTIONS {
        for (who, registry) in in_order(setup.pushers(PUSH).await?, run) {
            let start = Instant::now();
            let deadline = start + Duration::from_secs(args.duration);
            let mut tasks = JoinSet::new();
            for worker in 0..connections {
                let (registry, config, layer) = (registry.clone(), config.clone(), layer.clone());
                tasks.spawn(async move {
                    let mut done = 0u64;
                    while Instant::now() < deadline {
                        let name = format!("s{run}-{connections}-{worker}-{done}");
                        let manifest = content::image_manifest(
                            (&config.0, config.1),
                            &[(&layer.0, layer.1)],
                            &[("org.example.sequence", &name)],
                        )?;
                        registry.put_manifest(PUSH, &name, &manifest).await?;
                        done += 1;
                    }
                    anyhow::Ok(done)
                });
            }
            let mut total = 0u64;
            while let Some(done) = tasks.join_next().await {
                total += done?.with_context(|| format!("manifest PUT to {}", who.key()))?;
            }
            let rate = total as f64 / start.elapsed().as_secs_f64();
            eprintln!("  manifest PUT, {connections} connection(s): {} {rate:.0} PUT/s", who.key());
            results.record(metric, who, rate);
        }
    }
    Ok(())
}

/// Wharf on S3 storage (s3s-fs) beside the filesystem one, for the `s3-blob-get` phase.
struct S3Side {
    /// Dropped last: the Wharf using it stops first.
    wharf: procs::Server,
    accounts: seed::Accounts,
    /// A presigned GET of the large blob's object, answered by s3s-fs itself.
    presigned: String,
    _s3s_fs: wharf_storage::testing::S3TestServer,
}

impl S3Side {
    /// Starts s3s-fs and a Wharf on it with a database of its own (`wharf_s3`, migrated and
    /// seeded like the first), and pushes the image and the large blob to it.
    async fn start(
        wharf: &Path,
        postgres: &procs::Postgres,
        dir: &Path,
        content: &Content,
    ) -> anyhow::Result<Self> {
        eprintln!("starting s3s-fs and a Wharf on S3 storage ...");
        let s3s_fs =
            wharf_storage::testing::S3TestServer::start().await.map_err(anyhow::Error::msg)?;
        let config = s3s_fs.create_bucket("wharf-bench").await?;
        let admin = wharf_db::PgPool::connect(postgres.url()).await?;
        sqlx::query("create database wharf_s3").execute(&admin).await?;
        admin.close().await;
        let mut url = reqwest::Url::parse(postgres.url())?;
        url.set_path("/wharf_s3");
        procs::migrate(wharf, url.as_str())?;
        let pool = wharf_db::PgPool::connect(url.as_str()).await?;
        let accounts = seed::one_customer(&pool, PULL, ">=1.0.0 <2.0.0").await?;
        pool.close().await;
        let server = procs::Server::start_with(
            wharf,
            url.as_str(),
            &dir.join("wharf-s3"),
            &[
                ("WHARF_STORAGE", "s3".to_owned()),
                ("WHARF_S3_ENDPOINT", s3s_fs.endpoint().to_owned()),
                ("WHARF_S3_REGION", config.region.clone()),
                ("WHARF_S3_BUCKET", config.bucket.clone()),
                ("WHARF_S3_ACCESS_KEY_ID", config.access_key_id.clone()),
                ("WHARF_S3_SECRET_ACCESS_KEY", config.secret_access_key.clone()),
                ("WHARF_S3_PATH_STYLE", "true".to_owned()),
                ("WHARF_USAGE_EVENTS", "on".to_owned()),
            ],
        )
        .await?;
        eprintln!("loading the image and the large blob into the Wharf on S3 ...");
        let pusher = |repository: &'static str| {
            let scope = format!("repository:{repository}:push,pull");
            let (server, token) = (&server, &accounts.vendor_token);
            async move {
                let bearer = server.bearer_for(token, &scope).await?;
                anyhow::Ok(Registry::new(server.url(), Auth::Bearer(bearer)))
            }
        };
        content.load(&pusher(PULL).await?, &pusher(PUSH).await?, false).await?;
        let customer = Registry::new(
            server.url(),
            Auth::Bearer(server.bearer(&accounts.customer_token, PULL).await?),
        );
        customer.verify_blob(PULL, &content.large.digest, content.large.size).await?;
        let store = wharf_storage::S3Store::new(&config)?;
        let key = wharf_storage::BlobKey::parse(&content.large.digest)?;
        let presigned = wharf_storage::BlobStore::presigned_get_url(
            &store,
            &key,
            Duration::from_secs(24 * 3600),
        )
        .await?
        .context("the S3 store gave no presigned URL")?;
        Ok(Self { wharf: server, accounts, presigned, _s3s_fs: s3s_fs })
    }
}

/// The large blob from the Wharf on S3 (customer bearer token) and from s3s-fs directly
/// (presigned GET), in this run's order; Wharf's CPU per GB and peak RSS.
async fn s3_blob_gets(
    s3: &S3Side,
    large: &BlobFile,
    run: usize,
    results: &mut Results,
) -> anyhow::Result<()> {
    let bearer = s3.wharf.bearer(&s3.accounts.customer_token, PULL).await?;
    let wharf = Endpoint {
        who: Who::Wharf,
        url: format!("{}{}", s3.wharf.url(), Content::blob_path(large)),
        auth: Auth::Bearer(bearer).header(),
        pid: Some(s3.wharf.pid()),
    };
    let s3s_fs = Endpoint { who: Who::S3sFs, url: s3.presigned.clone(), auth: None, pid: None };
    for endpoint in in_order(vec![wharf, s3s_fs], run) {
        if let Some(pid) = endpoint.pid {
            procs::reset_peak_rss(pid)?;
        }
        let request = http1::request("GET", &endpoint.url, &endpoint.headers(&[]))?;
        let cpu_before = endpoint.pid.map(procs::cpu_seconds).transpose()?;
        let one = http1::get_streams(&endpoint.url, &request, large.size, 1).await?;
        let many = http1::get_streams(&endpoint.url, &request, large.size, STREAMS).await?;
        eprintln!(
            "  blob GET on S3, {} MiB: {} {one:.0} MB/s (1 stream), {many:.0} MB/s ({STREAMS} streams)",
            large.size >> 20,
            endpoint.who.key()
        );
        results.record("s3_blob_get_1_stream_mbps", endpoint.who, one);
        results.record("s3_blob_get_8_streams_mbps", endpoint.who, many);
        if let (Some(pid), Some(before)) = (endpoint.pid, cpu_before) {
            let gb = (large.size * (1 + STREAMS as u64)) as f64 / 1e9;
            let cpu = (procs::cpu_seconds(pid)? - before) * 1e3 / gb;
            let peak = mib(procs::peak_rss_kib(pid)?);
            eprintln!("  server CPU {cpu:.0} ms/GB, peak RSS {peak:.1} MiB");
            results.record("s3_blob_get_cpu_ms_per_gb", endpoint.who, cpu);
            results.record("rss_s3_blob_get_mib", endpoint.who, peak);
        }
    }
    Ok(())
}

/// A part of a run, for `--phases` (every one runs when the flag is absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `manifest-get`: manifest GETs by tag and by digest, peak RSS, usage events dropped.
    ManifestGet,
    /// `blob-head`.
    BlobHead,
    /// `token`.
    Token,
    /// `blob-get`: 1 and 8 streams, ×1 and ×2 size, peak RSS.
    BlobGet,
    /// `push`: the four push batches.
    Push,
    /// `manifest-put`.
    ManifestPut,
    /// `s3-blob-get`: only when named (it starts s3s-fs and a second Wharf on S3 storage).
    S3BlobGet,
}

impl Phase {
    pub const NAMES: [(&str, Self); 7] = [
        ("manifest-get", Self::ManifestGet),
        ("blob-head", Self::BlobHead),
        ("token", Self::Token),
        ("blob-get", Self::BlobGet),
        ("push", Self::Push),
        ("manifest-put", Self::ManifestPut),
        ("s3-blob-get", Self::S3BlobGet),
    ];

    /// Parses one name of `--phases`.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == name.trim()).map(|(_, p)| *p).with_context(|| {
            let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
            format!("unknown phase {name:?}; phases: {}", names.join(", "))
        })
    }
}

/// Where `just bench` finds the reference registry unless told.
pub fn default_distribution() -> PathBuf {
    PathBuf::from("/usr/bin/docker-registry")
}
