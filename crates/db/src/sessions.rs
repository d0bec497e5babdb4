//! Portal sign-in sessions (`portal_sessions`) and password-reset links (`password_resets`).
//!
//! Owns the SQL only. A session row is keyed by the SHA-256 of the id in the person's cookie
//! (the caller hashes); `user_id`, `user_agent` and `client_addr` are copies of what the
//! session holds, kept so a person's sessions can be listed and ended. Saving never
//! recreates a row that was deleted: a session ended elsewhere (sign-out, "end other
//! sessions", a password reset) stays ended even if one of its requests was in flight.

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::DbError;

/// What a session row holds for the session layer.
#[derive(Debug, Clone)]
pub struct StoredSession {
    /// The session's data, as the session layer serialized it.
    pub data: serde_json::Value,
    /// When it ends unless saved again.
    pub expires_at: OffsetDateTime,
}

/// The columns copied out of a session's data on every write.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionOwner<'a> {
    /// The signed-in account, if any.
    pub user_id: Option<Uuid>,
    /// The browser's `User-Agent` at sign-in (at most 512 bytes).
    pub user_agent: Option<&'a str>,
    /// The client address at sign-in.
    pub client_addr: Option<&'a str>,
}

/// One of a person's sessions, for the account page.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    /// The handle to end it by (not the cookie's id).
    pub public_id: Uuid,
    /// When it was created (at sign-in, or when its id was last cycled).
    pub created_at: OffsetDateTime,
    /// When it was last used (to within a minute).
    pub last_seen_at: OffsetDateTime,
    /// When it ends if unused.
    pub expires_at: OffsetDateTime,
    /// The browser, as it said at sign-in.
    pub user_agent: Option<String>,
    /// The client address at sign-in.
    pub client_addr: Option<String>,
}

/// Inserts a new session. `false` when `id_hash` is taken (the caller draws a new id).
pub async fn create(
    pool: &PgPool,
    id_hash: &[u8],
    data: &serde_json::Value,
    expires_at: OffsetDateTime,
    owner: SessionOwner<'_>,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "insert into portal_sessions
             (id_hash, public_id, user_id, data, user_agent, client_addr, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (id_hash) do nothing",
        id_hash,
        Uuid::new_v4(),
        owner.user_id,
        data,
        owner.user_agent,
        owner.client_addr,
        expires_at,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes a live session's data back. `false` when it no longer exists (ended meanwhile):
/// nothing is recreated.
pub async fn save(
    pool: &PgPool,
    id_hash: &[u8],
    data: &serde_json::Value,
    expires_at: OffsetDateTime,
    owner: SessionOwner<'_>,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update portal_sessions
            set data = $2, expires_at = $3, user_id = $4, user_agent = $5, client_addr = $6,
                last_seen_at = now()
          where id_hash = $1 and expires_at > now()",
        id_hash,
        data,
        expires_at,
        owner.user_id,
        owner.user_agent,
        owner.client_addr,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A session that has not expired.
pub async fn load(pool: &PgPool, id_hash: &[u8]) -> Result<Option<StoredSession>, DbError> {
    Ok(sqlx::query_as!(
        StoredSession,
        "select data, expires_at from portal_sessions where id_hash = $1 and expires_at > now()",
        id_hash,
    )
    .fetch_optional(pool)
    .await?)
}

/// Ends one session by its cookie's id.
pub async fn delete(pool: &PgPool, id_hash: &[u8]) -> Result<(), DbError> {
    sqlx::query!("delete from portal_sessions where id_hash = $1", id_hash).execute(pool).await?;
    Ok(())
}

/// A person's live sessions, newest use first.
pub async fn list_for_user(pool: &PgPool, user_id: Uuid) -> Result<Vec<SessionSummary>, DbError> {
    Ok(sqlx::query_as!(
        SessionSummary,
        "select public_id, created_at, last_seen_at, expires_at, user_agent, client_addr
           from portal_sessions
          where user_id = $1 and expires_at > now()
          order by last_seen_at desc",
        user_id,
    )
    .fetch_all(pool)
    .await?)
}

/// The public handle of the session with cookie id hash `id_hash`.
pub async fn public_id(pool: &PgPool, id_hash: &[u8]) -> Result<Option<Uuid>, DbError> {
    Ok(sqlx::query_scalar!("select public_id from portal_sessions where id_hash = $1", id_hash)
        .fetch_optional(pool)
        .await?)
}

/// Ends every session of `user_id` except the one with cookie id hash `keep`. Returns how
/// many ended.
pub async fn end_for_user(
    pool: &PgPool,
    user_id: Uuid,
    keep: Option<&[u8]>,
) -> Result<u64, DbError> {
    let done = sqlx::query!(
        "delete from portal_sessions
          where user_id = $1 and ($2::bytea is null or id_hash <> $2)",
        user_id,
        keep,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Ends one of `user_id`'s sessions by its public handle. Another person's handle ends
/// nothing. Returns whether one ended.
pub async fn end_one(pool: &PgPool, user_id: Uuid, public_id: Uuid) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "delete from portal_sessions where user_id = $1 and public_id = $2",
        user_id,
        public_id,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes sessions that expired. Returns how many.
pub async fn prune_expired(pool: &PgPool) -> Result<u64, DbError> {
    let done =
        sqlx::query!("delete from portal_sessions where expires_at <= now()").execute(pool).await?;
    Ok(done.rows_affected())
}

/// Sets `user_id`'s password hash to `new_hash` and ends every session and open reset link
/// of theirs but session `keep`, in one transaction. With `expected_hash` (a change by the
/// person, who gave the current password), only if the stored hash is still that one, so a
/// change made meanwhile wins. `false` when the account is gone or its hash moved on; nothing
/// changed then. Operators and resets pass no expected hash and no session to keep.
pub async fn set_password(
    pool: &PgPool,
    user_id: Uuid,
    expected_hash: Option<&str>,
    new_hash: &str,
    keep: Option<&[u8]>,
) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    if !replace_password(&mut tx, user_id, expected_hash, new_hash, keep).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// [`set_password`] inside a transaction.
async fn replace_password(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    expected_hash: Option<&str>,
    new_hash: &str,
    keep: Option<&[u8]>,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update users set password_hash = $3, password_changed_at = now()
          where id = $1 and ($2::text is null or password_hash = $2)",
        user_id,
        expected_hash,
        new_hash,
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query!(
        "delete from portal_sessions where user_id = $1 and ($2::bytea is null or id_hash <> $2)",
        user_id,
        keep,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update password_resets set used_at = now() where user_id = $1 and used_at is null",
        user_id,
    )
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// Records a password-reset link for `user_id`, valid until `expires_at`.
pub async fn create_reset(
    pool: &PgPool,
    user_id: Uuid,
    token_hash: &[u8],
    expires_at: OffsetDateTime,
    client_addr: Option<&str>,
) -> Result<Uuid, DbError> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "insert into password_resets (id, user_id, token_hash, expires_at, client_addr)
         values ($1, $2, $3, $4, $5)",
        id,
        user_id,
        token_hash,
        expires_at,
        client_addr,
    )
    .execute(pool)
    .await?;
    Ok(id)
}

/// How many reset links `user_id` was sent since `since` (to bound the mail one person gets).
pub async fn resets_since(
    pool: &PgPool,
    user_id: Uuid,
    since: OffsetDateTime,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "n!" from password_resets where user_id = $1 and created_at >= $2"#,
        user_id,
        since,
    )
    .fetch_one(pool)
    .await?)
}

/// The account an open (unused, unexpired) reset link belongs to: its id and email.
pub async fn open_reset(
    pool: &PgPool,
    token_hash: &[u8],
) -> Result<Option<(Uuid, String)>, DbError> {
    let row = sqlx::query!(
        "select u.id, u.email from password_resets r join users u on u.id = r.user_id
          where r.token_hash = $1 and r.used_at is null and r.expires_at > now()",
        token_hash,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.id, r.email)))
}

/// Uses an open reset link: sets the new password, ends every session and every other open
/// link of the person, in one transaction. Returns the account, or `None` when the link is
/// unknown, used or expired (nothing changed then).
pub async fn complete_reset(
    pool: &PgPool,
    token_hash: &[u8],
    new_hash: &str,
) -> Result<Option<Uuid>, DbError> {
    let mut tx = pool.begin().await?;
    let user_id = sqlx::query_scalar!(
        "update password_resets set used_at = now()
          where token_hash = $1 and used_at is null and expires_at > now()
          returning user_id",
        token_hash,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        return Ok(None);
    };
    replace_password(&mut tx, user_id, None, new_hash, None).await?;
    tx.commit().await?;
    Ok(Some(user_id))
}

/// Deletes reset links that ended (used or expired) before `before`, and the outbox
/// messages that carried reset links and were done with (sent or failed) before it: a link
/// lives an hour, so such a message can only hold a dead link. Returns how many links.
pub async fn prune_resets(pool: &PgPool, before: OffsetDateTime) -> Result<u64, DbError> {
    let done = sqlx::query!(
        "with mail as (
             delete from mail_outbox
             where about_kind = 'password_reset' and status <> 'queued' and created_at < $1
         )
         delete from password_resets where coalesce(used_at, expires_at) < $1",
        before,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
