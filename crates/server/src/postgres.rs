//! The embedded default: a private Postgres cluster that `wharf` runs itself.
//!
//! Owns finding the server binaries, `initdb` on first start, starting (or adopting a cluster
//! that is already running), creating the `wharf` database and stopping the cluster. The
//! cluster lives under `<data dir>/postgres`, listens on a Unix socket in a private directory
//! (a loopback port when the socket path would be too long), and requires a password (SCRAM)
//! that is generated at `initdb` time and kept beside it.
//!
//! Several `wharf` processes may use one cluster at once (`wharf serve` and an operator's
//! `wharf admin …` on the same data directory). Each registers itself in
//! `<data dir>/postgres/clients/<pid>` while it uses the cluster, and the last one to leave
//! stops it: a command never stops a cluster that a live `wharf serve` still uses, and a
//! cluster left running by a killed process is stopped by whoever adopted it. Start-up and
//! leaving are serialised by an exclusive lock on `<data dir>/postgres/lock`.
//!
//! Postgres refuses to run as root, so when `wharf` runs as root the cluster runs as the
//! `postgres` system user (or `nobody`), which then owns `<data dir>/postgres`.

use std::{
    fmt,
    os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Output,
};

use anyhow::{Context, bail};
use rand::{RngExt, distr::Alphanumeric};
use tokio::process::Command;
use wharf_db::PgConnectOptions;

/// The database Wharf uses inside its cluster.
const DATABASE: &str = "wharf";
/// The superuser `initdb` creates.
const SUPERUSER: &str = "wharf";
/// Port number used for the Unix socket's name (no TCP listener in that mode).
const SOCKET_PORT: u16 = 5432;
/// Unix socket paths longer than this do not fit in `sockaddr_un`.
const MAX_SOCKET_PATH: usize = 100;

/// A running embedded cluster. Call [`EmbeddedPostgres::release`] when done.
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    root: PathBuf,
    run_as: Option<SystemUser>,
    password: String,
    endpoint: Endpoint,
    /// This process's entry in `clients/`, once registered.
    registration: Option<PathBuf>,
}

impl fmt::Debug for EmbeddedPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedPostgres")
            .field("root", &self.root)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
enum Endpoint {
    Socket { dir: PathBuf, port: u16 },
    Tcp { port: u16 },
}

#[derive(Debug, Clone)]
struct SystemUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl EmbeddedPostgres {
    /// Initialises the cluster under `<data_dir>/postgres` if needed and starts it, or adopts
    /// it if it is already running.
    pub async fn start(data_dir: &Path, bin_dir: Option<&Path>) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir(bin_dir)?;
        let data_dir = absolute(data_dir)?;
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
        let root = data_dir.join("postgres");
        let run_as = if running_as_root() { Some(unprivileged_user()?) } else { None };
        if let Some(user) = &run_as {
            check_reachable(&data_dir, user)?;
        }
        let initialised = || root.join("data").join("PG_VERSION").exists();
        if !initialised() {
            prepare_root(&root, run_as.as_ref())?;
        }
        let lock = ClusterLock::acquire(&root).await?;
        // Decided under the lock: another process may have just initialised it.
        let fresh = !initialised();
        let password_file = root.join("password");
        let mut cluster = Self {
            bin_dir,
            root: root.clone(),
            run_as,
            password: String::new(),
            endpoint: Endpoint::Socket { dir: root.join("run"), port: SOCKET_PORT },
            registration: None,
        };
        if fresh {
            let password: String =
                rand::rng().sample_iter(Alphanumeric).take(32).map(char::from).collect();
            write_private(&password_file, &password, cluster.run_as.as_ref())?;
            cluster.initdb().await?;
        }
        cluster.password = std::fs::read_to_string(&password_file)
            .with_context(|| format!("cannot read {}", password_file.display()))?
            .trim()
            .to_owned();
        if cluster.is_running().await? {
            tracing::info!(root = %root.display(), "adopting the embedded Postgres cluster that is already running");
        } else {
            cluster.write_settings()?;
            cluster.pg_ctl_start().await?;
        }
        cluster.registration = Some(cluster.register()?);
        let ready = match cluster.read_endpoint() {
            Ok(endpoint) => {
                cluster.endpoint = endpoint;
                cluster.ensure_database().await
            }
            Err(err) => Err(err),
        };
        drop(lock);
        if let Err(err) = ready {
            cluster.release().await.ok();
            return Err(err);
        }
        tracing::info!(root = %root.display(), "embedded Postgres is up");
        Ok(cluster)
    }

    /// Options for connecting to the `wharf` database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options_for(DATABASE)
    }

    /// A URL for the `wharf` database, including the password (for `psql` and tests).
    pub fn url(&self) -> String {
        match &self.endpoint {
            Endpoint::Socket { dir, port } => format!(
                "postgres://{SUPERUSER}:{}@localhost/{DATABASE}?host={}&port={port}",
                self.password,
                dir.display()
            ),
            Endpoint::Tcp { port } => {
                format!("postgres://{SUPERUSER}:{}@127.0.0.1:{port}/{DATABASE}", self.password)
            }
        }
    }

    /// Leaves the cluster: stops it (fast shutdown: open connections are closed, and waits for
    /// it) unless another live `wharf` process still uses it.
    pub async fn release(mut self) -> anyhow::Result<()> {
        let _lock = ClusterLock::acquire(&self.root).await?;
        if let Some(entry) = self.registration.take() {
            std::fs::remove_file(&entry).ok();
        }
        let others = live_clients(&self.root.join("clients"));
        if !others.is_empty() {
            tracing::info!(pids = ?others, "leaving the embedded Postgres running: other wharf processes use it");
            return Ok(());
        }
        self.stop().await
    }

    /// Stops the cluster (fast shutdown) and waits for it.
    async fn stop(&self) -> anyhow::Result<()> {
        let data = self.root.join("data");
        let out = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&data)
            .args(["-m", "fast", "-w", "-t", "60"])
            .output()
            .await
            .context("cannot run pg_ctl stop")?;
        check(&out, "pg_ctl stop")?;
        tracing::info!("embedded Postgres stopped");
        Ok(())
    }

    /// Records this process as a user of the cluster; returns its entry.
    fn register(&self) -> anyhow::Result<PathBuf> {
        let clients = self.root.join("clients");
        std::fs::create_dir_all(&clients)
            .with_context(|| format!("cannot create {}", clients.display()))?;
        // Entries of processes that died without leaving.
        live_clients(&clients);
        let pid = std::process::id();
        let entry = clients.join(pid.to_string());
        let started = process_start_time(pid).map(|t| t.to_string()).unwrap_or_default();
        std::fs::write(&entry, started)
            .with_context(|| format!("cannot write {}", entry.display()))?;
        Ok(entry)
    }

    fn options_for(&self, database: &str) -> PgConnectOptions {
        let options =
            PgConnectOptions::new().username(SUPERUSER).password(&self.password).database(database);
        match &self.endpoint {
            Endpoint::Socket { dir, port } => options.socket(dir).port(*port),
            Endpoint::Tcp { port } => options.host("127.0.0.1").port(*port),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        // The cluster gets its own process group, so a Ctrl-C meant for `wharf` does not
        // shut Postgres down under requests that are still draining.
        cmd.process_group(0).current_dir(&self.root).kill_on_drop(false);
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }

    async fn initdb(&self) -> anyhow::Result<()> {
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.root.join("data"))
            .args(["-U", SUPERUSER, "--auth=scram-sha-256", "--no-locale", "-E", "UTF8"])
            .arg(format!("--pwfile={}", self.root.join("password").display()))
            .output()
            .await
            .context("cannot run initdb")?;
        check(&out, "initdb")?;
        let conf = self.root.join("data").join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).context("cannot read postgresql.conf")?;
        text.push_str("\n# Written by wharf on every start.\ninclude_if_exists = 'wharf.conf'\n");
        std::fs::write(&conf, text).context("cannot write postgresql.conf")?;
        Ok(())
    }

    /// Writes `wharf.conf`: where to listen. Decided at each start so a moved data directory
    /// still works.
    fn write_settings(&self) -> anyhow::Result<()> {
        let run = self.root.join("run");
        let socket = run.join(format!(".s.PGSQL.{SOCKET_PORT}"));
        let settings = if socket.as_os_str().len() <= MAX_SOCKET_PATH {
            format!(
                "listen_addresses = ''\nport = {SOCKET_PORT}\nunix_socket_directories = '{}'\nunix_socket_permissions = 0700\n",
                quote_conf(&run)
            )
        } else {
            let port = free_loopback_port()?;
            format!("listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = ''\n")
        };
        let path = self.root.join("data").join("wharf.conf");
        std::fs::write(&path, settings)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if let Some(user) = &self.run_as {
            std::os::unix::fs::chown(&path, Some(user.uid), Some(user.gid))?;
        }
        Ok(())
    }

    async fn is_running(&self) -> anyhow::Result<bool> {
        let out = self
            .command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(self.root.join("data"))
            .output()
            .await
            .context("cannot run pg_ctl status")?;
        // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
        Ok(out.status.code() == Some(0))
    }

    async fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let out = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(self.root.join("data"))
            .arg("-l")
            .arg(self.root.join("server.log"))
            .args(["-w", "-t", "60"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output()
            .await
            .context("cannot run pg_ctl start")?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
            let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            bail!(
                "embedded Postgres did not start ({}): {last} (see {})",
                first_line(&out),
                self.root.join("server.log").display()
            );
        }
        Ok(())
    }

    /// Reads where the running server listens from `postmaster.pid`.
    fn read_endpoint(&self) -> anyhow::Result<Endpoint> {
        let pid_file = self.root.join("data").join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("cannot read {}", pid_file.display()))?;
        let lines: Vec<&str> = text.lines().collect();
        // Lines: pid, data dir, start time, port, socket dir, listen address, ...
        let port: u16 = lines
            .get(3)
            .and_then(|l| l.trim().parse().ok())
            .context("postmaster.pid has no port")?;
        let socket_dir = lines.get(4).map(|l| l.trim()).unwrap_or("");
        Ok(if socket_dir.is_empty() {
            Endpoint::Tcp { port }
        } else {
            Endpoint::Socket { dir: PathBuf::from(socket_dir), port }
        })
    }

    async fn ensure_database(&self) -> anyhow::Result<()> {
        use wharf_db::sqlx::{Connection, PgConnection};
        let mut conn = PgConnection::connect_with(&self.options_for("postgres"))
            .await
            .context("cannot connect to the embedded Postgres")?;
        let exists: bool = wharf_db::sqlx::query_scalar(
            "select exists (select 1 from pg_database where datname = $1)",
        )
        .bind(DATABASE)
        .fetch_one(&mut conn)
        .await?;
        if !exists {
            wharf_db::sqlx::query(&format!("create database {DATABASE}"))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await?;
        Ok(())
    }
}

/// An exclusive lock on `<root>/lock`, held while a process starts or adopts the cluster and
/// while it leaves it; released when dropped.
struct ClusterLock {
    _file: std::fs::File,
}

impl ClusterLock {
    async fn acquire(root: &Path) -> anyhow::Result<Self> {
        let path = root.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // Another process may hold it while it starts the cluster (up to a minute).
        tokio::task::spawn_blocking(move || file.lock().map(|()| Self { _file: file }))
            .await
            .context("waiting for the cluster lock panicked")?
            .with_context(|| format!("cannot lock {}", path.display()))
    }
}

/// The pids registered in `clients` whose process is still alive (same pid, same start
/// time, not a zombie); removes the entries of the others.
fn live_clients(clients: &Path) -> Vec<u32> {
    let mut alive = Vec::new();
    for entry in std::fs::read_dir(clients).into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let recorded = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let same_process = match (recorded.trim().parse::<u64>().ok(), process_start_time(pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if same_process {
            alive.push(pid);
        } else {
            std::fs::remove_file(entry.path()).ok();
        }
    }
    alive
}

/// When process `pid` started (clock ticks since boot, from `/proc/<pid>/stat`), or `None`
/// if there is no such live process (zombies count as dead).
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may contain spaces and parentheses; fields after the
    // last `)` start with the state (field 3); the start time is field 22.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z" | &"X")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

fn check(out: &Output, what: &str) -> anyhow::Result<()> {
    if out.status.success() {
        return Ok(());
    }
    bail!("{what} failed: {}", first_line(out))
}

fn first_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output")
        .to_owned()
}

fn quote_conf(path: &Path) -> String {
    path.display().to_string().replace('\'', "''")
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("invalid data directory {}", path.display()))
}

fn free_loopback_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Finds a directory holding both `initdb` and `pg_ctl`.
fn find_bin_dir(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = configured {
        if has_both(dir) {
            return Ok(dir.to_path_buf());
        }
        bail!("WHARF_POSTGRES_BIN_DIR={} does not contain initdb and pg_ctl", dir.display());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path.into_iter().find(|d| has_both(d)) {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under \
         /usr/lib/postgresql/*/bin: install them (Debian: apt-get install postgresql) or set \
         DATABASE_URL to use an existing Postgres",
    )
}

fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn unprivileged_user() -> anyhow::Result<SystemUser> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("cannot read /etc/passwd")?;
    let users: Vec<SystemUser> = passwd
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some(SystemUser {
                name: (*fields.first()?).to_owned(),
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
            })
        })
        .collect();
    ["postgres", "nobody"]
        .iter()
        .find_map(|name| users.iter().find(|u| u.name == *name && u.uid != 0).cloned())
        .context(
            "running as root, Wharf runs its embedded Postgres as the `postgres` or `nobody` \
             user, and neither exists: create one, run Wharf as another user, or set DATABASE_URL",
        )
}

/// The cluster's user must be able to reach `<data dir>`: every ancestor needs search
/// permission for it.
fn check_reachable(data_dir: &Path, user: &SystemUser) -> anyhow::Result<()> {
    for dir in data_dir.ancestors() {
        let meta =
            std::fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        let mode = meta.permissions().mode();
        let searchable = if meta.uid() == user.uid {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !searchable {
            bail!(
                "running as root, Wharf runs its embedded Postgres as the `{}` user, which cannot \
                 enter {}: choose a WHARF_DATA_DIR it can reach (e.g. under /var/lib or /tmp), or \
                 set DATABASE_URL",
                user.name,
                dir.display()
            );
        }
    }
    Ok(())
}

fn prepare_root(root: &Path, run_as: Option<&SystemUser>) -> anyhow::Result<()> {
    for dir in [root.to_path_buf(), root.join("run")] {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        if let Some(user) = run_as {
            std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid))
                .with_context(|| format!("cannot hand {} to {}", dir.display(), user.name))?;
        }
    }
    Ok(())
}

fn write_private(path: &Path, contents: &str, owner: Option<&SystemUser>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    if let Some(user) = owner {
        std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_start_time_and_no_process_has_pid_zero() {
        let now = process_start_time(std::process::id());
        assert!(now.is_some());
        assert_eq!(now, process_start_time(std::process::id()), "stable");
        assert_eq!(process_start_time(0), None);
        assert_eq!(process_start_time(u32::MAX), None);
    }

    #[test]
    fn live_clients_keeps_the_living_and_prunes_the_dead() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let started = process_start_time(me).unwrap();
        std::fs::write(dir.path().join(me.to_string()), started.to_string()).unwrap();
        // The same pid started at another time: a reused pid, so a dead client.
        let mut reused = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let reused_pid = reused.id();
        std::fs::write(dir.path().join(reused_pid.to_string()), "1").unwrap();
        // A pid that does not exist, and a file that is not a client.
        std::fs::write(dir.path().join(u32::MAX.to_string()), "1").unwrap();
        std::fs::write(dir.path().join("notes"), "").unwrap();

        assert_eq!(live_clients(dir.path()), vec![me]);
        assert!(dir.path().join(me.to_string()).exists());
        assert!(!dir.path().join(reused_pid.to_string()).exists());
        assert!(!dir.path().join(u32::MAX.to_string()).exists());
        reused.kill().ok();
        reused.wait().ok();
    }

    #[test]
    fn a_zombie_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: a zombie once it exits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        }) {
            assert!(std::time::Instant::now() < deadline, "the child did not exit");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(process_start_time(pid), None);
        child.wait().ok();
    }
}
