//! Blobs: what the blob store holds (`blobs`) and which repository sees what
//! (`repository_blobs`).
//!
//! Owns both tables. A blob row is written only after its bytes are committed to storage;
//! a repository sees a blob only through a link. Unlinking never deletes bytes: garbage
//! collection reclaims them later (see [`super::gc`]).

use uuid::Uuid;

use crate::{DbError, PgPool};

/// Records that storage holds `digest` (`size` bytes) and links it to `repository_id`, in one
/// transaction. Refreshes the blob's `created_at`, so garbage collection's grace window
/// restarts. Idempotent.
pub async fn record(
    conn: &mut sqlx::PgConnection,
    repository_id: Uuid,
    digest: &str,
    size: i64,
) -> Result<(), DbError> {
    // One statement: the link's foreign key is checked at its end, after the blob's row.
    sqlx::query!(
        "with blob as (
             insert into blobs (digest, size) values ($2, $3)
             on conflict (digest) do update set created_at = now()
         )
         insert into repository_blobs (repository_id, digest) values ($1, $2)
         on conflict do nothing",
        repository_id,
        digest,
        size
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The size of `digest` if it is linked to `repository_id`.
pub async fn linked_size(
    pool: &PgPool,
    repository_id: Uuid,
    digest: &str,
) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar!(
        "select b.size from repository_blobs l join blobs b on b.digest = l.digest
         where l.repository_id = $1 and l.digest = $2",
        repository_id,
        digest
    )
    .fetch_optional(pool)
    .await?)
}

/// The size of `digest` if it is linked to repository `repository` (by name): the blob pull
/// path's single indexed read.
pub async fn linked_size_by_name(
    pool: &PgPool,
    repository: &str,
    digest: &str,
) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar!(
        "select b.size from repositories r
         join repository_blobs l on l.repository_id = r.id
         join blobs b on b.digest = l.digest
         where r.name = $1 and l.digest = $2",
        repository,
        digest
    )
    .fetch_optional(pool)
    .await?)
}

/// The size of `digest` if storage holds it (whatever repository it is linked to).
pub async fn stored_size(pool: &PgPool, digest: &str) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar!("select size from blobs where digest = $1", digest)
        .fetch_optional(pool)
        .await?)
}

/// Links `digest` to `to` if it is linked to `from` (a cross-repository mount). Returns the
/// blob's size when it did.
pub async fn mount(
    pool: &PgPool,
    from: Uuid,
    to: Uuid,
    digest: &str,
) -> Result<Option<i64>, DbError> {
    let mut tx = pool.begin().await?;
    let size = sqlx::query_scalar!(
        "select b.size from repository_blobs l join blobs b on b.digest = l.digest
         where l.repository_id = $1 and l.digest = $2 for share of l",
        from,
        digest
    )
    .fetch_optional(&mut *tx)
    .await?;
    if size.is_some() {
        sqlx::query!(
            "insert into repository_blobs (repository_id, digest) values ($1, $2)
             on conflict do nothing",
            to,
            digest
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(size)
}

/// Removes the link between `repository_id` and `digest`. Returns whether there was one.
pub async fn unlink(pool: &PgPool, repository_id: Uuid, digest: &str) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "delete from repository_blobs where repository_id = $1 and digest = $2",
        repository_id,
        digest
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::repositories::find_or_create;
    use crate::registry::testing::{digest, organization};

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn links_are_per_repository(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let a = find_or_create(&pool, org, "acme", "acme/a").await.unwrap().unwrap().id;
        let b = find_or_create(&pool, org, "acme", "acme/b").await.unwrap().unwrap().id;
        let d = digest('a');
        let mut conn = pool.acquire().await.unwrap();
        record(&mut conn, a, &d, 42).await.unwrap();
        record(&mut conn, a, &d, 42).await.unwrap();
        assert_eq!(linked_size(&pool, a, &d).await.unwrap(), Some(42));
        assert_eq!(linked_size(&pool, b, &d).await.unwrap(), None);
        assert_eq!(linked_size_by_name(&pool, "acme/a", &d).await.unwrap(), Some(42));
        assert_eq!(linked_size_by_name(&pool, "acme/b", &d).await.unwrap(), None);
        assert_eq!(stored_size(&pool, &d).await.unwrap(), Some(42));

        assert_eq!(mount(&pool, b, a, &digest('b')).await.unwrap(), None);
        assert_eq!(mount(&pool, a, b, &d).await.unwrap(), Some(42));
        assert_eq!(linked_size(&pool, b, &d).await.unwrap(), Some(42));

        assert!(unlink(&pool, a, &d).await.unwrap());
        assert!(!unlink(&pool, a, &d).await.unwrap());
        assert_eq!(linked_size(&pool, a, &d).await.unwrap(), None);
        assert_eq!(linked_size(&pool, b, &d).await.unwrap(), Some(42));
        assert_eq!(stored_size(&pool, &d).await.unwrap(), Some(42), "bytes stay for GC");
    }
}
