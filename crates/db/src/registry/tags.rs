//! Tags and their history.
//!
//! Owns the `tags` and `tag_history` tables. History entries are opened when a tag is set to
//! a digest and closed (`valid_until`) when it moves or is deleted; they are never deleted
//! here, because entitlements (re-tag grace window) and usage analytics read them.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// Points `tag` at `digest` inside the caller's transaction (the manifest push), closing the
/// previous history entry. Pointing a tag at the digest it already has changes nothing.
pub(crate) async fn point(
    conn: &mut sqlx::PgConnection,
    repository_id: Uuid,
    tag: &str,
    digest: &str,
) -> Result<(), DbError> {
    // Serialises concurrent pushes of the same tag so that history entries never overlap.
    // Times are `clock_timestamp()`, read after the lock, not `now()` (the transaction's
    // start): a transaction that waited here must not date its change before the one it
    // waited for.
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1::uuid::text || ':' || $2, 0))",
        repository_id,
        tag
    )
    .execute(&mut *conn)
    .await?;
    let current = sqlx::query_scalar!(
        "select digest from tags where repository_id = $1 and name = $2",
        repository_id,
        tag
    )
    .fetch_optional(&mut *conn)
    .await?;
    if current.as_deref() == Some(digest) {
        return Ok(());
    }
    close_history(conn, repository_id, tag).await?;
    sqlx::query!(
        "insert into tags (repository_id, name, digest, pushed_at)
         values ($1, $2, $3, clock_timestamp())
         on conflict (repository_id, name)
         do update set digest = excluded.digest, pushed_at = excluded.pushed_at",
        repository_id,
        tag,
        digest
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into tag_history (repository_id, tag, digest, valid_from) values ($1, $2, $3, clock_timestamp())",
        repository_id,
        tag,
        digest
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn close_history(
    conn: &mut sqlx::PgConnection,
    repository_id: Uuid,
    tag: &str,
) -> Result<(), DbError> {
    sqlx::query!(
        "update tag_history set valid_until = greatest(valid_from, clock_timestamp())
         where repository_id = $1 and tag = $2 and valid_until is null",
        repository_id,
        tag
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A repository's tags, in byte order.
pub async fn list(pool: &PgPool, repository_id: Uuid) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar!(
        r#"select name from tags where repository_id = $1 order by name collate "C""#,
        repository_id
    )
    .fetch_all(pool)
    .await?)
}

/// Deletes a tag (not its manifest) and closes its history. Returns whether it existed.
pub async fn delete(pool: &PgPool, repository_id: Uuid, tag: &str) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    close_history(&mut tx, repository_id, tag).await?;
    let done =
        sqlx::query!("delete from tags where repository_id = $1 and name = $2", repository_id, tag)
            .execute(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// One period during which a tag pointed at a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPeriod {
    /// The digest.
    pub digest: String,
    /// From when.
    pub valid_from: OffsetDateTime,
    /// Until when; `None` while it still points there.
    pub valid_until: Option<OffsetDateTime>,
}

/// The history of a tag, oldest first.
pub async fn history(
    pool: &PgPool,
    repository_id: Uuid,
    tag: &str,
) -> Result<Vec<TagPeriod>, DbError> {
    Ok(sqlx::query_as!(
        TagPeriod,
        "select digest, valid_from, valid_until from tag_history
         where repository_id = $1 and tag = $2 order by valid_from, id",
        repository_id,
        tag
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::manifests::{NewManifest, put};
    use crate::registry::repositories::find_or_create;
    use crate::registry::testing::{digest, organization};

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn delete_closes_history_and_keeps_the_manifest(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let d = digest('1');
        let m = NewManifest {
            digest: &d,
            media_type: "application/vnd.oci.image.index.v1+json",
            artifact_type: None,
            bytes: b"{}",
            subject: None,
            annotations: serde_json::json!({}),
            blobs: vec![],
            children: vec![],
        };
        for tag in ["b", "a", "B", "a.1"] {
            put(&pool, repo, &m, Some(tag)).await.unwrap();
        }
        assert_eq!(list(&pool, repo).await.unwrap(), ["B", "a", "a.1", "b"]);
        assert!(delete(&pool, repo, "a").await.unwrap());
        assert!(!delete(&pool, repo, "a").await.unwrap());
        assert_eq!(list(&pool, repo).await.unwrap(), ["B", "a.1", "b"]);
        let h = history(&pool, repo, "a").await.unwrap();
        assert_eq!(h.len(), 1);
        assert!(h[0].valid_until.is_some());
        // Re-tagging after a delete opens a new period.
        put(&pool, repo, &m, Some("a")).await.unwrap();
        assert_eq!(history(&pool, repo, "a").await.unwrap().len(), 2);
    }
}
