//! The reference registry (CNCF distribution 2.8, Debian's `docker-registry`), used to prove
//! the client harness before Wharf's registry exists, and by benchmarks.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::Command,
    time::Duration,
};

use super::{
    process::{Daemon, find_program},
    token_server::{self, TokenServer},
};
use crate::free_port;

/// User and password in the htpasswd file every reference registry is started with.
pub const USER: &str = "e2e";
/// See [`USER`].
pub const PASSWORD: &str = "e2e-secret";
// bcrypt (cost 5) of PASSWORD; distribution only accepts bcrypt entries.
const HTPASSWD: &str = "e2e:$2b$05$7RD5rHVVlt344OUA/lWgke56qXschf6bQP3BQVrd.inNmj.sJ4hHG\n";

/// How clients authenticate to a reference registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may push and pull.
    None,
    /// Basic auth against an htpasswd file ([`USER`], [`PASSWORD`]).
    Htpasswd,
    /// The Docker token protocol (as Wharf speaks it): `WWW-Authenticate: Bearer` pointing
    /// at a [`TokenServer`] that takes [`USER`], [`PASSWORD`] as Basic credentials.
    Token,
}

/// A running `docker-registry serve` on a loopback port with filesystem storage, stopped
/// when dropped.
#[derive(Debug)]
pub struct ReferenceRegistry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    daemon: Daemon,
    // Dropped after the registry.
    _token_server: Option<TokenServer>,
}

impl ReferenceRegistry {
    /// Starts one with htpasswd auth ([`USER`], [`PASSWORD`]) and its config, storage and log
    /// under `dir`; waits until `/v2/` answers.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, Auth::Htpasswd)
    }

    /// Starts one that needs no credentials (e.g. for benchmarks).
    pub fn start_without_auth(dir: &Path) -> Self {
        Self::start_with(dir, Auth::None)
    }

    /// Starts one with the given auth.
    pub fn start_with(dir: &Path, auth: Auth) -> Self {
        // The free port may be taken before the registry binds it: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(dir, auth) {
                Ok(registry) => return registry,
                Err(e) => last = e,
            }
        }
        panic!("{last}");
    }

    fn try_start(dir: &Path, auth: Auth) -> Result<Self, String> {
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
        let mut token_server = None;
        match auth {
            Auth::None => {}
            Auth::Htpasswd => config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wharf-e2e\n    path: {}\n",
                dir.join("htpasswd").display()
            )),
            Auth::Token => {
                let server = TokenServer::start(&dir.join("token"), USER, PASSWORD);
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                     rootcertbundle: {}\n",
                    server.realm,
                    token_server::SERVICE,
                    token_server::ISSUER,
                    server.cert_pem.display()
                ));
                token_server = Some(server);
            }
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg(&config_path).env_remove("REGISTRY_HTTP_ADDR");
        let mut daemon = Daemon::spawn("registry", cmd, dir, Duration::from_secs(10));
        let ready = if auth == Auth::None { 200 } else { 401 };
        daemon.try_wait_until(Duration::from_secs(30), || v2_status(&host) == Some(ready))?;
        Ok(Self { host, daemon, _token_server: token_server })
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
