//! Organizations, users and memberships.
//!
//! Owns the SQL for the `organizations`, `users` and `organization_members` tables. Password
//! hashing happens before these functions are called: they only ever see PHC hash strings.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// A vendor organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Primary key.
    pub id: Uuid,
    /// First path segment of every repository the organization owns.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// Counts organizations; zero means the instance has never been set up.
pub async fn count_organizations(pool: &PgPool) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar!("select count(*) as \"n!\" from organizations").fetch_one(pool).await?)
}

/// Looks an organization up by slug.
pub async fn find_organization(pool: &PgPool, slug: &str) -> Result<Option<Organization>, DbError> {
    Ok(sqlx::query_as!(
        Organization,
        "select id, slug, name, created_at from organizations where slug = $1",
        slug
    )
    .fetch_optional(pool)
    .await?)
}

/// What it takes to create an organization with its first owner.
#[derive(Debug)]
pub struct NewOrganization<'a> {
    /// Slug (validated by the caller and by a check constraint).
    pub slug: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Owner's email; lower-cased here.
    pub owner_email: &'a str,
    /// Owner's password as a PHC hash string.
    pub owner_password_hash: &'a str,
    /// Whether the owner also administers the instance.
    pub owner_is_instance_admin: bool,
}

/// Creates an organization and its owner in one transaction. An existing user with the same
/// email becomes the owner; their password is left unchanged.
pub async fn create_organization(
    pool: &PgPool,
    new: &NewOrganization<'_>,
) -> Result<Organization, DbError> {
    let mut tx = pool.begin().await?;
    let org = sqlx::query_as!(
        Organization,
        "insert into organizations (id, slug, name) values ($1, $2, $3)
         returning id, slug, name, created_at",
        Uuid::now_v7(),
        new.slug,
        new.name,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(DbError::from_insert)?;
    let email = new.owner_email.to_lowercase();
    let user_id = sqlx::query_scalar!(
        "insert into users (id, email, password_hash, is_instance_admin) values ($1, $2, $3, $4)
         on conflict (email) do update set is_instance_admin = users.is_instance_admin or excluded.is_instance_admin
         returning id",
        Uuid::now_v7(),
        email,
        new.owner_password_hash,
        new.owner_is_instance_admin,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(DbError::from_insert)?;
    sqlx::query!(
        "insert into organization_members (organization_id, user_id, role) values ($1, $2, 'owner')",
        org.id,
        user_id,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(org)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner<'a>(slug: &'a str, email: &'a str) -> NewOrganization<'a> {
        NewOrganization {
            slug,
            name: "Acme Inc",
            owner_email: email,
            owner_password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            owner_is_instance_admin: false,
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn creates_an_organization_with_its_owner(pool: PgPool) {
        assert_eq!(count_organizations(&pool).await.unwrap(), 0);
        let org = create_organization(&pool, &owner("acme", "Owner@Acme.test")).await.unwrap();
        assert_eq!(org.slug, "acme");
        assert_eq!(count_organizations(&pool).await.unwrap(), 1);
        assert_eq!(find_organization(&pool, "acme").await.unwrap(), Some(org.clone()));
        let (email, role): (String, String) = sqlx::query_as(
            "select u.email, m.role from users u join organization_members m on m.user_id = u.id
             where m.organization_id = $1",
        )
        .bind(org.id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((email.as_str(), role.as_str()), ("owner@acme.test", "owner"));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn duplicate_slug_is_a_conflict_and_changes_nothing(pool: PgPool) {
        create_organization(&pool, &owner("acme", "a@acme.test")).await.unwrap();
        let err = create_organization(&pool, &owner("acme", "b@acme.test")).await.unwrap_err();
        assert!(
            matches!(err, DbError::Conflict(ref c) if c == "organizations_slug_key"),
            "{err:?}"
        );
        let users: i64 =
            sqlx::query_scalar("select count(*) from users").fetch_one(&pool).await.unwrap();
        assert_eq!(users, 1, "the failed transaction must not leave its user behind");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn invalid_slug_is_rejected_by_the_database(pool: PgPool) {
        let err = create_organization(&pool, &owner("Acme!", "a@acme.test")).await.unwrap_err();
        assert!(matches!(err, DbError::Sqlx(_)), "{err:?}");
        assert_eq!(count_organizations(&pool).await.unwrap(), 0);
    }
}
