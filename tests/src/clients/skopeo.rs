//! `skopeo`, for copying whole OCI layouts (multi-platform indexes) in and out of a
//! registry. Credentials in `REGISTRY_AUTH_FILE`; plain HTTP needs `--tls-verify=false`
//! (`--src-tls-verify=false` / `--dest-tls-verify=false` on `copy`).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use super::process::{find_program, must, run, sha256_digest};

/// The `skopeo` CLI with its own credentials.
#[derive(Debug)]
pub struct Skopeo {
    bin: PathBuf,
    dir: PathBuf,
    auth_file: PathBuf,
}

impl Skopeo {
    /// Auth file (and temporary files) under `dir`.
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let auth_file = dir.join("auth.json");
        std::fs::write(&auth_file, "{}\n").unwrap();
        let bin = find_program("WHARF_E2E_SKOPEO", "skopeo", &["/usr/bin/skopeo"]);
        Self { bin, dir: dir.to_path_buf(), auth_file }
    }

    /// A `skopeo ARGS` command with this client's credentials.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.envs(self.env());
        cmd
    }

    /// The environment that gives a `skopeo` run by another program (a shell running the
    /// lines of a document) this client's credentials and temporary files.
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("REGISTRY_AUTH_FILE", self.auth_file.clone()),
            ("XDG_RUNTIME_DIR", self.dir.join("xdg-run")),
            ("TMPDIR", self.dir.join("tmp")),
        ]
    }

    /// `skopeo login --tls-verify=false`; `Err` with the output on failure.
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

    /// `skopeo login`, panicking on failure.
    pub fn login(&self, registry: &str, user: &str, password: &str) {
        self.try_login(registry, user, password).unwrap_or_else(|e| panic!("{e}"));
    }

    /// `skopeo copy --all --preserve-digests oci:LAYOUT:TAG docker://REFERENCE`: pushes an
    /// image or a whole index, byte for byte. Returns the digest of the top manifest as the
    /// registry serves it.
    pub fn push_layout(&self, layout: &Path, tag: &str, reference: &str) -> String {
        let digestfile = self.dir.join("copy.digest");
        std::fs::remove_file(&digestfile).ok();
        must(
            self.command()
                .args(["copy", "--quiet", "--all", "--preserve-digests"])
                .arg("--dest-tls-verify=false")
                .arg("--digestfile")
                .arg(&digestfile)
                .arg(format!("oci:{}:{tag}", layout.display()))
                .arg(format!("docker://{reference}")),
        );
        std::fs::read_to_string(&digestfile).unwrap().trim().to_owned()
    }

    /// `skopeo copy --all --preserve-digests docker://REFERENCE oci:LAYOUT:TAG`: pulls an
    /// image or a whole index into a new OCI layout.
    pub fn pull_layout(&self, reference: &str, layout: &Path, tag: &str) {
        must(
            self.command()
                .args(["copy", "--quiet", "--all", "--preserve-digests"])
                .arg("--src-tls-verify=false")
                .arg(format!("docker://{reference}"))
                .arg(format!("oci:{}:{tag}", layout.display())),
        );
    }

    /// `skopeo inspect --raw`: the manifest bytes exactly as the registry serves them.
    pub fn raw_manifest(&self, reference: &str) -> Vec<u8> {
        self.try_raw_manifest(reference).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `skopeo inspect --raw`; `Err` with the output on failure.
    pub fn try_raw_manifest(&self, reference: &str) -> Result<Vec<u8>, String> {
        run(self
            .command()
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{reference}")))
        .map(|o| o.stdout)
    }

    /// The digest of the manifest bytes the registry serves for `reference`.
    pub fn digest(&self, reference: &str) -> String {
        sha256_digest(&self.raw_manifest(reference))
    }

    /// `skopeo list-tags`.
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let out = must(
            self.command()
                .args(["list-tags", "--tls-verify=false"])
                .arg(format!("docker://{repository}")),
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["Tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect()
    }
}
