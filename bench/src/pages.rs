//! `wharf-bench pages` (`just bench-pages`): what a signed-in page costs the server.
//!
//! On an empty database (one organization, its owner), a release `wharf serve` is signed in
//! to through the real sign-in form, then asked for signed-in pages: `/account` (the session
//! row, the account and the person's session list: three reads, a template) and
//! `/vendor/{slug}` (the session, the account and the memberships). Two measurements:
//!
//! 1. latency, one request at a time on one keep-alive connection (N requests per page):
//!    the client's round trip on loopback, an upper bound of the server's time; median and
//!    p99 against the 10 ms target;
//! 2. throughput under wrk (8 connections) with the session cookie.
//!
//! Output: a table on stdout and a JSON file (`bench/results/pages.json`).

use std::{path::Path, process::Command, time::Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::{Args, median, procs, wrk};

const SLUG: &str = "bench";
const EMAIL: &str = "owner@bench.test";
const PASSWORD: &str = "a benchmark password";

pub async fn run(
    args: &Args,
    wharf: &Path,
    database_url: &str,
    scratch: &Path,
) -> anyhow::Result<()> {
    let status = Command::new(wharf)
        .args(["admin", "create-org", "--slug", SLUG, "--name", "Bench", "--owner-email", EMAIL])
        .env("DATABASE_URL", database_url)
        .env("WHARF_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("wharf admin create-org failed");
    }
    let server = procs::Server::start(wharf, database_url, &scratch.join("data")).await?;
    let cookie = sign_in(server.url()).await?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let requests = if args.duration <= 2 { 200 } else { 2_000 };
    let mut rows = Vec::new();
    for path in ["/account".to_owned(), format!("/vendor/{SLUG}")] {
        let url = format!("{}{path}", server.url());
        let mut micros = Vec::with_capacity(requests);
        for i in 0..requests + 50 {
            let start = Instant::now();
            let answer = http.get(&url).header("cookie", &cookie).send().await?;
            let status = answer.status();
            answer.bytes().await?;
            if status != 200 {
                bail!("GET {path} answered {status}: not signed in?");
            }
            // The first 50 warm the connection and the pool.
            if i >= 50 {
                micros.push(start.elapsed().as_secs_f64() * 1e6);
            }
        }
        let p50 = median(&mut micros);
        let p99 = micros[micros.len() * 99 / 100];
        let mut runs = Vec::new();
        for _ in 0..args.runs {
            runs.push(wrk::run_with(
                &url,
                &[format!("Cookie: {cookie}")],
                8,
                std::time::Duration::from_secs(args.duration),
            )?);
        }
        let mut rates: Vec<f64> = runs.iter().map(|r| r.requests_per_second).collect();
        let rate = median(&mut rates);
        println!(
            "{path:<16} median {:>6.2} ms  p99 {:>6.2} ms  (target: median < 10 ms)  wrk 8 conn: {rate:>8.0} req/s",
            p50 / 1e3,
            p99 / 1e3
        );
        rows.push(json!({ "path": path, "median_ms": p50 / 1e3, "p99_ms": p99 / 1e3, "requests": requests, "wrk_req_per_sec": rate }));
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&json!({ "pages": rows }))?)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// Signs in through the form as a browser would; returns the `Cookie` header to send.
async fn sign_in(base: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let form = http.get(format!("{base}/sign-in")).send().await?;
    let csrf_cookie = cookie_of(&form, "wharf_csrf").context("no form-token cookie")?;
    let html = form.text().await?;
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).context("no form token")? + marker.len();
    let token = html[start..].split('"').next().unwrap_or_default().to_owned();
    let answer = http
        .post(format!("{base}/sign-in"))
        .header("cookie", format!("wharf_csrf={csrf_cookie}"))
        .header("origin", base)
        .form(&[("csrf", token.as_str()), ("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await?;
    if answer.status() != 303 {
        bail!("sign-in answered {}", answer.status());
    }
    let session = cookie_of(&answer, "wharf_session").context("no session cookie")?;
    Ok(format!("wharf_session={session}"))
}

fn cookie_of(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all("set-cookie").iter().find_map(|value| {
        let text = value.to_str().ok()?;
        let (pair, _) = text.split_once(';').unwrap_or((text, ""));
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}
