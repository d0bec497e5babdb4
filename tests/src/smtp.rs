//! A real SMTP server for the mail tests: `tests/smtp/server.py` (PyPI `aiosmtpd`, installed
//! by `just test-tools`) on a loopback port, writing what it accepts into a directory.
//!
//! Every message arrives as `<n>.eml` (as received) and `<n>.json` (as Python's `email`
//! package decodes it: envelope, headers, text and HTML bodies), which [`ReceivedMail`]
//! reads. The server is a [`Daemon`]: stopped on drop, reaped by `tests/with-scratch.sh` if
//! the test process dies.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use serde::Deserialize;
use tempfile::TempDir;

use crate::clients::process::{Daemon, client_scratch, find_program};

/// A running SMTP server.
#[derive(Debug)]
pub struct SmtpServer {
    daemon: Option<Daemon>,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// Where the messages it accepted are written.
    pub dir: PathBuf,
    reject_domains: Vec<String>,
    tls: Option<SmtpTls>,
    scratch: TempDir,
}

/// How a server speaks TLS, with a self-signed certificate for 127.0.0.1 that no client
/// trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Offers STARTTLS and refuses mail before it.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

/// A message the server accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    /// `MAIL FROM`.
    pub envelope_from: String,
    /// `RCPT TO`, every accepted recipient.
    pub envelope_to: Vec<String>,
    /// Headers by lower-case name, decoded (RFC 2047 words as text).
    pub headers: HashMap<String, Vec<String>>,
    /// The decoded text/plain body.
    pub text: Option<String>,
    /// The decoded text/html body.
    pub html: Option<String>,
}

impl ReceivedMail {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase())?.first().map(String::as_str)
    }

    /// The text/plain body (panics if there is none).
    pub fn text(&self) -> &str {
        self.text.as_deref().expect("a text/plain part")
    }

    /// The text/html body (panics if there is none).
    pub fn html(&self) -> &str {
        self.html.as_deref().expect("a text/html part")
    }
}

impl SmtpServer {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        Self::start_with(0, &[])
    }

    /// Starts a server on a free port that refuses recipients in `domains` with a permanent
    /// `550 5.1.1` at `RCPT TO`.
    pub fn start_rejecting(domains: &[&str]) -> Self {
        Self::start_with(0, domains)
    }

    /// A server that will listen on `port` once [`Self::resume`] is called: for tests where
    /// the SMTP server is down at first.
    pub fn not_started(port: u16) -> Self {
        let scratch = client_scratch();
        let dir = scratch.path().join("messages");
        std::fs::create_dir_all(&dir).unwrap();
        Self { daemon: None, port, dir, reject_domains: Vec::new(), tls: None, scratch }
    }

    /// Starts a server on a free port speaking TLS as `tls`, with a self-signed
    /// certificate (made by the `openssl` CLI) that no client trusts.
    pub fn start_tls(tls: SmtpTls) -> Self {
        let mut server = Self::not_started(0);
        server.tls = Some(tls);
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(server.scratch.path().join("key.pem"))
            .arg("-out")
            .arg(server.scratch.path().join("cert.pem"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl (`just client-tools` installs it)");
        assert!(status.success(), "openssl req failed");
        server.resume();
        server
    }

    fn start_with(port: u16, reject_domains: &[&str]) -> Self {
        let mut server = Self::not_started(port);
        server.reject_domains = reject_domains.iter().map(|d| (*d).to_owned()).collect();
        server.resume();
        server
    }

    /// Starts (or starts again) the server on its port, keeping the messages received.
    pub fn resume(&mut self) {
        assert!(self.daemon.is_none(), "already running");
        let python = find_program("WHARF_E2E_PYTHON", "python3", &["/usr/bin/python3"]);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp").join("server.py");
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1");
        for domain in &self.reject_domains {
            cmd.arg("--reject-domain").arg(domain);
        }
        if let Some(tls) = self.tls {
            let mode = match tls {
                SmtpTls::StartTls => "starttls",
                SmtpTls::Implicit => "implicit",
            };
            cmd.args(["--tls", mode])
                .arg("--cert")
                .arg(self.scratch.path().join("cert.pem"))
                .arg("--key")
                .arg(self.scratch.path().join("key.pem"));
        }
        let mut daemon = Daemon::spawn("smtp", cmd, self.scratch.path(), Duration::from_secs(5));
        daemon.wait_until(Duration::from_secs(20), || daemon_ready(self.scratch.path()).is_some());
        self.port = daemon_ready(self.scratch.path()).expect("READY <port>");
        self.daemon = Some(daemon);
    }

    /// Stops the server (messages received stay in [`Self::dir`]).
    pub fn stop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.stop();
        }
    }

    /// The URL to reach it, for `WHARF_SMTP_URL`: `smtp://127.0.0.1:<port>`, with
    /// `?tls=required` for STARTTLS, or `smtps://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("smtp://127.0.0.1:{}", self.port),
            Some(SmtpTls::StartTls) => format!("smtp://127.0.0.1:{}?tls=required", self.port),
            Some(SmtpTls::Implicit) => format!("smtps://127.0.0.1:{}", self.port),
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }

    /// The messages received so far for `to`.
    pub fn messages_to(&self, to: &str) -> Vec<ReceivedMail> {
        self.messages()
            .into_iter()
            .filter(|m| m.envelope_to.iter().any(|r| r.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits (at most 30 s) for the first message to `to`; panics with the server's log if
    /// none arrives.
    pub async fn wait_for_message(&self, to: &str) -> ReceivedMail {
        self.wait_for_message_within(to, Duration::from_secs(30)).await
    }

    /// Waits at most `limit` for the first message to `to`.
    pub async fn wait_for_message_within(&self, to: &str, limit: Duration) -> ReceivedMail {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(mail) = self.messages_to(to).into_iter().next() {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "no message to {to} within {limit:?}; server log:\n{}",
                self.daemon.as_ref().map(Daemon::log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The port of a `READY <port>` line in the server's log.
fn daemon_ready(scratch: &Path) -> Option<u16> {
    let log = std::fs::read_to_string(scratch.join("smtp.log")).ok()?;
    log.lines().find_map(|l| l.strip_prefix("READY ")).and_then(|p| p.trim().parse().ok())
}
