//! The end-to-end harness: start the real `wharf` binary, give it a fresh database, talk to it
//! over HTTP, and stop it again.
//!
//! Tests under `e2e/` use it. `DATABASE_URL` must point at a Postgres server where databases
//! can be created (`just test` starts a private one); each test gets its own database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

pub mod api;
pub mod browser;
pub mod clients;
pub mod house;
pub mod raw;
pub mod smtp;

/// Path of the `wharf` binary under test: `WHARF_BIN`, or the one cargo built beside the
/// test executable (`just test` builds it first).
pub fn wharf_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("WHARF_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let bin = profile_dir.join("wharf");
    assert!(
        bin.is_file(),
        "{} not found: build it first (`cargo build -p wharf-server`, or run `just test`)",
        bin.display()
    );
    bin
}

/// The server every test creates its databases on.
pub fn admin_database_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is not set: run the suite with `just test`, which starts Postgres")
}

/// Creates an empty database for one test and returns its URL.
pub async fn fresh_database() -> String {
    use sqlx::Connection;
    let admin = admin_database_url();
    let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to DATABASE_URL");
    sqlx::query(&format!("create database {name}")).execute(&mut conn).await.unwrap();
    conn.close().await.ok();
    with_database(&admin, &name)
}

/// Replaces the database name in a Postgres URL (keeping query parameters).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").unwrap();
    let host = rest.split_once('/').map_or(rest, |(h, _)| h);
    match query {
        Some(q) => format!("{scheme}://{host}/{database}?{q}"),
        None => format!("{scheme}://{host}/{database}"),
    }
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How to start a `wharf serve`.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// `DATABASE_URL`; `None` runs the embedded default.
    pub database_url: Option<String>,
    /// Extra environment variables.
    pub env: HashMap<String, String>,
}

/// A running `wharf serve`, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Wharf {
    child: Option<Child>,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The data directory it was given.
    pub data_dir: PathBuf,
    logs: PathBuf,
    run: u32,
    options: ServeOptions,
}

/// A finished run: exit status and what it printed.
#[derive(Debug)]
pub struct Finished {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl Wharf {
    /// Starts `wharf serve` with a data directory of its own and waits until `/healthz`
    /// answers. Panics with the server's output if it exits or does not come up in time.
    pub async fn start(data_dir: &Path, options: &ServeOptions) -> Self {
        let mut wharf = Self {
            child: None,
            url: String::new(),
            data_dir: data_dir.to_path_buf(),
            logs: data_dir.join("test-logs"),
            run: 0,
            options: options.clone(),
        };
        wharf.spawn(options).await;
        wharf
    }

    async fn spawn(&mut self, options: &ServeOptions) {
        std::fs::create_dir_all(&self.logs).unwrap();
        self.run += 1;
        let port = free_port();
        self.url = format!("http://127.0.0.1:{port}");
        let mut cmd = serve_command(&self.data_dir, options);
        cmd.env("WHARF_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(std::fs::File::create(self.log("stdout")).unwrap())
            .stderr(std::fs::File::create(self.log("stderr")).unwrap());
        self.child = Some(cmd.spawn().expect("spawn wharf"));
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("wharf exited early ({status}):\n{}", self.stderr());
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.url)).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "wharf did not come up:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self, stream: &str) -> PathBuf {
        self.logs.join(format!("{stream}.{}", self.run))
    }

    /// The options it was started with.
    pub fn options(&self) -> &ServeOptions {
        &self.options
    }

    /// The first start's admin, `(email, password)`, as `wharf serve` printed them (panics if
    /// this run did not do the first start).
    pub fn first_admin(&self) -> (String, String) {
        let out = self.stdout();
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("no {name} in what wharf printed:\n{out}"))
        };
        (field("email:"), field("password:"))
    }

    /// What the current run printed to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.log("stdout")).unwrap_or_default()
    }

    /// What the current run printed to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log("stderr")).unwrap_or_default()
    }

    /// The process id of the current run.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM and waits for the exit (SIGKILL after 60 s).
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                child.kill().ok();
                panic!("wharf did not stop within 60 s of SIGTERM:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the same server again (same data directory, new port).
    pub async fn restart(&mut self, options: &ServeOptions) {
        assert!(self.child.is_none(), "stop it first");
        self.spawn(options).await;
    }
}

impl Drop for Wharf {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

fn serve_command(data_dir: &Path, options: &ServeOptions) -> Command {
    let mut cmd = Command::new(wharf_bin());
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("WHARF_DATA_DIR", data_dir)
        .env("RUST_LOG", "info")
        .env("WHARF_SHUTDOWN_TIMEOUT", "5")
        .stdin(Stdio::null());
    if let Some(url) = &options.database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd.envs(&options.env);
    cmd
}

/// Runs `wharf ARGS` to completion with a clean environment plus `env`.
pub fn run_wharf(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let out = Command::new(wharf_bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run wharf");
    Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn signal(pid: u32, name: &str) {
    Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().ok();
}

/// Processes whose command line mentions `needle` (e.g. a data directory).
pub fn processes_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&needle) {
                found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// A temporary directory any local user can enter (the embedded Postgres runs as `postgres`
/// when the tests run as root).
pub fn scratch_dir() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("wharf-e2e-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A vendor API token for the bootstrapped organization's owner (`vendor`,
/// `admin@wharf.local`), made by `wharf admin create-token` (its last line of stdout).
pub fn vendor_token(database_url: &str, name: &str) -> String {
    let out = run_wharf(
        &[
            "admin",
            "create-token",
            "--org",
            "vendor",
            "--email",
            "admin@wharf.local",
            "--name",
            name,
        ],
        &[("DATABASE_URL", database_url), ("RUST_LOG", "warn")],
    );
    assert!(out.status.success(), "wharf admin create-token failed:\n{}", out.stderr);
    let token = out.stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    assert!(!token.trim().is_empty(), "no token printed:\n{}", out.stdout);
    token.trim().to_owned()
}

/// Exchanges an access token for a registry bearer token carrying `scope` (may be empty).
pub async fn bearer_token(wharf: &Wharf, access_token: &str, scope: &str) -> String {
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/token?scope={scope}", wharf.url))
        .basic_auth("ci", Some(access_token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().expect("a token").to_owned()
}

/// `wharf serve` on a fresh database, with a vendor API token for its first organization.
pub async fn wharf_with_vendor_token(
    data_dir: &Path,
    env: HashMap<String, String>,
) -> (Wharf, String) {
    let url = fresh_database().await;
    let options = ServeOptions { database_url: Some(url.clone()), env };
    let wharf = Wharf::start(data_dir, &options).await;
    let token = vendor_token(&url, "e2e");
    (wharf, token)
}

/// Inserts an access token for `owner` straight into the database (as the portal or the API
/// would) and returns its id and plaintext.
pub async fn insert_token(
    pool: &wharf_db::PgPool,
    org: uuid::Uuid,
    owner: wharf_db::tokens::TokenOwner,
) -> (uuid::Uuid, String) {
    use wharf_auth::token::{TokenKind, generate};
    use wharf_db::tokens::{self, NewToken, TokenOwner};
    let kind = match owner {
        TokenOwner::Vendor { .. } => TokenKind::VendorApi,
        TokenOwner::Customer { .. } => TokenKind::CustomerAccess,
    };
    let generated = generate(kind);
    let row = tokens::insert(
        pool,
        &NewToken {
            organization_id: org,
            owner,
            created_by: None,
            name: "e2e",
            hash: generated.hash.as_bytes(),
            display_prefix: &generated.display_prefix,
            expires_at: None,
        },
    )
    .await
    .unwrap();
    (row.id, generated.plaintext.expose_secret().to_owned())
}

/// Creates organization `slug` with owner `owner@<slug>.test` straight in the database;
/// returns the organization's and the owner's ids.
pub async fn organization_with_owner(
    pool: &wharf_db::PgPool,
    slug: &str,
) -> (uuid::Uuid, uuid::Uuid) {
    let org = wharf_db::testing::org(pool, slug).await;
    (org.id, org.owner)
}
