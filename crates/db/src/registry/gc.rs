//! Garbage collection's view of the metadata: which stored blobs nothing references.
//!
//! Owns the rule "a blob may be deleted when no repository links it, no manifest references
//! it, and its row is older than the grace window", and the locking that makes deleting it
//! safe while pushes run: the blob row is deleted and the caller's storage delete runs in one
//! transaction under the digest's advisory lock, which upload completion also takes around
//! its storage commit (see [`super::uploads::complete`]). So either the upload's row exists
//! before GC looks (and GC keeps the blob), or GC's delete finishes before the upload commits
//! its bytes (and the upload writes them afresh).

use time::OffsetDateTime;

use crate::{DbError, PgPool};

/// Up to `limit` digests of blobs that look unreferenced and were recorded before `cutoff`.
/// Candidates only: [`delete_blob`] re-checks under the lock.
pub async fn unreferenced_blobs(
    pool: &PgPool,
    cutoff: OffsetDateTime,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar!(
        "select b.digest from blobs b
         where b.created_at < $1
           and not exists (select 1 from repository_blobs l where l.digest = b.digest)
           and not exists (select 1 from manifest_blobs r where r.digest = b.digest and not r.external)
         limit $2",
        cutoff,
        limit
    )
    .fetch_all(pool)
    .await?)
}

/// Deletes blob `digest`'s row and, through `delete_bytes`, its bytes, if it is still
/// unreferenced and older than `cutoff`. Returns whether it did; a failed `delete_bytes`
/// keeps the row.
pub async fn delete_blob<F, E>(
    pool: &PgPool,
    digest: &str,
    cutoff: OffsetDateTime,
    delete_bytes: F,
) -> Result<Result<bool, E>, DbError>
where
    F: AsyncFnOnce() -> Result<(), E>,
{
    let mut tx = pool.begin().await?;
    super::lock_digest(&mut tx, digest).await?;
    let deleted = sqlx::query!(
        "delete from blobs b
         where b.digest = $1 and b.created_at < $2
           and not exists (select 1 from repository_blobs l where l.digest = b.digest)
           and not exists (select 1 from manifest_blobs r where r.digest = b.digest and not r.external)",
        digest,
        cutoff
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !deleted {
        return Ok(Ok(false));
    }
    if let Err(err) = delete_bytes().await {
        return Ok(Err(err));
    }
    tx.commit().await?;
    Ok(Ok(true))
}

/// Deletes, through `delete_bytes`, stored bytes that have no blob row at all (left by a
/// crash between a storage commit and its transaction), unless a row appeared meanwhile.
/// The caller checks the object's age first.
pub async fn delete_orphan<F, E>(
    pool: &PgPool,
    digest: &str,
    delete_bytes: F,
) -> Result<Result<bool, E>, DbError>
where
    F: AsyncFnOnce() -> Result<(), E>,
{
    let mut tx = pool.begin().await?;
    super::lock_digest(&mut tx, digest).await?;
    let known = sqlx::query_scalar!(
        r#"select exists(select 1 from blobs where digest = $1) as "exists!""#,
        digest
    )
    .fetch_one(&mut *tx)
    .await?;
    if known {
        return Ok(Ok(false));
    }
    if let Err(err) = delete_bytes().await {
        return Ok(Err(err));
    }
    tx.commit().await?;
    Ok(Ok(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::repositories::find_or_create;
    use crate::registry::testing::{digest, organization};
    use crate::registry::{blobs, manifests};
    use time::Duration;

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn only_unreferenced_old_blobs_go(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let mut conn = pool.acquire().await.unwrap();
        for c in ['a', 'b', 'c'] {
            blobs::record(&mut conn, repo, &digest(c), 1).await.unwrap();
        }
        // 'a' unlinked but referenced by a manifest; 'b' unlinked; 'c' linked.
        let m = digest('1');
        let manifest = manifests::NewManifest {
            digest: &m,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: None,
            bytes: b"{}",
            subject: None,
            annotations: serde_json::json!({}),
            blobs: vec![manifests::BlobReference {
                kind: manifests::BlobKind::Config,
                digest: digest('a'),
                media_type: "application/json".into(),
                size: 1,
                external: false,
            }],
            children: vec![],
        };
        manifests::put(&pool, repo, &manifest, None).await.unwrap();
        blobs::unlink(&pool, repo, &digest('a')).await.unwrap();
        blobs::unlink(&pool, repo, &digest('b')).await.unwrap();

        let (b, c, e) = (digest('b'), digest('c'), digest('e'));
        let now = OffsetDateTime::now_utc();
        assert!(unreferenced_blobs(&pool, now - Duration::hours(2), 10).await.unwrap().is_empty());
        let later = now + Duration::seconds(5);
        assert_eq!(unreferenced_blobs(&pool, later, 10).await.unwrap(), [digest('b')]);

        let young = delete_blob(&pool, &b, now - Duration::hours(2), async || Ok::<_, ()>(()));
        assert_eq!(young.await.unwrap(), Ok(false));
        let failed = delete_blob(&pool, &b, later, async || Err::<(), _>("io"));
        assert_eq!(failed.await.unwrap(), Err("io"));
        assert_eq!(blobs::stored_size(&pool, &digest('b')).await.unwrap(), Some(1));
        let ok = delete_blob(&pool, &b, later, async || Ok::<_, ()>(()));
        assert_eq!(ok.await.unwrap(), Ok(true));
        assert_eq!(blobs::stored_size(&pool, &digest('b')).await.unwrap(), None);
        let linked = delete_blob(&pool, &c, later, async || Ok::<_, ()>(()));
        assert_eq!(linked.await.unwrap(), Ok(false));

        let known = delete_orphan(&pool, &c, async || Ok::<_, ()>(()));
        assert_eq!(known.await.unwrap(), Ok(false));
        let orphan = delete_orphan(&pool, &e, async || Ok::<_, ()>(()));
        assert_eq!(orphan.await.unwrap(), Ok(true));
    }
}
