//! `wharf serve`: wires the database, storage and routes together and runs the listener.
//!
//! Owns start-up order (database, migrations, first-start bootstrap, storage, listener),
//! the health endpoints and graceful shutdown. Protocol and page logic live in their crates.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderName, StatusCode},
    response::IntoResponse,
    routing::get,
};
use serde_json::json;
use tokio::sync::watch;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use wharf_db::PgPool;

use crate::{bootstrap, cli::ServeArgs, database::Database};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pool: PgPool,
    blob_dir: Arc<PathBuf>,
    ready_timeout: Duration,
}

/// Runs the server until SIGTERM/SIGINT, then drains and stops.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let blob_dir = args.blob_dir();
    std::fs::create_dir_all(&args.database.data_dir).with_context(|| {
        format!("cannot create data directory {}", args.database.data_dir.display())
    })?;
    std::fs::create_dir_all(&blob_dir)
        .with_context(|| format!("cannot create blob directory {}", blob_dir.display()))?;
    let database = Database::open(&args.database).await?;
    database.run(|pool| serve(args, pool, blob_dir)).await
}

async fn serve(args: ServeArgs, pool: PgPool, blob_dir: PathBuf) -> anyhow::Result<()> {
    wharf_db::migrate(&pool).await?;
    let public_url = args.public_url();
    bootstrap::first_start(&pool, &args.bootstrap, &public_url).await?;

    let state = AppState {
        pool,
        blob_dir: Arc::new(blob_dir),
        ready_timeout: Duration::from_millis(args.ready_timeout_ms),
    };
    let app = router(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(listen = %local, public_url = %public_url, "wharf is serving");

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = axum::serve(listener, app).with_graceful_shutdown({
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
        result = server => result.context("the HTTP server failed")?,
        () = drained => tracing::warn!(timeout_s = drain_limit.as_secs(), "requests still running at the shutdown timeout were cut"),
    }
    signal.abort();
    Ok(())
}

/// The routes this binary serves.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Alive: the process answers. Touches nothing else.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready: the database and the blob store answer within the readiness timeout.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
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
        match tokio::time::timeout(limit, tokio::fs::metadata(state.blob_dir.as_path())).await {
            Ok(Ok(meta)) if meta.is_dir() => "ok".to_owned(),
            Ok(_) => "unavailable".to_owned(),
            Err(_) => "timeout".to_owned(),
        }
    };
    let (database, storage) = tokio::join!(database, storage);
    let ready = database == "ok" && storage == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "database": database, "storage": storage },
    });
    (status, Json(body))
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
