//! The processes a benchmark runs: a private Postgres (Wharf's own embedded cluster),
//! `wharf serve` and any other server ([`Daemon`]: the reference registry, nginx), each
//! stopped with SIGTERM when dropped, in a scratch directory removed at the end; and what the
//! benchmark reads of them (peak resident memory).

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// A temporary directory any local user can enter (the cluster runs as `postgres` when the
/// benchmark runs as root), removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("wharf-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        Ok(Self(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback port (free when asked; the server started on it takes it soon after).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Peak resident set size of a process since it started or since [`reset_peak_rss`], in
/// KiB (`VmHWM` in `/proc/<pid>/status`).
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/<pid>/status")
}

/// CPU time (user + system, all threads) the process has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces, so split after its `)`):
    // state is field 3, utime 14 and stime 15, in clock ticks.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("no ) in /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i - 3).context("short /proc/<pid>/stat")?.parse::<f64>()?)
    };
    // USER_HZ, 100 on every Linux this runs on.
    Ok((ticks(14)? + ticks(15)?) / 100.0)
}

/// Resets the process's peak resident set size to its current one (`5` to `clear_refs`).
pub fn reset_peak_rss(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("resetting the peak RSS of process {pid}"))
}

/// Any other server the benchmark runs as a child, stopped with SIGTERM when dropped.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    name: &'static str,
}

impl Daemon {
    pub fn spawn(name: &'static str, command: &mut Command) -> anyhow::Result<Self> {
        let child = command.spawn().with_context(|| format!("starting {name}"))?;
        Ok(Self { child, name })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `url` until it answers anything HTTP at all (any status).
    pub async fn wait_until_answering(&mut self, url: &str) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited: {status}", self.name);
            }
            if http.get(url).send().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not answer at {url}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `wharf embedded-postgres`: a throwaway cluster.
pub struct Postgres {
    child: Child,
    url: String,
}

impl Postgres {
    pub fn start(wharf: &Path, dir: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(wharf)
            .args(["embedded-postgres", "--data-dir"])
            .arg(dir)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting wharf embedded-postgres")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut url = None;
        for line in BufReader::new(stdout).lines() {
            if let Some(found) = line?.strip_prefix("DATABASE_URL=") {
                url = Some(found.to_owned());
                break;
            }
        }
        match url {
            Some(url) => Ok(Self { child, url }),
            None => bail!("the embedded Postgres did not start"),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// `wharf migrate`.
pub fn migrate(wharf: &Path, database_url: &str) -> anyhow::Result<()> {
    let status = Command::new(wharf)
        .arg("migrate")
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .status()?;
    if !status.success() {
        bail!("wharf migrate failed");
    }
    Ok(())
}

/// `wharf serve` on a free loopback port, filesystem storage.
pub struct Server {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Server {
    pub async fn start(wharf: &Path, database_url: &str, data: &Path) -> anyhow::Result<Self> {
        Self::start_with(wharf, database_url, data, &[]).await
    }

    /// Like [`Server::start`], with extra environment variables.
    pub async fn start_with(
        wharf: &Path,
        database_url: &str,
        data: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        Self::spawn(wharf, database_url, data, env, Stdio::inherit()).await
    }

    /// Like [`Server::start_with`] (where `env` may set `RUST_LOG` too), its log (stderr)
    /// written to the file `log`.
    pub async fn start_logged(
        wharf: &Path,
        database_url: &str,
        data: &Path,
        env: &[(&str, String)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let file = std::fs::File::create(log)?;
        Self::spawn(wharf, database_url, data, env, Stdio::from(file)).await
    }

    async fn spawn(
        wharf: &Path,
        database_url: &str,
        data: &Path,
        env: &[(&str, String)],
        stderr: Stdio,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(wharf)
            .arg("serve")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("DATABASE_URL", database_url)
            .env("WHARF_LISTEN", format!("127.0.0.1:{port}"))
            .env("WHARF_PUBLIC_URL", &url)
            .env("WHARF_DATA_DIR", data)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("starting wharf serve")?;
        let mut server = Self { child, url, http: http_client() };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("wharf serve exited: {status}");
            }
            if let Ok(r) = server.http.get(format!("{}/readyz", server.url)).send().await
                && r.status().is_success()
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("wharf serve did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A bearer token for pull on `repository`, from `/token` with an access token.
    pub async fn bearer(&self, access_token: &str, repository: &str) -> anyhow::Result<String> {
        self.bearer_for(access_token, &format!("repository:{repository}:pull")).await
    }

    /// A bearer token for `scope` (`repository:<name>:<actions>`), from `/token` with an
    /// access token.
    pub async fn bearer_for(&self, access_token: &str, scope: &str) -> anyhow::Result<String> {
        let body: serde_json::Value = self
            .http
            .get(format!("{}/token", self.url))
            .query(&[("scope", scope)])
            .basic_auth("bench", Some(access_token))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(body["token"].as_str().context("no token")?.to_owned())
    }

    /// The body of `GET url` (no authentication), e.g. the metrics listener's.
    pub async fn text(&self, url: &str) -> anyhow::Result<String> {
        Ok(self.http.get(url).send().await?.error_for_status()?.text().await?)
    }

    /// The status of `GET path` with a bearer token.
    pub async fn status(&self, path: &str, bearer: &str) -> anyhow::Result<u16> {
        let response =
            self.http.get(format!("{}{path}", self.url)).bearer_auth(bearer).send().await?;
        Ok(response.status().as_u16())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// The benchmark's HTTP client. Its pooled connections are dropped after 5 s idle: Wharf
/// closes a keep-alive connection that sends no request head for `WHARF_HEADER_READ_TIMEOUT`
/// (10 s by default), and a client reusing one the moment the server closes it fails with
/// "connection closed before message completed" (a phase of distribution's runs lasts
/// longer than that).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(5)).build().unwrap_or_default()
}
