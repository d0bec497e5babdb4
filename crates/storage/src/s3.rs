//! S3 backend: blobs as objects in one bucket (AWS S3 or any S3-compatible store).
//!
//! Layout under the optional key prefix: `blobs/<alg>/<xx>/<hex>` for blobs and
//! `_uploads/<upload id>/…` for an upload's temporary objects:
//! - `tail.<n>`: the bytes appended since the last full part (smaller than one part), kept
//!   as an object because the next append may arrive on another instance;
//! - `multipart-id`: the id of the upload's S3 multipart upload (so an orphan can be aborted
//!   without its state), created with the first full part;
//! - `blob`: the multipart upload's target; completed at commit, then copied to its final
//!   key (CopyObject, or UploadPartCopy above `copy_part_size`) and deleted.
//!
//! Uploads that never fill a part never start a multipart upload: commit copies the tail
//! (or writes an empty object) to the final key. Memory per append is at most one part.
//! Each append re-reads and rewrites the current tail (less than one part), so clients that
//! send many small chunks cost extra traffic; docker and containerd send a layer in one
//! request. Limits: 10,000 parts per upload, so the largest blob is `10_000 * part_size` (78 GiB
//! with the 8 MiB default). Request checksums are only sent when an operation requires
//! them (several S3-compatible servers reject the SDK's default CRC headers).
//!
//! Operators should give the bucket a lifecycle rule that aborts incomplete multipart
//! uploads after a few days: a multipart upload whose `multipart-id` marker could not be
//! written (the append failed right after starting it) is invisible to
//! [`BlobStore::list_uploads`]. Everything else is found and swept through the markers.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Result, StorageError};
use crate::key::BlobKey;
use crate::store::{
    AppendOutcome, BlobInfo, BlobRead, BlobStore, BlobStream, ChunkStream, StateRepr, UploadInfo,
    UploadState, resolve_range,
};

const MIB: u64 = 1024 * 1024;
/// S3's smallest part (except the last one).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// S3's largest part, and largest object a single CopyObject can copy.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
/// Default size of the parts an upload is cut into.
pub const DEFAULT_PART_SIZE: u64 = 8 * MIB;
/// S3's largest part number.
const MAX_PARTS: i32 = 10_000;

/// How many bytes of an object's body [`read_ahead`] holds beyond what the connection took.
const READ_AHEAD_BYTES: usize = 512 * 1024;

/// An object's body, read ahead: a task reads the SDK's body stream (its frames as they come
/// off the S3 connection, not copied) while the connection sends what was read before, until
/// [`READ_AHEAD_BYTES`] wait unsent; so the S3 download and the client's download overlap
/// instead of taking turns, and memory stays bounded per stream whatever the client's speed.
/// Dropping the stream (client gone) ends the task and with it the S3 request; a read error
/// is the stream's last item.
fn read_ahead(mut body: ByteStream) -> BlobStream {
    use std::sync::Arc;
    use tokio::sync::{Semaphore, mpsc};

    let budget = Arc::new(Semaphore::new(READ_AHEAD_BYTES));
    let (tx, rx) =
        mpsc::unbounded_channel::<(Result<Bytes>, Option<tokio::sync::OwnedSemaphorePermit>)>();
    let reader = budget.clone();
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                next = body.try_next() => next,
                () = tx.closed() => return,
            };
            let item = match next {
                Ok(Some(chunk)) if chunk.is_empty() => continue,
                Ok(Some(chunk)) => {
                    // A frame larger than the whole budget waits for all of it.
                    let want = u32::try_from(chunk.len().min(READ_AHEAD_BYTES)).unwrap_or(u32::MAX);
                    let Ok(permits) = reader.clone().acquire_many_owned(want).await else {
                        return; // the stream was dropped: the client is gone
                    };
                    (Ok(chunk), Some(permits))
                }
                Ok(None) => return,
                Err(e) => {
                    let error = StorageError::Backend {
                        operation: "GetObject",
                        message: e.to_string(),
                        source: Some(Box::new(e)),
                    };
                    let _ = tx.send((Err(error), None));
                    return;
                }
            };
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    let chunks = stream::unfold(ReadAhead { rx, budget }, |mut state| async move {
        // The chunk's share of the budget is given back as the connection takes it.
        let (chunk, _permits) = state.rx.recv().await?;
        Some((chunk, state))
    });
    chunks.boxed()
}

/// The receiving side of [`read_ahead`]; dropping it closes the budget, so a reader waiting
/// for room stops at once.
struct ReadAhead {
    rx: tokio::sync::mpsc::UnboundedReceiver<(
        Result<Bytes>,
        Option<tokio::sync::OwnedSemaphorePermit>,
    )>,
    budget: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.budget.close();
    }
}

/// Configuration of the S3 backend.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL for S3-compatible stores (`http://127.0.0.1:9000`); `None` for AWS.
    pub endpoint: Option<String>,
    /// Region (signing region for S3-compatible stores), e.g. `us-east-1`.
    pub region: String,
    /// Bucket holding blobs and temporary upload objects; must exist.
    pub bucket: String,
    /// Static access key id.
    pub access_key_id: String,
    /// Static secret access key; never printed (redacted in `Debug`).
    pub secret_access_key: String,
    /// Path-style addressing (`<endpoint>/<bucket>/<key>`); needed by most non-AWS stores.
    pub path_style: bool,
    /// Optional key prefix (a "directory" in the bucket), e.g. `wharf`; `/` is added.
    pub prefix: Option<String>,
    /// Size of the parts uploads are cut into, between [`MIN_PART_SIZE`] and
    /// [`MAX_PART_SIZE`]; also the memory one append may hold. Default [`DEFAULT_PART_SIZE`].
    pub part_size: u64,
    /// Blobs up to this size are copied to their final key with one CopyObject; larger ones
    /// with UploadPartCopy in parts of this size. Between [`MIN_PART_SIZE`] and
    /// [`MAX_PART_SIZE`] (the default).
    pub copy_part_size: u64,
}

impl S3Config {
    /// A configuration for AWS S3 with default region `us-east-1`, virtual-hosted addressing,
    /// no prefix and default part sizes. Set `endpoint` and `path_style` for other stores.
    pub fn new(
        bucket: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".to_owned(),
            bucket: bucket.into(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            path_style: false,
            prefix: None,
            part_size: DEFAULT_PART_SIZE,
            copy_part_size: MAX_PART_SIZE,
        }
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .field("prefix", &self.prefix)
            .field("part_size", &self.part_size)
            .field("copy_part_size", &self.copy_part_size)
            .finish()
    }
}

/// Upload progress kept in the caller's [`UploadState`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct S3UploadState {
    /// Total bytes appended.
    pub(crate) size: u64,
    /// Bytes in uploaded parts (`size - parts_bytes` are in the tail object).
    pub(crate) parts_bytes: u64,
    /// Number of the next part to upload (1 when none was).
    pub(crate) next_part: i32,
    /// The S3 multipart upload id, once the first part was uploaded.
    pub(crate) multipart: Option<String>,
    /// Generation of the current tail object.
    pub(crate) tail_gen: u32,
    /// The ETag the server gave each uploaded part, in order (part `n` at `n - 1`), so the
    /// commit assembles exactly the parts this state acknowledged. Listing the parts is not
    /// enough: a failed append may have uploaded a part before it failed, and its retry
    /// uploads the same part number again; SeaweedFS then lists both, and picking the wrong
    /// one would commit bytes the digest was never checked against. Empty in states written
    /// before the ETags were kept (the commit then lists the parts, as it did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) part_etags: Vec<String>,
}

impl S3UploadState {
    fn tail_len(&self) -> u64 {
        self.size - self.parts_bytes
    }
}

/// A part the server acknowledged without an ETag: the commit could not name it.
fn no_etag(operation: &'static str) -> StorageError {
    StorageError::Backend {
        operation,
        message: "the server gave no ETag for the part".into(),
        source: None,
    }
}

/// Whether `st` has the ETag of every part uploaded so far (not so for a state written
/// before the ETags were kept, with parts).
fn known_etags(st: &S3UploadState) -> bool {
    i64::try_from(st.part_etags.len()).is_ok_and(|n| n == i64::from(st.next_part) - 1)
}

/// Builds an SDK client for `config` without reading the environment or any profile.
pub(crate) fn client(config: &S3Config) -> Client {
    let credentials = Credentials::new(
        config.access_key_id.clone(),
        config.secret_access_key.clone(),
        None,
        None,
        "wharf-config",
    );
    let mut builder = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .credentials_provider(credentials)
        .force_path_style(config.path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint.clone());
    }
    Client::from_conf(builder.build())
}

/// [`BlobStore`] over an S3 bucket.
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    part_size: usize,
    copy_part_size: u64,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("part_size", &self.part_size)
            .field("copy_part_size", &self.copy_part_size)
            .finish_non_exhaustive()
    }
}

/// Converts an SDK error into a credential-free [`StorageError::Backend`]: status, S3 error
/// code and message for service errors, the error chain for transport errors.
pub(crate) fn sdk_error<E>(
    operation: &'static str,
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let mut message = format!(
                "HTTP {} {}",
                service.raw().status().as_u16(),
                e.code().unwrap_or("(no error code)")
            );
            if let Some(detail) = e.message() {
                message.push_str(": ");
                message.push_str(detail);
            }
            message
        }
        other => DisplayErrorContext(other).to_string(),
    };
    StorageError::Backend { operation, message, source: Some(Box::new(err)) }
}

fn status<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// A 404 about the object or upload, not about the bucket (a missing bucket is a
/// misconfiguration and must surface as a backend failure, not as "blob unknown").
/// HEAD answers carry no error code, so `check` is what reports a missing bucket there.
fn is_missing<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    status(err) == Some(404) && err.code() != Some("NoSuchBucket")
}

fn to_offset(t: Option<&aws_sdk_s3::primitives::DateTime>) -> OffsetDateTime {
    t.and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn non_negative(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

/// `x-amz-copy-source` value: `bucket/key`, percent-encoded except for `/`.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 1);
    for b in format!("{bucket}/{key}").bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses `bytes <start>-<end>/<total>`.
fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    Some((start.parse().ok()?, end.parse().ok()?, total.parse().ok()?))
}

fn s3_state(state: &UploadState) -> Result<S3UploadState> {
    match state.decode()? {
        StateRepr::S3(s) if s.parts_bytes <= s.size && s.next_part >= 1 => Ok(s),
        StateRepr::S3(_) => Err(StorageError::InvalidUploadState("inconsistent".to_owned())),
        StateRepr::Fs { .. } => {
            Err(StorageError::InvalidUploadState("state belongs to the fs backend".to_owned()))
        }
    }
}

impl S3Store {
    /// Validates `config` and builds the client. Does no network I/O; see
    /// [`BlobStore::check`].
    pub fn new(config: &S3Config) -> Result<Self> {
        for (name, value) in
            [("part_size", config.part_size), ("copy_part_size", config.copy_part_size)]
        {
            if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&value) {
                return Err(StorageError::Config(format!(
                    "{name} must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes"
                )));
            }
        }
        if config.bucket.is_empty() || config.region.is_empty() {
            return Err(StorageError::Config("bucket and region must not be empty".to_owned()));
        }
        let part_size = usize::try_from(config.part_size)
            .map_err(|_| StorageError::Config("part_size too large".to_owned()))?;
        let prefix = match config.prefix.as_deref().map(|p| p.trim_matches('/')) {
            None | Some("") => String::new(),
            Some(p) => format!("{p}/"),
        };
        Ok(Self {
            client: client(config),
            bucket: config.bucket.clone(),
            prefix,
            part_size,
            copy_part_size: config.copy_part_size,
        })
    }

    fn blob_key(&self, key: &BlobKey) -> String {
        format!("{}{}", self.prefix, key.path())
    }

    fn uploads_root(&self) -> String {
        format!("{}_uploads/", self.prefix)
    }

    fn upload_prefix(&self, upload_id: Uuid) -> String {
        format!("{}{upload_id}/", self.uploads_root())
    }

    fn tail_key(&self, upload_id: Uuid, generation: u32) -> String {
        format!("{}tail.{generation}", self.upload_prefix(upload_id))
    }

    fn marker_key(&self, upload_id: Uuid) -> String {
        format!("{}multipart-id", self.upload_prefix(upload_id))
    }

    fn multipart_key(&self, upload_id: Uuid) -> String {
        format!("{}blob", self.upload_prefix(upload_id))
    }

    /// Size of object `key`, `None` if missing.
    async fn head(&self, key: &str) -> Result<Option<u64>> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(non_negative(out.content_length()))),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(sdk_error("HeadObject", e)),
        }
    }

    async fn delete_object(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteObject", e))?;
        Ok(())
    }

    /// Keys (with size and time) of every object under `prefix`.
    async fn list_page(
        &self,
        prefix: &str,
        token: Option<String>,
    ) -> Result<(Vec<(String, u64, OffsetDateTime)>, Option<String>)> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| sdk_error("ListObjectsV2", e))?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some((o.key()?.to_owned(), non_negative(o.size()), to_offset(o.last_modified())))
            })
            .collect();
        let next = match out.is_truncated() {
            Some(true) => out.next_continuation_token().map(str::to_owned),
            _ => None,
        };
        Ok((objects, next))
    }

    async fn list_all(&self, prefix: &str) -> Result<Vec<(String, u64, OffsetDateTime)>> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let (mut page, next) = self.list_page(prefix, token).await?;
            all.append(&mut page);
            match next {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }

    /// The multipart upload id recorded for `upload_id`, if any.
    async fn read_marker(&self, upload_id: Uuid) -> Result<Option<String>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.marker_key(upload_id))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(sdk_error("GetObject", e)),
        };
        let bytes = out.body.collect().await.map_err(|e| StorageError::Backend {
            operation: "GetObject",
            message: e.to_string(),
            source: Some(Box::new(e)),
        })?;
        let id = String::from_utf8(bytes.to_vec())
            .map_err(|_| StorageError::InvalidUploadState("multipart id marker".to_owned()))?;
        Ok(Some(id))
    }

    /// Starts the multipart upload (or adopts the one a failed earlier attempt started).
    async fn ensure_multipart(&self, upload_id: Uuid, st: &mut S3UploadState) -> Result<String> {
        if let Some(id) = &st.multipart {
            return Ok(id.clone());
        }
        let id = match self.read_marker(upload_id).await? {
            Some(id) => id,
            None => {
                let out = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(self.multipart_key(upload_id))
                    .send()
                    .await
                    .map_err(|e| sdk_error("CreateMultipartUpload", e))?;
                let id = out
                    .upload_id()
                    .ok_or_else(|| StorageError::Backend {
                        operation: "CreateMultipartUpload",
                        message: "no upload id in response".to_owned(),
                        source: None,
                    })?
                    .to_owned();
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(self.marker_key(upload_id))
                    .body(ByteStream::from(id.clone().into_bytes()))
                    .send()
                    .await
                    .map_err(|e| sdk_error("PutObject", e))?;
                id
            }
        };
        st.multipart = Some(id.clone());
        Ok(id)
    }

    async fn upload_part(
        &self,
        upload_id: Uuid,
        st: &mut S3UploadState,
        part: Bytes,
    ) -> Result<()> {
        if st.next_part > MAX_PARTS {
            return Err(StorageError::TooLarge(format!(
                "more than {MAX_PARTS} parts of {} bytes",
                self.part_size
            )));
        }
        let multipart = self.ensure_multipart(upload_id, st).await?;
        let len = part.len() as u64;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(self.multipart_key(upload_id))
            .upload_id(multipart)
            .part_number(st.next_part)
            .content_length(i64::try_from(len).unwrap_or(i64::MAX))
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| sdk_error("UploadPart", e))?;
        let e_tag = out.e_tag().ok_or_else(|| no_etag("UploadPart"))?;
        // Parts of states from before ETags were kept stay unknown: such an upload goes on
        // without them and its commit lists the parts.
        if known_etags(st) {
            st.part_etags.push(e_tag.to_owned());
        }
        st.next_part += 1;
        st.parts_bytes += len;
        Ok(())
    }

    /// Adds `data` to the part buffer, uploading every full part.
    async fn feed(
        &self,
        upload_id: Uuid,
        st: &mut S3UploadState,
        buf: &mut BytesMut,
        mut data: Bytes,
    ) -> Result<()> {
        while !data.is_empty() {
            if buf.is_empty() && data.len() >= self.part_size {
                let part = data.split_to(self.part_size);
                self.upload_part(upload_id, st, part).await?;
                continue;
            }
            let n = (self.part_size - buf.len()).min(data.len());
            buf.extend_from_slice(&data.split_to(n));
            if buf.len() == self.part_size {
                let part = buf.split().freeze();
                self.upload_part(upload_id, st, part).await?;
            }
        }
        Ok(())
    }

    /// Streams the current tail object through [`S3Store::feed`].
    async fn replay_tail(
        &self,
        upload_id: Uuid,
        st: &mut S3UploadState,
        buf: &mut BytesMut,
    ) -> Result<()> {
        let expected = st.tail_len();
        if expected == 0 {
            return Ok(());
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.tail_key(upload_id, st.tail_gen))
            .send()
            .await
            .map_err(|e| {
                if is_missing(&e) { StorageError::NotFound } else { sdk_error("GetObject", e) }
            })?;
        let mut body = out.body;
        let mut read = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(|e| StorageError::Backend {
            operation: "GetObject",
            message: e.to_string(),
            source: Some(Box::new(e)),
        })? {
            read += chunk.len() as u64;
            self.feed(upload_id, st, buf, chunk).await?;
        }
        if read != expected {
            return Err(StorageError::InvalidUploadState(format!(
                "tail object has {read} bytes, state says {expected}"
            )));
        }
        Ok(())
    }

    /// Completes the multipart upload into the temporary `blob` object.
    async fn complete_multipart(
        &self,
        upload_id: Uuid,
        st: &S3UploadState,
        multipart: &str,
    ) -> Result<()> {
        let temp = self.multipart_key(upload_id);
        let mut last_part = st.next_part - 1;
        let mut tail_e_tag = None;
        if st.tail_len() > 0 {
            last_part = st.next_part;
            let out = self
                .client
                .upload_part_copy()
                .bucket(&self.bucket)
                .key(&temp)
                .upload_id(multipart)
                .part_number(last_part)
                .copy_source(copy_source(&self.bucket, &self.tail_key(upload_id, st.tail_gen)))
                .send()
                .await
                .map_err(|e| sdk_error("UploadPartCopy", e))?;
            tail_e_tag = Some(
                out.copy_part_result()
                    .and_then(|r| r.e_tag())
                    .map(str::to_owned)
                    .ok_or_else(|| no_etag("UploadPartCopy"))?,
            );
        }
        let parts = if known_etags(st) {
            st.part_etags
                .iter()
                .cloned()
                .chain(tail_e_tag)
                .zip(1..)
                .map(|(e_tag, n)| CompletedPart::builder().part_number(n).e_tag(e_tag).build())
                .collect()
        } else {
            self.listed_parts(&temp, multipart, last_part, st.size).await?
        };
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&temp)
            .upload_id(multipart)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| sdk_error("CompleteMultipartUpload", e))?;
        Ok(())
    }

    /// Parts 1 to `last_part` of a multipart upload as the server lists them, checked to hold
    /// `size` bytes: for states written before part ETags were kept.
    async fn listed_parts(
        &self,
        temp: &str,
        multipart: &str,
        last_part: i32,
        size: u64,
    ) -> Result<Vec<CompletedPart>> {
        // Part ETags and sizes come from the server, so the state need not carry them.
        let mut found: Vec<Option<(Option<String>, u64)>> = vec![None; last_part as usize + 1];
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(temp)
                .upload_id(multipart)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error("ListParts", e))?;
            for part in out.parts() {
                let Some(n) = part.part_number().and_then(|n| usize::try_from(n).ok()) else {
                    continue;
                };
                if let Some(slot) = found.get_mut(n) {
                    *slot = Some((part.e_tag().map(str::to_owned), non_negative(part.size())));
                }
            }
            match (out.is_truncated(), out.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        let mut parts = Vec::with_capacity(last_part as usize);
        let mut total = 0u64;
        for (n, slot) in found.into_iter().enumerate().skip(1) {
            let (e_tag, size) = slot
                .ok_or_else(|| StorageError::InvalidUploadState(format!("part {n} is missing")))?;
            total += size;
            parts.push(
                CompletedPart::builder()
                    .part_number(i32::try_from(n).unwrap_or(MAX_PARTS))
                    .set_e_tag(e_tag)
                    .build(),
            );
        }
        if total != size {
            return Err(StorageError::InvalidUploadState(format!(
                "parts hold {total} bytes, state says {size}"
            )));
        }
        Ok(parts)
    }

    /// Server-side copy of `src` (of `size` bytes) to `dest`, atomic for readers of `dest`.
    async fn copy(&self, src: &str, dest: &str, size: u64) -> Result<()> {
        let source = copy_source(&self.bucket, src);
        if size <= self.copy_part_size {
            self.client
                .copy_object()
                .bucket(&self.bucket)
                .key(dest)
                .copy_source(source)
                .send()
                .await
                .map_err(|e| sdk_error("CopyObject", e))?;
            return Ok(());
        }
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(dest)
            .send()
            .await
            .map_err(|e| sdk_error("CreateMultipartUpload", e))?;
        let multipart = out.upload_id().unwrap_or_default().to_owned();
        let result = self.copy_parts(&source, dest, &multipart, size).await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(dest)
                .upload_id(&multipart)
                .send()
                .await;
        }
        result
    }

    async fn copy_parts(&self, source: &str, dest: &str, multipart: &str, size: u64) -> Result<()> {
        let mut parts = Vec::new();
        let mut start = 0u64;
        let mut number = 1i32;
        while start < size {
            let end = (start + self.copy_part_size).min(size) - 1;
            let out = self
                .client
                .upload_part_copy()
                .bucket(&self.bucket)
                .key(dest)
                .upload_id(multipart)
                .part_number(number)
                .copy_source(source)
                .copy_source_range(format!("bytes={start}-{end}"))
                .send()
                .await
                .map_err(|e| sdk_error("UploadPartCopy", e))?;
            let e_tag = out.copy_part_result().and_then(|r| r.e_tag()).map(str::to_owned);
            parts.push(CompletedPart::builder().part_number(number).set_e_tag(e_tag).build());
            start = end + 1;
            number += 1;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(dest)
            .upload_id(multipart)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| sdk_error("CompleteMultipartUpload", e))?;
        Ok(())
    }

    /// Removes all temporary data of `upload_id`: aborts the multipart upload named by the
    /// marker (the marker is deleted first once the multipart upload is completed, so a
    /// present marker means "not completed"), then deletes every object under the prefix.
    async fn purge(&self, upload_id: Uuid) -> Result<()> {
        if let Some(multipart) = self.read_marker(upload_id).await? {
            match self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(self.multipart_key(upload_id))
                .upload_id(multipart)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(sdk_error("AbortMultipartUpload", e)),
            }
            self.delete_object(&self.marker_key(upload_id)).await?;
        }
        for (key, _, _) in self.list_all(&self.upload_prefix(upload_id)).await? {
            self.delete_object(&key).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for S3Store {
    fn backend_name(&self) -> &'static str {
        "s3"
    }

    async fn start_upload(&self, _upload_id: Uuid) -> Result<UploadState> {
        // Nothing to create: the multipart upload starts with the first full part.
        UploadState::encode(&StateRepr::S3(S3UploadState {
            size: 0,
            parts_bytes: 0,
            next_part: 1,
            multipart: None,
            tail_gen: 0,
            part_etags: Vec::new(),
        }))
    }

    async fn append(
        &self,
        upload_id: Uuid,
        state: &UploadState,
        mut chunks: ChunkStream<'_>,
    ) -> Result<AppendOutcome> {
        let old = s3_state(state)?;
        let mut st = old.clone();
        let mut buf = BytesMut::new();
        let mut written = 0u64;
        let mut replayed = false;
        while let Some(chunk) = chunks.try_next().await.map_err(StorageError::Input)? {
            if chunk.is_empty() {
                continue;
            }
            if !replayed {
                // Prepend the sub-part remainder left by the previous append.
                self.replay_tail(upload_id, &mut st, &mut buf).await?;
                replayed = true;
            }
            written += chunk.len() as u64;
            self.feed(upload_id, &mut st, &mut buf, chunk).await?;
        }
        if written == 0 {
            return Ok(AppendOutcome { state: state.clone(), bytes_written: 0, size: old.size });
        }
        st.size = old.size + written;
        st.tail_gen = old.tail_gen + 1;
        if !buf.is_empty() && st.next_part > MAX_PARTS {
            // The tail would need part 10,001 at commit: refuse now, while the client pushes.
            return Err(StorageError::TooLarge(format!(
                "more than {MAX_PARTS} parts of {} bytes",
                self.part_size
            )));
        }
        if !buf.is_empty() {
            let len = buf.len() as u64;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(self.tail_key(upload_id, st.tail_gen))
                .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                .body(ByteStream::from(buf.freeze()))
                .send()
                .await
                .map_err(|e| sdk_error("PutObject", e))?;
        }
        // The generation before the caller's is no longer referenced by any state the
        // caller may still hold (it has at least `old`), so it can go.
        if let Some(stale) = old.tail_gen.checked_sub(1)
            && let Err(e) = self.delete_object(&self.tail_key(upload_id, stale)).await
        {
            tracing::warn!(%upload_id, error = %e, "could not delete a stale tail object");
        }
        let size = st.size;
        Ok(AppendOutcome {
            state: UploadState::encode(&StateRepr::S3(st))?,
            bytes_written: written,
            size,
        })
    }

    async fn commit(&self, upload_id: Uuid, state: &UploadState, key: &BlobKey) -> Result<()> {
        let st = s3_state(state)?;
        let dest = self.blob_key(key);
        if self.head(&dest).await?.is_some() {
            // Content-addressed: the existing blob is this blob.
            return self.purge(upload_id).await;
        }
        match &st.multipart {
            None if st.tail_len() == 0 => {
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&dest)
                    .content_length(0)
                    .body(ByteStream::from_static(b""))
                    .send()
                    .await
                    .map_err(|e| sdk_error("PutObject", e))?;
            }
            None => {
                let tail = self.tail_key(upload_id, st.tail_gen);
                match self.head(&tail).await? {
                    Some(len) if len == st.size => {}
                    Some(len) => {
                        return Err(StorageError::InvalidUploadState(format!(
                            "tail object has {len} bytes, state says {}",
                            st.size
                        )));
                    }
                    None => return Err(StorageError::NotFound),
                }
                self.copy(&tail, &dest, st.size).await?;
            }
            Some(multipart) => {
                let temp = self.multipart_key(upload_id);
                match self.head(&temp).await? {
                    // A previous commit completed the multipart upload, then failed.
                    Some(len) if len == st.size => {}
                    _ => self.complete_multipart(upload_id, &st, multipart).await?,
                }
                self.delete_object(&self.marker_key(upload_id)).await?;
                self.copy(&temp, &dest, st.size).await?;
            }
        }
        self.purge(upload_id).await
    }

    async fn abort(&self, upload_id: Uuid, _state: Option<&UploadState>) -> Result<()> {
        // The marker object, not the state, names the multipart upload: that also covers
        // orphans and a multipart upload started by an append whose state was never saved.
        self.purge(upload_id).await
    }

    async fn stat(&self, key: &BlobKey) -> Result<Option<u64>> {
        self.head(&self.blob_key(key)).await
    }

    async fn get(&self, key: &BlobKey, range: Option<RangeInclusive<u64>>) -> Result<BlobRead> {
        let object = self.blob_key(key);
        let mut request = self.client.get_object().bucket(&self.bucket).key(&object);
        if let Some(r) = &range {
            if r.start() > r.end() {
                let size = self.head(&object).await?.ok_or(StorageError::NotFound)?;
                return Err(StorageError::InvalidRange { size });
            }
            request = request.range(format!("bytes={}-{}", r.start(), r.end()));
        }
        let out = match request.send().await {
            Ok(out) => out,
            Err(e) => {
                return Err(match status(&e) {
                    Some(404) if is_missing(&e) => StorageError::NotFound,
                    Some(416) => {
                        let size = self.head(&object).await?.ok_or(StorageError::NotFound)?;
                        StorageError::InvalidRange { size }
                    }
                    _ => sdk_error("GetObject", e),
                });
            }
        };
        let length = non_negative(out.content_length());
        let (size, served) =
            match (range.as_ref(), out.content_range().and_then(parse_content_range)) {
                (None, _) => (length, None),
                (Some(_), Some((start, end, total))) => (total, Some(start..=end)),
                (Some(asked), None) => {
                    // The server ignored the Range header and sent everything: accept that only
                    // when the range covers the whole blob.
                    match resolve_range(Some(asked), length)? {
                        Some((0, end)) if end + 1 == length => (length, Some(0..=end)),
                        _ => {
                            return Err(StorageError::Backend {
                                operation: "GetObject",
                                message: "server ignored the Range header".to_owned(),
                                source: None,
                            });
                        }
                    }
                }
            };
        Ok(BlobRead { stream: read_ahead(out.body), size, range: served })
    }

    async fn presigned_get_url(
        &self,
        key: &BlobKey,
        expires_in: Duration,
    ) -> Result<Option<String>> {
        let presigning = PresigningConfig::expires_in(expires_in)
            .map_err(|e| StorageError::Config(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.blob_key(key))
            .presigned(presigning)
            .await
            .map_err(|e| sdk_error("GetObject (presign)", e))?;
        Ok(Some(request.uri().to_owned()))
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        self.delete_object(&self.blob_key(key)).await
    }

    fn list_blobs(&self) -> BoxStream<'_, Result<BlobInfo>> {
        let prefix = format!("{}blobs/", self.prefix);
        // State: Some(token) while there are pages to fetch; the first page has no token.
        stream::try_unfold(Some(None::<String>), move |next| {
            let prefix = prefix.clone();
            async move {
                let Some(token) = next else { return Ok(None) };
                let (page, token) = self.list_page(&prefix, token).await?;
                let infos: Vec<Result<BlobInfo>> = page
                    .into_iter()
                    .filter_map(|(object, size, last_modified)| {
                        let key = BlobKey::from_path(object.strip_prefix(&self.prefix)?)?;
                        Some(Ok(BlobInfo { key, size, last_modified }))
                    })
                    .collect();
                Ok(Some((stream::iter(infos), token.map(Some))))
            }
        })
        .try_flatten()
        .boxed()
    }

    async fn list_uploads(&self) -> Result<Vec<UploadInfo>> {
        let root = self.uploads_root();
        let mut latest = std::collections::BTreeMap::<Uuid, OffsetDateTime>::new();
        for (object, _, modified) in self.list_all(&root).await? {
            let Some(id) = object
                .strip_prefix(&root)
                .and_then(|rest| rest.split('/').next())
                .and_then(|id| id.parse::<Uuid>().ok())
            else {
                continue;
            };
            let entry = latest.entry(id).or_insert(modified);
            *entry = (*entry).max(modified);
        }
        Ok(latest
            .into_iter()
            .map(|(upload_id, last_modified)| UploadInfo { upload_id, last_modified })
            .collect())
    }

    async fn check(&self) -> Result<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| sdk_error("HeadBucket", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state saved before part ETags were kept still loads; with parts uploaded, its
    /// commit lists them (the ETags are unknown), and it goes on without recording the ETags
    /// of later parts (they would be off by the missing ones).
    #[test]
    fn states_without_part_etags_still_load() {
        let old = r#"{"backend":"s3","size":6000000,"parts_bytes":5242880,"next_part":2,"multipart":"m","tail_gen":3}"#;
        let StateRepr::S3(st) = UploadState::from_string(old.into()).decode().unwrap() else {
            unreachable!("an s3 state")
        };
        assert!(st.part_etags.is_empty());
        assert!(!known_etags(&st), "one part uploaded, its ETag unknown");
        let fresh = S3UploadState { next_part: 1, part_etags: Vec::new(), ..st.clone() };
        assert!(known_etags(&fresh), "no part yet: nothing unknown");
        let kept = S3UploadState { part_etags: vec!["\"e1\"".into()], ..st };
        let text = UploadState::encode(&StateRepr::S3(kept.clone())).unwrap();
        assert!(matches!(text.decode().unwrap(), StateRepr::S3(back) if back == kept));
    }

    #[test]
    fn config_debug_redacts_the_secret() {
        let config = S3Config::new("bucket", "AKIDEXAMPLE", "very-secret-value");
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("AKIDEXAMPLE"));
        let store = S3Store::new(&config).unwrap();
        assert!(!format!("{store:?}").contains("very-secret-value"));
    }

    #[test]
    fn part_sizes_are_validated() {
        let mut config = S3Config::new("b", "a", "s");
        config.part_size = MIN_PART_SIZE - 1;
        assert!(matches!(S3Store::new(&config), Err(StorageError::Config(_))));
        config.part_size = MIN_PART_SIZE;
        config.copy_part_size = MAX_PART_SIZE + 1;
        assert!(matches!(S3Store::new(&config), Err(StorageError::Config(_))));
    }

    #[test]
    fn helpers_parse_and_encode() {
        assert_eq!(parse_content_range("bytes 0-0/10"), Some((0, 0, 10)));
        assert_eq!(parse_content_range("bytes */10"), None);
        assert_eq!(copy_source("b", "p x/_uploads/a+b"), "b/p%20x/_uploads/a%2Bb");
    }
}
