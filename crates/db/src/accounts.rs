//! Organizations, users and memberships.
//!
//! Owns the SQL for the `organizations`, `users` and `organization_members` tables. Password
//! hashing happens before these functions are called: they only ever see PHC hash strings.
//! Roles are passed as their stored names (`owner`, `admin`, `developer`, `viewer`; see
//! `wharf_auth::principal::Role`); a check constraint rejects anything else.
//!
//! Users are global (one email, one password, whatever organizations or customers they belong
//! to); memberships are per organization, and every membership query takes its organization.

use std::fmt;

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

/// A person who signs in. Emails are lower-case.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Primary key.
    pub id: Uuid,
    /// Lower-case email, unique across the instance.
    pub email: String,
    /// PHC string of the argon2id hash. Redacted in `Debug`.
    pub password_hash: String,
    /// Whether the user administers the instance.
    pub is_instance_admin: bool,
    /// When the account was created.
    pub created_at: OffsetDateTime,
    /// When the password was last set.
    pub password_changed_at: OffsetDateTime,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("is_instance_admin", &self.is_instance_admin)
            .field("created_at", &self.created_at)
            .field("password_changed_at", &self.password_changed_at)
            .finish()
    }
}

/// A user's membership in a vendor organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The user.
    pub user_id: Uuid,
    /// The user's email.
    pub email: String,
    /// `owner`, `admin`, `developer` or `viewer`.
    pub role: String,
    /// When the user joined the organization.
    pub created_at: OffsetDateTime,
}

/// Looks a user up by email (case-insensitively).
pub async fn find_user_by_email(pool: &PgPool, email: &str) -> Result<Option<User>, DbError> {
    Ok(sqlx::query_as!(
        User,
        "select id, email, password_hash, is_instance_admin, created_at, password_changed_at
         from users where email = lower($1)",
        email
    )
    .fetch_optional(pool)
    .await?)
}

/// Creates a user with `role` in organization `org_id`, in one transaction. An email that
/// already has an account is [`DbError::Conflict`] (`users_email_key`) and changes nothing;
/// add existing users with [`add_member`].
pub async fn create_user(
    pool: &PgPool,
    org_id: Uuid,
    email: &str,
    password_hash: &str,
    role: &str,
) -> Result<User, DbError> {
    let mut tx = pool.begin().await?;
    let user = sqlx::query_as!(
        User,
        "insert into users (id, email, password_hash) values ($1, lower($2), $3)
         returning id, email, password_hash, is_instance_admin, created_at, password_changed_at",
        Uuid::now_v7(),
        email,
        password_hash,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(DbError::from_insert)?;
    sqlx::query!(
        "insert into organization_members (organization_id, user_id, role) values ($1, $2, $3)",
        org_id,
        user.id,
        role,
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from_insert)?;
    tx.commit().await?;
    Ok(user)
}

/// Adds an existing user to organization `org_id` with `role`. Already a member:
/// [`DbError::Conflict`] (`organization_members_pkey`).
pub async fn add_member(
    pool: &PgPool,
    org_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> Result<(), DbError> {
    sqlx::query!(
        "insert into organization_members (organization_id, user_id, role) values ($1, $2, $3)",
        org_id,
        user_id,
        role,
    )
    .execute(pool)
    .await
    .map_err(DbError::from_insert)?;
    Ok(())
}

/// A user's membership in organization `org_id`, if they are a member.
pub async fn find_member(
    pool: &PgPool,
    org_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Member>, DbError> {
    Ok(sqlx::query_as!(
        Member,
        "select m.user_id, u.email, m.role, m.created_at
         from organization_members m join users u on u.id = m.user_id
         where m.organization_id = $1 and m.user_id = $2",
        org_id,
        user_id,
    )
    .fetch_optional(pool)
    .await?)
}

/// The members of organization `org_id`, by email.
pub async fn list_members(pool: &PgPool, org_id: Uuid) -> Result<Vec<Member>, DbError> {
    Ok(sqlx::query_as!(
        Member,
        "select m.user_id, u.email, m.role, m.created_at
         from organization_members m join users u on u.id = m.user_id
         where m.organization_id = $1
         order by u.email",
        org_id,
    )
    .fetch_all(pool)
    .await?)
}

/// Replaces a user's password hash and records when. Returns whether the user exists.
pub async fn set_password_hash(
    pool: &PgPool,
    user_id: Uuid,
    password_hash: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update users set password_hash = $2, password_changed_at = now() where id = $1",
        user_id,
        password_hash,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Changes a member's role in organization `org_id`. Returns whether they are a member.
/// Whether the change is allowed (e.g. the last owner) is the caller's decision.
pub async fn change_role(
    pool: &PgPool,
    org_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update organization_members set role = $3 where organization_id = $1 and user_id = $2",
        org_id,
        user_id,
        role,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
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

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    async fn count(pool: &PgPool, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(pool).await.unwrap()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn creates_users_lists_members_and_changes_roles(pool: PgPool) {
        let org = create_organization(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let dev = create_user(&pool, org.id, "Dev@Acme.test", HASH, "developer").await.unwrap();
        assert_eq!(dev.email, "dev@acme.test");
        assert_eq!(find_user_by_email(&pool, "DEV@acme.test").await.unwrap(), Some(dev.clone()));
        assert!(!format!("{dev:?}").contains("argon2id"), "the hash is redacted");

        let members = list_members(&pool, org.id).await.unwrap();
        let summary: Vec<(&str, &str)> =
            members.iter().map(|m| (m.email.as_str(), m.role.as_str())).collect();
        assert_eq!(summary, [("dev@acme.test", "developer"), ("owner@acme.test", "owner")]);

        assert!(change_role(&pool, org.id, dev.id, "viewer").await.unwrap());
        assert_eq!(find_member(&pool, org.id, dev.id).await.unwrap().unwrap().role, "viewer");

        assert!(set_password_hash(&pool, dev.id, "$argon2id$new").await.unwrap());
        let changed = find_user_by_email(&pool, "dev@acme.test").await.unwrap().unwrap();
        assert_eq!(changed.password_hash, "$argon2id$new");
        assert!(changed.password_changed_at >= dev.password_changed_at);
        assert!(!set_password_hash(&pool, Uuid::now_v7(), HASH).await.unwrap());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn one_user_may_belong_to_several_organizations(pool: PgPool) {
        let acme = create_organization(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let globex =
            create_organization(&pool, &owner("globex", "boss@globex.test")).await.unwrap();
        let dev = create_user(&pool, acme.id, "dev@acme.test", HASH, "developer").await.unwrap();
        add_member(&pool, globex.id, dev.id, "viewer").await.unwrap();
        assert_eq!(find_member(&pool, globex.id, dev.id).await.unwrap().unwrap().role, "viewer");
        assert_eq!(find_member(&pool, acme.id, dev.id).await.unwrap().unwrap().role, "developer");
        let err = add_member(&pool, globex.id, dev.id, "admin").await.unwrap_err();
        assert!(
            matches!(err, DbError::Conflict(ref c) if c == "organization_members_pkey"),
            "{err:?}"
        );
        assert_eq!(find_member(&pool, globex.id, dev.id).await.unwrap().unwrap().role, "viewer");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn membership_queries_are_scoped_to_their_organization(pool: PgPool) {
        let acme = create_organization(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let globex =
            create_organization(&pool, &owner("globex", "boss@globex.test")).await.unwrap();
        let dev = create_user(&pool, acme.id, "dev@acme.test", HASH, "developer").await.unwrap();
        assert_eq!(find_member(&pool, globex.id, dev.id).await.unwrap(), None);
        assert!(!change_role(&pool, globex.id, dev.id, "owner").await.unwrap());
        assert_eq!(find_member(&pool, acme.id, dev.id).await.unwrap().unwrap().role, "developer");
        let globex_members = list_members(&pool, globex.id).await.unwrap();
        assert_eq!(globex_members.len(), 1);
        assert_eq!(globex_members[0].email, "boss@globex.test");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn duplicate_email_is_a_conflict_and_changes_nothing(pool: PgPool) {
        let org = create_organization(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let (users, members) =
            (count(&pool, "users").await, count(&pool, "organization_members").await);
        let err = create_user(&pool, org.id, "OWNER@acme.test", HASH, "viewer").await.unwrap_err();
        assert!(matches!(err, DbError::Conflict(ref c) if c == "users_email_key"), "{err:?}");
        assert_eq!(count(&pool, "users").await, users);
        assert_eq!(count(&pool, "organization_members").await, members);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn bad_roles_are_rejected_and_change_nothing(pool: PgPool) {
        let org = create_organization(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let users = count(&pool, "users").await;
        let err = create_user(&pool, org.id, "dev@acme.test", HASH, "superuser").await.unwrap_err();
        assert!(matches!(err, DbError::Sqlx(_)), "{err:?}");
        assert_eq!(count(&pool, "users").await, users, "the user insert is rolled back too");
        let owner_id = list_members(&pool, org.id).await.unwrap()[0].user_id;
        assert!(change_role(&pool, org.id, owner_id, "god").await.is_err());
        assert_eq!(find_member(&pool, org.id, owner_id).await.unwrap().unwrap().role, "owner");
        let err = create_user(&pool, Uuid::now_v7(), "x@acme.test", HASH, "viewer").await;
        assert!(err.is_err(), "unknown organization");
        assert_eq!(count(&pool, "users").await, users);
    }
}
