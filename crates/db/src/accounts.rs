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

/// The oldest organization (the one the first start created), if any.
pub async fn first_organization(pool: &PgPool) -> Result<Option<Organization>, DbError> {
    Ok(sqlx::query_as!(
        Organization,
        "select id, slug, name, created_at from organizations order by created_at, id limit 1"
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
    /// Owner's password as a PHC hash string (for a new account).
    pub owner_password_hash: &'a str,
    /// Whether the owner also administers the instance.
    pub owner_is_instance_admin: bool,
    /// What happens when the email already has an account.
    pub existing_account: ExistingAccount,
    /// SHA-256 of the sign-up invitation this creation uses, if one is needed.
    pub invitation: Option<&'a [u8; 32]>,
}

/// What [`create_organization`] does with an email that already has an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingAccount {
    /// It becomes the owner; its password is left unchanged (operators, the first start).
    BecomesOwner,
    /// Refused: [`DbError::Conflict`] on `users_email_key` (sign-up makes a new account).
    Refused,
}

/// What [`create_organization`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatedOrganization {
    /// The organization and its owner exist now.
    Created {
        /// The new organization.
        organization: Organization,
        /// Its owner.
        owner: User,
        /// Whether the owner's account existed before.
        owner_existed: bool,
    },
    /// No open sign-up invitation has that token (or it is for another address); nothing
    /// was written.
    InvitationNotOpen,
}

/// Creates an organization and its owner in one transaction: uses the sign-up invitation if
/// one is given, creates the organization, finds or creates the owner's account (as
/// `existing_account` says) and makes it the owner. A slug in use is [`DbError::Conflict`]
/// (`organizations_slug_key`), a refused email [`DbError::Conflict`] (`users_email_key`); on
/// any error nothing is written and the invitation stays open.
pub async fn create_organization(
    pool: &PgPool,
    new: &NewOrganization<'_>,
) -> Result<CreatedOrganization, DbError> {
    let mut tx = pool.begin().await?;
    let email = new.owner_email.to_lowercase();
    let invitation = match new.invitation {
        Some(hash) => match crate::invitations::consume_signup(&mut tx, hash, &email).await? {
            Some(id) => Some(id),
            None => return Ok(CreatedOrganization::InvitationNotOpen),
        },
        None => None,
    };
    let organization = sqlx::query_as!(
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
    let existing = match new.existing_account {
        ExistingAccount::BecomesOwner => {
            sqlx::query_as!(
                User,
                "update users set is_instance_admin = is_instance_admin or $2 where email = $1
             returning id, email, password_hash, is_instance_admin, created_at,
                       password_changed_at",
                email,
                new.owner_is_instance_admin,
            )
            .fetch_optional(&mut *tx)
            .await?
        }
        ExistingAccount::Refused => None,
    };
    let owner_existed = existing.is_some();
    let owner = match existing {
        Some(user) => user,
        None => sqlx::query_as!(
            User,
            "insert into users (id, email, password_hash, is_instance_admin)
             values ($1, $2, $3, $4)
             returning id, email, password_hash, is_instance_admin, created_at,
                       password_changed_at",
            Uuid::now_v7(),
            email,
            new.owner_password_hash,
            new.owner_is_instance_admin,
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(DbError::from_insert)?,
    };
    sqlx::query!(
        "insert into organization_members (organization_id, user_id, role) values ($1, $2, 'owner')",
        organization.id,
        owner.id,
    )
    .execute(&mut *tx)
    .await?;
    if let Some(id) = invitation {
        crate::invitations::mark_accepted_by(&mut tx, id, owner.id).await?;
    }
    tx.commit().await?;
    Ok(CreatedOrganization::Created { organization, owner, owner_existed })
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

/// What became of a change to the team that must keep an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamChange {
    /// Done.
    Done,
    /// The user is not a member of the organization.
    NotMember,
    /// Refused: the member is the organization's last owner.
    LastOwner,
}

/// Sets member `user_id`'s role in organization `org_id` to `role`, or removes them when
/// `role` is `None`, unless that would leave the organization without an owner. The owners'
/// rows are locked first, so two owners demoting each other at once cannot both succeed.
/// Their vendor API tokens stop with the membership (the `organization_members` trigger).
pub async fn change_member(
    pool: &PgPool,
    org_id: Uuid,
    user_id: Uuid,
    role: Option<&str>,
) -> Result<TeamChange, DbError> {
    let mut tx = pool.begin().await?;
    let owners = sqlx::query_scalar!(
        "select user_id from organization_members
         where organization_id = $1 and role = 'owner' order by user_id for update",
        org_id,
    )
    .fetch_all(&mut *tx)
    .await?;
    let Some(current) = sqlx::query_scalar!(
        "select role from organization_members where organization_id = $1 and user_id = $2 for update",
        org_id,
        user_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(TeamChange::NotMember);
    };
    let stays_owner = role == Some("owner");
    if current == "owner" && !stays_owner && owners.len() <= 1 {
        return Ok(TeamChange::LastOwner);
    }
    match role {
        Some(role) => {
            sqlx::query!(
                "update organization_members set role = $3 where organization_id = $1 and user_id = $2",
                org_id,
                user_id,
                role,
            )
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query!(
                "delete from organization_members where organization_id = $1 and user_id = $2",
                org_id,
                user_id,
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(TeamChange::Done)
}

/// Looks a user up by id.
pub async fn find_user(pool: &PgPool, id: Uuid) -> Result<Option<User>, DbError> {
    Ok(sqlx::query_as!(
        User,
        "select id, email, password_hash, is_instance_admin, created_at, password_changed_at
         from users where id = $1",
        id
    )
    .fetch_optional(pool)
    .await?)
}

/// Replaces a password hash by a stronger hash of the same password (after a login), but
/// only if the stored hash is still `old_hash`: a password changed in the meantime wins.
/// Unlike [`crate::sessions::set_password`], the password did not change, so `password_changed_at` stays.
/// Returns whether the hash was replaced.
pub async fn rehash_password(
    pool: &PgPool,
    user_id: Uuid,
    old_hash: &str,
    new_hash: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update users set password_hash = $3 where id = $1 and password_hash = $2",
        user_id,
        old_hash,
        new_hash,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A vendor organization a user belongs to, with the user's role there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorMembership {
    /// The organization.
    pub organization_id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its display name.
    pub name: String,
    /// `owner`, `admin`, `developer` or `viewer`.
    pub role: String,
}

/// The vendor organizations user `user_id` belongs to, by slug. Not scoped to one
/// organization: it is the signed-in user's own list, for choosing where to work.
pub async fn memberships_of(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Vec<VendorMembership>, DbError> {
    Ok(sqlx::query_as!(
        VendorMembership,
        "select o.id as organization_id, o.slug, o.name, m.role
         from organization_members m join organizations o on o.id = m.organization_id
         where m.user_id = $1
         order by o.slug",
        user_id,
    )
    .fetch_all(pool)
    .await?)
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
            existing_account: ExistingAccount::BecomesOwner,
            invitation: None,
        }
    }

    /// Creates an organization that needs no invitation.
    async fn create(pool: &PgPool, new: &NewOrganization<'_>) -> Result<Organization, DbError> {
        match create_organization(pool, new).await? {
            CreatedOrganization::Created { organization, .. } => Ok(organization),
            CreatedOrganization::InvitationNotOpen => panic!("no invitation was needed"),
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn creates_an_organization_with_its_owner(pool: PgPool) {
        assert_eq!(count_organizations(&pool).await.unwrap(), 0);
        let org = create(&pool, &owner("acme", "Owner@Acme.test")).await.unwrap();
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
        create(&pool, &owner("acme", "a@acme.test")).await.unwrap();
        let err = create(&pool, &owner("acme", "b@acme.test")).await.unwrap_err();
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
        let err = create(&pool, &owner("Acme!", "a@acme.test")).await.unwrap_err();
        assert!(matches!(err, DbError::Sqlx(_)), "{err:?}");
        assert_eq!(count_organizations(&pool).await.unwrap(), 0);
    }

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    async fn count(pool: &PgPool, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(pool).await.unwrap()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn creates_users_lists_members_and_changes_roles(pool: PgPool) {
        let org = create(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
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

        assert!(
            crate::sessions::set_password(&pool, dev.id, None, "$argon2id$new", None)
                .await
                .unwrap()
        );
        let changed = find_user_by_email(&pool, "dev@acme.test").await.unwrap().unwrap();
        assert_eq!(changed.password_hash, "$argon2id$new");
        assert!(changed.password_changed_at >= dev.password_changed_at);
        assert!(
            !crate::sessions::set_password(&pool, Uuid::now_v7(), None, HASH, None).await.unwrap()
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn one_user_may_belong_to_several_organizations(pool: PgPool) {
        let acme = create(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let globex = create(&pool, &owner("globex", "boss@globex.test")).await.unwrap();
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
        let acme = create(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let globex = create(&pool, &owner("globex", "boss@globex.test")).await.unwrap();
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
        let org = create(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let (users, members) =
            (count(&pool, "users").await, count(&pool, "organization_members").await);
        let err = create_user(&pool, org.id, "OWNER@acme.test", HASH, "viewer").await.unwrap_err();
        assert!(matches!(err, DbError::Conflict(ref c) if c == "users_email_key"), "{err:?}");
        assert_eq!(count(&pool, "users").await, users);
        assert_eq!(count(&pool, "organization_members").await, members);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn bad_roles_are_rejected_and_change_nothing(pool: PgPool) {
        let org = create(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
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

    fn signup<'a>(
        slug: &'a str,
        email: &'a str,
        invitation: Option<&'a [u8; 32]>,
    ) -> NewOrganization<'a> {
        NewOrganization {
            slug,
            name: "New Co",
            owner_email: email,
            owner_password_hash: HASH,
            owner_is_instance_admin: false,
            existing_account: ExistingAccount::Refused,
            invitation,
        }
    }

    async fn signup_invitation(pool: &PgPool, email: Option<&str>) -> [u8; 32] {
        let mut hash = [0u8; 32];
        hash[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        let new = crate::invitations::NewInvitation {
            target: crate::invitations::Target::Signup,
            email,
            invited_by: None,
            token_hash: &hash,
            expires_at: OffsetDateTime::now_utc() + time::Duration::days(7),
        };
        crate::invitations::create(pool, &new).await.unwrap().unwrap();
        hash
    }

    async fn invitation_state(pool: &PgPool, hash: &[u8; 32]) -> crate::invitations::Invitation {
        crate::invitations::find_by_token(pool, hash).await.unwrap().unwrap().invitation
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn sign_up_creates_an_organization_with_a_new_owner(pool: PgPool) {
        let CreatedOrganization::Created { organization, owner, .. } =
            create_organization(&pool, &signup("newco", "founder@newco.test", None)).await.unwrap()
        else {
            panic!("no invitation was needed");
        };
        assert_eq!((organization.slug.as_str(), organization.name.as_str()), ("newco", "New Co"));
        assert_eq!(owner.email, "founder@newco.test");
        assert!(!owner.is_instance_admin);
        assert_eq!(
            find_member(&pool, organization.id, owner.id).await.unwrap().unwrap().role,
            "owner"
        );
        assert_eq!(find_user(&pool, owner.id).await.unwrap(), Some(owner));
        assert_eq!(find_user(&pool, Uuid::now_v7()).await.unwrap(), None);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn sign_up_refuses_taken_slugs_and_emails_and_writes_nothing(pool: PgPool) {
        create(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let invitation = signup_invitation(&pool, None).await;
        let before = (count(&pool, "organizations").await, count(&pool, "users").await);

        let err = create_organization(&pool, &signup("acme", "new@new.test", Some(&invitation)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, DbError::Conflict(ref c) if c == "organizations_slug_key"),
            "{err:?}"
        );
        // Refused: an existing account does not become the owner.
        let err =
            create_organization(&pool, &signup("newco", "owner@acme.test", Some(&invitation)))
                .await
                .unwrap_err();
        assert!(matches!(err, DbError::Conflict(ref c) if c == "users_email_key"), "{err:?}");
        assert_eq!((count(&pool, "organizations").await, count(&pool, "users").await), before);
        assert_eq!(invitation_state(&pool, &invitation).await.accepted_at, None, "still open");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn sign_up_uses_its_invitation_once(pool: PgPool) {
        let invitation = signup_invitation(&pool, None).await;
        let CreatedOrganization::Created { owner, .. } =
            create_organization(&pool, &signup("newco", "a@newco.test", Some(&invitation)))
                .await
                .unwrap()
        else {
            panic!("the invitation is open");
        };
        let used = invitation_state(&pool, &invitation).await;
        assert!(used.accepted_at.is_some());
        assert_eq!(used.accepted_by, Some(owner.id));
        let again =
            create_organization(&pool, &signup("other", "b@other.test", Some(&invitation))).await;
        assert_eq!(again.unwrap(), CreatedOrganization::InvitationNotOpen);
        let unknown = [7u8; 32];
        let outcome =
            create_organization(&pool, &signup("other", "b@other.test", Some(&unknown))).await;
        assert_eq!(outcome.unwrap(), CreatedOrganization::InvitationNotOpen);
        assert!(find_organization(&pool, "other").await.unwrap().is_none());
        assert!(find_user_by_email(&pool, "b@other.test").await.unwrap().is_none());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn an_addressed_sign_up_invitation_is_for_that_address_only(pool: PgPool) {
        let invitation = signup_invitation(&pool, Some("invited@newco.test")).await;
        let outcome =
            create_organization(&pool, &signup("newco", "someone@else.test", Some(&invitation)))
                .await;
        assert_eq!(outcome.unwrap(), CreatedOrganization::InvitationNotOpen);
        assert!(find_organization(&pool, "newco").await.unwrap().is_none());
        let outcome =
            create_organization(&pool, &signup("newco", "invited@newco.test", Some(&invitation)))
                .await;
        assert!(matches!(outcome.unwrap(), CreatedOrganization::Created { .. }));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn rehash_replaces_only_the_hash_it_read(pool: PgPool) {
        let org = create(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let user = create_user(&pool, org.id, "dev@acme.test", "$argon2id$weak", "developer")
            .await
            .unwrap();
        assert!(!rehash_password(&pool, user.id, "$argon2id$stale", "$argon2id$x").await.unwrap());
        assert!(
            rehash_password(&pool, user.id, "$argon2id$weak", "$argon2id$strong").await.unwrap()
        );
        let after = find_user(&pool, user.id).await.unwrap().unwrap();
        assert_eq!(after.password_hash, "$argon2id$strong");
        assert_eq!(after.password_changed_at, user.password_changed_at, "not a password change");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_users_vendor_memberships(pool: PgPool) {
        let acme = create(&pool, &owner("acme", "owner@acme.test")).await.unwrap();
        let globex = create(&pool, &owner("globex", "boss@globex.test")).await.unwrap();
        let dev = create_user(&pool, globex.id, "dev@acme.test", HASH, "developer").await.unwrap();
        add_member(&pool, acme.id, dev.id, "viewer").await.unwrap();
        let memberships = memberships_of(&pool, dev.id).await.unwrap();
        let summary: Vec<(&str, &str)> =
            memberships.iter().map(|m| (m.slug.as_str(), m.role.as_str())).collect();
        assert_eq!(summary, [("acme", "viewer"), ("globex", "developer")]);
        assert_eq!(memberships[0].organization_id, acme.id);
        assert!(memberships_of(&pool, Uuid::now_v7()).await.unwrap().is_empty());
    }
}

/// Sets the name a person is shown by on the pages.
pub async fn set_user_name(pool: &PgPool, user_id: Uuid, name: &str) -> Result<(), DbError> {
    sqlx::query!("update users set name = $2 where id = $1", user_id, name).execute(pool).await?;
    Ok(())
}

/// What the pages show of a signed-in person, read on every signed-in request.
#[derive(Debug, Clone)]
pub struct Person {
    /// The account.
    pub id: Uuid,
    /// Lower-case email.
    pub email: String,
    /// The name they gave, if any.
    pub name: Option<String>,
    /// Whether they administer the instance.
    pub is_instance_admin: bool,
    /// When the password was last set (a session from before then has ended).
    pub password_changed_at: OffsetDateTime,
}

/// The person behind a session, if the account still exists.
pub async fn find_person(pool: &PgPool, user_id: Uuid) -> Result<Option<Person>, DbError> {
    Ok(sqlx::query_as!(
        Person,
        "select id, email, name, is_instance_admin, password_changed_at from users where id = $1",
        user_id,
    )
    .fetch_optional(pool)
    .await?)
}
