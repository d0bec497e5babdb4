//! `/v2/<name>/manifests/<reference>`: GET, HEAD, PUT, DELETE.
//!
//! Manifests are served from the database exactly as pushed, with their stored media type.
//! A PUT is read with a 4 MiB cap, parsed and validated ([`parse_manifest`]), verified
//! against the digest it was addressed by, and stored with its graph and tag in one
//! transaction that also checks its blobs and children exist in the repository.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{StatusCode, header};
use wharf_db::registry::manifests::{
    self as db, BlobKind, BlobReference, ChildReference, ManifestRef, NewManifest, PutOutcome,
};
use wharf_db::registry::tags;

use super::{Ctx, bytes_response, empty, header_value, unavailable};
use crate::access::Operation;
use crate::audit::Outcome;
use crate::cache::CachedManifest;
use crate::digest::Digest;
use crate::error::{ErrorCode, OciError};
use crate::headers::{DOCKER_CONTENT_DIGEST, OCI_SUBJECT};
use crate::manifest::{MAX_MANIFEST_BYTES, ManifestError, digest_algorithm_for, parse_manifest};
use crate::name::{Reference, RepositoryName};
use crate::route::Route;
use crate::usage::ManifestServed;

pub(super) async fn get(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    reference: &Reference,
    head: bool,
) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Pull]).await?;
    let unknown = || OciError::new(ErrorCode::ManifestUnknown);
    let denied = |digest: Option<&str>| {
        cx.audit(
            &access,
            "pull.denied",
            name,
            &reference.to_string(),
            digest,
            None,
            Outcome::Denied,
        )
    };
    let by = match reference {
        Reference::Tag(tag) if !access.can_see_tag(tag) => {
            denied(None);
            return Err(unknown());
        }
        Reference::Tag(tag) => ManifestRef::Tag(tag.as_str()),
        Reference::Digest(digest) => ManifestRef::Digest(digest.as_str()),
    };
    let manifest = find(cx, name, by, head).await?.ok_or_else(unknown)?;
    let digest = Digest::parse(&manifest.digest).map_err(unavailable)?;
    if !access.can_see_manifest(&digest) {
        denied(Some(digest.as_str()));
        return Err(unknown());
    }
    if let (Some(attribution), Some(organization_id)) = (access.attribution, access.organization_id)
    {
        let served = ManifestServed {
            organization_id,
            attribution,
            repository: name,
            reference,
            digest: &digest,
            media_type: &manifest.media_type,
            headers: cx.headers,
            peer: cx.client,
        };
        if head {
            cx.usage().manifest_checked(served);
        } else {
            cx.usage().manifest_served(served);
        }
    }
    let mut response = if head {
        let mut r = bytes_response(StatusCode::OK, &manifest.media_type, Bytes::new(), true);
        r.headers_mut().insert(header::CONTENT_LENGTH, manifest.size.into());
        r
    } else {
        bytes_response(StatusCode::OK, &manifest.media_type, manifest.bytes.clone(), false)
    };
    response.headers_mut().insert(DOCKER_CONTENT_DIGEST, header_value(digest.as_str()));
    Ok(response)
}

/// The manifest `by` names in `name`, from the cache when it holds it, else from the
/// database (storing what was read when the cache may). Without the cache, a HEAD reads no
/// bytes.
async fn find(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    by: ManifestRef<'_>,
    head: bool,
) -> Result<Option<Arc<CachedManifest>>, OciError> {
    let cache = cx.content();
    let (tag, hit) = match by {
        ManifestRef::Tag(tag) => (Some(tag), cache.by_tag(name.as_str(), tag)),
        ManifestRef::Digest(digest) => (None, cache.by_digest(name.as_str(), digest)),
    };
    if hit.is_some() {
        return Ok(hit);
    }
    let ticket = cache.ticket();
    let Some(found) = db::find_by_name(cx.pool(), name.as_str(), by, !head || ticket.is_some())
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    let manifest = CachedManifest {
        digest: found.digest.into(),
        media_type: found.media_type.into(),
        size: u64::try_from(found.size).map_err(unavailable)?,
        bytes: found.bytes.into(),
    };
    if let Some(ticket) = ticket {
        cache.insert(ticket, name.as_str(), tag, manifest.clone());
    }
    Ok(Some(Arc::new(manifest)))
}

pub(super) async fn put(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    reference: &Reference,
    body: Body,
) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Push]).await?;
    let bytes = read_manifest_body(cx.content_length(), body).await?;
    let content_type = cx.header(header::CONTENT_TYPE);
    let parsed = parse_manifest(content_type, &bytes, digest_algorithm_for(reference))?;
    parsed.verify_reference(reference)?;
    let organization_id = cx.push_organization(&access)?;

    let mut blobs = Vec::with_capacity(parsed.layers.len() + 1);
    if let Some(config) = &parsed.config {
        blobs.push(BlobReference {
            kind: BlobKind::Config,
            digest: config.digest.to_string(),
            media_type: config.media_type.clone(),
            size: size(config.size),
            external: false,
        });
    }
    blobs.extend(parsed.layers.iter().map(|layer| BlobReference {
        kind: BlobKind::Layer,
        digest: layer.descriptor.digest.to_string(),
        media_type: layer.descriptor.media_type.clone(),
        size: size(layer.descriptor.size),
        external: layer.external,
    }));
    let children = parsed
        .children
        .iter()
        .map(|child| ChildReference {
            digest: child.digest.to_string(),
            media_type: child.media_type.clone(),
            size: size(child.size),
            os: child.platform.as_ref().map(|p| p.os.clone()),
            architecture: child.platform.as_ref().map(|p| p.architecture.clone()),
            variant: child.platform.as_ref().and_then(|p| p.variant.clone()),
        })
        .collect();
    let subject = parsed.subject.as_ref().map(|s| s.digest.to_string());
    let new = NewManifest {
        digest: parsed.digest.as_str(),
        media_type: parsed.kind.media_type(),
        artifact_type: parsed.artifact_type.as_deref(),
        bytes: &bytes,
        subject: subject.as_deref(),
        annotations: serde_json::to_value(&parsed.annotations).unwrap_or_default(),
        blobs,
        children,
    };
    let tag = reference.as_tag().map(|t| t.as_str());
    // The repository is looked up inside the push's statement; only the first push into it
    // (or one outside the caller's organization) takes the slower way through
    // `push_repository`, which creates it or answers DENIED.
    let put = || {
        db::put_by_name(
            cx.push_connections(),
            cx.notifier(),
            organization_id,
            name.as_str(),
            &new,
            tag,
        )
    };
    let mut outcome = put().await;
    if let Ok(None) = outcome {
        cx.push_repository(&access, name).await?;
        outcome = put().await;
    }
    // Whatever happened, this instance reads its own writes at once (the notification
    // reaches the others, and this one again, a moment later).
    cx.forget_repository(name);
    let outcome = outcome.map_err(unavailable)?.ok_or_else(|| {
        OciError::unavailable(&std::io::Error::other(format!(
            "repository {name} vanished while a manifest was pushed into it"
        )))
    })?;
    match outcome {
        PutOutcome::Stored { moved_from } => cx.audit(
            &access,
            "manifest.push",
            name,
            &reference.to_string(),
            Some(parsed.digest.as_str()),
            moved_from.as_deref(),
            Outcome::Success,
        ),
        PutOutcome::MissingReferences(missing) => {
            let missing: Vec<Digest> =
                missing.iter().filter_map(|d| Digest::parse(d).ok()).collect();
            return Err(OciError::manifest_blobs_unknown(&missing));
        }
        PutOutcome::TagImmutable { current } => {
            cx.audit(
                &access,
                "manifest.push",
                name,
                &reference.to_string(),
                Some(parsed.digest.as_str()),
                Some(current.as_str()),
                Outcome::Denied,
            );
            return Err(OciError::new(ErrorCode::Denied).with_message(format!(
                "tag {} of {name} is immutable and already points at {current}: push a new tag instead",
                reference
            )));
        }
    }

    let mut response = empty(StatusCode::CREATED);
    let location =
        Route::Manifest { name: name.clone(), reference: Reference::Digest(parsed.digest.clone()) }
            .path();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, header_value(&location));
    headers.insert(DOCKER_CONTENT_DIGEST, header_value(parsed.digest.as_str()));
    if let Some(subject) = &subject {
        headers.insert(OCI_SUBJECT, header_value(subject));
    }
    Ok(response)
}

fn size(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads a manifest body, refusing more than [`MAX_MANIFEST_BYTES`] with 413 as soon as the
/// declared length or the bytes read exceed it.
async fn read_manifest_body(content_length: Option<u64>, body: Body) -> Result<Bytes, OciError> {
    let too_large = |size: u64| -> OciError {
        ManifestError::TooLarge { size: usize::try_from(size).unwrap_or(usize::MAX) }.into()
    };
    if let Some(len) = content_length
        && len > MAX_MANIFEST_BYTES as u64
    {
        return Err(too_large(len));
    }
    let mut buf = BytesMut::with_capacity(content_length.unwrap_or(0) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            OciError::new(ErrorCode::ManifestInvalid).with_detail("reading the request body failed")
        })?;
        if buf.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(too_large((buf.len() + chunk.len()) as u64));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

pub(super) async fn delete(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    reference: &Reference,
) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Delete]).await?;
    let unknown = || OciError::new(ErrorCode::ManifestUnknown);
    let repo = cx.own_repository(&access, name).await?.ok_or_else(unknown)?;
    let deleted = match reference {
        Reference::Tag(tag) => tags::delete(cx.pool(), repo.id, tag.as_str()).await,
        Reference::Digest(digest) => db::delete(cx.pool(), repo.id, digest.as_str()).await,
    }
    .map_err(unavailable);
    cx.forget_repository(name);
    if !deleted? {
        return Err(unknown());
    }
    let (action, digest) = match reference {
        Reference::Tag(_) => ("tag.delete", None),
        Reference::Digest(digest) => ("manifest.delete", Some(digest.as_str())),
    };
    cx.audit(&access, action, name, &reference.to_string(), digest, None, Outcome::Success);
    Ok(empty(StatusCode::ACCEPTED))
}
