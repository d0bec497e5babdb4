//! Upload sessions: bound to a repository, an organization and the principal that started
//! them; continued by any instance.
//!
//! Owns the `upload_sessions` table. Every change to a session is conditional on the offset
//! the caller read (`where byte_offset = $expected`), and an append first takes the session's
//! lease ([`claim_by_name`], which also loads it, or [`claim`]) and records its result only
//! under that lease ([`advance`]), so two
//! requests (on any instances) can never write one session's temporary data at once: the
//! loser sees `false` and answers as for an out-of-order chunk.
//!
//! Starting a session and claiming one ([`create_by_name`], [`claim_by_name`], the push
//! path's statements) commit without waiting for the WAL flush: their CTE `relaxed` sets
//! `synchronous_commit = off` with `set_config(.., is_local => true)`, which lasts only
//! until the statement's own transaction ends. Neither records anything a client sent
//! (a POST sends no bytes; a lease only keeps two writers apart), and a crash can lose only
//! the last fraction of a second of such commits, whose client then gets
//! `BLOB_UPLOAD_UNKNOWN` or `416` with the offset to resume from, as for any crash during an
//! upload. Whatever records bytes (an append's new offset, a blob's row) commits durably,
//! and that flush also covers every commit before it.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// An upload session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    /// The id in `/v2/<name>/blobs/uploads/<id>`.
    pub id: Uuid,
    /// The repository it uploads into.
    pub repository_id: Uuid,
    /// The organization it was started in.
    pub organization_id: Uuid,
    /// The principal that started it.
    pub created_by: String,
    /// Bytes received so far.
    pub byte_offset: i64,
    /// `sha256` or `sha512`.
    pub hash_algorithm: String,
    /// The saved hasher state after `byte_offset` bytes.
    pub hash_state: Vec<u8>,
    /// The blob store's upload state.
    pub storage_state: String,
    /// When it was started.
    pub created_at: OffsetDateTime,
    /// When it last received bytes.
    pub updated_at: OffsetDateTime,
    /// When it expires (extended by every append).
    pub expires_at: OffsetDateTime,
}

/// What it takes to start a session.
#[derive(Debug, Clone)]
pub struct NewUpload<'a> {
    /// The session id (also the blob store's upload id).
    pub id: Uuid,
    /// Repository.
    pub repository_id: Uuid,
    /// Organization.
    pub organization_id: Uuid,
    /// Principal.
    pub created_by: &'a str,
    /// Hash algorithm name.
    pub hash_algorithm: &'a str,
    /// Initial hasher state.
    pub hash_state: &'a [u8],
    /// Initial blob store state.
    pub storage_state: &'a str,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

/// Inserts a session as given, with no cap: a fixture for tests of this crate and its
/// users. The registry starts sessions with [`create_by_name`].
#[cfg(any(test, feature = "test-support"))]
pub async fn create(pool: &PgPool, new: &NewUpload<'_>) -> Result<(), DbError> {
    sqlx::query!(
        "insert into upload_sessions
             (id, repository_id, organization_id, created_by, hash_algorithm, hash_state,
              storage_state, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        new.id,
        new.repository_id,
        new.organization_id,
        new.created_by,
        new.hash_algorithm,
        new.hash_state,
        new.storage_state,
        new.expires_at,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Caps on open (unfinished, unexpired) upload sessions, checked by [`create_by_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Open sessions one principal (`created_by`) may hold, over all repositories.
    pub per_principal: i64,
    /// Open sessions one repository may hold, whoever started them.
    pub per_repository: i64,
}

/// Which cap refused a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadLimit {
    /// [`UploadLimits::per_principal`].
    Principal,
    /// [`UploadLimits::per_repository`].
    Repository,
}

/// What [`create_by_name`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// The session exists, in the repository with this id.
    Created(Uuid),
    /// The organization has no such repository; nothing changed.
    NoRepository,
    /// A cap is reached; nothing changed.
    Refused(UploadLimit),
}

/// Starts a session in repository `repository` of `organization_id` (`new.repository_id`
/// and `new.organization_id` are ignored), looked up in the same statement: the push path's
/// one round trip. The session is created only while its principal holds fewer than
/// `limits.per_principal` open (unexpired) sessions and the repository fewer than
/// `limits.per_repository`, counted under locks, so concurrent starts never overshoot
/// (the `wharf_start_upload` function, migration `upload_limits`). The principal's cap is
/// checked before the repository is looked up. Commits without waiting for the WAL flush
/// (module doc): the session records nothing a client sent yet.
pub async fn create_by_name(
    pool: &PgPool,
    organization_id: Uuid,
    repository: &str,
    new: &NewUpload<'_>,
    limits: UploadLimits,
) -> Result<Started, DbError> {
    let row = sqlx::query!(
        "select repository_id, refused
         from wharf_start_upload($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        new.id,
        organization_id,
        repository,
        new.created_by,
        new.hash_algorithm,
        new.hash_state,
        new.storage_state,
        new.expires_at,
        limits.per_principal,
        limits.per_repository,
    )
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => Started::NoRepository,
        Some(row) => match (row.refused.as_deref(), row.repository_id) {
            (Some("principal"), _) => Started::Refused(UploadLimit::Principal),
            (Some(_), _) => Started::Refused(UploadLimit::Repository),
            (None, Some(id)) => Started::Created(id),
            (None, None) => Started::NoRepository,
        },
    })
}

/// The unexpired session `id` if it belongs to `repository_id` and was started by
/// `created_by`; `None` otherwise (the caller cannot tell which).
pub async fn find(
    pool: &PgPool,
    id: Uuid,
    repository_id: Uuid,
    created_by: &str,
) -> Result<Option<UploadSession>, DbError> {
    Ok(sqlx::query_as!(
        UploadSession,
        "select id, repository_id, organization_id, created_by, byte_offset, hash_algorithm,
                hash_state, storage_state, created_at, updated_at, expires_at
         from upload_sessions
         where id = $1 and repository_id = $2 and created_by = $3 and expires_at > now()",
        id,
        repository_id,
        created_by
    )
    .fetch_optional(pool)
    .await?)
}

/// Like [`find`], with the repository given by name inside `organization_id`: one statement.
pub async fn find_by_name(
    pool: &PgPool,
    id: Uuid,
    organization_id: Uuid,
    repository: &str,
    created_by: &str,
) -> Result<Option<UploadSession>, DbError> {
    Ok(sqlx::query_as!(
        UploadSession,
        "select s.id, s.repository_id, s.organization_id, s.created_by, s.byte_offset,
                s.hash_algorithm, s.hash_state, s.storage_state, s.created_at, s.updated_at,
                s.expires_at
         from upload_sessions s join repositories r on r.id = s.repository_id
         where s.id = $1 and r.organization_id = $2 and r.name = $3 and s.created_by = $4
           and s.expires_at > now()",
        id,
        organization_id,
        repository,
        created_by
    )
    .fetch_optional(pool)
    .await?)
}

/// Finds and claims the session for one append in one statement: the session `id` of
/// repository `repository` in `organization_id`, started by `created_by`, unexpired, with no
/// other append holding an unexpired lease, at whatever offset it stands (returned). The
/// lease lasts `lease_time` from the database's clock (so instances' clocks do not matter);
/// the caller must stop writing before that, counted from before it sent this statement.
/// `None` when the session is unknown (to this caller) or busy: [`find_by_name`] tells
/// which, [`lease_of`] by whom. Commits without waiting for the WAL flush (module doc): a
/// lease records nothing a client sent.
pub async fn claim_by_name(
    pool: &PgPool,
    id: Uuid,
    organization_id: Uuid,
    repository: &str,
    created_by: &str,
    lease: Uuid,
    lease_time: Duration,
) -> Result<Option<UploadSession>, DbError> {
    Ok(sqlx::query_as!(
        UploadSession,
        "with relaxed as (select set_config('synchronous_commit', 'off', true) as setting)
         update upload_sessions s
         set append_lease = $5, append_lease_until = now() + make_interval(secs => $6)
         from repositories r, relaxed
         where s.id = $1 and r.id = s.repository_id and r.organization_id = $2 and r.name = $3
           and s.created_by = $4 and s.expires_at > now()
           and (s.append_lease is null or s.append_lease_until < now())
         returning s.id, s.repository_id, s.organization_id, s.created_by, s.byte_offset,
                   s.hash_algorithm, s.hash_state, s.storage_state, s.created_at, s.updated_at,
                   s.expires_at",
        id,
        organization_id,
        repository,
        created_by,
        lease,
        lease_time.as_secs_f64(),
    )
    .fetch_optional(pool)
    .await?)
}

/// Claims the session for one append: succeeds only if it still stands at `expected_offset`
/// and no other append holds an unexpired lease. The lease lasts `lease_time` (as in
/// [`claim_by_name`]). Returns whether it got the lease.
pub async fn claim(
    pool: &PgPool,
    id: Uuid,
    expected_offset: i64,
    lease: Uuid,
    lease_time: Duration,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update upload_sessions
         set append_lease = $3, append_lease_until = now() + make_interval(secs => $4)
         where id = $1 and byte_offset = $2
           and (append_lease is null or append_lease_until < now())",
        id,
        expected_offset,
        lease,
        lease_time.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends a lease still held by `lease` to `lease_time` from now. Returns false when it
/// was lost (expired and taken over) or the session is gone: the writer must stop.
pub async fn renew(
    pool: &PgPool,
    id: Uuid,
    lease: Uuid,
    lease_time: Duration,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update upload_sessions set append_lease_until = now() + make_interval(secs => $3)
         where id = $1 and append_lease = $2 and append_lease_until >= now()",
        id,
        lease,
        lease_time.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The lease on session `id` as it stands: its holder and until when it holds (database
/// time), `(None, None)` when free, `None` when there is no such session. A live holder
/// renews its lease while it streams, so `until` moves; one whose instance died leaves it
/// unchanged until it lapses.
pub async fn lease_of(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<(Option<Uuid>, Option<OffsetDateTime>)>, DbError> {
    Ok(sqlx::query!(
        "select append_lease, append_lease_until from upload_sessions where id = $1",
        id
    )
    .fetch_optional(pool)
    .await?
    .map(|row| (row.append_lease, row.append_lease_until)))
}

/// Gives a lease back after a failed append (the failed bytes are never recorded).
pub async fn release(pool: &PgPool, id: Uuid, lease: Uuid) -> Result<(), DbError> {
    sqlx::query!(
        "update upload_sessions set append_lease = null, append_lease_until = null
         where id = $1 and append_lease = $2",
        id,
        lease
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records an append made under `lease`: the new offset and states, releasing the lease.
/// Returns false when the lease was lost (expired and taken over) or the session is gone.
#[allow(clippy::too_many_arguments)]
pub async fn advance(
    pool: &PgPool,
    id: Uuid,
    lease: Uuid,
    expected_offset: i64,
    new_offset: i64,
    hash_state: &[u8],
    storage_state: &str,
    expires_at: OffsetDateTime,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update upload_sessions
         set byte_offset = $4, hash_state = $5, storage_state = $6, updated_at = now(),
             expires_at = $7, append_lease = null, append_lease_until = null
         where id = $1 and append_lease = $2 and byte_offset = $3",
        id,
        lease,
        expected_offset,
        new_offset,
        hash_state,
        storage_state,
        expires_at,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a session whose bytes are committed to storage as blob `digest`: deletes the session
/// (if it still stands at `session.byte_offset`, and is held by `lease` when the caller
/// appended a last chunk, or by no unexpired lease when it did not), records the blob and
/// links it to the repository, in one transaction under the digest's lock (see
/// [`super::gc`]). Returns false, changing nothing, when the session moved, is busy or
/// vanished.
///
/// The caller commits the bytes to storage inside `storage_commit`, which runs while the
/// digest lock is held, so garbage collection cannot delete the bytes between the storage
/// commit and the row that protects them.
pub async fn complete<F, E>(
    pool: &PgPool,
    session: &UploadSession,
    lease: Option<Uuid>,
    digest: &str,
    size: i64,
    storage_commit: F,
) -> Result<Result<bool, E>, DbError>
where
    F: AsyncFnOnce() -> Result<(), E>,
{
    let mut tx = pool.begin().await?;
    // The session's row first, then the digest's lock (see `super::lock_digest`), in one
    // statement: the lock is taken only when the session was there to end.
    let deleted = sqlx::query_scalar!(
        r#"with ended as (
               delete from upload_sessions
               where id = $1 and byte_offset = $2
                 and (append_lease = $3
                      or ($3::uuid is null
                          and (append_lease is null or append_lease_until < now())))
               returning id
           )
           select count(pg_advisory_xact_lock(hashtextextended('blob:' || $4, 0)))
               as "locked!"
           from ended"#,
        session.id,
        session.byte_offset,
        lease,
        digest,
    )
    .fetch_one(&mut *tx)
    .await?
        == 1;
    if !deleted {
        return Ok(Ok(false));
    }
    if let Err(err) = storage_commit().await {
        return Ok(Err(err));
    }
    super::blobs::record(&mut tx, session.repository_id, digest, size).await?;
    tx.commit().await?;
    Ok(Ok(true))
}

/// Deletes a session (cancel). Returns its storage state when it existed.
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar!("delete from upload_sessions where id = $1 returning storage_state", id)
        .fetch_optional(pool)
        .await?)
}

/// Deletes up to `limit` sessions that expired before `now`, returning their ids and
/// storage states so the caller can discard their temporary data.
pub async fn take_expired(
    pool: &PgPool,
    now: OffsetDateTime,
    limit: i64,
) -> Result<Vec<(Uuid, String)>, DbError> {
    let rows = sqlx::query!(
        "delete from upload_sessions where id in
             (select id from upload_sessions where expires_at <= $1 limit $2
              for update skip locked)
         returning id, storage_state",
        now,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.storage_state)).collect())
}

/// Whether a session row exists for `id` (expired or not).
pub async fn exists(pool: &PgPool, id: Uuid) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar!(
        r#"select exists(select 1 from upload_sessions where id = $1) as "exists!""#,
        id
    )
    .fetch_one(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::repositories::find_or_create;
    use crate::registry::testing::{digest, organization};
    use time::Duration;

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn sessions_are_bound_and_optimistic(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let other = find_or_create(&pool, org, "acme", "acme/other").await.unwrap().unwrap().id;
        let id = Uuid::new_v4();
        let later = OffsetDateTime::now_utc() + Duration::hours(1);
        create(
            &pool,
            &NewUpload {
                id,
                repository_id: repo,
                organization_id: org,
                created_by: "alice",
                hash_algorithm: "sha256",
                hash_state: b"h0",
                storage_state: "s0",
                expires_at: later,
            },
        )
        .await
        .unwrap();
        assert!(find(&pool, id, other, "alice").await.unwrap().is_none());
        assert!(find(&pool, id, repo, "bob").await.unwrap().is_none());
        let s = find(&pool, id, repo, "alice").await.unwrap().unwrap();
        assert_eq!((s.byte_offset, s.storage_state.as_str()), (0, "s0"));

        let (lease, rival) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(!advance(&pool, id, lease, 0, 10, b"h1", "s1", later).await.unwrap(), "no lease");
        assert!(claim(&pool, id, 0, lease, LEASE).await.unwrap());
        assert!(!claim(&pool, id, 0, rival, LEASE).await.unwrap(), "one append at a time");
        let busy = find(&pool, id, repo, "alice").await.unwrap().unwrap();
        let r = complete(&pool, &busy, None, &digest('a'), 0, async || Ok::<_, ()>(())).await;
        assert_eq!(r.unwrap(), Ok(false), "cannot finish while an append runs");
        assert!(advance(&pool, id, lease, 0, 10, b"h1", "s1", later).await.unwrap());
        assert!(!advance(&pool, id, lease, 0, 10, b"h1", "s1", later).await.unwrap(), "stale");
        assert!(!claim(&pool, id, 0, rival, LEASE).await.unwrap(), "stale offset");
        // A failed append gives its lease back; an expired lease can be taken over.
        assert!(claim(&pool, id, 10, rival, LEASE).await.unwrap());
        release(&pool, id, rival).await.unwrap();
        assert!(claim(&pool, id, 10, rival, std::time::Duration::ZERO).await.unwrap());
        let (holder, _) = lease_of(&pool, id).await.unwrap().unwrap();
        assert_eq!(holder, Some(rival));
        assert!(!renew(&pool, id, rival, LEASE).await.unwrap(), "a lapsed lease is not renewed");
        assert!(claim(&pool, id, 10, lease, LEASE).await.unwrap(), "expired lease taken over");
        release(&pool, id, lease).await.unwrap();
        let s = find(&pool, id, repo, "alice").await.unwrap().unwrap();
        assert_eq!((s.byte_offset, s.hash_state.as_slice()), (10, &b"h1"[..]));

        let stale = UploadSession { byte_offset: 0, ..s.clone() };
        let d = digest('a');
        let r = complete(&pool, &stale, None, &d, 10, async || Ok::<_, ()>(())).await.unwrap();
        assert_eq!(r, Ok(false));
        let r = complete(&pool, &s, None, &d, 10, async || Err::<(), _>("boom")).await.unwrap();
        assert_eq!(r, Err("boom"));
        assert!(exists(&pool, id).await.unwrap(), "a failed storage commit changes nothing");
        let r = complete(&pool, &s, None, &d, 10, async || Ok::<_, ()>(())).await.unwrap();
        assert_eq!(r, Ok(true));
        assert!(!exists(&pool, id).await.unwrap());
        assert_eq!(
            crate::registry::blobs::linked_size(&pool, repo, &digest('a')).await.unwrap(),
            Some(10)
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn sessions_by_name_stay_in_their_organization(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let rival = organization(&pool, "rival").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let later = OffsetDateTime::now_utc() + Duration::hours(1);
        let id = Uuid::new_v4();
        let new = NewUpload {
            id,
            repository_id: Uuid::nil(),
            organization_id: Uuid::nil(),
            created_by: "alice",
            hash_algorithm: "sha256",
            hash_state: b"h0",
            storage_state: "s0",
            expires_at: later,
        };
        let none = Started::NoRepository;
        assert_eq!(create_by_name(&pool, org, "acme/none", &new, LIMITS).await.unwrap(), none);
        assert_eq!(create_by_name(&pool, rival, "acme/app", &new, LIMITS).await.unwrap(), none);
        assert!(!exists(&pool, id).await.unwrap(), "nothing created");
        let created = create_by_name(&pool, org, "acme/app", &new, LIMITS).await.unwrap();
        assert_eq!(created, Started::Created(repo));
        let s = find_by_name(&pool, id, org, "acme/app", "alice").await.unwrap().unwrap();
        assert_eq!((s.repository_id, s.organization_id, s.byte_offset), (repo, org, 0));
        for (o, name, who) in
            [(rival, "acme/app", "alice"), (org, "acme/other", "alice"), (org, "acme/app", "bob")]
        {
            assert!(find_by_name(&pool, id, o, name, who).await.unwrap().is_none());
            let claimed = claim_by_name(&pool, id, o, name, who, Uuid::new_v4(), LEASE);
            assert!(claimed.await.unwrap().is_none(), "{name} {who}");
        }

        let lease = Uuid::new_v4();
        let claimed = claim_by_name(&pool, id, org, "acme/app", "alice", lease, LEASE);
        assert_eq!(claimed.await.unwrap().unwrap().byte_offset, 0);
        let again = claim_by_name(&pool, id, org, "acme/app", "alice", Uuid::new_v4(), LEASE);
        assert!(again.await.unwrap().is_none(), "one append at a time");
        assert!(advance(&pool, id, lease, 0, 10, b"h1", "s1", later).await.unwrap());
        let lease = Uuid::new_v4();
        let claimed = claim_by_name(&pool, id, org, "acme/app", "alice", lease, LEASE);
        let s = claimed.await.unwrap().unwrap();
        assert_eq!((s.byte_offset, s.hash_state.as_slice()), (10, &b"h1"[..]));
        let d = digest('b');
        let r = complete(&pool, &s, None, &d, 10, async || Ok::<_, ()>(())).await.unwrap();
        assert_eq!(r, Ok(false), "the lease is held: only its holder finishes");
        let r = complete(&pool, &s, Some(lease), &d, 10, async || Ok::<_, ()>(())).await.unwrap();
        assert_eq!(r, Ok(true));
        assert!(find_by_name(&pool, id, org, "acme/app", "alice").await.unwrap().is_none());
    }

    const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

    /// A held lease is renewed from the database's clock and shows it; only its holder
    /// renews it.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn leases_are_renewed_by_their_holder(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let id = Uuid::new_v4();
        let new = NewUpload {
            id,
            repository_id: repo,
            organization_id: org,
            created_by: "alice",
            hash_algorithm: "sha256",
            hash_state: b"h",
            storage_state: "s",
            expires_at: OffsetDateTime::now_utc() + Duration::hours(1),
        };
        create(&pool, &new).await.unwrap();
        assert_eq!(lease_of(&pool, id).await.unwrap(), Some((None, None)));
        assert_eq!(lease_of(&pool, Uuid::new_v4()).await.unwrap(), None);
        let (lease, rival) = (Uuid::new_v4(), Uuid::new_v4());
        let short = std::time::Duration::from_secs(5);
        assert!(claim(&pool, id, 0, lease, short).await.unwrap());
        let (holder, first) = lease_of(&pool, id).await.unwrap().unwrap();
        assert_eq!(holder, Some(lease));
        assert!(!renew(&pool, id, rival, LEASE).await.unwrap(), "only the holder renews");
        assert!(renew(&pool, id, lease, LEASE).await.unwrap());
        let (_, renewed) = lease_of(&pool, id).await.unwrap().unwrap();
        assert!(renewed.unwrap() > first.unwrap() + Duration::seconds(20), "{renewed:?}");
        assert!(!claim(&pool, id, 0, rival, short).await.unwrap(), "held");
    }

    const LIMITS: UploadLimits = UploadLimits { per_principal: 64, per_repository: 256 };

    /// Many starts at once, by one principal and by many: exactly the cap succeeds, and
    /// expired sessions do not count.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn concurrent_starts_never_overshoot_the_caps(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap();
        find_or_create(&pool, org, "acme", "acme/other").await.unwrap().unwrap();
        let later = OffsetDateTime::now_utc() + Duration::hours(1);
        let start = |repository: &'static str, who: String, limits: UploadLimits| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let new = NewUpload {
                    id: Uuid::new_v4(),
                    repository_id: Uuid::nil(),
                    organization_id: Uuid::nil(),
                    created_by: &who,
                    hash_algorithm: "sha256",
                    hash_state: b"h",
                    storage_state: "s",
                    expires_at: later,
                };
                create_by_name(&pool, org, repository, &new, limits).await.unwrap()
            })
        };
        let results = async |tasks: Vec<tokio::task::JoinHandle<Started>>| {
            let mut all = Vec::new();
            for task in tasks {
                all.push(task.await.unwrap());
            }
            all
        };
        let created =
            |all: &[Started]| all.iter().filter(|s| matches!(s, Started::Created(_))).count();

        let limits = UploadLimits { per_principal: 5, per_repository: 1000 };
        let one_principal = (0..24).map(|_| start("acme/app", "alice".into(), limits)).collect();
        let all = results(one_principal).await;
        assert_eq!(created(&all), 5, "{all:?}");
        assert!(
            all.iter().all(|s| matches!(
                s,
                Started::Created(_) | Started::Refused(UploadLimit::Principal)
            ))
        );

        let limits = UploadLimits { per_principal: 1000, per_repository: 7 };
        let many = (0..24).map(|i| start("acme/other", format!("p{i}"), limits)).collect();
        let all = results(many).await;
        assert_eq!(created(&all), 7, "{all:?}");
        assert!(
            all.iter().all(|s| matches!(
                s,
                Started::Created(_) | Started::Refused(UploadLimit::Repository)
            ))
        );

        // Expired sessions free their places.
        sqlx::query("update upload_sessions set expires_at = now() - interval '1 second'")
            .execute(&pool)
            .await
            .unwrap();
        let limits = UploadLimits { per_principal: 5, per_repository: 7 };
        let again = results(vec![start("acme/app", "alice".into(), limits)]).await;
        assert!(matches!(again[0], Started::Created(_)));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn expired_sessions_are_invisible_and_taken_once(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let id = Uuid::new_v4();
        let past = OffsetDateTime::now_utc() - Duration::minutes(1);
        let new = NewUpload {
            id,
            repository_id: repo,
            organization_id: org,
            created_by: "alice",
            hash_algorithm: "sha256",
            hash_state: b"h",
            storage_state: "s",
            expires_at: past,
        };
        create(&pool, &new).await.unwrap();
        assert!(find(&pool, id, repo, "alice").await.unwrap().is_none());
        let now = OffsetDateTime::now_utc();
        assert_eq!(take_expired(&pool, now, 10).await.unwrap(), vec![(id, "s".to_owned())]);
        assert!(take_expired(&pool, now, 10).await.unwrap().is_empty());
        assert_eq!(delete(&pool, id).await.unwrap(), None);
    }
}
