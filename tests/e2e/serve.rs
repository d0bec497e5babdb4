//! `wharf serve` as an operator meets it: the embedded default, an external database,
//! health endpoints, restarts, concurrent instances and bad configuration.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use wharf_e2e::{
    ServeOptions, Wharf, fresh_database, processes_mentioning, run_wharf, scratch_dir,
};

async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn embedded_default_serves_stops_cleanly_and_keeps_its_data() {
    let scratch = scratch_dir();
    let data = scratch.path().join("data");
    let options = ServeOptions::default();
    let mut wharf = Wharf::start(&data, &options).await;

    let (status, body) = get_json(&format!("{}/readyz", wharf.url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["storage"], "ok");
    let (status, _) = get_json(&format!("{}/healthz", wharf.url)).await;
    assert_eq!(status, 200);

    let first = wharf.stdout();
    assert!(first.contains("organization: vendor"), "first start prints the admin:\n{first}");
    let password_line = first.lines().find(|l| l.contains("password:")).unwrap();
    let password = password_line.split_whitespace().nth(1).unwrap();
    assert!(password.len() >= 20, "generated password is long: {password_line}");
    assert!(!wharf.stderr().contains(password), "the password must not reach the logs");
    assert!(data.join("postgres/data/PG_VERSION").is_file());

    let status = wharf.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status}\n{}", wharf.stderr());
    let left = processes_mentioning(&data);
    assert!(left.is_empty(), "no Postgres may outlive wharf: {left:?}");

    wharf.restart(&options).await;
    let (status, _) = get_json(&format!("{}/readyz", wharf.url)).await;
    assert_eq!(status, 200);
    assert!(
        !wharf.stdout().contains("password:"),
        "the second start reuses the data and bootstraps nothing:\n{}",
        wharf.stdout()
    );
    assert!(wharf.stop().success());
    assert!(processes_mentioning(&data).is_empty());
}

#[tokio::test]
async fn adopts_a_cluster_left_running_by_a_killed_process() {
    let scratch = scratch_dir();
    let data = scratch.path().join("data");
    let options = ServeOptions::default();
    let mut wharf = Wharf::start(&data, &options).await;
    std::process::Command::new("kill").arg("-KILL").arg(wharf.pid().to_string()).status().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    wharf.stop(); // reaps the killed process
    assert!(!processes_mentioning(&data).is_empty(), "Postgres survives a SIGKILL of wharf");

    wharf.restart(&options).await;
    let (status, _) = get_json(&format!("{}/readyz", wharf.url)).await;
    assert_eq!(status, 200);
    assert!(wharf.stderr().contains("adopting"), "{}", wharf.stderr());
    assert!(wharf.stop().success());
    assert!(processes_mentioning(&data).is_empty(), "and the adopter stops it");
}

#[tokio::test]
async fn the_last_process_using_the_embedded_cluster_stops_it() {
    let scratch = scratch_dir();
    let data = scratch.path().join("data");
    // `wharf embedded-postgres` starts the cluster; a server started next adopts it.
    let mut cluster = std::process::Command::new(wharf_e2e::wharf_bin())
        .args(["embedded-postgres", "--data-dir"])
        .arg(&data)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(cluster.stdout.take().unwrap()),
        &mut first_line,
    )
    .unwrap();
    assert!(first_line.starts_with("DATABASE_URL="), "{first_line}");
    let options = ServeOptions::default();
    let mut wharf = Wharf::start(&data, &options).await;
    assert_eq!(get_json(&format!("{}/readyz", wharf.url)).await.0, 200);

    // The process that started the cluster leaves first: the server keeps its database.
    std::process::Command::new("kill").arg("-TERM").arg(cluster.id().to_string()).status().unwrap();
    assert!(cluster.wait().unwrap().success());
    assert_eq!(get_json(&format!("{}/readyz", wharf.url)).await.0, 200);
    assert!(!processes_mentioning(&data).is_empty());

    // The server is the last one: it stops the cluster.
    assert!(wharf.stop().success(), "{}", wharf.stderr());
    assert!(processes_mentioning(&data).is_empty(), "{:?}", processes_mentioning(&data));
}

#[tokio::test]
async fn external_database_is_used_and_no_cluster_is_started() {
    let scratch = scratch_dir();
    let data = scratch.path().join("data");
    let url = fresh_database().await;
    let options = ServeOptions { database_url: Some(url.clone()), ..Default::default() };
    let mut wharf = Wharf::start(&data, &options).await;
    let (status, _) = get_json(&format!("{}/readyz", wharf.url)).await;
    assert_eq!(status, 200);
    assert!(!data.join("postgres").exists(), "no embedded cluster with DATABASE_URL");
    assert!(processes_mentioning(&data).iter().all(|p| !p.contains("postgres -D")));

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let slugs: Vec<String> =
        sqlx::query_scalar("select slug from organizations").fetch_all(&pool).await.unwrap();
    assert_eq!(slugs, vec!["vendor".to_owned()], "bootstrapped into the external database");
    pool.close().await;
    assert!(wharf.stop().success());
}

#[tokio::test]
async fn readiness_fails_when_the_database_goes_away() {
    let scratch = scratch_dir();
    let url = fresh_database().await;
    let options = ServeOptions { database_url: Some(url.clone()), ..Default::default() };
    let wharf = Wharf::start(&scratch.path().join("data"), &options).await;
    assert_eq!(get_json(&format!("{}/readyz", wharf.url)).await.0, 200);

    let database = url.split('/').nth(3).unwrap().split('?').next().unwrap().to_owned();
    let admin = sqlx::PgPool::connect(&wharf_e2e::admin_database_url()).await.unwrap();
    sqlx::query(&format!("drop database {database} with (force)")).execute(&admin).await.unwrap();

    let (status, body) = get_json(&format!("{}/readyz", wharf.url)).await;
    assert_eq!(status, 503, "{body}");
    assert_ne!(body["checks"]["database"], "ok");
    assert_eq!(get_json(&format!("{}/healthz", wharf.url)).await.0, 200, "still alive");
}

#[tokio::test]
async fn instances_starting_together_migrate_and_bootstrap_once() {
    let scratch = scratch_dir();
    let url = fresh_database().await;
    let options = ServeOptions { database_url: Some(url.clone()), ..Default::default() };
    let (dir_a, dir_b) = (scratch.path().join("a"), scratch.path().join("b"));
    let (a, b) = tokio::join!(Wharf::start(&dir_a, &options), Wharf::start(&dir_b, &options));
    for w in [&a, &b] {
        assert_eq!(get_json(&format!("{}/readyz", w.url)).await.0, 200);
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let orgs: i64 =
        sqlx::query_scalar("select count(*) from organizations").fetch_one(&pool).await.unwrap();
    assert_eq!(orgs, 1);
    let printed = [&a, &b].iter().filter(|w| w.stdout().contains("organization:")).count();
    assert_eq!(printed, 1, "exactly one instance prints the first admin");
}

#[tokio::test]
async fn a_database_outage_answers_503_soon_with_retry_after_on_every_door() {
    let scratch = scratch_dir();
    let url = fresh_database().await;
    let options = ServeOptions { database_url: Some(url.clone()), ..Default::default() };
    let wharf = Wharf::start(&scratch.path().join("data"), &options).await;
    let token = wharf_e2e::vendor_token(&url, "outage");

    let database = url.split('/').nth(3).unwrap().split('?').next().unwrap().to_owned();
    let admin = sqlx::PgPool::connect(&wharf_e2e::admin_database_url()).await.unwrap();
    sqlx::query(&format!("drop database {database} with (force)")).execute(&admin).await.unwrap();

    let client = reqwest::Client::new();
    let requests = [
        client
            .get(format!("{}/token?scope=repository:vendor/app:pull", wharf.url))
            .basic_auth("ci", Some(&token)),
        client.get(format!("{}/v2/vendor/app/tags/list", wharf.url)).basic_auth("ci", Some(&token)),
        client.get(format!("{}/api/v1/customers", wharf.url)).bearer_auth(&token),
        client.get(format!("{}/readyz", wharf.url)),
    ];
    for request in requests {
        let started = std::time::Instant::now();
        let answer = request.send().await.unwrap();
        let url = answer.url().to_string();
        let waited = started.elapsed();
        assert_eq!(answer.status().as_u16(), 503, "{url}");
        assert!(answer.headers().contains_key("retry-after"), "{url}: {:?}", answer.headers());
        // A request waits for a connection a couple of seconds, not the start-up's 10.
        assert!(waited < Duration::from_secs(5), "{url} answered after {waited:?}");
    }
}

#[tokio::test]
async fn migrate_command_applies_migrations() {
    let url = fresh_database().await;
    let out = run_wharf(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", out.stderr);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(applied >= 1);
}

fn assert_one_line_failure(args: &[&str], env: &[(&str, &str)], expect: &str) {
    let out = run_wharf(args, env);
    assert!(!out.status.success(), "{args:?} must fail");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr for {args:?}, got:\n{}", out.stderr);
    assert!(lines[0].starts_with("wharf: "), "{}", lines[0]);
    assert!(lines[0].contains(expect), "{:?} should mention {expect:?}", lines[0]);
    assert!(!out.stderr.contains("panicked") && !out.stderr.contains("backtrace"));
}

#[test]
fn bad_configuration_exits_with_a_one_line_reason() {
    let quiet = ("RUST_LOG", "error");
    assert_one_line_failure(&["serve"], &[quiet, ("WHARF_LISTEN", "not-an-address")], "--listen");
    assert_one_line_failure(&["serve", "--listen", "127.0.0.1:99999"], &[quiet], "--listen");
    assert_one_line_failure(
        &["serve"],
        &[quiet, ("WHARF_DATA_DIR", "/dev/null/wharf")],
        "cannot create data directory /dev/null/wharf",
    );
    assert_one_line_failure(&["serve"], &[quiet, ("DATABASE_URL", "mysql://x")], "postgres://");
    assert_one_line_failure(&["serve"], &[quiet, ("WHARF_PUBLIC_URL", "example.com")], "http");
    assert_one_line_failure(&["frobnicate"], &[quiet], "frobnicate");
    assert_one_line_failure(
        &["serve"],
        &[quiet, ("WHARF_MAIL_FROM", "not a mailbox")],
        "--mail-from",
    );

    let scratch = scratch_dir();
    let data = scratch.path().to_string_lossy().into_owned();
    let secret = "pw-that-must-not-leak";
    let unreachable = format!("postgres://wharf:{secret}@127.0.0.1:1/wharf");
    let env = [
        quiet,
        ("DATABASE_URL", unreachable.as_str()),
        ("WHARF_DB_CONNECT_TIMEOUT", "2"),
        ("WHARF_DATA_DIR", data.as_str()),
    ];
    assert_one_line_failure(
        &["serve"],
        &env,
        "cannot connect to postgres://wharf:***@127.0.0.1:1/wharf",
    );
    assert!(!run_wharf(&["serve"], &env).stderr.contains(secret), "no password in errors");

    // A malformed SMTP URL is refused without being repeated: it may hold a password.
    let smtp = format!("smtp:/wharf:{secret}@mail.example.com");
    let env = [quiet, ("WHARF_SMTP_URL", smtp.as_str()), ("WHARF_DATA_DIR", data.as_str())];
    assert_one_line_failure(&["serve"], &env, "WHARF_SMTP_URL (--smtp-url) must be smtp://");
    assert!(!run_wharf(&["serve"], &env).stderr.contains(secret), "no password in errors");
}

#[test]
fn missing_postgres_binaries_are_explained() {
    let scratch = scratch_dir();
    let data = scratch.path().to_string_lossy().into_owned();
    let env = [
        ("RUST_LOG", "error"),
        ("WHARF_DATA_DIR", data.as_str()),
        ("WHARF_POSTGRES_BIN_DIR", "/nonexistent"),
    ];
    assert_one_line_failure(&["serve"], &env, "does not contain initdb and pg_ctl");
}

#[test]
fn the_image_without_database_url_says_to_set_it() {
    // The container image turns the embedded Postgres off: a missing DATABASE_URL is named.
    let scratch = scratch_dir();
    let data = scratch.path().to_string_lossy().into_owned();
    let env = [
        ("RUST_LOG", "error"),
        ("WHARF_DATA_DIR", data.as_str()),
        ("WHARF_EMBEDDED_POSTGRES", "off"),
    ];
    assert_one_line_failure(&["serve"], &env, "DATABASE_URL is not set");
    assert!(!scratch.path().join("postgres").exists(), "no cluster was started");
}

#[tokio::test]
async fn the_first_organization_follows_the_rules_of_every_organization() {
    // The first start creates its organization through the same path as sign-up and
    // `wharf admin create-org`: a slug that is not one, a bad email or a weak password stop
    // it with the variable to fix, and nothing is created.
    let url = fresh_database().await;
    let scratch = scratch_dir();
    let data = scratch.path().to_string_lossy().into_owned();
    let base = [("RUST_LOG", "error"), ("DATABASE_URL", url.as_str()), ("WHARF_DATA_DIR", &data)];
    let with = |extra: (&'static str, &'static str)| {
        let mut env = base.to_vec();
        env.push(extra);
        env
    };
    assert_one_line_failure(
        &["serve"],
        &with(("WHARF_BOOTSTRAP_ORG", "acme inc")),
        "WHARF_BOOTSTRAP_ORG: only lower-case letters",
    );
    assert_one_line_failure(
        &["serve"],
        &with(("WHARF_BOOTSTRAP_EMAIL", "not-an-email")),
        "WHARF_BOOTSTRAP_EMAIL",
    );
    assert_one_line_failure(
        &["serve"],
        &with(("WHARF_BOOTSTRAP_PASSWORD", "short")),
        "WHARF_BOOTSTRAP_PASSWORD",
    );
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let orgs: i64 =
        sqlx::query_scalar("select count(*) from organizations").fetch_one(&pool).await.unwrap();
    assert_eq!(orgs, 0, "nothing was created");
}
