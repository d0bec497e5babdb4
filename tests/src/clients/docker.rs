//! A private `dockerd` per test, and the `docker` CLI talking to it.
//!
//! The daemon runs without systemd, iptables or a bridge (`--iptables=false
//! --ip6tables=false --bridge=none`), on the `vfs` storage driver (no overlay mounts needed),
//! with its own `--data-root` under the test's scratch directory and its `--exec-root` and
//! API socket in a short directory under `/tmp` (Unix socket paths are limited to 108 bytes;
//! dockerd puts containerd's sockets under the exec root). dockerd starts and stops its own
//! containerd. Pulls and pushes to `127.0.0.1:<port>` over plain HTTP need no
//! `insecure-registries` entry: dockerd treats 127.0.0.0/8 as insecure by default.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use super::process::{Daemon, find_program, must, run, short_dir};

/// A running private dockerd, stopped (SIGTERM, wait) when dropped.
#[derive(Debug)]
pub struct Dockerd {
    daemon: Daemon,
    socket: PathBuf,
    // Dropped after `daemon` (fields drop in order): the exec root goes once dockerd is gone.
    _exec_root: tempfile::TempDir,
}

impl Dockerd {
    /// Starts dockerd with its state under `dir` and waits until its API answers.
    pub fn start(dir: &Path) -> Self {
        let dockerd = find_program("WHARF_E2E_DOCKERD", "dockerd", &["/usr/sbin/dockerd"]);
        let exec_root = short_dir();
        let socket = exec_root.path().join("d.sock");
        std::fs::create_dir_all(dir).unwrap();
        // An empty daemon.json of its own: nothing from /etc/docker applies.
        std::fs::write(dir.join("daemon.json"), "{}\n").unwrap();
        let mut cmd = Command::new(dockerd);
        cmd.args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .args(["--storage-driver=vfs", "--log-level=warn"])
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(exec_root.path().join("x"))
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.self.pid"))
            .arg("--host")
            .arg(format!("unix://{}", socket.display()));
        let mut daemon = Daemon::spawn("dockerd", cmd, dir, Duration::from_secs(30));
        let docker = find_program("WHARF_E2E_DOCKER", "docker", &["/usr/bin/docker"]);
        let host = format!("unix://{}", socket.display());
        daemon.wait_until(Duration::from_secs(60), || {
            socket.exists()
                && Command::new(&docker)
                    .args(["--host", &host, "version"])
                    .output()
                    .is_ok_and(|o| o.status.success())
        });
        Self { daemon, socket, _exec_root: exec_root }
    }

    /// The API socket, for `docker --host unix://…`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// What dockerd logged so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

/// The `docker` CLI with its own daemon and its own `DOCKER_CONFIG` (credentials).
#[derive(Debug)]
pub struct Docker {
    bin: PathBuf,
    config: PathBuf,
    // Declared last so the daemon stops after nothing else needs it.
    dockerd: Dockerd,
}

impl Docker {
    /// Starts a private dockerd under `dir` and a CLI configuration beside it.
    pub fn start(dir: &Path) -> Self {
        let dockerd = Dockerd::start(&dir.join("dockerd"));
        let config = dir.join("docker-config");
        std::fs::create_dir_all(&config).unwrap();
        let bin = find_program("WHARF_E2E_DOCKER", "docker", &["/usr/bin/docker"]);
        Self { bin, config, dockerd }
    }

    /// The daemon behind this client.
    pub fn daemon(&self) -> &Dockerd {
        &self.dockerd
    }

    /// A `docker --host … ARGS` command with this client's configuration.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env("DOCKER_CONFIG", &self.config)
            .env("DOCKER_CLI_HINTS", "false")
            .arg("--host")
            .arg(format!("unix://{}", self.dockerd.socket().display()));
        cmd
    }

    /// Runs `line` as a POSIX shell would (`sh -c`), as a person would paste it: `docker`
    /// is this client (`DOCKER_HOST`, `DOCKER_CONFIG`), with `env` set. Returns stdout, or
    /// `Err` with the output on failure.
    pub fn shell(&self, line: &str, env: &[(&str, &str)]) -> Result<String, String> {
        let host = format!("unix://{}", self.dockerd.socket().display());
        let config = [
            ("DOCKER_CONFIG", self.config.as_os_str()),
            ("DOCKER_CLI_HINTS", "false".as_ref()),
            ("DOCKER_HOST", host.as_ref()),
        ];
        super::process::shell(&self.bin, line, &config, env)
    }

    /// `docker login REGISTRY` with the password on stdin; `Err` with the output on failure.
    pub fn try_login(&self, registry: &str, user: &str, password: &str) -> Result<(), String> {
        use std::io::Write;
        let mut cmd = self.command();
        cmd.args(["login", "--username", user, "--password-stdin", registry])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        child.stdin.take().unwrap().write_all(password.as_bytes()).map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "docker login {registry} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// `docker login`, panicking on failure.
    pub fn login(&self, registry: &str, user: &str, password: &str) {
        self.try_login(registry, user, password).unwrap_or_else(|e| panic!("{e}"));
    }

    /// `docker import TAR REFERENCE`: a single-layer image made without any registry.
    /// Returns the image id.
    pub fn import(&self, tar: &Path, reference: &str) -> String {
        must(self.command().arg("import").arg(tar).arg(reference)).trim().to_owned()
    }

    /// `docker push REFERENCE`; returns the manifest digest the registry accepted.
    pub fn push(&self, reference: &str) -> String {
        self.try_push(reference).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `docker push`; `Err` with the output on failure.
    pub fn try_push(&self, reference: &str) -> Result<String, String> {
        let out = run(self.command().args(["push", reference]))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        // "<tag>: digest: sha256:… size: 527"
        stdout
            .lines()
            .find_map(|l| l.split_once("digest: ").map(|(_, r)| r))
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_owned)
            .ok_or_else(|| format!("no digest in docker push output:\n{stdout}"))
    }

    /// `docker pull REFERENCE`; returns the manifest digest it pulled.
    pub fn pull(&self, reference: &str) -> String {
        self.try_pull(reference).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `docker pull`; `Err` with the output on failure.
    pub fn try_pull(&self, reference: &str) -> Result<String, String> {
        let out = run(self.command().args(["pull", reference]))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("Digest: "))
            .map(|d| d.trim().to_owned())
            .ok_or_else(|| format!("no digest in docker pull output:\n{stdout}"))
    }

    /// `docker rmi REFERENCE` (untag; the layers go when nothing else uses them).
    pub fn remove(&self, reference: &str) {
        must(self.command().args(["rmi", reference]));
    }

    /// The image's repo digests (`name@sha256:…`).
    pub fn repo_digests(&self, reference: &str) -> Vec<String> {
        let out = must(self.command().args([
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            reference,
        ]));
        serde_json::from_str(out.trim()).unwrap()
    }

    /// The image id (`sha256:` of its config).
    pub fn image_id(&self, reference: &str) -> String {
        must(self.command().args(["image", "inspect", "--format", "{{.Id}}", reference]))
            .trim()
            .to_owned()
    }
}
