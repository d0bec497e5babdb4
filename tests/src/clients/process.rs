//! Running client commands and supervising the daemons the client tests start.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

/// Finds a program: the environment variable `env` if set, else the first of `name` on
/// `PATH`, else the first existing `fallbacks` (e.g. `/usr/sbin/dockerd`, which is not on a
/// normal user's `PATH`). Panics with an install hint when it is nowhere.
pub fn find_program(env: &str, name: &str, fallbacks: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return p.into();
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    for f in fallbacks {
        if Path::new(f).is_file() {
            return f.into();
        }
    }
    panic!("`{name}` not found (set {env} or install it: `just client-tools`)");
}

/// Runs `cmd` to completion; `Err` carries the command line, exit status and both outputs.
pub fn run(cmd: &mut Command) -> Result<Output, String> {
    cmd.stdin(Stdio::null());
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() { Ok(out) } else { Err(describe(cmd, &out)) }
}

/// Runs `line` as a POSIX shell would (`sh -c`), as a person would paste it, with the
/// directory of `bin` first on `PATH` (so the line's client is the test's) and `env` set by
/// the caller on top of `config`; returns stdout, or `Err` with the output on failure.
pub fn shell(
    bin: &Path,
    line: &str,
    config: &[(&str, &std::ffi::OsStr)],
    env: &[(&str, &str)],
) -> Result<String, String> {
    let bin_dir = bin.parent().map(Path::to_path_buf).unwrap_or_default();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(line).env("PATH", path);
    cmd.envs(config.iter().copied()).envs(env.iter().copied());
    let out = run(&mut cmd).map_err(|e| format!("{line}: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` to completion and returns its stdout; panics with everything it printed if it
/// fails.
pub fn must(cmd: &mut Command) -> String {
    match run(cmd) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => panic!("{e}"),
    }
}

fn describe(cmd: &Command, out: &Output) -> String {
    format!(
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A long-running process (dockerd, the reference registry) that never outlives the test:
///
/// - dropped (also on panic): SIGTERM, wait, SIGKILL after a timeout;
/// - its pid is written to `<dir>/<name>.pid`, so `tests/with-scratch.sh` (run by
///   `just test`) can stop it if the test process itself was killed;
/// - a watchdog (`sh`) polls the test process and sends SIGTERM to the daemon as soon as
///   the test process is gone, so a SIGKILLed test leaks nothing either.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Option<Child>,
    watchdog: Option<Child>,
    pidfile: PathBuf,
    log: PathBuf,
    stop_timeout: Duration,
}

impl Daemon {
    /// Spawns `cmd` with stdout and stderr going to `<dir>/<name>.log`.
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path, stop_timeout: Duration) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        cmd.stdin(Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let pid = child.id();
        let pidfile = dir.join(format!("{name}.pid"));
        std::fs::write(&pidfile, format!("{pid}\n")).unwrap();
        let script = format!(
            "while kill -0 {test} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             kill -TERM {pid} 2>/dev/null; exit 0",
            test = std::process::id()
        );
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        Self { name: name.to_owned(), child: Some(child), watchdog, pidfile, log, stop_timeout }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log if the daemon has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().expect("running").try_wait().unwrap() {
            panic!("{} exited early ({status}):\n{}", self.name, self.log());
        }
    }

    /// Polls `ready` every 100 ms until it returns true; panics with the log if the daemon
    /// exits or `timeout` passes.
    pub fn wait_until(&mut self, timeout: Duration, ready: impl FnMut() -> bool) {
        self.try_wait_until(timeout, ready).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Like [`Self::wait_until`], but `Err` (with the log) instead of panicking.
    pub fn try_wait_until(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut().expect("running").try_wait().unwrap() {
                return Err(format!("{} exited early ({status}):\n{}", self.name, self.log()));
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not come up within {timeout:?}:\n{}",
                    self.name,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, wait (SIGKILL after the stop timeout). Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            let deadline = Instant::now() + self.stop_timeout;
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        child.kill().ok();
                        child.wait().ok();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
            std::fs::remove_file(&self.pidfile).ok();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.kill().ok();
            watchdog.wait().ok();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of {} ({}):", self.name, self.log.display());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        self.stop();
    }
}

fn signal(pid: u32, name: &str) {
    Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().ok();
}

/// A directory for one client test: under `WHARF_E2E_SCRATCH` when set (`just test` sets it
/// and reaps whatever a killed test left running there), else under the system temp dir.
pub fn client_scratch() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let mut builder = tempfile::Builder::new();
    builder.prefix("wharf-e2e-");
    let dir = match std::env::var_os("WHARF_E2E_SCRATCH") {
        Some(root) => {
            std::fs::create_dir_all(&root).unwrap();
            builder.tempdir_in(root).unwrap()
        }
        None => builder.tempdir().unwrap(),
    };
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A short directory for Unix sockets (whose paths must stay under 108 bytes; dockerd
/// nests containerd's sockets two levels down), removed when dropped: under
/// `WHARF_E2E_SCRATCH` when that path is short, so a killed test's leftovers are reaped
/// with it, else under `/tmp`.
pub fn short_dir() -> tempfile::TempDir {
    let root = std::env::var_os("WHARF_E2E_SCRATCH")
        .map(PathBuf::from)
        .filter(|p| p.as_os_str().len() <= 40)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    std::fs::create_dir_all(&root).unwrap();
    tempfile::Builder::new().prefix("wx").tempdir_in(root).unwrap()
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
