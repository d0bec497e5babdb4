//! The `/v2` HTTP surface: one router whose single handler parses the path once with
//! [`Route::parse`], authorizes through [`AccessControl`], and dispatches on
//! `(method, route)` to the modules below.
//!
//! - [`manifests`]: manifest GET/HEAD/PUT/DELETE.
//! - [`blobs`]: blob GET/HEAD/DELETE (ranges, streaming).
//! - [`uploads`]: upload sessions (monolithic, chunked, mount, status, cancel).
//! - [`listings`]: `tags/list`, `_catalog`, referrers.
//!
//! Write order everywhere: bytes to storage first, then one database transaction makes them
//! visible. Every storage or database failure answers `503 UNAVAILABLE`. The router reads
//! request bodies as raw streams, so axum's default body limit never applies; the manifest
//! PUT enforces its own 4 MiB cap while reading. No timeout or compression layer belongs on
//! this router: blob transfers are long and already compressed.

mod blobs;
mod listings;
mod manifests;
mod uploads;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use wharf_db::PgPool;
use wharf_db::held::HeldConnections;
use wharf_db::invalidation::RepositoryNotifier;
use wharf_db::registry::repositories::{self, Repository};
use wharf_storage::{BlobKey, BlobStore, StorageError};

use crate::access::{Access, AccessControl, Operation};
use crate::audit::{AuditSink, Audited, NoAudit, Outcome};
use crate::cache::ContentCache;
use crate::digest::Digest;
use crate::error::{ErrorCode, OciError};
use crate::headers::{API_VERSION, DOCKER_DISTRIBUTION_API_VERSION};
use crate::name::RepositoryName;
use crate::paging::DEFAULT_MAX_PAGE_SIZE;
use crate::route::Route;
use crate::usage::{NoUsage, UsageSink};

/// Settings of the registry router.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// How long an upload session lives after its last chunk.
    pub upload_ttl: Duration,
    /// How long an append's claim (lease) on its session lasts unless renewed. A PATCH (or
    /// PUT with a chunk) renews it every fifth of this while its body streams, and stops
    /// writing when it could not for four fifths. A lease whose holder died (stopped
    /// renewing) lapses within this long; an append that finds it waits for that and takes
    /// it over, while one that finds a renewed lease answers 416 at once.
    pub append_lease: Duration,
    /// Answer whole-blob GETs with a redirect to a presigned storage URL valid this long
    /// (S3 only; `None`, the default, streams every blob through Wharf).
    pub presigned_redirects: Option<Duration>,
    /// Cap on `n` (and page size without `n`) for `tags/list` and `_catalog`.
    pub max_page_size: usize,
    /// Most open (unfinished, unexpired) upload sessions one principal may hold, over all
    /// repositories; one more answers `429 TOOMANYREQUESTS` and creates nothing.
    pub max_open_uploads_per_principal: u32,
    /// Most open upload sessions one repository may hold, whoever started them.
    pub max_open_uploads_per_repository: u32,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            upload_ttl: Duration::from_secs(24 * 3600),
            append_lease: Duration::from_secs(5),
            presigned_redirects: None,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            max_open_uploads_per_principal: 64,
            max_open_uploads_per_repository: 256,
        }
    }
}

/// Connections the manifest push keeps between pushes (at most a quarter of the pool): as
/// many as pushes usually run at once on one instance.
const PUSH_CONNECTIONS: usize = 4;

/// What the registry's handlers need: the metadata database, the blob store, the authorizer
/// and settings. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    pool: PgPool,
    store: Arc<dyn BlobStore>,
    access: Arc<dyn AccessControl>,
    config: Arc<RegistryConfig>,
    usage: Arc<dyn UsageSink>,
    audit: Arc<dyn AuditSink>,
    content: Arc<ContentCache>,
    /// Tells the other instances about pushes that only added (after their commit).
    notifier: Arc<RepositoryNotifier>,
    /// The manifest push's connections, kept between pushes (no test round trip on release).
    push_connections: Arc<HeldConnections>,
}

impl Registry {
    /// Builds the state.
    pub fn new(
        pool: PgPool,
        store: Arc<dyn BlobStore>,
        access: Arc<dyn AccessControl>,
        config: RegistryConfig,
    ) -> Self {
        Self {
            notifier: RepositoryNotifier::new(pool.clone()),
            push_connections: HeldConnections::new(pool.clone(), PUSH_CONNECTIONS),
            pool,
            store,
            access,
            config: Arc::new(config),
            usage: Arc::new(NoUsage),
            audit: Arc::new(NoAudit),
            content: Arc::new(ContentCache::new(0)),
        }
    }

    /// Serves manifests from `cache` (default: a disabled one). Whoever hands it in must
    /// keep it synchronised with the database's `repository:<name>` notifications (see
    /// [`ContentCache`]).
    pub fn with_content_cache(mut self, cache: Arc<ContentCache>) -> Self {
        self.content = cache;
        self
    }

    /// Reports pushes, deletes and denied pulls to `audit` (default: [`NoAudit`]).
    pub fn with_audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = audit;
        self
    }

    /// Reports served manifests and blob bytes to `usage` (default: [`NoUsage`]).
    pub fn with_usage(mut self, usage: Arc<dyn UsageSink>) -> Self {
        self.usage = usage;
        self
    }
}

/// The `/v2` router. Merge it into the server's router as is (its routes are `/v2`, `/v2/`
/// and `/v2/{*rest}`); add no body limit, timeout or compression layer.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
        .with_state(registry)
}

async fn dispatch(State(registry): State<Registry>, request: Request) -> Response {
    let mut response = match route_request(&registry, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    response
        .headers_mut()
        .insert(DOCKER_DISTRIBUTION_API_VERSION, HeaderValue::from_static(API_VERSION));
    response
}

async fn route_request(registry: &Registry, request: Request) -> Result<Response, OciError> {
    let route = Route::parse(request.uri().path())?;
    let method = request.method().clone();
    let head = method == Method::HEAD;
    let (parts, body) = request.into_parts();
    let client = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let cx = Ctx { registry, headers: &parts.headers, client, query: parts.uri.query() };
    match (method, route) {
        (Method::GET | Method::HEAD, Route::Base) => {
            cx.authorize(None, &[]).await?;
            Ok(json_response(StatusCode::OK, b"{}".to_vec(), head))
        }
        (Method::GET, Route::Catalog) => listings::catalog(&cx).await,
        (Method::GET, Route::Tags { name }) => listings::tags(&cx, &name).await,
        (Method::GET, Route::Referrers { name, digest }) => {
            listings::referrers(&cx, &name, &digest).await
        }
        (Method::GET | Method::HEAD, Route::Manifest { name, reference }) => {
            manifests::get(&cx, &name, &reference, head).await
        }
        (Method::GET | Method::HEAD, Route::InvalidManifestReference { name, .. }) => {
            // Authorized like any pull, then answered like any manifest that does not exist.
            cx.authorize(Some(&name), &[Operation::Pull]).await?;
            Err(OciError::new(ErrorCode::ManifestUnknown))
        }
        (_, Route::InvalidManifestReference { error, .. }) => Err(error.into()),
        (Method::PUT, Route::Manifest { name, reference }) => {
            manifests::put(&cx, &name, &reference, body).await
        }
        (Method::DELETE, Route::Manifest { name, reference }) => {
            manifests::delete(&cx, &name, &reference).await
        }
        (Method::GET | Method::HEAD, Route::Blob { name, digest }) => {
            blobs::get(&cx, &name, &digest, head).await
        }
        (Method::DELETE, Route::Blob { name, digest }) => blobs::delete(&cx, &name, &digest).await,
        (Method::POST, Route::UploadStart { name }) => uploads::start(&cx, &name, body).await,
        (Method::GET, Route::Upload { name, id }) => uploads::status(&cx, &name, &id).await,
        (Method::PATCH, Route::Upload { name, id }) => uploads::patch(&cx, &name, &id, body).await,
        (Method::PUT, Route::Upload { name, id }) => uploads::finish(&cx, &name, &id, body).await,
        (Method::DELETE, Route::Upload { name, id }) => uploads::cancel(&cx, &name, &id).await,
        _ => Err(OciError::new(ErrorCode::MethodNotAllowed)),
    }
}

/// One request's view of the registry.
struct Ctx<'a> {
    registry: &'a Registry,
    headers: &'a HeaderMap,
    client: Option<std::net::IpAddr>,
    query: Option<&'a str>,
}

impl Ctx<'_> {
    fn pool(&self) -> &PgPool {
        &self.registry.pool
    }

    fn store(&self) -> &dyn BlobStore {
        self.registry.store.as_ref()
    }

    fn config(&self) -> &RegistryConfig {
        &self.registry.config
    }

    fn content(&self) -> &ContentCache {
        &self.registry.content
    }

    fn notifier(&self) -> &Arc<RepositoryNotifier> {
        &self.registry.notifier
    }

    fn push_connections(&self) -> &Arc<HeldConnections> {
        &self.registry.push_connections
    }

    /// After a change to `name` committed (or may have): this instance forgets what it
    /// derived from the repository at once (its manifests, and what the authorizer holds),
    /// rather than when the change's notification comes back to it.
    fn forget_repository(&self, name: &RepositoryName) {
        self.content().invalidate(name.as_str());
        self.registry.access.repository_changed(name);
    }

    fn usage(&self) -> &Arc<dyn UsageSink> {
        &self.registry.usage
    }

    /// Reports an audited action by `access` on `repository` (nothing for callers without an
    /// organization).
    #[allow(clippy::too_many_arguments)]
    fn audit(
        &self,
        access: &Access,
        action: &'static str,
        repository: &RepositoryName,
        reference: &str,
        digest: Option<&str>,
        moved_from: Option<&str>,
        outcome: Outcome,
    ) {
        let Some(organization_id) = access.organization_id else { return };
        self.registry.audit.record(Audited {
            organization_id,
            principal: &access.principal,
            attribution: access.attribution,
            action,
            repository,
            reference,
            digest,
            moved_from,
            outcome,
            headers: self.headers,
            peer: self.client,
        });
    }

    async fn authorize(
        &self,
        repository: Option<&RepositoryName>,
        actions: &[Operation],
    ) -> Result<Access, OciError> {
        self.registry.access.authorize(self.headers, self.client, repository, actions, None).await
    }

    /// Authorizes a push into `name` that mounts from `from`: only the push is required, but
    /// a challenge names `from`'s pull too.
    async fn authorize_mount(
        &self,
        name: &RepositoryName,
        from: Option<&RepositoryName>,
    ) -> Result<Access, OciError> {
        let push = [Operation::Push];
        self.registry.access.authorize(self.headers, self.client, Some(name), &push, from).await
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn content_length(&self) -> Option<u64> {
        self.header(header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
    }

    /// The repository for reading, if it exists.
    async fn repository(&self, name: &RepositoryName) -> Result<Option<Repository>, OciError> {
        repositories::find(self.pool(), name.as_str()).await.map_err(unavailable)
    }

    /// The repository for changing existing content: only inside the caller's organization.
    /// A repository of another organization is answered as one that does not exist.
    async fn own_repository(
        &self,
        access: &Access,
        name: &RepositoryName,
    ) -> Result<Option<Repository>, OciError> {
        let repo = self.repository(name).await?;
        Ok(repo.filter(|r| Some(r.organization_id) == access.organization_id))
    }

    /// The repository to push into, created on first push. A name outside the caller's
    /// organization (another organization's, or an organization that does not exist)
    /// answers `DENIED` either way.
    async fn push_repository(
        &self,
        access: &Access,
        name: &RepositoryName,
    ) -> Result<Repository, OciError> {
        let org = self.push_organization(access)?;
        repositories::find_or_create(self.pool(), org, name.org_slug(), name.as_str())
            .await
            .map_err(unavailable)?
            .ok_or_else(push_denied)
    }

    /// The organization the caller may push into (`DENIED` without one). Hot paths pass it
    /// to a statement that looks the repository up by name in it, and fall back to
    /// [`Self::push_repository`] when that finds none.
    fn push_organization(&self, access: &Access) -> Result<uuid::Uuid, OciError> {
        access.organization_id.ok_or_else(push_denied)
    }
}

/// A push outside the caller's organization (another organization's repository, or an
/// organization that does not exist): answered alike.
fn push_denied() -> OciError {
    OciError::new(ErrorCode::Denied)
        .with_message("pushing is allowed only into the caller's organization")
}

/// A database or storage failure: 503, cause logged.
fn unavailable(err: impl std::error::Error + 'static) -> OciError {
    OciError::unavailable(&err)
}

/// A storage failure while handling an upload: the client's own stream failing is its
/// error, the rest is ours.
fn storage_error(err: StorageError) -> OciError {
    match err {
        StorageError::Input(_) => OciError::new(ErrorCode::BlobUploadInvalid)
            .with_detail("reading the request body failed"),
        StorageError::TooLarge(detail) => {
            OciError::new(ErrorCode::BlobUploadInvalid).with_detail(detail)
        }
        StorageError::NotFound => OciError::new(ErrorCode::BlobUploadUnknown),
        StorageError::UploadDataLost(detail) => {
            tracing::warn!("an upload cannot go on: {detail}");
            OciError::new(ErrorCode::BlobUploadUnknown)
                .with_detail("the upload's data was lost when the server stopped; start it again")
        }
        other => unavailable(other),
    }
}

/// The storage key of a digest (both spell `<alg>:<hex>`).
fn blob_key(digest: &Digest) -> Result<BlobKey, OciError> {
    Ok(BlobKey::from(digest))
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""))
}

/// A response with no body and `Content-Length: 0`.
fn empty(status: StatusCode) -> Response {
    let mut response = (status, Body::empty()).into_response();
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

/// A JSON response (no body for HEAD, same headers).
fn json_response(status: StatusCode, body: Vec<u8>, head: bool) -> Response {
    bytes_response(status, "application/json", body, head)
}

fn bytes_response(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
    head: bool,
) -> Response {
    let body: Bytes = body.into();
    let len = body.len();
    let body = if head { Body::empty() } else { Body::from(body) };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header_value(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}
