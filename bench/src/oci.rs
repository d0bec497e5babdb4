//! Talking to a registry over the OCI distribution API with reqwest: pushing blobs
//! (monolithic: POST then PUT with the body; chunked: POST, PATCHes, PUT with no body) and
//! manifests, reading manifests back and verifying a whole blob's sha256. The same calls go
//! to Wharf and to the reference registry; only the credentials differ.

use anyhow::{Context, bail};
use base64::Engine as _;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use crate::content::{Blob, BlobFile, MANIFEST_TYPE};

/// The `Accept` header every manifest GET sends (distribution 2.8 answers an OCI manifest
/// only to a client that accepts it).
pub const ACCEPT: &str = "Accept: application/vnd.oci.image.manifest.v1+json";

/// How requests authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    Anonymous,
    Basic { user: String, password: String },
    Bearer(String),
}

impl Auth {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Self::Anonymous => request,
            Self::Basic { user, password } => request.basic_auth(user, Some(password)),
            Self::Bearer(token) => request.bearer_auth(token),
        }
    }

    /// The `Authorization` header line, if any (for wrk and the raw client).
    pub fn header(&self) -> Option<String> {
        match self {
            Self::Anonymous => None,
            Self::Basic { user, password } => Some(format!(
                "Authorization: Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )),
            Self::Bearer(token) => Some(format!("Authorization: Bearer {token}")),
        }
    }
}

/// A registry at `base` (`http://host:port`) with credentials.
#[derive(Debug, Clone)]
pub struct Registry {
    pub base: String,
    pub auth: Auth,
    http: reqwest::Client,
}

/// The response, if it has `status`; else an error with the start of its body.
async fn expect(
    response: reqwest::Response,
    status: u16,
    what: &str,
) -> anyhow::Result<reqwest::Response> {
    if response.status().as_u16() != status {
        let got = response.status();
        let body = response.text().await.unwrap_or_default();
        bail!(
            "{what} answered {got}, not {status}: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    Ok(response)
}

impl Registry {
    pub fn new(base: &str, auth: Auth) -> Self {
        Self { base: base.to_owned(), auth, http: crate::procs::http_client() }
    }

    /// Where an upload continues: `Location` is absolute (distribution) or a path (Wharf).
    fn resolve(&self, response: &reqwest::Response) -> anyhow::Result<String> {
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("no Location")?
            .to_owned();
        Ok(if location.starts_with("http") { location } else { format!("{}{location}", self.base) })
    }

    fn with_query(url: &str, query: &str) -> String {
        if url.contains('?') { format!("{url}&{query}") } else { format!("{url}?{query}") }
    }

    async fn start_upload(&self, repository: &str) -> anyhow::Result<String> {
        let url = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let response = self.auth.apply(self.http.post(url)).send().await?;
        self.resolve(&expect(response, 202, "upload POST").await?)
    }

    /// POST, then PUT `?digest=` with the whole blob.
    pub async fn push_monolithic(&self, repository: &str, blob: &Blob) -> anyhow::Result<()> {
        let location = self.start_upload(repository).await?;
        let url = Self::with_query(&location, &format!("digest={}", blob.digest));
        let response = self
            .auth
            .apply(self.http.put(url))
            .header("content-type", "application/octet-stream")
            .body(blob.bytes.clone())
            .send()
            .await?;
        expect(response, 201, "upload PUT").await?;
        Ok(())
    }

    /// POST, a PATCH per `chunk` bytes (with `Content-Range`), then PUT `?digest=` with no
    /// body; `read(offset, len)` gives each chunk's bytes.
    pub async fn push_chunks(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        chunk: u64,
        mut read: impl FnMut(u64, usize) -> anyhow::Result<Bytes>,
    ) -> anyhow::Result<()> {
        let mut location = self.start_upload(repository).await?;
        let mut offset = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let bytes = read(offset, usize::try_from(len)?)?;
            let response = self
                .auth
                .apply(self.http.patch(&location))
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("{offset}-{}", offset + len - 1))
                .body(bytes)
                .send()
                .await?;
            location = self.resolve(&expect(response, 202, "upload PATCH").await?)?;
            offset += len;
        }
        let url = Self::with_query(&location, &format!("digest={digest}"));
        let response = self.auth.apply(self.http.put(url)).send().await?;
        expect(response, 201, "upload PUT").await?;
        Ok(())
    }

    pub async fn push_chunked(
        &self,
        repository: &str,
        blob: &Blob,
        chunk: usize,
    ) -> anyhow::Result<()> {
        let size = blob.bytes.len() as u64;
        self.push_chunks(repository, &blob.digest, size, chunk as u64, |offset, len| {
            let start = usize::try_from(offset)?;
            Ok(blob.bytes.slice(start..start + len))
        })
        .await
    }

    /// A blob from disk, in chunks read as they are sent.
    pub async fn push_file(
        &self,
        repository: &str,
        file: &BlobFile,
        chunk: usize,
    ) -> anyhow::Result<()> {
        use std::io::{Read as _, Seek as _, SeekFrom};
        let mut source = std::fs::File::open(&file.path)?;
        self.push_chunks(repository, &file.digest, file.size, chunk as u64, |offset, len| {
            let mut buf = vec![0; len];
            source.seek(SeekFrom::Start(offset))?;
            source.read_exact(&mut buf)?;
            Ok(Bytes::from(buf))
        })
        .await
    }

    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &Blob,
    ) -> anyhow::Result<()> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let response = self
            .auth
            .apply(self.http.put(url))
            .header("content-type", MANIFEST_TYPE)
            .body(manifest.bytes.clone())
            .send()
            .await?;
        expect(response, 201, "manifest PUT").await?;
        Ok(())
    }

    /// GET `url_path` (with the manifest `Accept` header): the body of a 200.
    pub async fn get(&self, url_path: &str) -> anyhow::Result<Bytes> {
        let (name, value) = ACCEPT.split_once(": ").context("header")?;
        let response = self
            .auth
            .apply(self.http.get(format!("{}{url_path}", self.base)))
            .header(name, value)
            .send()
            .await?;
        Ok(expect(response, 200, &format!("GET {url_path}")).await?.bytes().await?)
    }

    /// GETs the whole blob, hashing what arrives: fails unless its sha256 is `digest` and its
    /// length `size`. Untimed: hashing on the client would cap any timed pull.
    pub async fn verify_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
    ) -> anyhow::Result<()> {
        let url_path = format!("/v2/{repository}/blobs/{digest}");
        let response =
            self.auth.apply(self.http.get(format!("{}{url_path}", self.base))).send().await?;
        let mut response = expect(response, 200, &format!("GET {url_path}")).await?;
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        while let Some(chunk) = response.chunk().await? {
            hasher.update(&chunk);
            received += chunk.len() as u64;
        }
        let got = format!("sha256:{}", hex::encode(hasher.finalize()));
        if received != size || got != digest {
            bail!(
                "{} sent {received} bytes hashing to {got}, not {size} bytes of {digest}",
                self.base
            );
        }
        Ok(())
    }
}
