//! Test support: a real S3-compatible server for tests (`test-support` feature only).
//!
//! [`S3TestServer::start`] uses the server named by `WHARF_TEST_S3_ENDPOINT` (with
//! `WHARF_TEST_S3_ACCESS_KEY`, `WHARF_TEST_S3_SECRET_KEY`, optional `WHARF_TEST_S3_REGION`),
//! or else spawns `s3s-fs` (found on `PATH`, in `$CARGO_HOME/bin` or `~/.cargo/bin`) on a
//! free loopback port over a temporary directory, and kills it on drop. When neither is
//! available it returns an error that says how to fix that: tests must fail, never skip.
//! Never compiled into the server binary.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::StorageError;
use crate::s3::{S3Config, client, sdk_error};

/// Version of `s3s-fs` the tests are written against.
pub const S3S_FS_VERSION: &str = "0.14.1";

/// A running S3-compatible server for tests; a spawned `s3s-fs` is killed on drop.
#[derive(Debug)]
pub struct S3TestServer {
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where `s3s-fs` is: `PATH`, then `$CARGO_HOME/bin`, then `~/.cargo/bin`.
pub fn find_s3s_fs() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(cargo_home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo").join("bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

impl S3TestServer {
    /// Connects to the configured external server or spawns `s3s-fs`; waits until it
    /// accepts connections.
    pub async fn start() -> Result<Self, String> {
        if let Some(endpoint) = env("WHARF_TEST_S3_ENDPOINT") {
            let (Some(access_key), Some(secret_key)) = (
                env("WHARF_TEST_S3_ACCESS_KEY"),
                env("WHARF_TEST_S3_SECRET_KEY"),
            ) else {
                return Err(
                    "WHARF_TEST_S3_ENDPOINT is set but WHARF_TEST_S3_ACCESS_KEY or \
                            WHARF_TEST_S3_SECRET_KEY is not"
                        .to_owned(),
                );
            };
            return Ok(Self {
                endpoint,
                access_key,
                secret_key,
                region: env("WHARF_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
                child: None,
                dir: None,
            });
        }
        let Some(binary) = find_s3s_fs() else {
            return Err(format!(
                "S3 tests need a real S3-compatible server, and none is available: \
                 `s3s-fs` is neither on PATH nor in ~/.cargo/bin. Install it with \
                 `cargo install s3s-fs --version {S3S_FS_VERSION} --features binary --locked`, \
                 or point WHARF_TEST_S3_ENDPOINT (+ _ACCESS_KEY, _SECRET_KEY, _REGION) at a server."
            ));
        };
        let mut last_error = String::new();
        // The free port may be taken between probing and binding: try a few.
        for _ in 0..3 {
            match Self::spawn(&binary).await {
                Ok(server) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    async fn spawn(binary: &PathBuf) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).map_err(|e| format!("temp dir: {e}"))?;
        let log_path = dir.path().join("s3s-fs.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("log file: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let (access_key, secret_key) = (
            "wharf-test-access".to_owned(),
            "wharf-test-secret".to_owned(),
        );
        let child = Command::new(binary)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(port.to_string())
            .arg("--access-key")
            .arg(&access_key)
            .arg("--secret-key")
            .arg(&secret_key)
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key,
            secret_key,
            region: "us-east-1".to_owned(),
            child: Some(child),
            dir: Some(dir),
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(child) = server.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("s3s-fs exited early ({status}): {log}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                server.stop();
                return Err(format!("s3s-fs did not listen on {addr} within 20s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The data directory of a spawned `s3s-fs` (`None` for an external server).
    pub fn data_dir(&self) -> Option<PathBuf> {
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
        let config = self.config(&name);
        client(&config)
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .map_err(|e| sdk_error("CreateBucket", e))?;
        Ok(config)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for S3TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}
