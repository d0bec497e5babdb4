//! Invitations: to join a vendor organization, to join a customer, and to sign up.
//!
//! Owns the SQL for the `invitations` table (see its migration for the model). Only the
//! SHA-256 of an invitation token reaches this module (generating and checking tokens is
//! `wharf_auth::invitation`); who may invite whom is the account service's decision.
//!
//! Scoping: every query that lists, creates or revokes a tenant's invitations takes its
//! organization (and customer); sign-up invitations belong to the instance. [`find_by_token`]
//! and [`accept`] serve the invitation link, which does not know the organization before
//! the lookup: the token is the credential there.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// What an invitation is for; stored as `member`, `customer` or `signup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum InvitationKind {
    /// Join a vendor organization with a vendor role.
    Member,
    /// Join a customer of a vendor organization as `admin` or `member`.
    Customer,
    /// Create a new vendor organization while sign-up is by invitation.
    Signup,
}

impl InvitationKind {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            InvitationKind::Member => "member",
            InvitationKind::Customer => "customer",
            InvitationKind::Signup => "signup",
        }
    }
}

/// An invitation as stored (without its token hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Primary key.
    pub id: Uuid,
    /// What it is for.
    pub kind: InvitationKind,
    /// The vendor organization (`member`, `customer`); none for `signup`.
    pub organization_id: Option<Uuid>,
    /// The customer (`customer` only).
    pub customer_id: Option<Uuid>,
    /// The lower-case address it was sent to; optional for `signup` only.
    pub email: Option<String>,
    /// Vendor role (`member`) or customer role (`customer`); none for `signup`.
    pub role: Option<String>,
    /// Who invited (none: an operator, or a deleted account).
    pub invited_by: Option<Uuid>,
    /// That person's email.
    pub invited_by_email: Option<String>,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// When it was accepted, if it was.
    pub accepted_at: Option<OffsetDateTime>,
    /// The account that accepted it.
    pub accepted_by: Option<Uuid>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    /// It can still be accepted.
    Open,
    /// It was used.
    Accepted,
    /// It was revoked (also by a newer invitation for the same address).
    Revoked,
    /// Its expiry has passed.
    Expired,
}

impl Invitation {
    /// The invitation's state at `now`.
    pub fn status(&self, now: OffsetDateTime) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Open
        }
    }
}

/// What a new invitation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Join vendor organization `organization_id` as `role` (`owner`, `admin`, `developer`,
    /// `viewer`).
    Member {
        /// The vendor organization.
        organization_id: Uuid,
        /// The role the invitee gets.
        role: &'a str,
    },
    /// Join customer `customer_id` of organization `organization_id` as `role` (`admin`,
    /// `member`).
    Customer {
        /// The vendor organization.
        organization_id: Uuid,
        /// The customer.
        customer_id: Uuid,
        /// The role the invitee gets.
        role: &'a str,
    },
    /// Sign up a new vendor organization.
    Signup,
}

/// An invitation to store. The clear-text token never gets here.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    /// What it is for.
    pub target: Target<'a>,
    /// The address it is for, lower-case (required but for sign-up invitations).
    pub email: Option<&'a str>,
    /// Who invites, if a person does.
    pub invited_by: Option<Uuid>,
    /// SHA-256 of the token.
    pub token_hash: &'a [u8; 32],
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// Which invitations [`select`] reads; `None` leaves that column unfiltered. Callers always
/// scope it: to an id they were given by their own query, to an organization (and customer),
/// or to the instance's sign-up invitations.
#[derive(Debug, Default, Clone, Copy)]
struct Filter {
    id: Option<Uuid>,
    kind: Option<InvitationKind>,
    organization_id: Option<Uuid>,
    customer_id: Option<Uuid>,
}

/// The one select list of [`Invitation`]: the invitations that match `filter`, newest first,
/// used, revoked and expired ones included. Every filter is an equality on a column of
/// `invitations`: Postgres plans each execution with its values (the `is null` tests fold
/// away), so a read by id uses the primary key and a list its index (`invitations_organization`,
/// `invitations_customer`, `invitations_signup`), as separate queries did. A generic plan
/// would scan the table, but it estimates far costlier than those, so `plan_cache_mode = auto`
/// does not pick it.
async fn select<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    filter: Filter,
) -> Result<Vec<Invitation>, DbError> {
    Ok(sqlx::query_as!(
        Invitation,
        r#"select i.id, i.kind as "kind: InvitationKind", i.organization_id, i.customer_id,
                  i.email, i.role, i.invited_by, u.email as "invited_by_email?", i.created_at,
                  i.expires_at, i.accepted_at, i.accepted_by, i.revoked_at
           from invitations i left join users u on u.id = i.invited_by
           where ($1::uuid is null or i.id = $1)
             and ($2::text is null or i.kind = $2)
             and ($3::uuid is null or i.organization_id = $3)
             and ($4::uuid is null or i.customer_id = $4)
           order by i.created_at desc, i.id desc"#,
        filter.id,
        filter.kind.map(InvitationKind::as_str),
        filter.organization_id,
        filter.customer_id,
    )
    .fetch_all(conn)
    .await?)
}

/// Invitation `id` through [`select`]; the caller got the id from a query of its own (in the
/// same transaction when it just wrote the row, so the row is there).
async fn select_by_id<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    id: Uuid,
) -> Result<Option<Invitation>, DbError> {
    Ok(select(conn, Filter { id: Some(id), ..Filter::default() }).await?.pop())
}

/// Stores an invitation, first revoking any open invitation of the same kind for the same
/// address and target (so the older link stops working), in one transaction. A customer
/// target that is not a customer of the organization stores nothing and returns `None`.
pub async fn create(pool: &PgPool, new: &NewInvitation<'_>) -> Result<Option<Invitation>, DbError> {
    let (kind, organization_id, customer_id, role) = match new.target {
        Target::Member { organization_id, role } => {
            (InvitationKind::Member, Some(organization_id), None, Some(role))
        }
        Target::Customer { organization_id, customer_id, role } => {
            (InvitationKind::Customer, Some(organization_id), Some(customer_id), Some(role))
        }
        Target::Signup => (InvitationKind::Signup, None, None, None),
    };
    let mut tx = pool.begin().await?;
    if let (Some(org_id), Some(customer_id)) = (organization_id, customer_id) {
        let exists = sqlx::query_scalar!(
            r#"select exists (select 1 from customers where organization_id = $1 and id = $2)
               as "exists!""#,
            org_id,
            customer_id,
        )
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            return Ok(None);
        }
    }
    sqlx::query!(
        "update invitations set revoked_at = now()
         where kind = $1 and organization_id is not distinct from $2
           and customer_id is not distinct from $3 and email = $4
           and accepted_at is null and revoked_at is null",
        kind.as_str(),
        organization_id,
        customer_id,
        new.email,
    )
    .execute(&mut *tx)
    .await?;
    // Inviting is rare: the row is read back through the one select list of `Invitation` (one
    // more round trip, in this transaction) rather than with a second copy of that list.
    let id = sqlx::query_scalar!(
        "insert into invitations (id, kind, organization_id, customer_id, email, role,
                                  invited_by, token_hash, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         returning id",
        Uuid::now_v7(),
        kind.as_str(),
        organization_id,
        customer_id,
        new.email,
        role,
        new.invited_by,
        &new.token_hash[..],
        new.expires_at,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(DbError::from_insert)?;
    let invitation =
        select_by_id(&mut *tx, id).await?.ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))?;
    tx.commit().await?;
    Ok(Some(invitation))
}

/// The member invitations of organization `org_id`, newest first, used, revoked and expired
/// ones included.
pub async fn list_members(pool: &PgPool, org_id: Uuid) -> Result<Vec<Invitation>, DbError> {
    let filter = Filter {
        kind: Some(InvitationKind::Member),
        organization_id: Some(org_id),
        ..Filter::default()
    };
    select(pool, filter).await
}

/// The invitations to customer `customer_id` of organization `org_id`, newest first.
pub async fn list_customer(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
) -> Result<Vec<Invitation>, DbError> {
    let filter = Filter {
        kind: Some(InvitationKind::Customer),
        organization_id: Some(org_id),
        customer_id: Some(customer_id),
        ..Filter::default()
    };
    select(pool, filter).await
}

/// The instance's sign-up invitations, newest first.
pub async fn list_signup(pool: &PgPool) -> Result<Vec<Invitation>, DbError> {
    select(pool, Filter { kind: Some(InvitationKind::Signup), ..Filter::default() }).await
}

/// Revokes an unused invitation of organization `org_id` (to the organization or to one of
/// its customers). Returns whether one was revoked now.
pub async fn revoke(pool: &PgPool, org_id: Uuid, id: Uuid) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update invitations set revoked_at = now()
         where organization_id = $1 and id = $2 and accepted_at is null and revoked_at is null",
        org_id,
        id,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes an unused invitation to customer `customer_id` of organization `org_id` (what a
/// customer admin may do). Returns whether one was revoked now.
pub async fn revoke_customer(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
    id: Uuid,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update invitations set revoked_at = now()
         where organization_id = $1 and customer_id = $2 and id = $3
           and accepted_at is null and revoked_at is null",
        org_id,
        customer_id,
        id,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes an unused sign-up invitation. Returns whether one was revoked now.
pub async fn revoke_signup(pool: &PgPool, id: Uuid) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update invitations set revoked_at = now()
         where kind = 'signup' and id = $1 and accepted_at is null and revoked_at is null",
        id,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An invitation found by its token, with what the invitation page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundInvitation {
    /// The invitation, in whatever state: check [`Invitation::status`].
    pub invitation: Invitation,
    /// Slug of the organization (`member`, `customer`).
    pub organization_slug: Option<String>,
    /// Display name of the organization.
    pub organization_name: Option<String>,
    /// Name of the customer (`customer`).
    pub customer_name: Option<String>,
    /// Whether the invited address already has an account (it then joins with it).
    pub account_exists: bool,
}

/// Looks an invitation up by the SHA-256 of its token, whatever its state.
pub async fn find_by_token(
    pool: &PgPool,
    token_hash: &[u8; 32],
) -> Result<Option<FoundInvitation>, DbError> {
    // What the invitation page shows around the invitation; the invitation itself is read
    // through the one select list (an invitation page is rare: one more round trip).
    let Some(page) = sqlx::query!(
        r#"select i.id, o.slug as "organization_slug?", o.name as "organization_name?",
                  c.name as "customer_name?",
                  exists (select 1 from users a where a.email = i.email) as "account_exists!"
           from invitations i
           left join organizations o on o.id = i.organization_id
           left join customers c on c.id = i.customer_id
           where i.token_hash = $1"#,
        &token_hash[..],
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    // Gone in between (its organization was deleted): as if it never existed.
    let Some(invitation) = select_by_id(pool, page.id).await? else {
        return Ok(None);
    };
    Ok(Some(FoundInvitation {
        invitation,
        organization_slug: page.organization_slug,
        organization_name: page.organization_name,
        customer_name: page.customer_name,
        account_exists: page.account_exists,
    }))
}

/// Who accepts an invitation to an organization or a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joiner<'a> {
    /// A new account with the invited address and this password hash (PHC string).
    NewUser {
        /// The new account's password hash.
        password_hash: &'a str,
    },
    /// The existing account `user_id`, whose email must be the invited address.
    ExistingUser {
        /// The account.
        user_id: Uuid,
    },
}

/// An accepted invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The invitation, now used.
    pub invitation: Invitation,
    /// The account that joined.
    pub user_id: Uuid,
}

/// Accepts an open `member` or `customer` invitation in one transaction: marks it used, creates
/// the account if `joiner` is new, and adds the membership with the invited role.
///
/// `None`, changing nothing, when no open invitation of those kinds has this hash (unknown,
/// used, revoked and expired invitations are alike) or when an existing joiner's email is not
/// the invited address. A new joiner whose address already has an account is
/// [`DbError::Conflict`] (`users_email_key`); one who is already a member is
/// [`DbError::Conflict`] (`organization_members_pkey` or `customer_users_pkey`); both change
/// nothing either. Two concurrent acceptances of one invitation: one wins, the other gets `None`.
pub async fn accept(
    pool: &PgPool,
    token_hash: &[u8; 32],
    joiner: Joiner<'_>,
) -> Result<Option<Accepted>, DbError> {
    let existing = match joiner {
        Joiner::ExistingUser { user_id } => Some(user_id),
        Joiner::NewUser { .. } => None,
    };
    let mut tx = pool.begin().await?;
    let Some(open) = sqlx::query!(
        r#"update invitations i set accepted_at = now()
           where i.token_hash = $1 and i.kind in ('member', 'customer')
             and i.accepted_at is null and i.revoked_at is null and i.expires_at > now()
             and ($2::uuid is null or i.email = (select u.email from users u where u.id = $2))
           returning i.id, i.kind as "kind: InvitationKind", i.organization_id,
                     i.customer_id, i.email, i.role"#,
        &token_hash[..],
        existing,
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let user_id = match joiner {
        Joiner::ExistingUser { user_id } => user_id,
        Joiner::NewUser { password_hash } => sqlx::query_scalar!(
            "insert into users (id, email, password_hash) values ($1, $2, $3) returning id",
            Uuid::now_v7(),
            open.email,
            password_hash,
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(DbError::from_insert)?,
    };
    match open.kind {
        InvitationKind::Member => {
            sqlx::query!(
                "insert into organization_members (organization_id, user_id, role)
                 values ($1, $2, $3)",
                open.organization_id,
                user_id,
                open.role,
            )
            .execute(&mut *tx)
            .await
            .map_err(DbError::from_insert)?;
        }
        InvitationKind::Customer => {
            sqlx::query!(
                "insert into customer_users (customer_id, user_id, role) values ($1, $2, $3)",
                open.customer_id,
                user_id,
                open.role,
            )
            .execute(&mut *tx)
            .await
            .map_err(DbError::from_insert)?;
        }
        // Excluded by the update's condition.
        InvitationKind::Signup => return Ok(None),
    }
    let invitation = mark_accepted_by(&mut tx, open.id, user_id).await?;
    tx.commit().await?;
    Ok(Some(Accepted { invitation, user_id }))
}

/// Marks an open sign-up invitation used, inside the caller's transaction; `None` when no open
/// sign-up invitation has this hash or it is for another address than `email`.
pub(crate) async fn consume_signup(
    conn: &mut PgConnection,
    token_hash: &[u8; 32],
    email: &str,
) -> Result<Option<Uuid>, DbError> {
    Ok(sqlx::query_scalar!(
        "update invitations set accepted_at = now()
         where token_hash = $1 and kind = 'signup'
           and accepted_at is null and revoked_at is null and expires_at > now()
           and (email is null or email = $2)
         returning id",
        &token_hash[..],
        email,
    )
    .fetch_optional(conn)
    .await?)
}

/// Records which account accepted invitation `id`, inside the caller's transaction, and
/// returns the invitation (read back through the one select list: accepting is rare).
pub(crate) async fn mark_accepted_by(
    conn: &mut PgConnection,
    id: Uuid,
    user_id: Uuid,
) -> Result<Invitation, DbError> {
    sqlx::query!("update invitations set accepted_by = $2 where id = $1", id, user_id)
        .execute(&mut *conn)
        .await?;
    select_by_id(conn, id).await?.ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{accounts, customers};

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    async fn org(pool: &PgPool, slug: &str) -> Uuid {
        crate::testing::org(pool, slug).await.id
    }

    fn token() -> [u8; 32] {
        let mut hash = [0u8; 32];
        hash[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        hash[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        hash
    }

    fn in_days(days: i64) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::days(days)
    }

    async fn invite(
        pool: &PgPool,
        target: Target<'_>,
        email: &str,
        hash: &[u8; 32],
    ) -> Option<Invitation> {
        let new = NewInvitation {
            target,
            email: Some(email),
            invited_by: None,
            token_hash: hash,
            expires_at: in_days(7),
        };
        create(pool, &new).await.unwrap()
    }

    async fn count(pool: &PgPool, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(pool).await.unwrap()
    }

    async fn role_in(pool: &PgPool, org_id: Uuid, email: &str) -> Option<String> {
        let user = accounts::find_user_by_email(pool, email).await.unwrap()?;
        accounts::find_member(pool, org_id, user.id).await.unwrap().map(|m| m.role)
    }

    async fn status(pool: &PgPool, hash: &[u8; 32]) -> InvitationStatus {
        let found = find_by_token(pool, hash).await.unwrap().unwrap();
        found.invitation.status(OffsetDateTime::now_utc())
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn accepting_a_member_invitation_creates_the_account_and_the_membership(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let owner = accounts::find_user_by_email(&pool, "owner@acme.test").await.unwrap().unwrap();
        let hash = token();
        let new = NewInvitation {
            target: Target::Member { organization_id: acme, role: "developer" },
            email: Some("new@acme.test"),
            invited_by: Some(owner.id),
            token_hash: &hash,
            expires_at: in_days(7),
        };
        let created = create(&pool, &new).await.unwrap().unwrap();
        assert_eq!(created.kind, InvitationKind::Member);
        assert_eq!(created.invited_by_email.as_deref(), Some("owner@acme.test"));
        assert_eq!(list_members(&pool, acme).await.unwrap(), std::slice::from_ref(&created));

        let found = find_by_token(&pool, &hash).await.unwrap().unwrap();
        assert_eq!(found.invitation, created);
        assert_eq!(found.organization_slug.as_deref(), Some("acme"));
        assert!(!found.account_exists);
        assert_eq!(found.invitation.status(OffsetDateTime::now_utc()), InvitationStatus::Open);
        assert_eq!(find_by_token(&pool, &token()).await.unwrap(), None);

        let accepted = accept(&pool, &hash, Joiner::NewUser { password_hash: HASH })
            .await
            .unwrap()
            .expect("open invitation");
        let user = accounts::find_user_by_email(&pool, "new@acme.test").await.unwrap().unwrap();
        assert_eq!(accepted.user_id, user.id);
        assert_eq!(user.password_hash, HASH);
        assert_eq!(accepted.invitation.accepted_by, Some(user.id));
        assert!(accepted.invitation.accepted_at.is_some());
        assert_eq!(role_in(&pool, acme, "new@acme.test").await.as_deref(), Some("developer"));
        assert_eq!(status(&pool, &hash).await, InvitationStatus::Accepted);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn an_invitation_is_used_once_even_when_two_race(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let target = Target::Member { organization_id: acme, role: "viewer" };
        let hash = token();
        invite(&pool, target, "new@acme.test", &hash).await.unwrap();
        let users = count(&pool, "users").await;
        let joiner = Joiner::NewUser { password_hash: HASH };
        let (a, b) = tokio::join!(accept(&pool, &hash, joiner), accept(&pool, &hash, joiner));
        let outcomes = [a, b];
        let won = outcomes.iter().filter(|o| matches!(o, Ok(Some(_)))).count();
        let refused = outcomes.iter().filter(|o| matches!(o, Ok(None))).count();
        assert_eq!((won, refused), (1, 1), "{outcomes:?}");
        assert_eq!(count(&pool, "users").await, users + 1);

        // Used: refused again, by a new account or by the one that used it.
        let user = accounts::find_user_by_email(&pool, "new@acme.test").await.unwrap().unwrap();
        assert_eq!(accept(&pool, &hash, joiner).await.unwrap(), None);
        let again = Joiner::ExistingUser { user_id: user.id };
        assert_eq!(accept(&pool, &hash, again).await.unwrap(), None);
        assert!(!revoke(&pool, acme, user.id).await.unwrap());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn expired_invitations_cannot_be_accepted(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let target = Target::Member { organization_id: acme, role: "viewer" };
        let hash = token();
        let invitation = invite(&pool, target, "late@acme.test", &hash).await.unwrap();
        sqlx::query(
            "update invitations set created_at = now() - interval '8 days',
                                    expires_at = now() - interval '1 second'
             where id = $1",
        )
        .bind(invitation.id)
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(status(&pool, &hash).await, InvitationStatus::Expired);
        let users = count(&pool, "users").await;
        assert_eq!(
            accept(&pool, &hash, Joiner::NewUser { password_hash: HASH }).await.unwrap(),
            None
        );
        assert_eq!(count(&pool, "users").await, users, "nothing is created");
        assert_eq!(role_in(&pool, acme, "late@acme.test").await, None);
        assert_eq!(status(&pool, &hash).await, InvitationStatus::Expired, "and it stays unused");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn revoked_invitations_cannot_be_accepted(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let target = Target::Member { organization_id: acme, role: "admin" };
        let hash = token();
        let invitation = invite(&pool, target, "gone@acme.test", &hash).await.unwrap();
        assert!(revoke(&pool, acme, invitation.id).await.unwrap());
        assert!(!revoke(&pool, acme, invitation.id).await.unwrap(), "already revoked");
        assert_eq!(status(&pool, &hash).await, InvitationStatus::Revoked);
        assert_eq!(
            accept(&pool, &hash, Joiner::NewUser { password_hash: HASH }).await.unwrap(),
            None
        );
        assert_eq!(role_in(&pool, acme, "gone@acme.test").await, None);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn inviting_again_revokes_the_older_link(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let (first, second) = (token(), token());
        let target = Target::Member { organization_id: acme, role: "viewer" };
        invite(&pool, target, "dev@acme.test", &first).await.unwrap();
        let target = Target::Member { organization_id: acme, role: "developer" };
        invite(&pool, target, "dev@acme.test", &second).await.unwrap();
        assert_eq!(status(&pool, &first).await, InvitationStatus::Revoked);
        let joiner = Joiner::NewUser { password_hash: HASH };
        assert_eq!(accept(&pool, &first, joiner).await.unwrap(), None);
        assert!(accept(&pool, &second, joiner).await.unwrap().is_some());
        assert_eq!(role_in(&pool, acme, "dev@acme.test").await.as_deref(), Some("developer"));
        assert_eq!(list_members(&pool, acme).await.unwrap().len(), 2, "history is kept");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn another_organization_cannot_see_revoke_or_redirect_invitations(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = org(&pool, "globex").await;
        let initech = customers::create(&pool, acme, "Initech").await.unwrap();
        let hash = token();
        let target = Target::Member { organization_id: acme, role: "viewer" };
        let invitation = invite(&pool, target, "dev@acme.test", &hash).await.unwrap();
        let customer_hash = token();
        let target =
            Target::Customer { organization_id: acme, customer_id: initech.id, role: "member" };
        let to_customer =
            invite(&pool, target, "buyer@initech.test", &customer_hash).await.unwrap();

        assert!(list_members(&pool, globex).await.unwrap().is_empty());
        assert!(list_customer(&pool, globex, initech.id).await.unwrap().is_empty());
        assert!(!revoke(&pool, globex, invitation.id).await.unwrap());
        assert!(!revoke(&pool, globex, to_customer.id).await.unwrap());
        assert!(!revoke_customer(&pool, globex, initech.id, to_customer.id).await.unwrap());
        assert!(!revoke_signup(&pool, invitation.id).await.unwrap(), "not a sign-up invitation");
        // Another organization cannot invite to acme's customer.
        let target =
            Target::Customer { organization_id: globex, customer_id: initech.id, role: "admin" };
        assert_eq!(invite(&pool, target, "spy@globex.test", &token()).await, None);
        assert_eq!(count(&pool, "invitations").await, 2);

        // Accepting joins the inviting organization only.
        let joiner = Joiner::NewUser { password_hash: HASH };
        accept(&pool, &hash, joiner).await.unwrap().unwrap();
        assert_eq!(role_in(&pool, acme, "dev@acme.test").await.as_deref(), Some("viewer"));
        assert_eq!(role_in(&pool, globex, "dev@acme.test").await, None);
        assert_eq!(status(&pool, &customer_hash).await, InvitationStatus::Open);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn existing_accounts_join_with_their_own_password(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        org(&pool, "globex").await;
        let boss = accounts::find_user_by_email(&pool, "owner@globex.test").await.unwrap().unwrap();
        let hash = token();
        let target = Target::Member { organization_id: acme, role: "viewer" };
        invite(&pool, target, "owner@globex.test", &hash).await.unwrap();
        assert!(find_by_token(&pool, &hash).await.unwrap().unwrap().account_exists);

        // A new account for an address that has one: a conflict, and the link stays open.
        let err = accept(&pool, &hash, Joiner::NewUser { password_hash: "$argon2id$other" })
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::Conflict(ref c) if c == "users_email_key"), "{err:?}");
        // Someone else's account cannot take the invitation.
        let stranger =
            accounts::find_user_by_email(&pool, "owner@acme.test").await.unwrap().unwrap();
        let joiner = Joiner::ExistingUser { user_id: stranger.id };
        assert_eq!(accept(&pool, &hash, joiner).await.unwrap(), None);
        let joiner = Joiner::ExistingUser { user_id: Uuid::now_v7() };
        assert_eq!(accept(&pool, &hash, joiner).await.unwrap(), None);
        assert_eq!(status(&pool, &hash).await, InvitationStatus::Open);

        let joiner = Joiner::ExistingUser { user_id: boss.id };
        let accepted = accept(&pool, &hash, joiner).await.unwrap().unwrap();
        assert_eq!(accepted.user_id, boss.id);
        assert_eq!(role_in(&pool, acme, "owner@globex.test").await.as_deref(), Some("viewer"));
        let after = accounts::find_user(&pool, boss.id).await.unwrap().unwrap();
        assert_eq!(after.password_hash, boss.password_hash, "the password is unchanged");

        // Already a member: a conflict that leaves a new invitation open.
        let again = token();
        let target = Target::Member { organization_id: acme, role: "admin" };
        invite(&pool, target, "owner@globex.test", &again).await.unwrap();
        let err = accept(&pool, &again, joiner).await.unwrap_err();
        assert!(
            matches!(err, DbError::Conflict(ref c) if c == "organization_members_pkey"),
            "{err:?}"
        );
        assert_eq!(status(&pool, &again).await, InvitationStatus::Open);
        assert_eq!(role_in(&pool, acme, "owner@globex.test").await.as_deref(), Some("viewer"));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn customer_invitations_add_customer_users(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let initech = customers::create(&pool, acme, "Initech").await.unwrap();
        let other = customers::create(&pool, acme, "Umbrella").await.unwrap();
        let hash = token();
        let target =
            Target::Customer { organization_id: acme, customer_id: initech.id, role: "admin" };
        let invitation = invite(&pool, target, "it@initech.test", &hash).await.unwrap();
        assert_eq!(
            list_customer(&pool, acme, initech.id).await.unwrap(),
            std::slice::from_ref(&invitation)
        );
        assert!(list_customer(&pool, acme, other.id).await.unwrap().is_empty());
        assert!(!revoke_customer(&pool, acme, other.id, invitation.id).await.unwrap());
        assert!(list_members(&pool, acme).await.unwrap().is_empty(), "not a member invitation");
        let found = find_by_token(&pool, &hash).await.unwrap().unwrap();
        assert_eq!(found.customer_name.as_deref(), Some("Initech"));

        let accepted =
            accept(&pool, &hash, Joiner::NewUser { password_hash: HASH }).await.unwrap().unwrap();
        let users = customers::list_users(&pool, acme, initech.id).await.unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!((users[0].user_id, users[0].role.as_str()), (accepted.user_id, "admin"));
        assert_eq!(role_in(&pool, acme, "it@initech.test").await, None, "not a vendor member");

        // Customer roles only; a revoked customer invitation is refused.
        let target =
            Target::Customer { organization_id: acme, customer_id: other.id, role: "owner" };
        let bad = NewInvitation {
            target,
            email: Some("x@umbrella.test"),
            invited_by: None,
            token_hash: &token(),
            expires_at: in_days(7),
        };
        assert!(create(&pool, &bad).await.is_err());
        let hash = token();
        let target =
            Target::Customer { organization_id: acme, customer_id: other.id, role: "member" };
        let invitation = invite(&pool, target, "x@umbrella.test", &hash).await.unwrap();
        assert!(revoke_customer(&pool, acme, other.id, invitation.id).await.unwrap());
        assert_eq!(
            accept(&pool, &hash, Joiner::NewUser { password_hash: HASH }).await.unwrap(),
            None
        );
        assert!(customers::list_users(&pool, acme, other.id).await.unwrap().is_empty());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn sign_up_invitations_are_not_accepted_as_memberships(pool: PgPool) {
        let hash = token();
        let new = NewInvitation {
            target: Target::Signup,
            email: None,
            invited_by: None,
            token_hash: &hash,
            expires_at: in_days(7),
        };
        let invitation = create(&pool, &new).await.unwrap().unwrap();
        assert_eq!((invitation.kind, invitation.organization_id), (InvitationKind::Signup, None));
        assert_eq!(list_signup(&pool).await.unwrap(), std::slice::from_ref(&invitation));
        assert_eq!(
            accept(&pool, &hash, Joiner::NewUser { password_hash: HASH }).await.unwrap(),
            None
        );
        assert_eq!(status(&pool, &hash).await, InvitationStatus::Open);
        assert!(revoke_signup(&pool, invitation.id).await.unwrap());
        assert_eq!(status(&pool, &hash).await, InvitationStatus::Revoked);
        // Member and customer invitations need an address; sign-up ones never carry a role.
        let no_email = NewInvitation {
            target: Target::Member { organization_id: Uuid::now_v7(), role: "viewer" },
            email: None,
            ..new.clone()
        };
        assert!(create(&pool, &no_email).await.is_err());
    }
}
