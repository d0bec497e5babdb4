//! Tags and their history.
//!
//! Owns the `tags` and `tag_history` tables. History entries are opened when a tag is set to
//! a digest and closed (`valid_until`) when it moves or is deleted; they are never deleted
//! here, because entitlements (re-tag grace window) and usage analytics read them. A push
//! sets a tag inside the manifest push's one statement ([`super::manifests::put`], the
//! `wharf_put_manifest` function of migration `manifest_push`): under a transaction-scoped
//! advisory lock on (repository, tag), so concurrent pushes of one tag never overlap their
//! history periods, with times from `clock_timestamp()` read after the lock (a push that
//! waited must not date its change before the one it waited for).

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

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

/// A tag with what it points at, for the vendor's listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDetail {
    /// The tag.
    pub name: String,
    /// The manifest it points at.
    pub digest: String,
    /// That manifest's media type.
    pub media_type: String,
    /// That manifest's artifact type, if any.
    pub artifact_type: Option<String>,
    /// Bytes of the manifest itself.
    pub manifest_size: i64,
    /// Bytes a client downloads to pull everything the tag reaches: the manifest, and for an
    /// index its child manifests (recursively), plus the config and layers of each, each
    /// distinct digest counted once; external (non-distributable) layers are not counted.
    pub total_size: i64,
    /// When the tag was set to this digest.
    pub pushed_at: OffsetDateTime,
}

/// One page of a repository's tags in byte order, with their manifests and sizes: at most
/// `limit` tags after `after` (from the start without it).
pub async fn list_details(
    pool: &PgPool,
    repository_id: Uuid,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<TagDetail>, DbError> {
    Ok(sqlx::query_as!(
        TagDetail,
        r#"with recursive page as (
               select name, digest, pushed_at from tags
               where repository_id = $1 and ($2::text is null or name collate "C" > $2)
               order by name collate "C"
               limit $3
           ),
           reach (tag, digest) as (
               select name, digest from page
               union
               select r.tag, c.child_digest
               from reach r
               join manifest_children c on c.repository_id = $1 and c.index_digest = r.digest
           ),
           parts (tag, digest, size) as (
               select r.tag, m.digest, m.size
               from reach r join manifests m on m.repository_id = $1 and m.digest = r.digest
               union
               select r.tag, b.digest, b.size
               from reach r
               join manifest_blobs b on b.repository_id = $1 and b.manifest_digest = r.digest
               where not b.external
           )
           select p.name as "name!", p.digest as "digest!", m.media_type, m.artifact_type,
                  m.size as manifest_size,
                  coalesce((select sum(size) from parts where parts.tag = p.name), 0)::int8
                      as "total_size!",
                  p.pushed_at as "pushed_at!"
           from page p
           join manifests m on m.repository_id = $1 and m.digest = p.digest
           order by p.name collate "C""#,
        repository_id,
        after,
        limit,
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

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn details_page_in_byte_order_with_sizes(pool: PgPool) {
        use crate::registry::blobs;
        use crate::registry::manifests::{BlobKind, BlobReference, ChildReference};

        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let mut conn = pool.acquire().await.unwrap();
        for (c, size) in [('c', 10), ('l', 100), ('m', 1000)] {
            blobs::record(&mut conn, repo, &digest(c), size).await.unwrap();
        }
        drop(conn);
        let blob = |kind, c: char, size, external| BlobReference {
            kind,
            digest: digest(c),
            media_type: "x".into(),
            size,
            external,
        };
        let (amd, arm, index) = (digest('1'), digest('2'), digest('3'));
        fn image(digest: &str, blobs: Vec<BlobReference>) -> NewManifest<'_> {
            NewManifest {
                digest,
                media_type: "application/vnd.oci.image.manifest.v1+json",
                artifact_type: None,
                bytes: b"12345",
                subject: None,
                annotations: serde_json::json!({}),
                blobs,
                children: vec![],
            }
        }
        // Both platforms share the layer `l`; `arm` also has a layer hosted elsewhere.
        let amd_blobs =
            vec![blob(BlobKind::Config, 'c', 10, false), blob(BlobKind::Layer, 'l', 100, false)];
        let arm_blobs = vec![
            blob(BlobKind::Config, 'c', 10, false),
            blob(BlobKind::Layer, 'l', 100, false),
            blob(BlobKind::Layer, 'm', 1000, false),
            blob(BlobKind::Layer, 'x', 5000, true),
        ];
        put(&pool, repo, &image(&amd, amd_blobs), Some("amd")).await.unwrap();
        put(&pool, repo, &image(&arm, arm_blobs), None).await.unwrap();
        let children = [&amd, &arm]
            .iter()
            .map(|d| ChildReference {
                digest: (*d).clone(),
                media_type: "m".into(),
                size: 5,
                ..Default::default()
            })
            .collect();
        let list = NewManifest {
            digest: &index,
            media_type: "application/vnd.oci.image.index.v1+json",
            artifact_type: Some("application/x-test"),
            bytes: b"0123456789",
            subject: None,
            annotations: serde_json::json!({}),
            blobs: vec![],
            children,
        };
        put(&pool, repo, &list, Some("1.0")).await.unwrap();
        put(&pool, repo, &list, Some("B")).await.unwrap();

        let all = list_details(&pool, repo, None, 10).await.unwrap();
        let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["1.0", "B", "amd"]);
        let one = &all[0];
        assert_eq!((one.digest.as_str(), one.manifest_size), (index.as_str(), 10));
        assert_eq!(one.artifact_type.as_deref(), Some("application/x-test"));
        // index 10 + two manifests 5 each + config 10 + shared layer 100 + layer 1000.
        assert_eq!(one.total_size, 10 + 5 + 5 + 10 + 100 + 1000);
        assert_eq!(all[2].total_size, 5 + 10 + 100, "{:?}", all[2]);
        assert!(all[2].pushed_at <= all[0].pushed_at);

        let page = list_details(&pool, repo, Some("1.0"), 1).await.unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0], all[1]);
        assert!(list_details(&pool, repo, Some("amd"), 10).await.unwrap().is_empty());
    }
}

/// A tag of an organization's repository, with when it was set (for previews of what a
/// grant matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationTag {
    /// The repository's full name.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// When it was set to its current digest.
    pub pushed_at: OffsetDateTime,
}

/// The tags of organization `organization_id`'s repositories, by repository and tag, at most
/// `limit`.
pub async fn of_organization(
    pool: &PgPool,
    organization_id: Uuid,
    limit: i64,
) -> Result<Vec<OrganizationTag>, DbError> {
    Ok(sqlx::query_as!(
        OrganizationTag,
        r#"select r.name as repository, t.name as tag, t.pushed_at
           from repositories r join tags t on t.repository_id = r.id
           where r.organization_id = $1
           order by r.name collate "C", t.name collate "C"
           limit $2"#,
        organization_id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// The digest tag `tag` of repository `repository_id` points at, if it exists.
pub async fn digest_of(
    pool: &PgPool,
    repository_id: Uuid,
    tag: &str,
) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar!(
        "select digest from tags where repository_id = $1 and name = $2",
        repository_id,
        tag
    )
    .fetch_optional(pool)
    .await?)
}

/// Every tag of repository `repository_id` with the digest it points at, by name.
pub async fn with_digests(
    pool: &PgPool,
    repository_id: Uuid,
) -> Result<Vec<(String, String)>, DbError> {
    Ok(sqlx::query!(
        r#"select name, digest from tags where repository_id = $1 order by name collate "C""#,
        repository_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.name, r.digest))
    .collect())
}
