//! The test application: a router over a fresh database and a fresh blob store, and helpers
//! to talk to it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;
use wharf_db::PgPool;
use wharf_registry::access::AccessControl;
use wharf_registry::access::testing::{AllowOrganization, AnonymousPullOnly};
use wharf_registry::digest::{Algorithm, Digest};
use wharf_registry::{Registry, RegistryConfig, router};
use wharf_storage::testing::S3TestServer;
use wharf_storage::{BlobStore, FsConfig, StorageConfig};

/// Which blob store a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Fs,
    S3,
}

/// Keeps the store's backing alive for the test's duration.
#[derive(Debug)]
enum Backing {
    Dir(tempfile::TempDir),
    S3(S3TestServer),
}

pub struct TestApp {
    pub pool: PgPool,
    pub store: Arc<dyn BlobStore>,
    /// The organization `acme` the default caller is a member of.
    pub org: Uuid,
    /// Another organization, `other`, with a repository `other/app`.
    pub other_org: Uuid,
    pub backend: Backend,
    router: Router,
    _backing: Backing,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts an OCI error: the status and the code of the first entry.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status} {code}, got {} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(
            self.json()["errors"][0]["code"],
            code,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", String::from_utf8_lossy(&self.body));
        self
    }
}

async fn organization(pool: &PgPool, slug: &str) -> Uuid {
    wharf_db::testing::org(pool, slug).await.id
}

impl TestApp {
    /// The filesystem store's root, for the fs backend.
    pub fn fs_root(&self) -> Option<std::path::PathBuf> {
        match &self._backing {
            Backing::Dir(dir) => Some(dir.path().join("blobs")),
            Backing::S3(_) => None,
        }
    }

    pub async fn new(pool: PgPool, backend: Backend) -> Self {
        // Logs (503 causes) show with the failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn,wharf_registry=debug")
            .with_test_writer()
            .try_init();
        let (store, backing) = match backend {
            Backend::Fs => {
                let dir = tempfile::tempdir().unwrap();
                let store = wharf_storage::open(StorageConfig::Fs(FsConfig {
                    root: dir.path().join("blobs"),
                }))
                .await
                .unwrap();
                (store, Backing::Dir(dir))
            }
            Backend::S3 => {
                let server = S3TestServer::start().await.expect("S3 test server");
                let config = server.new_bucket().await.unwrap();
                let store = wharf_storage::open(StorageConfig::S3(config)).await.unwrap();
                (store, Backing::S3(server))
            }
        };
        let org = organization(&pool, "acme").await;
        let other_org = organization(&pool, "other").await;
        let access: Arc<dyn AccessControl> = Arc::new(AllowOrganization::new(org));
        let router = Self::router_with(&pool, &store, access);
        let app = Self { pool, store, org, other_org, backend, router, _backing: backing };
        // A repository of another organization, with one blob, for isolation tests.
        let other =
            Self::router_with(&app.pool, &app.store, Arc::new(AllowOrganization::new(other_org)));
        let blob = b"other org's blob";
        let digest = Algorithm::Sha256.digest(blob);
        let response = send(
            &other,
            Method::POST,
            &format!("/v2/other/app/blobs/uploads/?digest={digest}"),
            &[],
            Body::from(&blob[..]),
        )
        .await;
        response.assert_status(201);
        app
    }

    fn router_with(
        pool: &PgPool,
        store: &Arc<dyn BlobStore>,
        access: Arc<dyn AccessControl>,
    ) -> Router {
        router(Registry::new(pool.clone(), store.clone(), access, RegistryConfig::default()))
    }

    /// A router over the same database and store whose caller is anonymous and may only pull.
    pub fn anonymous(&self) -> Router {
        Self::router_with(&self.pool, &self.store, Arc::new(AnonymousPullOnly))
    }

    /// A router over the same data, as the default caller, with `config`.
    pub fn with_config(&self, config: RegistryConfig) -> Router {
        router(Registry::new(
            self.pool.clone(),
            self.store.clone(),
            Arc::new(AllowOrganization::new(self.org)),
            config,
        ))
    }

    /// A router over the same data with a small page cap.
    pub fn with_page_cap(&self, cap: usize) -> Router {
        let config = RegistryConfig { max_page_size: cap, ..RegistryConfig::default() };
        router(Registry::new(
            self.pool.clone(),
            self.store.clone(),
            Arc::new(AllowOrganization::new(self.org)),
            config,
        ))
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> TestResponse {
        send(&self.router, method, path, headers, body.into()).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, &[], Body::empty()).await
    }

    pub async fn head(&self, path: &str) -> TestResponse {
        self.send(Method::HEAD, path, &[], Body::empty()).await
    }

    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, &[], Body::empty()).await
    }

    /// Monolithic upload (`POST ?digest=`); asserts 201 and returns the digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let digest = Algorithm::Sha256.digest(data);
        let r = self
            .send(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                &[("content-type", "application/octet-stream")],
                Bytes::copy_from_slice(data),
            )
            .await;
        r.assert_status(201);
        assert_eq!(r.header("location"), Some(format!("/v2/{repo}/blobs/{digest}").as_str()));
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        digest
    }

    /// Starts an upload session; returns its `Location`.
    pub async fn start_upload(&self, repo: &str) -> String {
        let r = self
            .send(Method::POST, &format!("/v2/{repo}/blobs/uploads/"), &[], Body::empty())
            .await;
        r.assert_status(202);
        assert_eq!(r.header("range"), Some("0-0"));
        let location = r.header("location").unwrap().to_owned();
        let id = r.header("docker-upload-uuid").unwrap();
        assert!(location.ends_with(id), "{location} / {id}");
        location
    }

    /// Pushes a manifest; returns the response.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> TestResponse {
        self.send(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media_type)],
            Bytes::copy_from_slice(bytes),
        )
        .await
    }

    /// Pushes a config and one layer and an OCI image manifest referencing them, tagged
    /// `tag`; returns the manifest's bytes and digest.
    pub async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (Vec<u8>, Digest) {
        let config = format!("{{\"seed\":\"{seed}\"}}");
        let layer = format!("layer of {seed}");
        let config_digest = self.push_blob(repo, config.as_bytes()).await;
        let layer_digest = self.push_blob(repo, layer.as_bytes()).await;
        let manifest = image_manifest(
            (&config_digest, config.len()),
            &[(&layer_digest, layer.len(), OCI_LAYER)],
            None,
        );
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        r.assert_status(201);
        let digest = Algorithm::Sha256.digest(&manifest);
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        (manifest, digest)
    }
}

pub async fn send(
    router: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> TestResponse {
    let mut request = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    TestResponse { status, headers, body }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// An OCI image manifest with the given config and layers (digest, size, media type).
pub fn image_manifest(
    config: (&Digest, usize),
    layers: &[(&Digest, usize, &str)],
    subject: Option<(&Digest, usize)>,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s, t)| json!({"mediaType": t, "digest": d, "size": s})).collect::<Vec<_>>(),
    });
    if let Some((d, s)) = subject {
        m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": d, "size": s});
    }
    serde_json::to_vec_pretty(&m).unwrap()
}

/// An artifact manifest (empty config) with `artifactType` and a subject.
pub fn artifact_manifest(
    artifact_type: &str,
    empty_config: &Digest,
    layer: (&Digest, usize),
    subject: (&Digest, usize),
    annotation: &str,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": empty_config, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": layer.0, "size": layer.1}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.0, "size": subject.1},
        "annotations": {"org.example.note": annotation},
    }))
    .unwrap()
}

/// An OCI index over `children` (digest, size, media type, architecture).
pub fn index_manifest(children: &[(&Digest, usize, &str, &str)]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children.iter().map(|(d, s, t, arch)| json!({
            "mediaType": t, "digest": d, "size": s,
            "platform": {"os": "linux", "architecture": arch},
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// Runs each named scenario (an `async fn(TestApp)`) on both backends, each in its own
/// database: `<name>::fs` and `<name>::s3`.
#[macro_export]
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::harness::{Backend, TestApp};
                use wharf_db::PgPool;

                #[sqlx::test(migrator = "wharf_db::MIGRATOR")]
                async fn fs(pool: PgPool) {
                    super::$name(TestApp::new(pool, Backend::Fs).await).await
                }

                #[sqlx::test(migrator = "wharf_db::MIGRATOR")]
                async fn s3(pool: PgPool) {
                    super::$name(TestApp::new(pool, Backend::S3).await).await
                }
            }
        )*
    };
}
