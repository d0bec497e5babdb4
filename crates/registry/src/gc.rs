//! Online garbage collection: reclaims storage that nothing references any more, and
//! upload sessions that expired.
//!
//! Runs while the registry serves, on any instance (several at once are safe). It never
//! deletes anything younger than the grace window, and it uses the `blobs` table as the
//! authority: a blob's row and bytes are deleted together under the digest's lock, which
//! upload completion also takes around its storage commit (`wharf_db::registry::gc`), so a
//! concurrent push of the same content either keeps the blob or writes it afresh.
//!
//! One pass, in order:
//! 1. expired upload sessions: rows deleted, their temporary data discarded;
//! 2. blobs no repository links and no manifest references, recorded before the grace
//!    window: row and bytes deleted;
//! 3. stored blobs without any row, older than the grace window (left by a crash between a
//!    storage commit and its transaction): bytes deleted;
//! 4. temporary upload data without a session, older than the grace window: discarded.
//!
//! Deletes of manifests, tags and blobs only change metadata; this is where bytes go.

use std::time::Duration;

use futures_util::StreamExt;
use time::OffsetDateTime;
use wharf_db::registry::{blobs, gc as db, uploads};
use wharf_db::{DbError, PgPool};
use wharf_storage::{BlobKey, BlobStore, StorageError, UploadState};

/// Settings of a collection pass.
#[derive(Debug, Clone)]
pub struct GcConfig {
    /// Nothing younger than this is deleted. Default 2 hours.
    pub grace: Duration,
    /// How many rows one query handles.
    pub batch: i64,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self { grace: Duration::from_secs(2 * 3600), batch: 500 }
    }
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Expired upload sessions removed.
    pub uploads_expired: u64,
    /// Unreferenced blobs removed (row and bytes).
    pub blobs_deleted: u64,
    /// Bytes removed: stored blobs without a row.
    pub orphan_blobs_deleted: u64,
    /// Temporary upload data without a session discarded.
    pub orphan_uploads_discarded: u64,
    /// Storage deletes that failed (logged; retried by the next pass).
    pub failures: u64,
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] DbError),
    /// Listing storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// Runs one collection pass.
pub async fn collect_garbage(
    pool: &PgPool,
    store: &dyn BlobStore,
    config: &GcConfig,
) -> Result<GcReport, GcError> {
    let mut report = GcReport::default();
    let now = OffsetDateTime::now_utc();
    let cutoff = now - config.grace;

    loop {
        let expired = uploads::take_expired(pool, now, config.batch).await?;
        if expired.is_empty() {
            break;
        }
        for (id, state) in expired {
            report.uploads_expired += 1;
            if let Err(err) = store.abort(id, Some(&UploadState::from_string(state))).await {
                report.failures += 1;
                tracing::warn!(upload = %id, error = &err as &dyn std::error::Error, "gc: discarding expired upload data failed");
            }
        }
    }

    loop {
        let candidates = db::unreferenced_blobs(pool, cutoff, config.batch).await?;
        let mut progressed = false;
        for digest in candidates {
            let Ok(key) = BlobKey::parse(&digest) else { continue };
            match db::delete_blob(pool, &digest, cutoff, async || store.delete(&key).await).await? {
                Ok(true) => {
                    report.blobs_deleted += 1;
                    progressed = true;
                }
                Ok(false) => {}
                Err(err) => {
                    report.failures += 1;
                    tracing::warn!(%digest, error = &err as &dyn std::error::Error, "gc: deleting blob failed");
                }
            }
        }
        if !progressed {
            break;
        }
    }

    let mut listing = store.list_blobs();
    while let Some(info) = listing.next().await {
        let info = info?;
        if info.last_modified >= cutoff {
            continue;
        }
        let digest = info.key.to_string();
        if blobs::stored_size(pool, &digest).await?.is_some() {
            continue;
        }
        match db::delete_orphan(pool, &digest, async || store.delete(&info.key).await).await? {
            Ok(true) => report.orphan_blobs_deleted += 1,
            Ok(false) => {}
            Err(err) => {
                report.failures += 1;
                tracing::warn!(%digest, error = &err as &dyn std::error::Error, "gc: deleting orphan blob failed");
            }
        }
    }
    drop(listing);

    for upload in store.list_uploads().await? {
        if upload.last_modified >= cutoff || uploads::exists(pool, upload.upload_id).await? {
            continue;
        }
        match store.abort(upload.upload_id, None).await {
            Ok(()) => report.orphan_uploads_discarded += 1,
            Err(err) => {
                report.failures += 1;
                tracing::warn!(upload = %upload.upload_id, error = &err as &dyn std::error::Error, "gc: discarding orphan upload data failed");
            }
        }
    }

    tracing::info!(?report, "garbage collection pass finished");
    Ok(report)
}
