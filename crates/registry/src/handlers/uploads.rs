//! `/v2/<name>/blobs/uploads/`: POST (monolithic with `?digest=`, cross-repository mount,
//! or a new session), and `/v2/<name>/blobs/uploads/<id>`: PATCH, GET (status), PUT
//! (finish, optionally with a last chunk), DELETE (cancel).
//!
//! Sessions live in Postgres, bound to repository, organization and creator; an id from
//! another repository or principal is `BLOB_UPLOAD_UNKNOWN`. Each chunk first claims the
//! session (a lease, only when no other append holds it, taken in the statement that loads
//! the session, so at the offset it stands at; the chunk's range is checked against that), is
//! streamed to the blob store while it is hashed (and cut off before the lease ends), and the
//! hasher's state is saved with the session under that lease after every PATCH. So any
//! instance continues any upload, and two requests never write one session's bytes at once
//! (which would leave bytes in storage that the saved hash does not describe). Finishing verifies digest and size,
//! commits the bytes to storage and records the blob and its link in one transaction.
//!
//! The algorithm of the final digest is known only at PUT. A session hashes with the
//! algorithm of `POST ?digest=` when there was one, else sha256; when the final digest is
//! sha512 and the session hashed sha256, the committed bytes are streamed back from storage
//! and re-hashed before they become visible (see [`commit_by_rereading`]).

use std::io;

use axum::body::Body;
use axum::response::Response;
use futures_util::StreamExt;
use http::{HeaderValue, StatusCode, header};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_db::registry::blobs;
use wharf_db::registry::repositories::Repository;
use wharf_db::registry::uploads::{self as db, NewUpload, UploadSession};
use wharf_storage::{BlobKey, BlobStore, UploadState};

use super::{Ctx, blob_key, empty, header_value, storage_error, unavailable};
use crate::access::{Access, Operation};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{ErrorCode, OciError};
use crate::headers::{BLOB_UPLOAD_SESSION_ID, DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID};
use crate::name::RepositoryName;
use crate::paging::{ChunkRange, check_chunk, upload_range};
use crate::route::{Route, query_param};

/// `POST /v2/<name>/blobs/uploads/`.
pub(super) async fn start(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    body: Body,
) -> Result<Response, OciError> {
    let mounting = query_param(cx.query, "mount");
    let from = mounting
        .as_ref()
        .and_then(|_| query_param(cx.query, "from"))
        .and_then(|from| RepositoryName::parse(&from).ok());
    let access = cx.authorize_mount(name, from.as_ref()).await?;

    if let Some(mount) = mounting {
        let repo = cx.push_repository(&access, name).await?;
        let digest = Digest::parse(&mount)?;
        if try_mount(cx, &repo, &digest).await? {
            return Ok(created(name, &digest));
        }
        // Not mountable: a fresh session, never an error.
        let session = new_session(cx, &access, name, Algorithm::Sha256).await?;
        return Ok(accepted(StatusCode::ACCEPTED, name, session.id, 0));
    }

    match query_param(cx.query, "digest") {
        Some(digest) => {
            let digest = Digest::parse(&digest)?;
            let session = new_session(cx, &access, name, digest.algorithm()).await?;
            let id = session.id;
            let result = complete(cx, name, session, None, &digest, Some(body)).await;
            if result.is_err() {
                // The client never saw this session: do not leave it behind.
                discard(cx, id).await;
            }
            result
        }
        None => {
            let session = new_session(cx, &access, name, Algorithm::Sha256).await?;
            Ok(accepted(StatusCode::ACCEPTED, name, session.id, 0))
        }
    }
}

/// Mounts `digest` from `?from=` into `repo` when it is linked there, `from` is in the same
/// organization and the caller may pull it. Any reason not to is `false`, never an error
/// (only a failing database or authorizer is).
async fn try_mount(cx: &Ctx<'_>, repo: &Repository, digest: &Digest) -> Result<bool, OciError> {
    let Some(Ok(from)) = query_param(cx.query, "from").map(|f| RepositoryName::parse(&f)) else {
        return Ok(false);
    };
    let Some(from_repo) = cx.repository(&from).await? else {
        return Ok(false);
    };
    if from_repo.organization_id != repo.organization_id {
        return Ok(false);
    }
    let from_access = match cx.authorize(Some(&from), &[Operation::Pull]).await {
        Ok(access) => access,
        Err(err) if err.code() == ErrorCode::Unavailable => return Err(err),
        Err(_) => return Ok(false),
    };
    if !from_access.can_see_blob(digest) {
        return Ok(false);
    }
    let mounted = blobs::mount(cx.pool(), from_repo.id, repo.id, digest.as_str())
        .await
        .map_err(unavailable)?;
    Ok(mounted.is_some())
}

/// Starts a session in repository `name`, created on first push. The session's row names
/// the repository by id, looked up in the insert itself; only when that finds none does
/// [`Ctx::push_repository`] create it (or answer `DENIED`). Beyond the caps on open
/// sessions (per principal, per repository; [`crate::RegistryConfig`]) it answers `429
/// TOOMANYREQUESTS` and creates nothing.
async fn new_session(
    cx: &Ctx<'_>,
    access: &Access,
    name: &RepositoryName,
    algorithm: Algorithm,
) -> Result<UploadSession, OciError> {
    let organization_id = cx.push_organization(access)?;
    let id = Uuid::new_v4();
    let state = cx.store().start_upload(id).await.map_err(unavailable)?;
    let hash_state = Hasher::new(algorithm).save();
    let now = OffsetDateTime::now_utc();
    let expires_at = now + cx.config().upload_ttl;
    let new = NewUpload {
        id,
        repository_id: Uuid::nil(),
        organization_id,
        created_by: &access.principal,
        hash_algorithm: algorithm.as_str(),
        hash_state: &hash_state,
        storage_state: state.as_str(),
        expires_at,
    };
    let limits = db::UploadLimits {
        per_principal: i64::from(cx.config().max_open_uploads_per_principal),
        per_repository: i64::from(cx.config().max_open_uploads_per_repository),
    };
    let created = async {
        let mut started =
            db::create_by_name(cx.pool(), organization_id, name.as_str(), &new, limits)
                .await
                .map_err(unavailable)?;
        if started == db::Started::NoRepository {
            // First push into this repository: create it, then start the session in it.
            cx.push_repository(access, name).await?;
            started = db::create_by_name(cx.pool(), organization_id, name.as_str(), &new, limits)
                .await
                .map_err(unavailable)?;
        }
        match started {
            db::Started::Created(repository_id) => Ok(repository_id),
            db::Started::Refused(limit) => Err(too_many_uploads(limit)),
            // Deleted again between its creation and the session's: as for a failed write.
            db::Started::NoRepository => {
                Err(OciError::unavailable(&io::Error::other("the repository vanished")))
            }
        }
    }
    .await;
    let repository_id = match created {
        Ok(repository_id) => repository_id,
        Err(err) => {
            cx.store().abort(id, Some(&state)).await.ok();
            return Err(err);
        }
    };
    Ok(UploadSession {
        id,
        repository_id,
        organization_id,
        created_by: access.principal.clone(),
        byte_offset: 0,
        hash_algorithm: algorithm.as_str().to_owned(),
        hash_state,
        storage_state: state.into_string(),
        created_at: now,
        updated_at: now,
        expires_at,
    })
}

/// Seconds a client refused for too many open uploads is told to wait: sessions end when
/// their clients finish or cancel them, which takes seconds to minutes.
const TOO_MANY_UPLOADS_RETRY_AFTER: u64 = 60;

/// `429 TOOMANYREQUESTS` for a session that `limit` refused.
fn too_many_uploads(limit: db::UploadLimit) -> OciError {
    let detail = match limit {
        db::UploadLimit::Principal => {
            "too many open uploads by this client: finish or cancel some, or wait for them to expire"
        }
        db::UploadLimit::Repository => {
            "too many open uploads in this repository: finish or cancel some, or wait for them to expire"
        }
    };
    OciError::too_many_requests(TOO_MANY_UPLOADS_RETRY_AFTER).with_detail(detail)
}

/// The session `id` of this repository, started by this caller; anything else is
/// `BLOB_UPLOAD_UNKNOWN`.
async fn load(
    cx: &Ctx<'_>,
    access: &Access,
    name: &RepositoryName,
    id: &str,
) -> Result<UploadSession, OciError> {
    let unknown = || OciError::new(ErrorCode::BlobUploadUnknown);
    let id = Uuid::parse_str(id).map_err(|_| unknown())?;
    let organization_id = access.organization_id.ok_or_else(unknown)?;
    db::find_by_name(cx.pool(), id, organization_id, name.as_str(), &access.principal)
        .await
        .map_err(unavailable)?
        .ok_or_else(unknown)
}

/// Like [`load`], and claims the session for one append in the same statement (see
/// [`append`]). Returns the session and the claim.
///
/// When another append holds the lease, this waits while the holder looks dead: a live
/// holder renews its lease every fifth of [`crate::RegistryConfig::append_lease`], so as
/// soon as the lease moves (renewed, or taken by someone else) the answer is 416; a holder
/// whose instance died (`kill -9`, a lost machine) never renews, its lease lapses within one
/// lease time, and this append takes it over. So a client that retries at once after a crash
/// goes on, after a wait of a few seconds at most, instead of getting 416 until the lease
/// lapses.
async fn load_and_claim(
    cx: &Ctx<'_>,
    access: &Access,
    name: &RepositoryName,
    id: &str,
) -> Result<(UploadSession, Claim), OciError> {
    let unknown = || OciError::new(ErrorCode::BlobUploadUnknown);
    let id = Uuid::parse_str(id).map_err(|_| unknown())?;
    let organization_id = access.organization_id.ok_or_else(unknown)?;
    let lease_time = cx.config().append_lease;
    let claim = async || {
        let lease = Claim { id: Uuid::new_v4(), at: tokio::time::Instant::now() };
        let claimed = db::claim_by_name(
            cx.pool(),
            id,
            organization_id,
            name.as_str(),
            &access.principal,
            lease.id,
            lease_time,
        )
        .await
        .map_err(unavailable)?;
        Ok::<_, OciError>(claimed.map(|session| (session, lease)))
    };
    if let Some(claimed) = claim().await? {
        return Ok(claimed);
    }
    // Unknown to this caller, or busy: tell which.
    let session = load(cx, access, name, &id.to_string()).await?;
    let seen = db::lease_of(cx.pool(), id).await.map_err(unavailable)?;
    let give_up = tokio::time::Instant::now() + lease_time + lease_time / 5;
    while tokio::time::Instant::now() < give_up {
        tokio::time::sleep(lease_time / 20).await;
        if let Some(claimed) = claim().await? {
            return Ok(claimed);
        }
        if db::lease_of(cx.pool(), id).await.map_err(unavailable)? != seen {
            break; // renewed or taken: its holder is alive
        }
    }
    Err(out_of_order(name, &session, "another request is appending to this upload".into()))
}

/// `GET /v2/<name>/blobs/uploads/<id>`.
pub(super) async fn status(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    id: &str,
) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Push]).await?;
    let session = load(cx, &access, name, id).await?;
    Ok(accepted(StatusCode::NO_CONTENT, name, session.id, offset(&session)))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`.
pub(super) async fn patch(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    id: &str,
    body: Body,
) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Push]).await?;
    let (session, lease) = load_and_claim(cx, &access, name, id).await?;
    let chunk = append(cx, name, &session, Some(lease), body).await?;
    let expires_at = OffsetDateTime::now_utc() + cx.config().upload_ttl;
    let lease = chunk.lease.ok_or_else(|| OciError::new(ErrorCode::Unavailable))?;
    let advanced = db::advance(
        cx.pool(),
        session.id,
        lease,
        session.byte_offset,
        i64::try_from(chunk.size).map_err(unavailable)?,
        &chunk.hasher.save(),
        chunk.state.as_str(),
        expires_at,
    )
    .await;
    let advanced = match advanced {
        Ok(advanced) => advanced,
        Err(err) => {
            release(cx, session.id, lease).await;
            return Err(unavailable(err));
        }
    };
    if !advanced {
        return Err(out_of_order(
            name,
            &session,
            "another request changed this upload at the same time".into(),
        ));
    }
    Ok(accepted(StatusCode::ACCEPTED, name, session.id, chunk.size))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=<digest>`.
pub(super) async fn finish(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    id: &str,
    body: Body,
) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Push]).await?;
    let digest = query_param(cx.query, "digest").ok_or_else(|| {
        OciError::new(ErrorCode::DigestInvalid)
            .with_detail("the digest query parameter is required")
    })?;
    let digest = Digest::parse(&digest)?;
    if cx.content_length() == Some(0) {
        let session = load(cx, &access, name, id).await?;
        complete(cx, name, session, None, &digest, None).await
    } else {
        let (session, lease) = load_and_claim(cx, &access, name, id).await?;
        complete(cx, name, session, Some(lease), &digest, Some(body)).await
    }
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`.
pub(super) async fn cancel(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    id: &str,
) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Push]).await?;
    let session = load(cx, &access, name, id).await?;
    if !discard(cx, session.id).await {
        return Err(OciError::new(ErrorCode::BlobUploadUnknown));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Deletes a session and its temporary data. Returns whether the session existed. A failure
/// to discard the data is logged: garbage collection sweeps it later.
async fn discard(cx: &Ctx<'_>, id: Uuid) -> bool {
    match db::delete(cx.pool(), id).await {
        Ok(Some(state)) => {
            if let Err(err) = cx.store().abort(id, Some(&UploadState::from_string(state))).await {
                tracing::warn!(upload = %id, error = &err as &dyn std::error::Error, "discarding upload data failed; GC will sweep it");
            }
            true
        }
        Ok(None) => false,
        Err(err) => {
            tracing::warn!(upload = %id, error = &err as &dyn std::error::Error, "deleting upload session failed; it will expire");
            false
        }
    }
}

/// The upload after a chunk: the hasher over every byte so far, the blob store's state, the
/// total size, and the lease the chunk was written under (none when there was no chunk).
struct Appended {
    hasher: Hasher,
    state: UploadState,
    size: u64,
    lease: Option<Uuid>,
}

/// A lease taken on a session, and when the statement that took it was sent: the writer
/// counts the lease's end from then.
#[derive(Debug, Clone, Copy)]
struct Claim {
    id: Uuid,
    at: tokio::time::Instant,
}

/// Gives a lease back after a failed append; if that fails too, the lease simply expires.
async fn release(cx: &Ctx<'_>, id: Uuid, lease: Uuid) {
    if let Err(err) = db::release(cx.pool(), id, lease).await {
        tracing::warn!(upload = %id, error = &err as &dyn std::error::Error, "releasing an upload lease failed; it will expire");
    }
}

fn offset(session: &UploadSession) -> u64 {
    u64::try_from(session.byte_offset).unwrap_or(0)
}

/// Claims the session (unless `claimed` holds its lease already, taken when it was loaded)
/// and streams the request body into storage at its offset, hashing it on the way. Nothing
/// is recorded: the caller saves the result (PATCH) or commits it (PUT) under the returned
/// lease; on error the lease is given back here.
async fn append(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    session: &UploadSession,
    claimed: Option<Claim>,
    body: Body,
) -> Result<Appended, OciError> {
    let start = offset(session);
    let content_range = cx.header(header::CONTENT_RANGE);
    let checked = check_chunk(content_range, start, cx.content_length())
        .map_err(|e| with_upload_headers(e, name, session.id, start))
        .and_then(|()| {
            let algorithm = Algorithm::from_name(&session.hash_algorithm)
                .ok_or_else(|| OciError::new(ErrorCode::Unavailable))?;
            Hasher::restore(algorithm, &session.hash_state).map_err(unavailable)
        });
    let hasher = match checked {
        Ok(hasher) => hasher,
        Err(err) => {
            if let Some(claim) = claimed {
                release(cx, session.id, claim.id).await;
            }
            return Err(err);
        }
    };

    let lease_time = cx.config().append_lease;
    let Claim { id: lease, at: claimed_at } = match claimed {
        Some(claim) => claim,
        None => {
            let claim = Claim { id: Uuid::new_v4(), at: tokio::time::Instant::now() };
            if !db::claim(cx.pool(), session.id, session.byte_offset, claim.id, lease_time)
                .await
                .map_err(unavailable)?
            {
                return Err(out_of_order(
                    name,
                    session,
                    "another request is appending to this upload, or it moved".into(),
                ));
            }
            claim
        }
    };
    // The lease is short and renewed every fifth of its length while the chunk streams, so
    // the lease of a writer that died (kill -9, lost instance) lapses within `append_lease`
    // and the upload can resume. The writer stops a fifth of a lease before the end it last
    // secured (counted from before the statement that secured it), so a takeover never
    // races it.
    let deadline = LeaseDeadline::new(claimed_at + lease_time - lease_time / 5);
    let renewer = tokio::spawn(renew_lease(
        cx.pool().clone(),
        session.id,
        lease,
        lease_time,
        deadline.clone(),
    ));
    let result = write_chunk(cx, name, session, body, hasher, deadline).await;
    renewer.abort();
    match result {
        Ok((hasher, state, size)) => Ok(Appended { hasher, state, size, lease: Some(lease) }),
        Err(err) => {
            release(cx, session.id, lease).await;
            Err(err)
        }
    }
}

async fn write_chunk(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    session: &UploadSession,
    body: Body,
    hasher: Hasher,
    deadline: LeaseDeadline,
) -> Result<(Hasher, UploadState, u64), OciError> {
    let start = offset(session);
    let state = UploadState::from_string(session.storage_state.clone());
    let mut received: u64 = 0;
    let (outcome, hasher) = {
        let frames = body.into_data_stream().map(|chunk| match chunk {
            Ok(_) if deadline.passed() => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the chunk took longer than the upload lease",
            )),
            Ok(bytes) => {
                received += bytes.len() as u64;
                Ok(bytes)
            }
            Err(err) => Err(io::Error::other(err)),
        });
        // The store hashes every byte before it stores it, and gives the hasher back over
        // exactly what it appended.
        cx.store()
            .append_hashed(session.id, &state, Box::pin(frames), hasher)
            .await
            .map_err(storage_error)?
    };
    if let Some(range) = cx.header(header::CONTENT_RANGE).and_then(ChunkRange::parse)
        && range.len() != received
    {
        return Err(out_of_order(
            name,
            session,
            format!("Content-Range covers {} bytes but the body had {received}", range.len()),
        ));
    }
    if outcome.size != start + received {
        return Err(OciError::unavailable(&io::Error::other(format!(
            "blob store reports {} bytes after appending {received} to {start}",
            outcome.size
        ))));
    }
    Ok((hasher, outcome.state, outcome.size))
}

/// Finishes an upload: appends the last chunk if the body has one (under `claimed`, the
/// lease taken when the session was loaded, if it was), verifies the digest, commits the
/// bytes and records the blob with its link in one transaction.
async fn complete(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    session: UploadSession,
    claimed: Option<Claim>,
    digest: &Digest,
    body: Option<Body>,
) -> Result<Response, OciError> {
    let has_body = body.is_some() && cx.content_length() != Some(0);
    let chunk = match body {
        Some(body) if has_body => append(cx, name, &session, claimed, body).await?,
        _ => {
            let algorithm = Algorithm::from_name(&session.hash_algorithm)
                .ok_or_else(|| OciError::new(ErrorCode::Unavailable))?;
            Appended {
                hasher: Hasher::restore(algorithm, &session.hash_state).map_err(unavailable)?,
                state: UploadState::from_string(session.storage_state.clone()),
                size: offset(&session),
                lease: claimed.map(|claim| claim.id),
            }
        }
    };
    let lease = chunk.lease;
    let result = commit_appended(cx, name, &session, digest, chunk).await;
    if let (Err(_), Some(lease)) = (&result, lease) {
        release(cx, session.id, lease).await;
    }
    result
}

/// Verifies the digest of everything appended, commits the bytes and records the blob.
async fn commit_appended(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    session: &UploadSession,
    digest: &Digest,
    chunk: Appended,
) -> Result<Response, OciError> {
    let reread = chunk.hasher.algorithm() != digest.algorithm();
    if !reread {
        let computed = chunk.hasher.finalize();
        if computed != *digest {
            return Err(digest_mismatch(&computed, digest));
        }
    }
    let key = blob_key(digest)?;
    let store = cx.store();
    let size = i64::try_from(chunk.size).map_err(unavailable)?;
    let state = &chunk.state;
    let done = db::complete(cx.pool(), session, chunk.lease, digest.as_str(), size, async || {
        if reread {
            commit_by_rereading(store, session.id, state, &key, digest).await
        } else {
            store.commit(session.id, state, &key).await.map_err(storage_error)
        }
    })
    .await
    .map_err(unavailable)??;
    if !done {
        return Err(out_of_order(
            name,
            session,
            "another request changed this upload at the same time".into(),
        ));
    }
    Ok(created(name, digest))
}

/// Commits an upload whose session hashed with another algorithm than `digest`'s, and
/// verifies it by streaming the committed bytes back. Runs under the digest's lock (inside
/// [`db::complete`]), so nobody else commits or deletes `key` meanwhile.
///
/// When storage has no `key` yet, the bytes are committed there, re-hashed, and deleted
/// again if they do not match (no row points at them yet, so nobody saw them). When `key`
/// exists already, the bytes go to a random scratch key instead (committing to an existing
/// key would discard them unverified), are re-hashed there and deleted.
async fn commit_by_rereading(
    store: &dyn BlobStore,
    upload: Uuid,
    state: &UploadState,
    key: &BlobKey,
    digest: &Digest,
) -> Result<(), OciError> {
    let existing = store.stat(key).await.map_err(unavailable)?;
    let target = match existing {
        None => key.clone(),
        Some(_) => scratch_key(key.algorithm())?,
    };
    store.commit(upload, state, &target).await.map_err(storage_error)?;
    let computed = rehash(store, &target, digest.algorithm()).await;
    let matches = matches!(&computed, Ok(c) if c == digest);
    if (existing.is_some() || !matches)
        && let Err(err) = store.delete(&target).await
    {
        tracing::warn!(key = %target, error = &err as &dyn std::error::Error, "deleting unverified upload failed; GC will sweep it");
    }
    let computed = computed?;
    if matches { Ok(()) } else { Err(digest_mismatch(&computed, digest)) }
}

fn scratch_key(algorithm: Algorithm) -> Result<BlobKey, OciError> {
    let hex: String = std::iter::repeat_with(|| Uuid::new_v4().simple().to_string())
        .take(4)
        .collect::<String>()
        .chars()
        .take(algorithm.encoded_len())
        .collect();
    BlobKey::new(algorithm, hex).map_err(unavailable)
}

async fn rehash(
    store: &dyn BlobStore,
    key: &BlobKey,
    algorithm: Algorithm,
) -> Result<Digest, OciError> {
    let read = store.get(key, None).await.map_err(unavailable)?;
    let mut hasher = Hasher::new(algorithm);
    let mut stream = read.stream;
    while let Some(chunk) = stream.next().await {
        hasher.update(&chunk.map_err(unavailable)?);
    }
    Ok(hasher.finalize())
}

fn digest_mismatch(computed: &Digest, expected: &Digest) -> OciError {
    OciError::new(ErrorCode::DigestInvalid)
        .with_detail(format!("uploaded content has digest {computed}, not {expected}"))
}

/// `416 BLOB_UPLOAD_INVALID` with the headers a client needs to resume.
fn out_of_order(name: &RepositoryName, session: &UploadSession, detail: String) -> OciError {
    with_upload_headers(
        OciError::new(ErrorCode::BlobUploadOutOfOrder).with_detail(detail),
        name,
        session.id,
        offset(session),
    )
}

fn with_upload_headers(err: OciError, name: &RepositoryName, id: Uuid, size: u64) -> OciError {
    err.with_header(header::LOCATION, header_value(&upload_location(name, id)))
        .with_header(header::RANGE, upload_range(size))
        .with_header(DOCKER_UPLOAD_UUID, header_value(&id.to_string()))
}

fn upload_location(name: &RepositoryName, id: Uuid) -> String {
    Route::Upload { name: name.clone(), id: id.to_string() }.path()
}

/// 202 (or 204 for status) with `Location`, `Range` and the session id headers.
fn accepted(status: StatusCode, name: &RepositoryName, id: Uuid, size: u64) -> Response {
    let mut response = empty(status);
    let headers = response.headers_mut();
    let id_value = header_value(&id.to_string());
    headers.insert(header::LOCATION, header_value(&upload_location(name, id)));
    headers.insert(header::RANGE, upload_range(size));
    headers.insert(DOCKER_UPLOAD_UUID, id_value.clone());
    headers.insert(BLOB_UPLOAD_SESSION_ID, id_value);
    if status == StatusCode::NO_CONTENT {
        headers.remove(header::CONTENT_LENGTH);
    }
    response
}

/// 201 with the blob's `Location` and digest.
fn created(name: &RepositoryName, digest: &Digest) -> Response {
    let mut response = empty(StatusCode::CREATED);
    let headers = response.headers_mut();
    let location = Route::Blob { name: name.clone(), digest: digest.clone() }.path();
    headers.insert(header::LOCATION, header_value(&location));
    headers.insert(DOCKER_CONTENT_DIGEST, header_value(digest.as_str()));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

/// When the current append must stop writing: moved later each time the lease is renewed.
#[derive(Debug, Clone)]
struct LeaseDeadline {
    start: tokio::time::Instant,
    millis: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl LeaseDeadline {
    fn new(at: tokio::time::Instant) -> Self {
        let start = tokio::time::Instant::now();
        let deadline = Self { start, millis: Default::default() };
        deadline.set(at);
        deadline
    }

    fn set(&self, at: tokio::time::Instant) {
        let millis =
            u64::try_from(at.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX);
        self.millis.store(millis, std::sync::atomic::Ordering::Release);
    }

    fn passed(&self) -> bool {
        let millis = self.millis.load(std::sync::atomic::Ordering::Acquire);
        self.start.elapsed().as_millis() > u128::from(millis)
    }
}

/// Renews an append lease every fifth of its length while the append runs, each time moving
/// the writer's deadline to a fifth of a lease before the renewed end. A renewal that fails
/// (the database is slow or away) is tried again at the next tick, while the deadline stays;
/// once the lease is lost (lapsed and taken over) it stops, and the writer runs into its
/// deadline.
async fn renew_lease(
    pool: wharf_db::PgPool,
    id: Uuid,
    lease: Uuid,
    lease_time: std::time::Duration,
    deadline: LeaseDeadline,
) {
    let mut tick = tokio::time::interval(lease_time / 5);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = tokio::time::Instant::now();
        match db::renew(&pool, id, lease, lease_time).await {
            Ok(true) => deadline.set(now + lease_time - lease_time / 5),
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(upload = %id, error = &err as &dyn std::error::Error, "renewing an upload lease failed; trying again");
            }
        }
    }
}
