//! `wharf serve`: wires the database, storage and routes together and runs the listener.
//!
//! Owns start-up order (database, migrations, first-start bootstrap, storage, listener),
//! the health endpoints and graceful shutdown. Protocol and page logic live in their crates.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tokio::sync::watch;
use tower_http::{
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};
use wharf_app::{
    AccountSettings, App, AppSettings, BackgroundTasks,
    credentials::{AuthSettings, invalidation::Invalidated},
    mail::{MailFrom, MailSettings},
    usage::UsageSettings,
};
use wharf_db::PgPool;
use wharf_storage::BlobStore;

use crate::{
    bootstrap,
    cli::{OnOff, ServeArgs},
    database::Database,
    listener,
    metrics::{METRICS, RouteClass},
    protocol::{
        registry_access::TokenAccess,
        sinks::{ContentCacheInvalidation, RegistryAudit, RegistryUsage},
        token_endpoint,
    },
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest wait for the background writers' last flush at shutdown.
const FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// What the health endpoints reach.
#[derive(Debug, Clone)]
pub struct Health {
    pool: PgPool,
    blobs: Arc<dyn BlobStore>,
    ready_timeout: Duration,
}

/// Runs the server until SIGTERM/SIGINT, then drains and stops.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.database.data_dir).with_context(|| {
        format!("cannot create data directory {}", args.database.data_dir.display())
    })?;
    if let Some(smtp_url) = &args.mail.smtp_url {
        smtp_url.check().map_err(anyhow::Error::msg)?;
    }
    let storage_config = args.storage_config().map_err(anyhow::Error::msg)?;
    if let wharf_storage::StorageConfig::Fs(fs) = &storage_config {
        std::fs::create_dir_all(&fs.root)
            .with_context(|| format!("cannot create blob directory {}", fs.root.display()))?;
    }
    let blobs = wharf_storage::open(storage_config).await.context("cannot open blob storage")?;
    let database = Database::open(&args.database).await?;
    database.run(|pool| serve(args, pool, blobs)).await
}

/// Everything `wharf serve` runs before it listens: the application and the router of every
/// front door over it.
#[derive(Debug)]
pub struct Wired {
    /// Health, `/token`, `/api/v1`, the pages and `/v2`, with the binary's layers.
    pub router: Router,
    /// The application every front door calls.
    pub app: App,
    /// Its background writers, to flush at shutdown.
    pub background: BackgroundTasks,
}

/// Starts the application over `pool` and `blobs` and builds the router of every front door,
/// as `args` configure them. Migrations must have run. `wharf serve` listens on the result;
/// the in-process test app (`wharf_e2e::house`) drives it without a socket.
pub async fn wire(
    args: &ServeArgs,
    pool: PgPool,
    blobs: Arc<dyn BlobStore>,
) -> anyhow::Result<Wired> {
    let public_url = args.public_url();
    if let Some(smtp_url) = &args.mail.smtp_url {
        smtp_url.check().map_err(anyhow::Error::msg)?;
    }
    let auth_args = &args.registry_auth;
    let content_cache = Arc::new(wharf_registry::cache::ContentCache::new(
        usize::try_from(args.registry.content_cache_mib << 20).unwrap_or(usize::MAX),
    ));
    let settings = AppSettings {
        auth: AuthSettings {
            realm: format!("{public_url}/token"),
            service: auth_args
                .registry_service
                .clone()
                .unwrap_or_else(|| public_url.authority().to_owned()),
            issuer: public_url.to_string(),
            token_lifetime: Duration::from_secs(auth_args.token_lifetime),
            failure_limit: auth_args.auth_failure_limit,
            failure_window: Duration::from_secs(auth_args.auth_failure_window),
        },
        accounts: AccountSettings {
            signup: args.accounts.signup.into(),
            failure_limit: auth_args.auth_failure_limit,
            failure_window: Duration::from_secs(auth_args.auth_failure_window),
            ..AccountSettings::default()
        },
        usage: match args.usage.usage_events {
            OnOff::On => Some(UsageSettings {
                buffer: usize::try_from(args.usage.usage_buffer).unwrap_or(usize::MAX),
                trusted_proxies: args.usage.trusted_proxies.clone(),
            }),
            OnOff::Off => None,
        },
        trusted_proxies: args.usage.trusted_proxies.clone(),
        mail: MailSettings {
            smtp_url: args.mail.smtp_url.as_ref().map(|url| url.secret()),
            from: args
                .mail
                .mail_from
                .clone()
                .unwrap_or_else(|| MailFrom::for_host(public_url.host())),
            ..MailSettings::default()
        },
    };
    let caches: Vec<Arc<dyn Invalidated>> =
        vec![Arc::new(ContentCacheInvalidation(content_cache.clone()))];
    let source = Arc::new(crate::blobs::StoreBlobs(blobs.clone()));
    let (app, background) = App::start(pool.clone(), source, settings, caches).await?;
    let mut registry = wharf_registry::Registry::new(
        pool.clone(),
        blobs.clone(),
        Arc::new(TokenAccess::new(app.credentials.clone())),
        wharf_registry::RegistryConfig {
            upload_ttl: Duration::from_secs(args.registry.upload_ttl_hours * 3600),
            presigned_redirects: (args.storage.s3_presigned_redirect_seconds > 0)
                .then(|| Duration::from_secs(args.storage.s3_presigned_redirect_seconds)),
            max_open_uploads_per_principal: args.registry.max_uploads_per_principal,
            max_open_uploads_per_repository: args.registry.max_uploads_per_repository,
            ..Default::default()
        },
    );
    if let Some(recorder) = &app.usage {
        registry = registry.with_usage(Arc::new(RegistryUsage(recorder.clone())));
    }
    registry = registry
        .with_audit(Arc::new(RegistryAudit(app.audit.clone())))
        .with_content_cache(content_cache);
    let health =
        Health { pool, blobs, ready_timeout: Duration::from_millis(args.ready_timeout_ms) };
    let portal = wharf_portal::PortalSettings {
        public_url: url::Url::parse(&public_url.to_string())
            .with_context(|| format!("WHARF_PUBLIC_URL {public_url} is not a URL"))?,
        session_idle: Duration::from_secs(args.accounts.session_idle_minutes * 60),
        session_max_age: Duration::from_secs(args.accounts.session_max_age_hours * 3600),
    };
    let router = router(health, &app, wharf_registry::router(registry), portal);
    Ok(Wired { router, app, background })
}

async fn serve(args: ServeArgs, pool: PgPool, blobs: Arc<dyn BlobStore>) -> anyhow::Result<()> {
    wharf_db::migrate(&pool).await?;
    let public_url = args.public_url();
    if args.public_url.is_none() && !args.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %args.listen,
            "WHARF_PUBLIC_URL is not set: links, mail and registry tokens will name {public_url}, \
             which clients on other machines cannot reach; set it to the address they use"
        );
    }
    let Wired { router: app, app: application, background } =
        wire(&args, pool.clone(), blobs.clone()).await?;
    bootstrap::first_start(&pool, &application.accounts, &args.bootstrap, &public_url).await?;
    if args.demo {
        crate::demo::seed(&app, &application, &pool).await?;
    }
    let signup = application.accounts.settings().signup;
    let gc = tokio::spawn(periodic_gc(
        pool,
        blobs,
        Duration::from_secs(args.registry.gc_interval_minutes * 60),
        Duration::from_secs(args.registry.gc_grace_minutes * 60),
        args.usage.retention.retention(),
    ));
    let metrics = match args.usage.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (metrics)"))?;
            tracing::info!(listen = %listener.local_addr()?, "serving metrics at /metrics");
            let app = Router::new().route("/metrics", get(metrics_text));
            let limits = args.slow_client_limits();
            // Runs until aborted at shutdown; the same bounds on slow clients as the main one.
            Some(tokio::spawn(listener::serve(listener, app, limits, std::future::pending())))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let mail = if application.mailer.configured() { "smtp" } else { "off" };
    tracing::info!(listen = %local, public_url = %public_url, %signup, mail, "wharf is serving");

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = listener::serve(listener, app, args.slow_client_limits(), {
        let mut stop_rx = stop_rx.clone();
        async move {
            stop_rx.wait_for(|stop| *stop).await.ok();
        }
    });
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: no new connections, draining requests");
        stop_tx.send(true).ok();
    });
    let drain_limit = Duration::from_secs(args.shutdown_timeout);
    let drained = async {
        stop_rx.wait_for(|stop| *stop).await.ok();
        tokio::time::sleep(drain_limit).await;
    };
    tokio::select! {
        () = server => {}
        () = drained => tracing::warn!(timeout_s = drain_limit.as_secs(), "requests still running at the shutdown timeout were cut"),
    }
    signal.abort();
    gc.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    // What the background writers still hold goes to the database before the pool closes.
    background.shutdown(FLUSH_LIMIT).await;
    Ok(())
}

/// Runs garbage collection every `interval` (never when it is zero), and with it the
/// retention rules (`wharf_db::retention`: sessions, password resets, audit log, tag history,
/// deleted token ids, pull events, ended invitations), logging one line with the counts of each.
/// Several instances may collect at once: the registry's collector is safe against
/// concurrent passes and pushes, and pruning twice deletes nothing more.
async fn periodic_gc(
    pool: PgPool,
    blobs: Arc<dyn BlobStore>,
    interval: Duration,
    grace: Duration,
    retention: wharf_db::retention::Retention,
) {
    if interval.is_zero() {
        return;
    }
    let config = wharf_registry::gc::GcConfig { grace, ..Default::default() };
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        match wharf_registry::gc::collect_garbage(&pool, blobs.as_ref(), &config).await {
            Ok(report) => tracing::info!(
                uploads_expired = report.uploads_expired,
                blobs_deleted = report.blobs_deleted,
                orphan_blobs_deleted = report.orphan_blobs_deleted,
                orphan_uploads_discarded = report.orphan_uploads_discarded,
                failures = report.failures,
                "garbage collection pass"
            ),
            Err(err) => tracing::warn!("garbage collection pass failed: {err}"),
        }
        let now = time::OffsetDateTime::now_utc();
        match wharf_db::retention::prune(&pool, &retention, now).await {
            Ok(pruned) => tracing::info!(
                sessions = pruned.sessions,
                password_resets = pruned.password_resets,
                audit_entries = pruned.audit_entries,
                tag_history = pruned.tag_history,
                deleted_tokens = pruned.deleted_tokens,
                pull_events = pruned.pull_events,
                invitations = pruned.invitations,
                "retention pass"
            ),
            Err(err) => tracing::warn!("retention pass failed: {err}"),
        }
    }
}

/// The routes this binary serves: health, the token service (`/token`), the three front
/// doors — the vendor JSON API (everything under `/api/v1`), the pages, and the registry
/// (`registry`, `/v2`) — each with its own layers. Every request gets an `x-request-id` and
/// its latency is measured per route class.
pub fn router(
    health: Health,
    app: &App,
    registry: Router,
    portal: wharf_portal::PortalSettings,
) -> Router {
    let token_service = Router::new()
        .route("/token", get(token_endpoint::get_token).post(token_endpoint::post_token))
        .with_state(app.credentials.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health)
        .merge(token_service)
        .merge(wharf_api::router(app.clone()))
        .merge(wharf_portal::router(app.clone(), portal))
        .merge(registry)
        .layer(axum::middleware::from_fn(observe_latency))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
}

/// Request ids: random UUIDs (version 4) drawn from the thread's generator (`rand::rng()`,
/// seeded from the operating system once per thread and reseeded as it goes), where
/// `tower_http`'s `MakeRequestUuid` (`Uuid::new_v4`) makes a `getrandom` system call per
/// request: 1 to 1.5 % of a manifest GET's server time (docs/performance.md, "Request ids,
/// and where the usage writer's drops come from").
#[derive(Clone, Copy, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        use rand::RngExt as _;
        let id = uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut text)).ok().map(RequestId::new)
    }
}

/// The span of one request: method, path (a secret in a link's path replaced by `…`, the
/// query string left out: it may carry a token) and request id.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id =
        request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %wharf_portal::loggable_path(request.uri().path()),
        request_id,
    )
}

/// Records how long a request took until its response headers, per route class.
async fn observe_latency(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let class = RouteClass::of(request.uri().path());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    METRICS.observe(class, started.elapsed());
    response
}

/// `GET /metrics` on the metrics listener.
async fn metrics_text() -> impl IntoResponse {
    ([("content-type", "text/plain; version=0.0.4")], METRICS.render())
}

/// Alive: the process answers. Touches nothing else.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready: the database and the blob store answer within the readiness timeout.
async fn readyz(State(state): State<Health>) -> impl IntoResponse {
    let limit = state.ready_timeout;
    let database = async {
        match tokio::time::timeout(limit, wharf_db::ping(&state.pool)).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(err)) => {
                tracing::warn!("readiness: database: {err}");
                "unavailable".to_owned()
            }
            Err(_) => "timeout".to_owned(),
        }
    };
    let storage = async {
        match tokio::time::timeout(limit, state.blobs.check()).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(err)) => {
                tracing::warn!("readiness: storage: {err}");
                "unavailable".to_owned()
            }
            Err(_) => "timeout".to_owned(),
        }
    };
    let (database, storage) = tokio::join!(database, storage);
    let ready = database == "ok" && storage == "ok";
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "database": database, "storage": storage },
    });
    if ready {
        (StatusCode::OK, Json(body)).into_response()
    } else {
        let retry = [(header::RETRY_AFTER, HeaderValue::from_static("5"))];
        (StatusCode::SERVICE_UNAVAILABLE, retry, Json(body)).into_response()
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = term.recv() => {},
                }
            }
            Err(err) => {
                tracing::warn!("cannot listen for SIGTERM: {err}");
                interrupt.await.ok();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let request = axum::http::Request::new(());
        let mut ids = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = RandomRequestId.make_request_id(&request).expect("an id");
            let text = id.header_value().to_str().expect("ASCII").to_owned();
            let uuid = uuid::Uuid::parse_str(&text).expect("a UUID");
            assert_eq!(uuid.get_version_num(), 4, "{text}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{text}");
            assert_eq!(text, uuid.hyphenated().to_string(), "lower-case, hyphenated");
            assert!(ids.insert(text), "distinct");
        }
    }
}
