//! Retention: what is deleted once it is old enough, so no table grows without bound.
//!
//! Owns the age rules of the tables that only ever grow: closed tag history, the ids of
//! deleted access tokens, raw pull events, ended portal sessions and password-reset links,
//! and the audit log. Expired upload sessions are the garbage collector's
//! (`wharf_registry::gc`), since their data must be discarded from storage too. Each rule
//! keeps rows at least as long as a running instance can still need them:
//!
//! - tag history: only closed entries (`valid_until` set) are pruned; entitlements read
//!   closed entries for the re-tag grace window (the bearer token lifetime plus leeway, at
//!   most about an hour), and the audit log records every tag move for as long as it keeps
//!   entries;
//! - deleted access tokens: the revocation views read them for the bearer token lifetime
//!   (at most about an hour); kept [`DELETED_TOKEN_RETENTION_DAYS`] days;
//! - pull events: the raw events behind the pull reports; the daily bytes roll-up
//!   (`blob_bytes_daily`) is kept whatever their age.
//!
//! Several instances may prune at once: each delete is idempotent.

use time::{Duration, OffsetDateTime};

use crate::{DbError, PgPool};

/// Days the id of a deleted access token is kept for the revocation views (which need it for
/// the bearer token lifetime, at most an hour plus leeway).
pub const DELETED_TOKEN_RETENTION_DAYS: i64 = 7;

/// Days an ended password-reset link (used or expired) is kept.
pub const PASSWORD_RESET_RETENTION_DAYS: i64 = 30;

/// Rows deleted by one statement of a large prune, so one pass never holds a long lock.
const BATCH: i64 = 10_000;

/// How long each kind of row is kept, in days; `0` keeps it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Audit log entries.
    pub audit_days: u32,
    /// Closed tag history entries (at least 1 when not 0).
    pub tag_history_days: u32,
    /// Raw pull events.
    pub pull_event_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self { audit_days: 365, tag_history_days: 90, pull_event_days: 400 }
    }
}

/// What one prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Expired portal sessions.
    pub sessions: u64,
    /// Password-reset links used or expired more than [`PASSWORD_RESET_RETENTION_DAYS`] ago.
    pub password_resets: u64,
    /// Audit log entries past their retention.
    pub audit_entries: u64,
    /// Closed tag history entries past their retention.
    pub tag_history: u64,
    /// Ids of tokens deleted more than [`DELETED_TOKEN_RETENTION_DAYS`] ago.
    pub deleted_tokens: u64,
    /// Raw pull events past their retention.
    pub pull_events: u64,
}

fn days_before(now: OffsetDateTime, days: u32) -> Option<OffsetDateTime> {
    (days > 0).then(|| now - Duration::days(i64::from(days)))
}

/// Applies every retention rule as of `now`.
pub async fn prune(
    pool: &PgPool,
    retention: &Retention,
    now: OffsetDateTime,
) -> Result<Pruned, DbError> {
    let mut pruned = Pruned {
        sessions: crate::sessions::prune_expired(pool).await?,
        password_resets: crate::sessions::prune_resets(
            pool,
            now - Duration::days(PASSWORD_RESET_RETENTION_DAYS),
        )
        .await?,
        deleted_tokens: prune_deleted_tokens(
            pool,
            now - Duration::days(DELETED_TOKEN_RETENTION_DAYS),
        )
        .await?,
        ..Pruned::default()
    };
    if let Some(before) = days_before(now, retention.audit_days) {
        pruned.audit_entries = crate::audit::prune(pool, before).await?;
    }
    if let Some(before) = days_before(now, retention.tag_history_days) {
        pruned.tag_history = prune_tag_history(pool, before).await?;
    }
    if let Some(before) = days_before(now, retention.pull_event_days) {
        pruned.pull_events = prune_pull_events(pool, before).await?;
    }
    Ok(pruned)
}

/// Deletes tag history entries closed before `before`; open entries (where a tag points
/// now) are never deleted.
pub async fn prune_tag_history(pool: &PgPool, before: OffsetDateTime) -> Result<u64, DbError> {
    batched(
        pool,
        "delete from tag_history where id in
             (select id from tag_history
              where valid_until is not null and valid_until < $1 limit $2)",
        before,
    )
    .await
}

/// Forgets tokens deleted before `before`.
pub async fn prune_deleted_tokens(pool: &PgPool, before: OffsetDateTime) -> Result<u64, DbError> {
    batched(
        pool,
        "delete from deleted_access_tokens where id in
             (select id from deleted_access_tokens where deleted_at < $1 limit $2)",
        before,
    )
    .await
}

/// Deletes pull events recorded before `before`.
pub async fn prune_pull_events(pool: &PgPool, before: OffsetDateTime) -> Result<u64, DbError> {
    batched(
        pool,
        "delete from pull_events where id in
             (select id from pull_events where at < $1 limit $2)",
        before,
    )
    .await
}

/// Runs a `delete … limit $2` until it deletes fewer than a batch. The statements are fixed
/// text with two binds, checked by this module's tests against the migrations.
async fn batched(
    pool: &PgPool,
    statement: &'static str,
    before: OffsetDateTime,
) -> Result<u64, DbError> {
    let mut total = 0;
    loop {
        let done = sqlx::query(statement).bind(before).bind(BATCH).execute(pool).await?;
        total += done.rows_affected();
        if done.rows_affected() < BATCH.unsigned_abs() {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::testing;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    async fn count(pool: &PgPool, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(pool).await.unwrap()
    }

    async fn repository(pool: &PgPool) -> Uuid {
        let org = testing::org(pool, "acme").await;
        crate::registry::repositories::find_or_create(pool, org.id, "acme", "acme/app")
            .await
            .unwrap()
            .unwrap()
            .id
    }

    async fn history(
        pool: &PgPool,
        repo: Uuid,
        tag: &str,
        from_days: i64,
        until_days: Option<i64>,
    ) {
        let at = |d: i64| now() - Duration::days(d);
        sqlx::query(
            "insert into tag_history (repository_id, tag, digest, valid_from, valid_until)
             values ($1, $2, $3, $4, $5)",
        )
        .bind(repo)
        .bind(tag)
        .bind(format!("sha256:{}", "a".repeat(64)))
        .bind(at(from_days))
        .bind(until_days.map(at))
        .execute(pool)
        .await
        .unwrap();
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn tag_history_keeps_open_and_recent_entries(pool: PgPool) {
        let repo = repository(&pool).await;
        history(&pool, repo, "old", 400, Some(100)).await; // closed long ago: pruned
        history(&pool, repo, "recent", 400, Some(10)).await; // closed within 90 days: kept
        history(&pool, repo, "grace", 1, Some(0)).await; // inside the re-tag grace window: kept
        history(&pool, repo, "open", 1000, None).await; // where a tag points now: kept
        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        assert_eq!(pruned.tag_history, 1);
        let left: Vec<String> = sqlx::query_scalar("select tag from tag_history order by tag")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(left, ["grace", "open", "recent"]);
        // 0 keeps everything.
        history(&pool, repo, "old", 400, Some(300)).await;
        let keep = Retention { tag_history_days: 0, ..Retention::default() };
        assert_eq!(prune(&pool, &keep, now()).await.unwrap().tag_history, 0);
        assert_eq!(count(&pool, "tag_history").await, 4);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn deleted_tokens_are_forgotten_after_a_week_and_not_before(pool: PgPool) {
        for days in [0, 1, 6, 8, 30] {
            sqlx::query("insert into deleted_access_tokens (id, deleted_at) values ($1, $2)")
                .bind(Uuid::new_v4())
                .bind(now() - Duration::days(days))
                .execute(&pool)
                .await
                .unwrap();
        }
        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        assert_eq!(pruned.deleted_tokens, 2);
        assert_eq!(count(&pool, "deleted_access_tokens").await, 3);
        // The revocation view's window (an hour) is still whole.
        let snapshot = crate::invalidation::snapshot(&pool, Duration::hours(2)).await.unwrap();
        assert_eq!(snapshot.tokens.len(), 1);
    }

    async fn pull(pool: &PgPool, org: Uuid, days: i64) {
        sqlx::query(
            "insert into pull_events (id, at, organization_id, token_id, repository, reference,
                                      digest, media_type, client_kind)
             values ($1, $2, $3, $4, 'acme/app', 'v1', $5,
                     'application/vnd.oci.image.manifest.v1+json', 'docker')",
        )
        .bind(Uuid::new_v4())
        .bind(now() - Duration::days(days))
        .bind(org)
        .bind(Uuid::new_v4())
        .bind(format!("sha256:{}", "b".repeat(64)))
        .execute(pool)
        .await
        .unwrap();
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn pull_events_expire_and_daily_bytes_stay(pool: PgPool) {
        let org = testing::org(&pool, "acme").await;
        for days in [0, 10, 399, 401, 1000] {
            pull(&pool, org.id, days).await;
        }
        sqlx::query(
            "insert into blob_bytes_daily (day, organization_id, token_id, repository, digest,
                                           bytes, requests)
             values (current_date - 1000, $1, $2, 'acme/app', 'sha256:x', 10, 1)",
        )
        .bind(org.id)
        .bind(Uuid::new_v4())
        .execute(&pool)
        .await
        .unwrap();
        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        assert_eq!(pruned.pull_events, 2);
        assert_eq!(count(&pool, "pull_events").await, 3);
        assert_eq!(count(&pool, "blob_bytes_daily").await, 1);
        let short = Retention { pull_event_days: 5, ..Retention::default() };
        assert_eq!(prune(&pool, &short, now()).await.unwrap().pull_events, 2);
        let forever = Retention { pull_event_days: 0, ..Retention::default() };
        assert_eq!(
            prune(&pool, &forever, now() + Duration::days(5000)).await.unwrap().pull_events,
            0
        );
        assert_eq!(count(&pool, "pull_events").await, 1);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn large_prunes_go_in_batches(pool: PgPool) {
        sqlx::query(
            "insert into deleted_access_tokens (id, deleted_at)
             select gen_random_uuid(), now() - interval '30 days' from generate_series(1, $1)",
        )
        .bind(i32::try_from(BATCH).unwrap() * 2 + 5)
        .execute(&pool)
        .await
        .unwrap();
        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        assert_eq!(pruned.deleted_tokens, BATCH.unsigned_abs() * 2 + 5);
        assert_eq!(count(&pool, "deleted_access_tokens").await, 0);
        // A second pass deletes nothing more.
        assert_eq!(prune(&pool, &Retention::default(), now()).await.unwrap(), Pruned::default());
    }
}
