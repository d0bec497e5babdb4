//! The `BlobStore` trait and the plain data types that cross it.
//!
//! Owns the contract every backend implements: chunked uploads whose state lives with the
//! caller ([`UploadState`]), atomic commit to a content address, streaming ranged reads and
//! the listings garbage collection needs. It never verifies content (the registry does) and
//! must not keep anything in process memory between calls; it hashes what it appends only
//! when the registry hands it the upload's hasher ([`BlobStore::append_hashed`]).

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Result, StorageError};
use crate::key::BlobKey;
use wharf_oci::digest::Hasher;

/// The bytes of one append: any stream of chunks, of any sizes, read to its end.
///
/// The registry maps its request body errors into `std::io::Error`.
pub type ChunkStream<'a> = BoxStream<'a, std::io::Result<Bytes>>;

/// The bytes of a blob as read from storage, in chunks of bounded size.
pub type BlobStream = BoxStream<'static, Result<Bytes>>;

/// Opaque, serializable state of one upload session.
///
/// Returned by [`BlobStore::start_upload`] and [`BlobStore::append`]; the registry persists it
/// (e.g. in the upload session row, as text) and passes the latest value back on the next
/// call, possibly on another instance. It is small (a few hundred bytes) and holds no
/// secrets. Treat the content as private to the backend that produced it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UploadState(String);

impl UploadState {
    /// Wraps a value previously obtained from [`UploadState::as_str`] or
    /// [`UploadState::into_string`]. Validation happens when a backend uses it.
    pub fn from_string(value: String) -> Self {
        Self(value)
    }

    /// The state as text, for persisting.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The state as an owned string, for persisting.
    pub fn into_string(self) -> String {
        self.0
    }

    pub(crate) fn encode(repr: &StateRepr) -> Result<Self> {
        serde_json::to_string(repr)
            .map(Self)
            .map_err(|e| StorageError::InvalidUploadState(e.to_string()))
    }

    pub(crate) fn decode(&self) -> Result<StateRepr> {
        serde_json::from_str(&self.0).map_err(|e| StorageError::InvalidUploadState(e.to_string()))
    }
}

impl fmt::Debug for UploadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UploadState").field(&self.0).finish()
    }
}

/// What the backends keep in an [`UploadState`], tagged by backend so that a state from one
/// backend is refused by another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub(crate) enum StateRepr {
    /// Filesystem: the temporary file's committed length.
    Fs {
        /// Bytes appended so far.
        size: u64,
    },
    /// S3: multipart upload progress plus the sub-part remainder ("tail") object.
    S3(crate::s3::S3UploadState),
}

/// Result of [`BlobStore::append`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The new state to persist and pass to the next call.
    pub state: UploadState,
    /// Bytes taken from the stream by this call.
    pub bytes_written: u64,
    /// Total bytes in the upload after this call.
    pub size: u64,
}

/// A streaming read of a blob, or of a range of it.
pub struct BlobRead {
    /// The bytes: the whole blob, or exactly the bytes of `range`.
    pub stream: BlobStream,
    /// Total size of the blob (not of the range).
    pub size: u64,
    /// The range actually served (end clamped to `size - 1`), if one was asked for.
    pub range: Option<RangeInclusive<u64>>,
}

impl BlobRead {
    /// Number of bytes `stream` yields.
    pub fn content_length(&self) -> u64 {
        match &self.range {
            Some(r) => r.end() - r.start() + 1,
            None => self.size,
        }
    }
}

impl fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobRead")
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// One stored blob, as listed for garbage collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    /// The blob's content address.
    pub key: BlobKey,
    /// Size in bytes.
    pub size: u64,
    /// When the blob was last written (commit time).
    pub last_modified: OffsetDateTime,
}

/// Temporary data of one upload session, as listed for sweeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadInfo {
    /// The upload session id given to [`BlobStore::start_upload`].
    pub upload_id: Uuid,
    /// Most recent modification time of any of its temporary data.
    pub last_modified: OffsetDateTime,
}

/// Content-addressed blob storage with resumable, instance-independent uploads.
///
/// Keys are content addresses; the caller (the registry) computes and verifies digests.
/// Every method may be called on any instance: upload progress travels in [`UploadState`].
/// Errors: [`StorageError::NotFound`] for missing blobs or upload data,
/// [`StorageError::InvalidRange`] for unsatisfiable ranges, anything else is a backend
/// failure (the registry answers 503).
#[async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug + 'static {
    /// Short backend name for logs and metrics (`"fs"`, `"s3"`).
    fn backend_name(&self) -> &'static str;

    /// Starts an upload session and returns its initial (empty) state.
    async fn start_upload(&self, upload_id: Uuid) -> Result<UploadState>;

    /// Appends the whole of `chunks` at the end of the upload.
    ///
    /// The caller has already checked that the client's offset equals the upload's size.
    /// Memory use is bounded (one S3 part at most), whatever the stream's length. If this
    /// fails, the previous `state` stays valid: retrying with it overwrites whatever the
    /// failed call left behind.
    async fn append(
        &self,
        upload_id: Uuid,
        state: &UploadState,
        chunks: ChunkStream<'_>,
    ) -> Result<AppendOutcome>;

    /// [`BlobStore::append`], feeding every byte appended to `hasher`, in order, and
    /// returning it with the outcome: after a success it has seen exactly the bytes the call
    /// appended, after a failure it is gone (the previous state and its saved hasher stay
    /// valid, as for `append`). No byte is stored before it has been hashed.
    ///
    /// The default hashes a batch at a time on a blocking thread while the next batch is
    /// received, and hands the frames to `append` once hashed. The filesystem store hashes
    /// in its own pipeline instead: receiving a batch, hashing the one before and writing
    /// the one before that run at once, and the hash never waits for the store to take the
    /// frames.
    async fn append_hashed(
        &self,
        upload_id: Uuid,
        state: &UploadState,
        chunks: ChunkStream<'_>,
        hasher: Hasher,
    ) -> Result<(AppendOutcome, Hasher)> {
        let mut slot = Some(hasher);
        let stream = crate::hash_ahead::HashAhead::new(chunks, &mut slot);
        let outcome = self.append(upload_id, state, Box::pin(stream)).await?;
        let hasher = slot.ok_or_else(StorageError::hasher_lost)?;
        Ok((outcome, hasher))
    }

    /// Makes the upload visible as blob `key`, atomically: readers see either nothing or the
    /// whole blob. Removes the temporary data. If `key` already exists (same content, since
    /// keys are content addresses), the upload is discarded and this succeeds. Retrying a
    /// commit that succeeded also succeeds.
    async fn commit(&self, upload_id: Uuid, state: &UploadState, key: &BlobKey) -> Result<()>;

    /// Discards an upload's temporary data. Idempotent. With `state: None` (an orphan found
    /// by [`BlobStore::list_uploads`] without a session row) the backend finds the data
    /// itself.
    async fn abort(&self, upload_id: Uuid, state: Option<&UploadState>) -> Result<()>;

    /// Size of blob `key`, or `None` if it does not exist.
    async fn stat(&self, key: &BlobKey) -> Result<Option<u64>>;

    /// Streams blob `key`, or the inclusive byte range `range` of it.
    ///
    /// A range end beyond the blob is clamped to its last byte (as HTTP does); a start at or
    /// beyond the end, or a reversed range, is [`StorageError::InvalidRange`] (always, for
    /// an empty blob). A missing blob is [`StorageError::NotFound`].
    async fn get(&self, key: &BlobKey, range: Option<RangeInclusive<u64>>) -> Result<BlobRead>;

    /// A URL that lets an anonymous client GET blob `key` directly for `expires_in`, or
    /// `None` when the backend cannot do that (filesystem). Does not check existence.
    async fn presigned_get_url(
        &self,
        key: &BlobKey,
        expires_in: Duration,
    ) -> Result<Option<String>>;

    /// Deletes blob `key`. Deleting a missing blob succeeds.
    async fn delete(&self, key: &BlobKey) -> Result<()>;

    /// Streams every stored blob (for garbage collection), in no particular order.
    /// Foreign or temporary objects are skipped.
    fn list_blobs(&self) -> BoxStream<'_, Result<BlobInfo>>;

    /// Every upload that has temporary data, with its last modification, so stale data can
    /// be swept with [`BlobStore::abort`]. Uploads are few, so this is a plain list.
    async fn list_uploads(&self) -> Result<Vec<UploadInfo>>;

    /// Cheap readiness check: the root or bucket is reachable and usable.
    async fn check(&self) -> Result<()>;

    /// Stores a small in-memory blob (e.g. a manifest) under `key` through a one-shot upload
    /// session. The caller has verified that `data` hashes to `key`.
    async fn put(&self, key: &BlobKey, data: Bytes) -> Result<()> {
        let upload_id = Uuid::new_v4();
        let state = self.start_upload(upload_id).await?;
        let result = async {
            let body = futures_util::stream::iter([Ok(data)]);
            let out = self.append(upload_id, &state, Box::pin(body)).await?;
            self.commit(upload_id, &out.state, key).await
        }
        .await;
        if result.is_err() {
            let _ = self.abort(upload_id, None).await;
        }
        result
    }
}

/// Validates `range` against a blob of `size` bytes; returns `(start, end_inclusive)` with
/// the end clamped to the last byte.
pub(crate) fn resolve_range(
    range: Option<&RangeInclusive<u64>>,
    size: u64,
) -> Result<Option<(u64, u64)>> {
    let Some(range) = range else { return Ok(None) };
    let (start, end) = (*range.start(), *range.end());
    if start > end || start >= size {
        return Err(StorageError::InvalidRange { size });
    }
    Ok(Some((start, end.min(size - 1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_clamped_or_refused() {
        assert_eq!(resolve_range(None, 0).unwrap(), None);
        assert_eq!(resolve_range(Some(&(0..=0)), 1).unwrap(), Some((0, 0)));
        assert_eq!(resolve_range(Some(&(2..=100)), 10).unwrap(), Some((2, 9)));
        for (r, size) in [(0..=0, 0), (10..=10, 10), (RangeInclusive::new(5, 4), 10)] {
            assert!(matches!(
                resolve_range(Some(&r), size),
                Err(StorageError::InvalidRange { size: s }) if s == size
            ));
        }
    }

    #[test]
    fn upload_state_is_opaque_text() {
        let state = UploadState::encode(&StateRepr::Fs { size: 7 }).unwrap();
        let again = UploadState::from_string(state.as_str().to_owned());
        assert_eq!(again.decode().unwrap(), StateRepr::Fs { size: 7 });
        assert!(UploadState::from_string("nope".into()).decode().is_err());
    }
}
