//! ORAS through its Python client (PyPI `oras`), driven by `tests/clients/oras_client.py`.
//!
//! Per-test credentials live in a Docker-style `config.json` under the test's directory
//! (and `HOME` points there too). The registry is spoken to over plain HTTP
//! (`insecure=True`). oras-py's auth backend must match the registry: `token` for the
//! Docker token protocol (Wharf), `basic` for a registry that challenges with Basic
//! (the reference registry with htpasswd) — the `token` backend cannot answer a Basic
//! challenge.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::python;

/// Which oras-py auth backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrasAuth {
    /// Docker token protocol (`WWW-Authenticate: Bearer`).
    Token,
    /// Basic auth on every request (`WWW-Authenticate: Basic`).
    Basic,
}

/// An OCI descriptor (what a push returns, what `subject` takes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Descriptor {
    /// Media type of the manifest.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// `sha256:…`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// A file to push as a layer.
#[derive(Debug, Clone)]
pub struct ArtifactFile {
    /// File name (the layer's title annotation).
    pub name: String,
    /// Contents.
    pub contents: Vec<u8>,
    /// Layer media type.
    pub media_type: String,
}

/// The result of a pull.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// Digest of the manifest bytes the registry served.
    pub digest: String,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// oras-py with its own credentials.
#[derive(Debug)]
pub struct Oras {
    dir: PathBuf,
    host: String,
    auth: OrasAuth,
}

impl Oras {
    /// A client for registry `host` (`127.0.0.1:PORT`) with state under `dir`.
    pub fn new(dir: &Path, host: &str, auth: OrasAuth) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self { dir: dir.to_path_buf(), host: host.to_owned(), auth }
    }

    /// The directory of this client's Docker-style `config.json` (what `DOCKER_CONFIG` names
    /// for the `oras` stand-in, `tests/clients/bin/oras`).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.join("docker")
    }

    fn call(&self, mut request: serde_json::Value) -> Result<serde_json::Value, String> {
        request["host"] = json!(self.host);
        std::fs::create_dir_all(self.config_dir()).unwrap();
        request["config"] = json!(self.config_dir().join("config.json"));
        request["auth_backend"] = json!(match self.auth {
            OrasAuth::Token => "token",
            OrasAuth::Basic => "basic",
        });
        python::call("oras_client.py", &self.dir.join("home"), &[], &request)
    }

    /// Stores the credentials and checks them against `/v2/`; `Err` on failure.
    pub fn try_login(&self, user: &str, password: &str) -> Result<(), String> {
        self.call(json!({"op": "login", "username": user, "password": password})).map(drop)
    }

    /// Login, panicking on failure.
    pub fn login(&self, user: &str, password: &str) {
        self.try_login(user, password).unwrap_or_else(|e| panic!("{e}"));
    }

    /// `oras push TARGET files… [--config x:TYPE] [--subject …] [--annotation …]`.
    /// `target` is `REPO:TAG` (the host is the client's). Returns the pushed manifest.
    pub fn push(
        &self,
        target: &str,
        files: &[ArtifactFile],
        config_media_type: Option<&str>,
        subject: Option<&Descriptor>,
        annotations: Option<&serde_json::Value>,
    ) -> Descriptor {
        self.try_push(target, files, config_media_type, subject, annotations)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `oras push`; `Err` with the output on failure.
    pub fn try_push(
        &self,
        target: &str,
        files: &[ArtifactFile],
        config_media_type: Option<&str>,
        subject: Option<&Descriptor>,
        annotations: Option<&serde_json::Value>,
    ) -> Result<Descriptor, String> {
        let dir = self.dir.join("push").join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let mut list = Vec::new();
        for f in files {
            std::fs::write(dir.join(&f.name), &f.contents).unwrap();
            list.push(json!([f.name, f.media_type]));
        }
        let out = self.call(json!({
            "op": "push",
            "target": format!("{}/{target}", self.host),
            "dir": dir,
            "files": list,
            "config_media_type": config_media_type,
            "subject": subject,
            "annotations": annotations,
        }))?;
        serde_json::from_value(out).map_err(|e| e.to_string())
    }

    /// `oras pull REPO:TAG` (or `REPO@DIGEST`) into a fresh directory.
    pub fn pull(&self, target: &str) -> Pulled {
        self.try_pull(target).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `oras pull`; `Err` with the output on failure.
    pub fn try_pull(&self, target: &str) -> Result<Pulled, String> {
        let outdir = self.dir.join("pulled").join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&outdir).unwrap();
        let out = self.call(json!({
            "op": "pull",
            "target": format!("{}/{target}", self.host),
            "outdir": outdir,
        }))?;
        Ok(Pulled {
            digest: out["digest"].as_str().unwrap().to_owned(),
            files: serde_json::from_value(out["files"].clone()).unwrap(),
        })
    }

    /// `GET /v2/REPO/referrers/DIGEST[?artifactType=…]` with oras-py's session and auth.
    /// Returns (status, headers with lower-case names, body).
    pub fn referrers(
        &self,
        repository: &str,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> (u16, serde_json::Map<String, serde_json::Value>, serde_json::Value) {
        let out = self
            .call(json!({
                "op": "referrers",
                "repository": repository,
                "digest": digest,
                "artifact_type": artifact_type,
            }))
            .unwrap_or_else(|e| panic!("{e}"));
        let headers = out["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        (out["status"].as_u64().unwrap() as u16, headers, out["body"].clone())
    }
}
