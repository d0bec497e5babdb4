//! A minimal registry client over raw HTTP, for tests that need exact control of what is
//! pushed (tags, indexes, referrers) and of what each response says: status, OCI error code,
//! body bytes and headers.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A response, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body bytes.
    pub body: Vec<u8>,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// `Docker-Content-Digest`, if any.
    pub digest: Option<String>,
    /// `Link`, if any.
    pub link: Option<String>,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The first OCI error code of the body, if any.
    pub fn code(&self) -> Option<String> {
        self.json()["errors"][0]["code"].as_str().map(str::to_owned)
    }
}

/// What an image push produced.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest digest.
    pub manifest: String,
    /// The config blob digest.
    pub config: String,
    /// The layer blob digest.
    pub layer: String,
}

/// A registry client authenticating with one `Authorization` header value (Basic with an
/// access token, or Bearer), or none.
#[derive(Debug, Clone)]
pub struct RawRegistry {
    base: String,
    authorization: Option<String>,
    http: reqwest::Client,
}

impl RawRegistry {
    /// Talks to `base` (`http://127.0.0.1:PORT`) with an access token sent as Basic
    /// credentials on every request.
    pub fn with_token(base: &str, token: &str) -> Self {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("ci:{token}"));
        Self::with_authorization(base, Some(format!("Basic {basic}")))
    }

    /// Talks to `base` with this `Authorization` value (or none).
    pub fn with_authorization(base: &str, authorization: Option<String>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            authorization,
            http: reqwest::Client::new(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url =
            if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let request = self.http.request(method, url);
        match &self.authorization {
            Some(value) => request.header("authorization", value),
            None => request,
        }
    }

    async fn answer(request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request sent");
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let (content_type, digest, link) =
            (header("content-type"), header("docker-content-digest"), header("link"));
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body read").to_vec();
        Answer { status, body, content_type, digest, link }
    }

    /// The registry's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET` (or `HEAD`) a path under the registry, e.g. `/v2/acme/app/tags/list`.
    pub async fn get(&self, path: &str) -> Answer {
        Self::answer(self.request(reqwest::Method::GET, path)).await
    }

    /// `HEAD` a path.
    pub async fn head(&self, path: &str) -> Answer {
        Self::answer(self.request(reqwest::Method::HEAD, path)).await
    }

    /// `DELETE` a path.
    pub async fn delete(&self, path: &str) -> Answer {
        Self::answer(self.request(reqwest::Method::DELETE, path)).await
    }

    /// `GET` with a `Range` header.
    pub async fn get_range(&self, path: &str, range: &str) -> Answer {
        Self::answer(self.request(reqwest::Method::GET, path).header("range", range)).await
    }

    /// Pushes a blob monolithically; returns its digest.
    pub async fn push_blob(&self, repository: &str, bytes: &[u8]) -> String {
        let digest = digest_of(bytes);
        let path = format!("/v2/{repository}/blobs/uploads/?digest={digest}");
        let answer = Self::answer(
            self.request(reqwest::Method::POST, &path)
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec()),
        )
        .await;
        assert_eq!(answer.status, 201, "blob push: {:?}", String::from_utf8_lossy(&answer.body));
        digest
    }

    /// Pushes a manifest under `reference` (a tag or its digest); returns its digest.
    pub async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let answer = Self::answer(
            self.request(reqwest::Method::PUT, &path)
                .header("content-type", media_type)
                .body(bytes.to_vec()),
        )
        .await;
        assert_eq!(
            answer.status,
            201,
            "manifest push: {:?}",
            String::from_utf8_lossy(&answer.body)
        );
        digest_of(bytes)
    }

    /// Pushes a one-layer image with unique content, tagged `tag` (or by digest only when
    /// `tag` is `None`), optionally referring to `subject` with `artifact_type`.
    pub async fn push_image(
        &self,
        repository: &str,
        tag: Option<&str>,
        subject: Option<(&str, &str)>,
    ) -> Image {
        let unique = uuid::Uuid::new_v4().to_string();
        let config_bytes = format!("{{\"id\":\"{unique}\"}}");
        let config = self.push_blob(repository, config_bytes.as_bytes()).await;
        let layer_bytes = format!("layer {unique}");
        let layer = self.push_blob(repository, layer_bytes.as_bytes()).await;
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": config_bytes.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer,
                "size": layer_bytes.len(),
            }],
        });
        if let Some((subject, artifact_type)) = subject {
            manifest["artifactType"] = json!(artifact_type);
            manifest["subject"] = json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": subject,
                "size": 2,
            });
        }
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let reference = tag.map_or_else(|| digest_of(&bytes), str::to_owned);
        let manifest = self
            .push_manifest(
                repository,
                &reference,
                "application/vnd.oci.image.manifest.v1+json",
                &bytes,
            )
            .await;
        Image { manifest, config, layer }
    }

    /// Pushes an index of `children` (image manifest digests) tagged `tag`; returns its
    /// digest.
    pub async fn push_index(&self, repository: &str, tag: &str, children: &[&Image]) -> String {
        let manifests: Vec<Value> = children
            .iter()
            .zip(["amd64", "arm64", "riscv64"].iter().cycle())
            .map(|(child, arch)| {
                json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": child.manifest,
                    "size": 2,
                    "platform": {"os": "linux", "architecture": arch},
                })
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let bytes = serde_json::to_vec(&index).unwrap();
        self.push_manifest(repository, tag, "application/vnd.oci.image.index.v1+json", &bytes).await
    }
}
