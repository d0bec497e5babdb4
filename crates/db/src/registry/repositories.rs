//! Repositories: `<org-slug>/<path>`, owned by one organization, created on first push.
//!
//! Owns the `repositories` table. A repository is created only inside the organization whose
//! slug is its first path segment, so a caller can never create one in another organization.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// Primary key.
    pub id: Uuid,
    /// The organization that owns it.
    pub organization_id: Uuid,
    /// Full name, `<org-slug>/<path>`.
    pub name: String,
    /// Whether anyone may pull it.
    pub public: bool,
    /// Whether an existing tag may never be pushed with other content.
    pub immutable_tags: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// Looks a repository up by its full name.
pub async fn find(pool: &PgPool, name: &str) -> Result<Option<Repository>, DbError> {
    Ok(sqlx::query_as!(
        Repository,
        "select id, organization_id, name, public, immutable_tags, created_at from repositories where name = $1",
        name
    )
    .fetch_optional(pool)
    .await?)
}

/// Returns repository `name` of `organization_id`, creating it if needed.
///
/// `None` when `org_slug` (the name's first segment) is not that organization's slug, or the
/// name belongs to another organization: the caller answers that exactly as it answers an
/// unknown organization.
pub async fn find_or_create(
    pool: &PgPool,
    organization_id: Uuid,
    org_slug: &str,
    name: &str,
) -> Result<Option<Repository>, DbError> {
    sqlx::query!(
        "insert into repositories (id, organization_id, name)
         select $1, o.id, $3 from organizations o where o.id = $2 and o.slug = $4
         on conflict (name) do nothing",
        Uuid::now_v7(),
        organization_id,
        name,
        org_slug,
    )
    .execute(pool)
    .await?;
    Ok(find(pool, name).await?.filter(|r| r.organization_id == organization_id))
}

/// Names of an organization's repositories, in byte order.
pub async fn list_names(pool: &PgPool, organization_id: Uuid) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar!(
        r#"select name from repositories where organization_id = $1 order by name collate "C""#,
        organization_id
    )
    .fetch_all(pool)
    .await?)
}

/// An organization's repositories, in byte order of their names.
pub async fn list(pool: &PgPool, organization_id: Uuid) -> Result<Vec<Repository>, DbError> {
    Ok(sqlx::query_as!(
        Repository,
        r#"select id, organization_id, name, public, immutable_tags, created_at from repositories
           where organization_id = $1 order by name collate "C""#,
        organization_id
    )
    .fetch_all(pool)
    .await?)
}

/// A repository with a summary of its tags, for the vendor's listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySummary {
    /// Full name, `<org-slug>/<path>`.
    pub name: String,
    /// Whether anyone may pull it.
    pub public: bool,
    /// Whether its tags are immutable.
    pub immutable_tags: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// How many tags it has.
    pub tag_count: i64,
    /// When a tag was last set, if it has any.
    pub last_pushed_at: Option<OffsetDateTime>,
}

/// One page of an organization's repositories in byte order of their names: at most `limit`
/// after the name `after` (from the start without it).
pub async fn list_summaries(
    pool: &PgPool,
    organization_id: Uuid,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<RepositorySummary>, DbError> {
    Ok(sqlx::query_as!(
        RepositorySummary,
        r#"select r.name, r.public, r.immutable_tags, r.created_at, count(t.name) as "tag_count!",
                  max(t.pushed_at) as last_pushed_at
           from repositories r
           left join tags t on t.repository_id = r.id
           where r.organization_id = $1 and ($2::text is null or r.name collate "C" > $2)
           group by r.id
           order by r.name collate "C"
           limit $3"#,
        organization_id,
        after,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// Makes a repository public or private again.
pub async fn set_public(pool: &PgPool, id: Uuid, public: bool) -> Result<bool, DbError> {
    let done = sqlx::query!("update repositories set public = $2 where id = $1", id, public)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing::organization;

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn created_once_inside_its_organization_only(pool: PgPool) {
        let acme = organization(&pool, "acme").await;
        let other = organization(&pool, "other").await;
        let repo = find_or_create(&pool, acme, "acme", "acme/app").await.unwrap().unwrap();
        assert_eq!(repo.name, "acme/app");
        assert!(!repo.public);
        let again = find_or_create(&pool, acme, "acme", "acme/app").await.unwrap().unwrap();
        assert_eq!(again.id, repo.id);
        // Another organization can neither create nor take over acme's names.
        assert_eq!(find_or_create(&pool, other, "acme", "acme/app").await.unwrap(), None);
        assert_eq!(find_or_create(&pool, other, "acme", "acme/new").await.unwrap(), None);
        assert_eq!(find_or_create(&pool, other, "nope", "nope/new").await.unwrap(), None);
        assert_eq!(find(&pool, "acme/new").await.unwrap(), None);
        find_or_create(&pool, acme, "acme", "acme/b").await.unwrap();
        find_or_create(&pool, other, "other", "other/x").await.unwrap();
        assert_eq!(list_names(&pool, acme).await.unwrap(), ["acme/app", "acme/b"]);
        assert!(set_public(&pool, repo.id, true).await.unwrap());
        assert!(find(&pool, "acme/app").await.unwrap().unwrap().public);

        let listed: Vec<(String, bool)> =
            list(&pool, acme).await.unwrap().into_iter().map(|r| (r.name, r.public)).collect();
        assert_eq!(listed, [("acme/app".to_owned(), true), ("acme/b".to_owned(), false)]);
        let page = list_summaries(&pool, acme, None, 1).await.unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!((page[0].name.as_str(), page[0].tag_count), ("acme/app", 0));
        assert_eq!(page[0].last_pushed_at, None);
        let rest = list_summaries(&pool, acme, Some("acme/app"), 10).await.unwrap();
        assert_eq!(rest.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["acme/b"]);
        assert!(
            list_summaries(&pool, other, None, 10)
                .await
                .unwrap()
                .iter()
                .all(|r| r.name == "other/x")
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn summaries_count_tags_and_the_last_push(pool: PgPool) {
        use crate::registry::manifests::{NewManifest, put};
        use crate::registry::testing::digest;
        let acme = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, acme, "acme", "acme/app").await.unwrap().unwrap();
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
        put(&pool, repo.id, &m, Some("1.0")).await.unwrap();
        put(&pool, repo.id, &m, Some("latest")).await.unwrap();
        let page = list_summaries(&pool, acme, None, 10).await.unwrap();
        assert_eq!(page[0].tag_count, 2);
        let last: OffsetDateTime =
            sqlx::query_scalar("select max(pushed_at) from tags").fetch_one(&pool).await.unwrap();
        assert_eq!(page[0].last_pushed_at, Some(last));
    }
}

/// Makes a repository's tags immutable (an existing tag is never moved) or mutable again.
pub async fn set_immutable_tags(pool: &PgPool, id: Uuid, immutable: bool) -> Result<bool, DbError> {
    let done =
        sqlx::query!("update repositories set immutable_tags = $2 where id = $1", id, immutable)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// A repository as the vendor portal lists it: its summary, its rules, and what its latest
/// tag points at (the repository's kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryOverview {
    /// Full name, `<org-slug>/<path>`.
    pub name: String,
    /// Whether anyone may pull it.
    pub public: bool,
    /// Whether its tags are immutable.
    pub immutable_tags: bool,
    /// How many tags it has.
    pub tag_count: i64,
    /// When a tag was last set, if it has any.
    pub last_pushed_at: Option<OffsetDateTime>,
    /// The media type of the manifest the latest tag points at.
    pub media_type: Option<String>,
    /// Its artifact type (`artifactType`, else the config's media type).
    pub artifact_type: Option<String>,
}

/// One page of an organization's repositories in byte order of their names, after `after`,
/// at most `limit`: one statement, each repository's latest tag an index lookup.
pub async fn overview(
    pool: &PgPool,
    organization_id: Uuid,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<RepositoryOverview>, DbError> {
    Ok(sqlx::query_as!(
        RepositoryOverview,
        r#"select r.name, r.public, r.immutable_tags,
                  s.tag_count as "tag_count!", s.last_pushed_at,
                  latest.media_type as "media_type?", latest.artifact_type as "artifact_type?"
           from repositories r
           cross join lateral (
               select count(*) as tag_count, max(pushed_at) as last_pushed_at
               from tags where repository_id = r.id
           ) s
           left join lateral (
               select m.media_type, m.artifact_type
               from tags t join manifests m on m.repository_id = t.repository_id and m.digest = t.digest
               where t.repository_id = r.id
               order by t.pushed_at desc
               limit 1
           ) latest on true
           where r.organization_id = $1 and ($2::text is null or r.name collate "C" > $2)
           order by r.name collate "C"
           limit $3"#,
        organization_id,
        after,
        limit,
    )
    .fetch_all(pool)
    .await?)
}
