//! `podman` with a private image store and auth file.
//!
//! Every call passes `--root`/`--runroot` (its own storage, `vfs` driver: no overlay or
//! fuse-overlayfs needed), `--events-backend file` and `--cgroup-manager cgroupfs` (no
//! systemd/journald here). Credentials go to `REGISTRY_AUTH_FILE`, which podman requires to
//! exist. Plain HTTP needs `--tls-verify=false` on login, push and pull. podman runs no
//! daemon: nothing is left running between calls.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use super::process::{find_program, must, run};

/// The `podman` CLI with its own storage and credentials.
#[derive(Debug)]
pub struct Podman {
    bin: PathBuf,
    dir: PathBuf,
    auth_file: PathBuf,
}

impl Podman {
    /// Storage and auth file under `dir`.
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let auth_file = dir.join("auth.json");
        std::fs::write(&auth_file, "{}\n").unwrap();
        let bin = find_program("WHARF_E2E_PODMAN", "podman", &["/usr/bin/podman"]);
        Self { bin, dir: dir.to_path_buf(), auth_file }
    }

    /// A `podman ARGS` command with this client's storage and credentials.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env("REGISTRY_AUTH_FILE", &self.auth_file)
            .env("XDG_RUNTIME_DIR", self.dir.join("xdg-run"))
            .arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--storage-driver", "vfs", "--events-backend", "file"])
            .args(["--cgroup-manager", "cgroupfs"]);
        cmd
    }

    /// Runs `line` as a POSIX shell would (`sh -c`), as a person would paste it, with `env`
    /// set: `podman` is this client, its storage and engine settings given by configuration
    /// files (`CONTAINERS_STORAGE_CONF`, `CONTAINERS_CONF`) instead of flags, so the line runs
    /// as it is. Returns stdout, or `Err` with the output on failure.
    pub fn shell(&self, line: &str, env: &[(&str, &str)]) -> Result<String, String> {
        let storage = self.dir.join("storage.conf");
        std::fs::write(
            &storage,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                self.dir.join("storage").display(),
                self.dir.join("run").display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let engine = self.dir.join("containers.conf");
        let tmp = self.dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        std::fs::write(
            &engine,
            format!(
                "[engine]\nevents_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\n\
                 tmp_dir = \"{}\"\n",
                tmp.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let runtime = self.dir.join("xdg-run");
        let config = [
            ("REGISTRY_AUTH_FILE", self.auth_file.as_os_str()),
            ("XDG_RUNTIME_DIR", runtime.as_os_str()),
            ("CONTAINERS_STORAGE_CONF", storage.as_os_str()),
            ("CONTAINERS_CONF", engine.as_os_str()),
            ("TMPDIR", tmp.as_os_str()),
        ];
        super::process::shell(&self.bin, line, &config, env)
    }

    /// `podman login --tls-verify=false`; `Err` with the output on failure.
    pub fn try_login(&self, registry: &str, user: &str, password: &str) -> Result<(), String> {
        run(self.command().args([
            "login",
            "--tls-verify=false",
            "--username",
            user,
            "--password",
            password,
            registry,
        ]))
        .map(drop)
    }

    /// `podman login`, panicking on failure.
    pub fn login(&self, registry: &str, user: &str, password: &str) {
        self.try_login(registry, user, password).unwrap_or_else(|e| panic!("{e}"));
    }

    /// `podman import TAR REFERENCE`; returns the image id.
    pub fn import(&self, tar: &Path, reference: &str) -> String {
        must(self.command().args(["import", "--quiet"]).arg(tar).arg(reference)).trim().to_owned()
    }

    /// `podman push --tls-verify=false`; returns the manifest digest (`--digestfile`).
    pub fn push(&self, reference: &str) -> String {
        self.try_push(reference).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `podman push`; `Err` with the output on failure.
    pub fn try_push(&self, reference: &str) -> Result<String, String> {
        let digestfile = self.dir.join("push.digest");
        std::fs::remove_file(&digestfile).ok();
        run(self
            .command()
            .args(["push", "--quiet", "--tls-verify=false", "--digestfile"])
            .arg(&digestfile)
            .arg(reference))?;
        Ok(std::fs::read_to_string(&digestfile).unwrap().trim().to_owned())
    }

    /// `podman pull --tls-verify=false`; returns the manifest digest it pulled.
    pub fn pull(&self, reference: &str) -> String {
        self.try_pull(reference).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `podman pull`; `Err` with the output on failure.
    pub fn try_pull(&self, reference: &str) -> Result<String, String> {
        run(self.command().args(["pull", "--quiet", "--tls-verify=false", reference]))?;
        Ok(self.digest(reference))
    }

    /// The manifest digest podman recorded for a local image (for an image pulled through an
    /// index: the index digest).
    pub fn digest(&self, reference: &str) -> String {
        must(self.command().args(["image", "inspect", "--format", "{{.Digest}}", reference]))
            .trim()
            .to_owned()
    }

    /// The image's repo digests (`name@sha256:…`): for an image pulled through an index,
    /// both the index digest and the platform manifest's digest.
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

    /// `podman rmi REFERENCE`.
    pub fn remove(&self, reference: &str) {
        must(self.command().args(["rmi", reference]));
    }
}
