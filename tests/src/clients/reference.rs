//! The reference registry (CNCF distribution 2.8, Debian's `docker-registry`), used to prove
//! the client harness before Wharf's registry exists, and by benchmarks.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::Command,
    time::Duration,
};

use super::process::{Daemon, find_program};
use crate::free_port;

/// User and password in the htpasswd file every reference registry is started with.
pub const USER: &str = "e2e";
/// See [`USER`].
pub const PASSWORD: &str = "e2e-secret";
// bcrypt (cost 5) of PASSWORD; distribution only accepts bcrypt entries.
const HTPASSWD: &str = "e2e:$2b$05$7RD5rHVVlt344OUA/lWgke56qXschf6bQP3BQVrd.inNmj.sJ4hHG\n";

/// A running `docker-registry serve` on a loopback port with filesystem storage and
/// htpasswd (Basic) auth, stopped when dropped.
#[derive(Debug)]
pub struct ReferenceRegistry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    daemon: Daemon,
}

impl ReferenceRegistry {
    /// Starts one with htpasswd auth ([`USER`], [`PASSWORD`]) and its config, storage and log
    /// under `dir`; waits until `/v2/` answers.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, true)
    }

    /// Starts one that needs no credentials (e.g. for benchmarks).
    pub fn start_without_auth(dir: &Path) -> Self {
        Self::start_with(dir, false)
    }

    fn start_with(dir: &Path, htpasswd: bool) -> Self {
        // The free port may be taken before the registry binds it: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(dir, htpasswd) {
                Ok(registry) => return registry,
                Err(e) => last = e,
            }
        }
        panic!("{last}");
    }

    fn try_start(dir: &Path, htpasswd: bool) -> Result<Self, String> {
        let bin =
            find_program("WHARF_E2E_REGISTRY", "docker-registry", &["/usr/bin/docker-registry"]);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("htpasswd"), HTPASSWD).unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
             \x20 cache:\n    blobdescriptor: inmemory\n\
             http:\n  addr: {host}\n  secret: {secret}\n",
            root = dir.join("data").display(),
            secret = uuid::Uuid::new_v4().simple(),
        );
        if htpasswd {
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wharf-e2e\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg(&config_path).env_remove("REGISTRY_HTTP_ADDR");
        let mut daemon = Daemon::spawn("registry", cmd, dir, Duration::from_secs(10));
        let ready = if htpasswd { 401 } else { 200 };
        daemon.try_wait_until(Duration::from_secs(30), || v2_status(&host) == Some(ready))?;
        Ok(Self { host, daemon })
    }

    /// What it logged (including its access log).
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

/// The status of `GET /v2/` without credentials, or `None` if nothing answers.
fn v2_status(host: &str) -> Option<u16> {
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}
