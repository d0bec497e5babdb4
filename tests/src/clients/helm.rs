//! Helm through its official SDK (PyPI `helm-python-sdk`, module `helm_python`: Helm v4's Go
//! SDK behind a C ABI), driven by `tests/clients/helm_client.py`.
//!
//! Per-test state: `HOME`, Helm's config/cache/data homes and the registry credentials file
//! all live under the test's directory. Every registry call uses `plain_http=True`. Chart
//! versions with `+` are pushed as tags with `_` (Helm's own mapping) and pulled by the
//! `+` version.
//!
//! There is no `helm` CLI here, so a `helm` command line shown on a page is run by
//! [`Helm::run_shown`]: split into words as a shell would, each word mapped to the SDK
//! call's argument of the same meaning, nothing rewritten; a flag it does not know fails.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::python;

/// The manifest a chart tag points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// Manifest digest.
    pub digest: String,
    /// Manifest media type.
    pub media_type: String,
}

/// Helm's SDK with its own credentials and homes.
#[derive(Debug)]
pub struct Helm {
    dir: PathBuf,
}

impl Helm {
    /// State under `dir`.
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self { dir: dir.to_path_buf() }
    }

    /// Helm's homes and its registry logins (`HELM_REGISTRY_CONFIG`), for a `helm` run by
    /// another program (the stand-in `tests/clients/bin/helm` in a shell).
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("HELM_CONFIG_HOME", self.dir.join("config")),
            ("HELM_CACHE_HOME", self.dir.join("cache")),
            ("HELM_DATA_HOME", self.dir.join("data")),
            ("HELM_REGISTRY_CONFIG", self.dir.join("registry-config.json")),
        ]
    }

    fn call(&self, mut request: serde_json::Value) -> Result<serde_json::Value, String> {
        request["credentials_file"] = json!(self.dir.join("registry-config.json"));
        let home = self.dir.join("home");
        let env = self.env();
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        python::call("helm_client.py", &home, &env, &request)
    }

    /// `helm registry login HOST` (plain HTTP); `Err` with the output on failure.
    pub fn try_login(&self, host: &str, user: &str, password: &str) -> Result<(), String> {
        self.call(json!({"op": "login", "host": host, "username": user, "password": password}))
            .map(drop)
    }

    /// `helm registry login`, panicking on failure.
    pub fn login(&self, host: &str, user: &str, password: &str) {
        self.try_login(host, user, password).unwrap_or_else(|e| panic!("{e}"));
    }

    /// `helm package CHART_DIR`; returns the archive.
    pub fn package(&self, chart_dir: &Path) -> PathBuf {
        let out = self
            .call(json!({"op": "package", "chart_dir": chart_dir, "destination": self.dir.join("packaged")}))
            .unwrap_or_else(|e| panic!("{e}"));
        out["archive"].as_str().unwrap().into()
    }

    /// `helm push ARCHIVE oci://HOST/REPO`; returns what the chart's tag now points at.
    pub fn push(&self, archive: &Path, remote: &str) -> Pushed {
        self.try_push(archive, remote).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `helm push`; `Err` with the output on failure.
    pub fn try_push(&self, archive: &Path, remote: &str) -> Result<Pushed, String> {
        let out = self.call(json!({"op": "push", "archive": archive, "remote": remote}))?;
        Ok(Pushed {
            digest: out["digest"].as_str().unwrap().to_owned(),
            media_type: out["media_type"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// `helm pull oci://HOST/REPO/NAME --version VERSION`; returns the downloaded archive.
    pub fn pull(&self, chart: &str, version: &str) -> PathBuf {
        self.try_pull(chart, version).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `helm pull`; `Err` with the output on failure.
    pub fn try_pull(&self, chart: &str, version: &str) -> Result<PathBuf, String> {
        let dest = self.dir.join("pulled").join(uuid::Uuid::new_v4().simple().to_string());
        let out = self
            .call(json!({"op": "pull", "chart": chart, "version": version, "destination": dest}))?;
        Ok(out["archive"].as_str().unwrap().into())
    }

    /// The chart's versions in the registry (semver tags, `_` shown as `+`), newest first.
    pub fn tags(&self, chart: &str) -> Vec<String> {
        let out =
            self.call(json!({"op": "tags", "chart": chart})).unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_value(out["tags"].clone()).unwrap()
    }

    /// The manifest digest of `oci://HOST/REPO/NAME:TAG`.
    pub fn resolve(&self, reference: &str) -> String {
        let out =
            self.call(json!({"op": "resolve", "ref": reference})).unwrap_or_else(|e| panic!("{e}"));
        out["digest"].as_str().unwrap().to_owned()
    }

    /// Runs a `helm` command line shown on a page with the SDK, as a shell would run it with
    /// `env` set: `[ANYTHING |] helm registry login HOST -u USER (--password-stdin | -p PASS)
    /// [--plain-http]`, `helm install NAME oci://… --version V [--plain-http]` (a client-side
    /// dry run: there is no cluster) and `helm pull oci://… --version V [--plain-http]` (into
    /// a fresh directory, as if it were the current one). What comes before a `|` is run by
    /// `sh` and its output is the password on stdin, trailing newline removed as helm does.
    /// Returns the SDK's answer (`install`: the rendered release; `pull`: the archive path).
    pub fn run_shown(&self, line: &str, env: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        let (stdin, command) = match line.split_once(" | ") {
            Some((before, after)) => {
                let mut cmd = std::process::Command::new("sh");
                cmd.arg("-c").arg(before).envs(env.iter().copied());
                let out = super::process::run(&mut cmd)?;
                (Some(String::from_utf8_lossy(&out.stdout).into_owned()), after)
            }
            None => (None, line),
        };
        let words = shlex::split(command).ok_or_else(|| format!("not shell words: {command}"))?;
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let (verb, rest) = match words.as_slice() {
            ["helm", "registry", "login", rest @ ..] => ("login", rest),
            ["helm", "install", rest @ ..] => ("install", rest),
            ["helm", "pull", rest @ ..] => ("pull", rest),
            _ => return Err(format!("not a helm line the SDK runs here: {line}")),
        };
        let mut positional = Vec::new();
        let mut request = json!({"op": verb, "plain_http": false});
        let mut it = rest.iter();
        while let Some(word) = it.next() {
            let mut value = |name: &str| {
                it.next().map(|v| (*v).to_owned()).ok_or_else(|| format!("{name} needs a value"))
            };
            match (verb, *word) {
                (_, "--plain-http") => request["plain_http"] = json!(true),
                ("login", "-u" | "--username") => request["username"] = json!(value(word)?),
                ("login", "-p" | "--password") => request["password"] = json!(value(word)?),
                ("login", "--password-stdin") => {
                    let stdin = stdin.as_deref().ok_or("--password-stdin without a pipe")?;
                    let password = stdin.strip_suffix('\n').unwrap_or(stdin);
                    request["password"] = json!(password.strip_suffix('\r').unwrap_or(password));
                }
                ("install" | "pull", "--version") => request["version"] = json!(value(word)?),
                (_, flag) if flag.starts_with('-') => {
                    return Err(format!("helm {verb}: {flag} is not mapped to the SDK: {line}"));
                }
                (_, word) => positional.push(word.to_owned()),
            }
        }
        match (verb, positional.as_slice()) {
            ("login", [host]) => request["host"] = json!(host),
            ("install", [name, chart]) => {
                request["name"] = json!(name);
                request["chart"] = json!(chart);
            }
            ("pull", [chart]) => {
                request["chart"] = json!(chart);
                request["destination"] =
                    json!(self.dir.join("pulled").join(uuid::Uuid::new_v4().simple().to_string()));
            }
            _ => return Err(format!("helm {verb}: unexpected arguments {positional:?}: {line}")),
        }
        self.call(request)
    }
}
