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
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// Looks a repository up by its full name.
pub async fn find(pool: &PgPool, name: &str) -> Result<Option<Repository>, DbError> {
    Ok(sqlx::query_as!(
        Repository,
        "select id, organization_id, name, public, created_at from repositories where name = $1",
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
    }
}
