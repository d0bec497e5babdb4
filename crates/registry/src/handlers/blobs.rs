//! `/v2/<name>/blobs/<digest>`: GET (streamed, with single `Range`), HEAD, DELETE.
//!
//! A repository sees only blobs linked to it; the size comes from the database, the bytes
//! stream from storage and are never buffered whole. DELETE only unlinks: storage is
//! reclaimed by garbage collection.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderValue, StatusCode, header};
use wharf_db::registry::blobs as db;
use wharf_storage::StorageError;

use super::{Ctx, blob_key, empty, header_value, unavailable};
use crate::access::Operation;
use crate::audit::Outcome;
use crate::digest::Digest;
use crate::error::{ErrorCode, OciError};
use crate::headers::DOCKER_CONTENT_DIGEST;
use crate::name::RepositoryName;
use crate::paging::parse_range;
use crate::usage::{BlobServed, UsageSink};

const OCTET_STREAM: &str = "application/octet-stream";

/// The size of `digest` if it is linked to `name`: from the cache, else from the database
/// (stored in the cache when it may).
async fn linked_size(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    digest: &Digest,
) -> Result<Option<u64>, OciError> {
    let cache = cx.content();
    if let Some(size) = cache.blob_size(name.as_str(), digest.as_str()) {
        return Ok(Some(size));
    }
    let ticket = cache.ticket();
    let Some(size) = db::linked_size_by_name(cx.pool(), name.as_str(), digest.as_str())
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    let size = u64::try_from(size).map_err(unavailable)?;
    if let Some(ticket) = ticket {
        cache.insert_blob(ticket, name.as_str(), digest.as_str(), size);
    }
    Ok(Some(size))
}

pub(super) async fn get(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    digest: &Digest,
    head: bool,
) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Pull]).await?;
    let unknown = || OciError::new(ErrorCode::BlobUnknown);
    if !access.can_see_blob(digest) {
        return Err(unknown());
    }
    let size = linked_size(cx, name, digest).await?.ok_or_else(unknown)?;
    let range = parse_range(cx.header(header::RANGE), size)?;

    // Optionally send the client straight to the store (S3 presigned URL): a whole-blob GET
    // only, so ranges and HEAD keep their exact semantics here.
    if let (false, None, Some(expiry)) = (head, range, cx.config().presigned_redirects) {
        let url =
            cx.store().presigned_get_url(&blob_key(digest)?, expiry).await.map_err(unavailable)?;
        if let Some(url) = url {
            let mut response = empty(StatusCode::TEMPORARY_REDIRECT);
            let headers = response.headers_mut();
            headers.insert(header::LOCATION, HeaderValue::from_str(&url).map_err(unavailable)?);
            headers.insert(DOCKER_CONTENT_DIGEST, header_value(digest.as_str()));
            return Ok(response);
        }
    }
    let (status, length, body) = if head {
        (StatusCode::OK, size, Body::empty())
    } else {
        let read =
            cx.store().get(&blob_key(digest)?, range.map(|r| r.start..=r.end)).await.map_err(
                |err| match err {
                    StorageError::InvalidRange { size } => OciError::range_not_satisfiable(size),
                    other => unavailable(other),
                },
            )?;
        let status = if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
        let length = read.content_length();
        let body = match (access.attribution, access.organization_id) {
            (Some(attribution), Some(organization_id)) => Body::from_stream(Counted {
                inner: read.stream,
                served: Some(BlobServed {
                    organization_id,
                    attribution,
                    repository: name.as_str().to_owned(),
                    digest: digest.as_str().to_owned(),
                    bytes: 0,
                }),
                sink: cx.usage().clone(),
            }),
            _ => Body::from_stream(read.stream),
        };
        (status, length, body)
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(DOCKER_CONTENT_DIGEST, header_value(digest.as_str()));
    if let (Some(range), false) = (range, head) {
        headers.insert(header::CONTENT_RANGE, range.content_range(size));
    }
    Ok(response)
}

pub(super) async fn delete(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    digest: &Digest,
) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Delete]).await?;
    let unknown = || OciError::new(ErrorCode::BlobUnknown);
    let repo = cx.own_repository(&access, name).await?.ok_or_else(unknown)?;
    let unlinked = db::unlink(cx.pool(), repo.id, digest.as_str()).await.map_err(unavailable);
    cx.content().invalidate(name.as_str());
    if !unlinked? {
        return Err(unknown());
    }
    let d = Some(digest.as_str());
    cx.audit(&access, "blob.delete", name, digest.as_str(), d, None, Outcome::Success);
    Ok(empty(StatusCode::ACCEPTED))
}

/// A blob body that counts the bytes it hands to the connection and reports them to the
/// usage sink once, when it ends or is dropped (client gone): what was actually sent.
struct Counted<S> {
    inner: S,
    served: Option<BlobServed>,
    sink: Arc<dyn UsageSink>,
}

impl<S, E> Stream for Counted<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(served) = self.served.as_mut() {
                    served.bytes += chunk.len() as u64;
                }
            }
            Poll::Ready(None) => self.report(),
            _ => {}
        }
        polled
    }
}

impl<S> Counted<S> {
    fn report(&mut self) {
        if let Some(served) = self.served.take() {
            self.sink.blob_served(served);
        }
    }
}

impl<S> Drop for Counted<S> {
    fn drop(&mut self) {
        self.report();
    }
}
