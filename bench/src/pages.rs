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
//! Then the vendor portal's report pages on a seeded dataset ([`seed_insights`]: the
//! benchmark world of `seed.rs` — 1,000 customers, 100 repositories, 10,000 tags — plus
//! 1,000,000 pull events over the last 365 days and 100,000 audit entries, written with
//! `generate_series`), the owner being a member of it: the dashboard, analytics for 30 and
//! 90 days, and the audit log (first page, and filtered to one result). Latency one request
//! at a time, p50 and p95, against the 100 ms p95 target.
//!
//! Then the customer portal on the same data: a customer ("Everything Inc") whose license
//! grants every tag of `acme/*` (100 repositories, 10,000 tags), with 300 access tokens, and
//! a customer admin of it invited with `wharf admin invite-customer-user` who accepts through
//! the invitation form; its home, artifacts (first page, a later page, one repository) and
//! tokens pages, one request at a time, p50 and p95 against the 50 ms p95 target. Then each
//! of those pages is viewed once more on a second server logging every SQL statement
//! (`RUST_LOG=sqlx::query=debug`), the cached entitlement view warm, and the statements are
//! counted: a count that grew with the repositories or tags would show at once.
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
    let pool = wharf_db::PgPool::connect(database_url).await?;
    let seeded = Instant::now();
    seed_insights(&pool).await?;
    eprintln!("seeded the report pages' data in {:.0} s", seeded.elapsed().as_secs_f64());
    // The busiest customer (licensed, pulling) and its first license, for their pages.
    let customer: uuid::Uuid = sqlx::query_scalar(
        "select c.id from customers c join organizations o on o.id = c.organization_id
         where o.slug = 'acme' order by c.created_at, c.id limit 1",
    )
    .fetch_one(&pool)
    .await?;
    let license: uuid::Uuid =
        sqlx::query_scalar("select id from licenses where customer_id = $1 limit 1")
            .bind(customer)
            .fetch_one(&pool)
            .await?;
    let reports = [
        "/vendor/acme".to_owned(),
        "/vendor/acme/analytics".to_owned(),
        "/vendor/acme/analytics?period=90".to_owned(),
        "/vendor/acme/audit".to_owned(),
        "/vendor/acme/audit?result=denied".to_owned(),
        "/vendor/acme/customers".to_owned(),
        "/vendor/acme/customers?q=Customer%2009".to_owned(),
        format!("/vendor/acme/customers/{customer}"),
        // The license page computes the preview of its grants over all 10,000 tags.
        format!("/vendor/acme/licenses/{license}"),
        "/vendor/acme/artifacts".to_owned(),
        "/vendor/acme/artifacts/r042".to_owned(),
        "/vendor/acme/artifacts/r042/-/tags/1.5.0".to_owned(),
    ];
    let mut report_rows = Vec::new();
    for path in &reports {
        let url = format!("{}{path}", server.url());
        let n = if args.duration <= 2 { 50 } else { 300 };
        let (p50, p95) = latency(&http, &url, &cookie, n).await?;
        println!(
            "{path:<64} p50 {p50:>7.1} ms  p95 {p95:>7.1} ms  (target: p95 <= 100 ms){}",
            if p95 <= 100.0 { "" } else { "  MISSED" }
        );
        report_rows.push(json!({ "path": path, "p50_ms": p50, "p95_ms": p95, "requests": n }));
    }
    let customer_rows = customer_pages(args, wharf, database_url, scratch, &server, &pool).await?;
    std::fs::write(
        &args.out,
        serde_json::to_string_pretty(&json!({
            "pages": rows,
            "report_pages": report_rows,
            "customer_pages": customer_rows,
        }))?,
    )?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// The customer of the customer pages: licensed for every tag of every repository.
const EVERYTHING: &str = "Everything Inc";
const CUSTOMER_EMAIL: &str = "ops@everything.test";

/// Median and p95 (milliseconds) of `n` sequential GETs of `url` (after 10 to warm up).
async fn latency(
    http: &reqwest::Client,
    url: &str,
    cookie: &str,
    n: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut millis = Vec::with_capacity(n);
    for i in 0..n + 10 {
        let start = Instant::now();
        let answer = http.get(url).header("cookie", cookie).send().await?;
        let status = answer.status();
        answer.bytes().await?;
        if status != 200 {
            bail!("GET {url} answered {status}");
        }
        if i >= 10 {
            millis.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let p50 = median(&mut millis);
    Ok((p50, millis[millis.len() * 95 / 100]))
}

/// The customer pages of a customer entitled to everything (see the module's header):
/// latency on `server`, then statements per page view on a second server that logs them.
async fn customer_pages(
    args: &Args,
    wharf: &Path,
    database_url: &str,
    scratch: &Path,
    server: &procs::Server,
    pool: &wharf_db::PgPool,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let org: uuid::Uuid = sqlx::query_scalar("select id from organizations where slug = 'acme'")
        .fetch_one(pool)
        .await?;
    let customer = wharf_db::customers::create(pool, org, EVERYTHING).await?;
    let all = wharf_entitlements::Grant::new(
        "acme",
        "acme/*",
        wharf_entitlements::TagSelector::All,
        None,
        None,
    )?;
    crate::seed::license(pool, org, customer.id, &[all]).await?;
    let out = Command::new(wharf)
        .args(["admin", "invite-customer-user", "--org", "acme", "--customer", EVERYTHING])
        .args(["--email", CUSTOMER_EMAIL, "--role", "admin", "--public-url", server.url()])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()?;
    if !out.status.success() {
        bail!("wharf admin invite-customer-user: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let link = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let invitation = format!("/invitation/{}", link.trim().rsplit('/').next().unwrap_or_default());
    let fields = [("name", "Olga Ops"), ("password", PASSWORD), ("password_confirm", PASSWORD)];
    let cookie = submit_form(server.url(), &invitation, &fields).await?;
    // Tokens of the customer's admin, as many as a busy customer has: a page and a half.
    let user: uuid::Uuid = sqlx::query_scalar("select id from users where email = $1")
        .bind(CUSTOMER_EMAIL)
        .fetch_one(pool)
        .await?;
    sqlx::query(
        "insert into access_tokens (id, organization_id, kind, customer_id, created_by, name,
                                    token_hash, display_prefix, created_at, last_used_at)
         select gen_random_uuid(), $1, 'customer', $2, $3, 'ci ' || i,
                sha256(convert_to('everything ' || i, 'UTF8')), 'wharf_cst_' || i,
                now() - i * interval '1 hour', now() - i * interval '1 minute'
         from generate_series(1, 300) i",
    )
    .bind(org)
    .bind(customer.id)
    .bind(user)
    .execute(pool)
    .await?;
    sqlx::query("analyze").execute(pool).await?;

    let home = format!("/customer/acme/{}", customer.id);
    let paths = [
        home.clone(),
        format!("{home}/artifacts"),
        format!("{home}/artifacts?page=150"),
        format!("{home}/artifacts?repository=acme%2Fr042"),
        format!("{home}/tokens"),
    ];
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let n = if args.duration <= 2 { 50 } else { 300 };
    let mut timings = Vec::new();
    for path in &paths {
        let (p50, p95) = latency(&http, &format!("{}{path}", server.url()), &cookie, n).await?;
        timings.push((p50, p95));
    }

    // The same pages on a server that logs each statement; one view each, the view warm.
    let log = scratch.join("statements.log");
    let logged = procs::Server::start_logged(
        wharf,
        database_url,
        &scratch.join("data"),
        &[("RUST_LOG", "warn,sqlx::query=debug".to_owned())],
        &log,
    )
    .await?;
    let mut rows = Vec::new();
    for (path, (p50, p95)) in paths.iter().zip(timings) {
        let url = format!("{}{path}", logged.url());
        latency(&http, &url, &cookie, 1).await?;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let before = statements(&log)?;
        http.get(&url).header("cookie", &cookie).send().await?.bytes().await?;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let count = statements(&log)? - before;
        println!(
            "{path:<64} p50 {p50:>7.1} ms  p95 {p95:>7.1} ms  (target: p95 <= 50 ms){}  {count} SQL statements",
            if p95 <= 50.0 { "" } else { "  MISSED" }
        );
        rows.push(json!({
            "path": path.replace(&customer.id.to_string(), "{customer}"),
            "p50_ms": p50,
            "p95_ms": p95,
            "requests": n,
            "sql_statements": count,
        }));
    }
    Ok(rows)
}

/// SQL statements the logging server wrote so far.
fn statements(log: &Path) -> anyhow::Result<usize> {
    Ok(std::fs::read_to_string(log)?.lines().filter(|l| l.contains("sqlx::query")).count())
}

/// Pull events over the last 365 days (of 900 of the 1,000 customers: the rest never
/// pulled), written straight into the table in one statement.
pub const PULL_EVENTS: i64 = 1_000_000;
/// Audit entries of the organization, one in 50 denied.
pub const AUDIT_ENTRIES: i64 = 100_000;

/// The data of the report pages: `seed.rs`'s world (organization `acme`), the benchmark's
/// owner made an owner of it too, [`PULL_EVENTS`] pull events, [`AUDIT_ENTRIES`] audit
/// entries, a few tokens used lately and licenses ending soon.
pub async fn seed_insights(pool: &wharf_db::PgPool) -> anyhow::Result<()> {
    crate::seed::seed(pool).await?;
    let statements = [
        format!(
            "insert into organization_members (organization_id, user_id, role)
             select o.id, u.id, 'owner' from organizations o, users u
             where o.slug = 'acme' and u.email = '{EMAIL}'"
        ),
        format!(
            "insert into pull_events (id, at, organization_id, customer_id, customer_name,
                                      token_id, token_name, token_prefix, repository, reference,
                                      digest, tags, media_type, client_addr, user_agent,
                                      client_kind, requests)
             select gen_random_uuid(),
                    now() - (n::float8 / {PULL_EVENTS}) * interval '365 days',
                    c.organization_id, c.id, c.name, c.id, 'ci', 'wharf_cus_0000',
                    'acme/r' || lpad((n % 100)::text, 3, '0'),
                    ((n / 100) % 5) || '.' || (n % 20) || '.0',
                    'sha256:' || md5(n::text),
                    array[((n / 100) % 5) || '.' || (n % 20) || '.0'],
                    'application/vnd.oci.image.manifest.v1+json', '192.0.2.1'::inet,
                    'docker/27.0', (array['docker', 'containerd', 'podman', 'helm', 'oras',
                                          'other'])[1 + n % 6], 1
             from generate_series(1, {PULL_EVENTS}) n
             join (select id, name, organization_id,
                          row_number() over (order by created_at, id) - 1 as i
                   from customers) c on c.i = n % 900"
        ),
        format!(
            "insert into audit_log (at, organization_id, actor_kind, actor_id, actor_name,
                                    action, target, target_name, outcome, detail, client_addr)
             select now() - (n::float8 / {AUDIT_ENTRIES}) * interval '365 days', o.id, 'user',
                    gen_random_uuid(), 'member' || (n % 20) || '@acme.test',
                    (array['customer.create', 'license.replace', 'token.issue',
                           'manifest.push'])[1 + n % 4],
                    'customer:' || gen_random_uuid(), 'Customer ' || (n % 1000),
                    case when n % 50 = 0 then 'denied' else 'success' end,
                    jsonb_build_object('n', n), '192.0.2.1'::inet
             from generate_series(1, {AUDIT_ENTRIES}) n, organizations o where o.slug = 'acme'"
        ),
        "update access_tokens set last_used_at = now() - interval '1 hour'".to_owned(),
        "update licenses set expires_at = now() + interval '10 days'
         where id in (select id from licenses order by id limit 20)"
            .to_owned(),
        "analyze".to_owned(),
    ];
    for statement in statements {
        sqlx::query(&statement).execute(pool).await?;
    }
    Ok(())
}

/// Signs in through the form as a browser would; returns the `Cookie` header to send.
async fn sign_in(base: &str) -> anyhow::Result<String> {
    submit_form(base, "/sign-in", &[("email", EMAIL), ("password", PASSWORD)]).await
}

/// Fills the form at `path` with `fields` (and its form token) and submits it as a browser
/// would; the answer must be a redirect with a session: returns the `Cookie` header to send.
async fn submit_form(base: &str, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<String> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let form = http.get(format!("{base}{path}")).send().await?;
    let csrf_cookie = cookie_of(&form, "wharf_csrf").context("no form-token cookie")?;
    let html = form.text().await?;
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).context("no form token")? + marker.len();
    let token = html[start..].split('"').next().unwrap_or_default().to_owned();
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    let answer = http
        .post(format!("{base}{path}"))
        .header("cookie", format!("wharf_csrf={csrf_cookie}"))
        .header("origin", base)
        .form(&form)
        .send()
        .await?;
    if answer.status() != 303 {
        bail!("POST {path} answered {}", answer.status());
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
