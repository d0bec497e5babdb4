//! Access tokens: vendor API tokens and customer access tokens, as stored.
//!
//! Owns the SQL for the `access_tokens` table. Only the SHA-256 of a token reaches this module
//! (generating, formatting and hashing tokens is `wharf_auth::token`); deciding what a token
//! may do is the token service's. Tokens are revoked, never deleted, so lists keep their
//! history. Every query that reads or changes tokens of a tenant takes its organization;
//! [`find_by_hash`] and [`touch_last_used`] serve the authentication path, which does not
//! know the organization before the lookup (revocations reach instances through
//! [`crate::invalidation`]).

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// Whose token a row is, a vendor member's or a customer's; stored as `vendor` or `customer`.
/// (The token text's own format kind is `wharf_auth::token::TokenKind`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum TokenOwnerKind {
    /// A vendor API token (`wharf_vnd_…`), acting as one member of the organization.
    Vendor,
    /// A customer access token (`wharf_cst_…`), belonging to one customer.
    Customer,
}

impl TokenOwnerKind {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenOwnerKind::Vendor => "vendor",
            TokenOwnerKind::Customer => "customer",
        }
    }
}

/// Whom a new token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOwner {
    /// A vendor API token acting as member `user_id` of the organization (with that member's
    /// current role), or only pulling when `read_only`.
    Vendor {
        /// The member the token acts as.
        user_id: Uuid,
        /// Pull only, whatever the member's role.
        read_only: bool,
    },
    /// A customer access token of customer `customer_id` (a customer of the organization).
    Customer {
        /// The customer.
        customer_id: Uuid,
    },
}

/// A token to store. The clear text never gets here.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// The vendor organization.
    pub organization_id: Uuid,
    /// Whom it belongs to.
    pub owner: TokenOwner,
    /// Who created it, if a person did.
    pub created_by: Option<Uuid>,
    /// Name chosen by its owner (1–100 characters; not unique, so rotations can reuse it).
    pub name: &'a str,
    /// SHA-256 of the full token text.
    pub hash: &'a [u8; 32],
    /// Product prefix and the first random characters, for display.
    pub display_prefix: &'a str,
    /// When it stops working; never without.
    pub expires_at: Option<OffsetDateTime>,
}

/// A token as shown in lists (no hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// Primary key.
    pub id: Uuid,
    /// The vendor organization.
    pub organization_id: Uuid,
    /// Vendor or customer token.
    pub kind: TokenOwnerKind,
    /// The customer, for customer tokens.
    pub customer_id: Option<Uuid>,
    /// The member a vendor token acts as.
    pub user_id: Option<Uuid>,
    /// Email of the member a vendor token acts as.
    pub user_email: Option<String>,
    /// Who created it (unknown once that account is deleted).
    pub created_by: Option<Uuid>,
    /// Email of who created it.
    pub created_by_email: Option<String>,
    /// Name chosen by its owner.
    pub name: String,
    /// Product prefix and the first random characters.
    pub display_prefix: String,
    /// Pull only (vendor tokens; customer tokens always are).
    pub read_only: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// What authentication needs to know about a presented token, whatever its state: check
/// [`TokenCredentials::status`] before trusting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCredentials {
    /// The token's id.
    pub id: Uuid,
    /// Vendor or customer token.
    pub kind: TokenOwnerKind,
    /// The vendor organization.
    pub organization_id: Uuid,
    /// Its slug (the first segment of its repository names).
    pub organization_slug: String,
    /// The customer, for customer tokens.
    pub customer_id: Option<Uuid>,
    /// Whether that customer is disabled (false for vendor tokens).
    pub customer_disabled: bool,
    /// The member a vendor token acts as.
    pub user_id: Option<Uuid>,
    /// That member's current role (`owner`, `admin`, `developer`, `viewer`).
    pub member_role: Option<String>,
    /// Pull only.
    pub read_only: bool,
    /// When it stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// Whether a looked-up token may authenticate, and if not, why (for logs and the audit log;
/// a client is told the same thing in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// It may authenticate.
    Active,
    /// It was revoked.
    Revoked,
    /// Its expiry has passed.
    Expired,
    /// Its customer is disabled.
    CustomerDisabled,
    /// The vendor member it acts as has no role (cannot happen while the foreign keys hold;
    /// treated as unusable all the same).
    NoMember,
}

impl TokenCredentials {
    /// The token's state at `now`.
    pub fn status(&self, now: OffsetDateTime) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            TokenStatus::Expired
        } else if self.kind == TokenOwnerKind::Customer && self.customer_disabled {
            TokenStatus::CustomerDisabled
        } else if self.kind == TokenOwnerKind::Vendor && self.member_role.is_none() {
            TokenStatus::NoMember
        } else {
            TokenStatus::Active
        }
    }
}

/// Which of an organization's tokens [`select`] reads; `None` leaves that column unfiltered.
#[derive(Debug, Default, Clone, Copy)]
struct Filter {
    id: Option<Uuid>,
    kind: Option<TokenOwnerKind>,
    customer_id: Option<Uuid>,
    /// Only the tokens this person created.
    created_by: Option<Uuid>,
    /// Only the tokens after this one in the list's order (a page's last token).
    after: Option<Uuid>,
    /// At most this many.
    limit: Option<i64>,
}

/// The one select list of [`AccessToken`]: the tokens of organization `org_id` that match
/// `filter`, newest first, revoked and expired ones included. Every filter is an equality on
/// a column of `access_tokens` (or, for a page, the position after a token of the same
/// organization): Postgres plans each execution with its values (the `is null` tests fold
/// away), so a read by id uses the primary key and a list its index
/// (`access_tokens_organization`, `access_tokens_customer`), as separate queries did; even a
/// generic plan stays within the organization's index range.
async fn select<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    org_id: Uuid,
    filter: Filter,
) -> Result<Vec<AccessToken>, DbError> {
    Ok(sqlx::query_as!(
        AccessToken,
        r#"select t.id, t.organization_id, t.kind as "kind: TokenOwnerKind", t.customer_id,
                  t.user_id, u.email as "user_email?", t.created_by,
                  c.email as "created_by_email?", t.name, t.display_prefix, t.read_only,
                  t.created_at, t.expires_at, t.last_used_at, t.revoked_at
           from access_tokens t
           left join users u on u.id = t.user_id
           left join users c on c.id = t.created_by
           where t.organization_id = $1
             and ($2::uuid is null or t.id = $2)
             and ($3::text is null or t.kind = $3)
             and ($4::uuid is null or t.customer_id = $4)
             and ($5::uuid is null or t.created_by = $5)
             and ($6::uuid is null
                  or (t.created_at, t.id) < (select a.created_at, a.id from access_tokens a
                                             where a.id = $6 and a.organization_id = $1))
           order by t.created_at desc, t.id desc
           limit $7"#,
        org_id,
        filter.id,
        filter.kind.map(TokenOwnerKind::as_str),
        filter.customer_id,
        filter.created_by,
        filter.after,
        filter.limit,
    )
    .fetch_all(conn)
    .await?)
}

/// Stores a new token and returns it as lists show it. A customer of another organization, or
/// a user who is not a member of the organization, is refused by a foreign key
/// ([`DbError::Sqlx`]) and stores nothing.
pub async fn insert(pool: &PgPool, new: &NewToken<'_>) -> Result<AccessToken, DbError> {
    let (kind, customer_id, user_id, read_only) = match new.owner {
        TokenOwner::Vendor { user_id, read_only } => {
            (TokenOwnerKind::Vendor, None, Some(user_id), read_only)
        }
        TokenOwner::Customer { customer_id } => {
            (TokenOwnerKind::Customer, Some(customer_id), None, false)
        }
    };
    // Issuing a token is rare: the row is read back through the one select list of
    // `AccessToken`, in the inserting transaction (three more round trips with begin and
    // commit), rather than with a second copy of that list.
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "insert into access_tokens (id, organization_id, kind, customer_id, user_id, created_by,
                                    name, token_hash, display_prefix, read_only, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         returning id",
        Uuid::now_v7(),
        new.organization_id,
        kind.as_str(),
        customer_id,
        user_id,
        new.created_by,
        new.name,
        &new.hash[..],
        new.display_prefix,
        read_only,
        new.expires_at,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(DbError::from_insert)?;
    let filter = Filter { id: Some(id), ..Filter::default() };
    let token = select(&mut *tx, new.organization_id, filter)
        .await?
        .pop()
        .ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))?;
    tx.commit().await?;
    Ok(token)
}

/// A token of organization `org_id`.
pub async fn get(pool: &PgPool, org_id: Uuid, id: Uuid) -> Result<Option<AccessToken>, DbError> {
    Ok(select(pool, org_id, Filter { id: Some(id), ..Filter::default() }).await?.pop())
}

/// The vendor API tokens of organization `org_id`, newest first, revoked and expired ones
/// included.
pub async fn list_vendor_tokens(pool: &PgPool, org_id: Uuid) -> Result<Vec<AccessToken>, DbError> {
    select(pool, org_id, Filter { kind: Some(TokenOwnerKind::Vendor), ..Filter::default() }).await
}

/// The access tokens of customer `customer_id` of organization `org_id`, newest first,
/// revoked and expired ones included.
pub async fn list_customer_tokens(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
) -> Result<Vec<AccessToken>, DbError> {
    select(pool, org_id, Filter { customer_id: Some(customer_id), ..Filter::default() }).await
}

/// A page of [`list_customer_tokens`]: at most `limit` tokens, those after token `after`
/// (the previous page's last) when given, only those `created_by` created when given.
pub async fn page_customer_tokens(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
    created_by: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AccessToken>, DbError> {
    let filter = Filter {
        customer_id: Some(customer_id),
        created_by,
        after,
        limit: Some(limit),
        ..Filter::default()
    };
    select(pool, org_id, filter).await
}

/// Looks a presented token up by its SHA-256, with everything authentication needs, whatever
/// its state (revoked, expired and disabled tokens are returned too, so the caller can say
/// why it refused): check [`TokenCredentials::status`].
pub async fn find_by_hash(
    pool: &PgPool,
    hash: &[u8; 32],
) -> Result<Option<TokenCredentials>, DbError> {
    Ok(sqlx::query_as!(
        TokenCredentials,
        r#"select t.id, t.kind as "kind: TokenOwnerKind", t.organization_id,
                  o.slug as organization_slug, t.customer_id,
                  coalesce(c.disabled, false) as "customer_disabled!", t.user_id,
                  m.role as "member_role?", t.read_only, t.expires_at, t.revoked_at
           from access_tokens t
           join organizations o on o.id = t.organization_id
           left join customers c on c.id = t.customer_id
           left join organization_members m
                  on m.organization_id = t.organization_id and m.user_id = t.user_id
           where t.token_hash = $1"#,
        &hash[..],
    )
    .fetch_optional(pool)
    .await?)
}

/// Which tokens a caller of [`revoke`] may revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeScope {
    /// Any customer token of the organization: what the vendor may do. Vendor API tokens are
    /// not in this scope.
    AnyCustomer,
    /// The tokens of this customer of the organization only: what the customer may do from
    /// its portal.
    Customer(Uuid),
}

/// Revokes customer token `id` of organization `org_id`, if it is in `scope`. Idempotent:
/// returns the token's customer when such a token exists, revoked now or before (its first
/// revocation time is kept); `None` for an unknown id, a token of another organization or
/// of another customer, or a vendor token.
pub async fn revoke(
    pool: &PgPool,
    org_id: Uuid,
    scope: RevokeScope,
    id: Uuid,
) -> Result<Option<Uuid>, DbError> {
    let customer_id = match scope {
        RevokeScope::AnyCustomer => None,
        RevokeScope::Customer(customer_id) => Some(customer_id),
    };
    Ok(sqlx::query_scalar!(
        r#"update access_tokens set revoked_at = coalesce(revoked_at, now())
           where organization_id = $1 and id = $2 and kind = 'customer'
             and ($3::uuid is null or customer_id = $3)
           returning customer_id as "customer_id!""#,
        org_id,
        id,
        customer_id,
    )
    .fetch_optional(pool)
    .await?)
}

/// Revokes vendor API token `id` of organization `org_id` that acts as member `user_id`.
/// Idempotent like [`revoke`]; `false` for an unknown id, another member's token, a token of
/// another organization or a customer token.
pub async fn revoke_vendor(
    pool: &PgPool,
    org_id: Uuid,
    user_id: Uuid,
    id: Uuid,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update access_tokens set revoked_at = coalesce(revoked_at, now())
         where organization_id = $1 and id = $2 and kind = 'vendor' and user_id = $3",
        org_id,
        id,
        user_id,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that tokens `ids` were used at `now`, in one statement. A token whose
/// `last_used_at` is less than a minute older than `now` is left alone, so a busy token costs
/// at most one write a minute. Returns how many rows were written.
pub async fn touch_last_used(
    pool: &PgPool,
    ids: &[Uuid],
    now: OffsetDateTime,
) -> Result<u64, DbError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query!(
        "update access_tokens set last_used_at = $2
         where id = any($1)
           and (last_used_at is null or last_used_at < $2::timestamptz - interval '1 minute')",
        ids,
        now,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::{accounts, customers};

    const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    struct Org {
        id: Uuid,
        owner: Uuid,
    }

    async fn org(pool: &PgPool, slug: &str) -> Org {
        let org = crate::testing::org(pool, slug).await;
        Org { id: org.id, owner: org.owner }
    }

    static HASHES: [[u8; 32]; 4] = [[0; 32], [1; 32], [2; 32], [3; 32]];

    fn hash(n: usize) -> &'static [u8; 32] {
        &HASHES[n]
    }

    fn vendor_token<'a>(org: &Org, hash: &'a [u8; 32], read_only: bool) -> NewToken<'a> {
        NewToken {
            organization_id: org.id,
            owner: TokenOwner::Vendor { user_id: org.owner, read_only },
            created_by: Some(org.owner),
            name: "ci",
            hash,
            display_prefix: "wharf_vnd_abcdefgh",
            expires_at: None,
        }
    }

    fn customer_token<'a>(org: &Org, customer: Uuid, hash: &'a [u8; 32]) -> NewToken<'a> {
        NewToken {
            organization_id: org.id,
            owner: TokenOwner::Customer { customer_id: customer },
            created_by: None,
            name: "k8s pull secret",
            hash,
            display_prefix: "wharf_cst_abcdefgh",
            expires_at: None,
        }
    }

    async fn count(pool: &PgPool) -> i64 {
        sqlx::query_scalar("select count(*) from access_tokens").fetch_one(pool).await.unwrap()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn vendor_token_round_trip(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let stored = insert(&pool, &vendor_token(&acme, hash(1), true)).await.unwrap();
        assert_eq!(stored.kind, TokenOwnerKind::Vendor);
        assert_eq!(stored.user_email.as_deref(), Some("owner@acme.test"));
        assert_eq!(stored.created_by_email.as_deref(), Some("owner@acme.test"));
        assert!(stored.read_only);
        assert_eq!(list_vendor_tokens(&pool, acme.id).await.unwrap(), vec![stored.clone()]);

        let found = find_by_hash(&pool, hash(1)).await.unwrap().unwrap();
        assert_eq!(found.id, stored.id);
        assert_eq!(found.organization_slug, "acme");
        assert_eq!(found.member_role.as_deref(), Some("owner"));
        assert_eq!((found.customer_id, found.customer_disabled), (None, false));
        assert!(found.read_only);
        assert_eq!(found.status(OffsetDateTime::now_utc()), TokenStatus::Active);
        assert_eq!(find_by_hash(&pool, hash(2)).await.unwrap(), None);

        // The token follows its member's role.
        accounts::change_role(&pool, acme.id, acme.owner, "viewer").await.unwrap();
        let found = find_by_hash(&pool, hash(1)).await.unwrap().unwrap();
        assert_eq!(found.member_role.as_deref(), Some("viewer"));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn customer_token_round_trip_and_disabled_customer(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let initech = customers::create(&pool, acme.id, "Initech").await.unwrap();
        let stored = insert(&pool, &customer_token(&acme, initech.id, hash(1))).await.unwrap();
        assert_eq!(stored.kind, TokenOwnerKind::Customer);
        assert_eq!(stored.created_by, None);
        assert!(!stored.read_only);
        assert_eq!(
            list_customer_tokens(&pool, acme.id, initech.id).await.unwrap(),
            vec![stored.clone()]
        );
        assert!(list_vendor_tokens(&pool, acme.id).await.unwrap().is_empty());

        let now = OffsetDateTime::now_utc();
        let found = find_by_hash(&pool, hash(1)).await.unwrap().unwrap();
        assert_eq!((found.kind, found.customer_id), (TokenOwnerKind::Customer, Some(initech.id)));
        assert_eq!(found.member_role, None);
        assert_eq!(found.status(now), TokenStatus::Active);

        customers::update(&pool, acme.id, initech.id, None, Some(true)).await.unwrap();
        let found = find_by_hash(&pool, hash(1)).await.unwrap().unwrap();
        assert_eq!(found.status(now), TokenStatus::CustomerDisabled);

        // Deleting the customer deletes its tokens.
        customers::delete(&pool, acme.id, initech.id).await.unwrap();
        assert_eq!(find_by_hash(&pool, hash(1)).await.unwrap(), None);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn revocation_is_scoped_and_soft(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = org(&pool, "globex").await;
        let initech = customers::create(&pool, acme.id, "Initech").await.unwrap();
        let umbrella = customers::create(&pool, acme.id, "Umbrella").await.unwrap();
        let vendor = insert(&pool, &vendor_token(&acme, hash(1), false)).await.unwrap();
        let customer = insert(&pool, &customer_token(&acme, initech.id, hash(2))).await.unwrap();

        let any = RevokeScope::AnyCustomer;
        assert_eq!(revoke(&pool, globex.id, any, customer.id).await.unwrap(), None, "another org");
        let other = RevokeScope::Customer(umbrella.id);
        assert_eq!(revoke(&pool, acme.id, other, customer.id).await.unwrap(), None);
        let own = RevokeScope::Customer(initech.id);
        assert_eq!(
            revoke(&pool, acme.id, own, vendor.id).await.unwrap(),
            None,
            "a customer cannot revoke a vendor token"
        );
        assert_eq!(find_by_hash(&pool, hash(1)).await.unwrap().unwrap().revoked_at, None);
        assert_eq!(find_by_hash(&pool, hash(2)).await.unwrap().unwrap().revoked_at, None);

        assert_eq!(revoke(&pool, acme.id, own, customer.id).await.unwrap(), Some(initech.id));
        assert_eq!(revoke(&pool, acme.id, own, customer.id).await.unwrap(), Some(initech.id));
        let now = OffsetDateTime::now_utc();
        let found = find_by_hash(&pool, hash(2)).await.unwrap().unwrap();
        assert_eq!(found.status(now), TokenStatus::Revoked);
        assert_eq!(
            find_by_hash(&pool, hash(1)).await.unwrap().unwrap().status(now),
            TokenStatus::Active
        );
        let listed = list_customer_tokens(&pool, acme.id, initech.id).await.unwrap();
        assert_eq!(listed.len(), 1, "revoked tokens stay listed");
        assert!(listed[0].revoked_at.is_some());
        assert_eq!(count(&pool).await, 2);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn vendors_revoke_customer_tokens_only_idempotently(pool: PgPool) {
        let any = RevokeScope::AnyCustomer;
        let acme = org(&pool, "acme").await;
        let globex = org(&pool, "globex").await;
        let initech = customers::create(&pool, acme.id, "Initech").await.unwrap();
        let vendor = insert(&pool, &vendor_token(&acme, hash(1), false)).await.unwrap();
        let customer = insert(&pool, &customer_token(&acme, initech.id, hash(2))).await.unwrap();

        assert_eq!(revoke(&pool, acme.id, any, vendor.id).await.unwrap(), None);
        assert_eq!(revoke(&pool, globex.id, any, customer.id).await.unwrap(), None);
        assert_eq!(revoke(&pool, acme.id, any, Uuid::now_v7()).await.unwrap(), None);
        assert_eq!(find_by_hash(&pool, hash(1)).await.unwrap().unwrap().revoked_at, None);
        assert_eq!(find_by_hash(&pool, hash(2)).await.unwrap().unwrap().revoked_at, None);

        assert_eq!(revoke(&pool, acme.id, any, customer.id).await.unwrap(), Some(initech.id));
        let first = find_by_hash(&pool, hash(2)).await.unwrap().unwrap().revoked_at.unwrap();
        assert_eq!(
            revoke(&pool, acme.id, any, customer.id).await.unwrap(),
            Some(initech.id),
            "again: still there"
        );
        let second = find_by_hash(&pool, hash(2)).await.unwrap().unwrap().revoked_at.unwrap();
        assert_eq!(first, second, "the first revocation time is kept");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn another_organization_lists_and_gets_nothing(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = org(&pool, "globex").await;
        let initech = customers::create(&pool, acme.id, "Initech").await.unwrap();
        let vendor = insert(&pool, &vendor_token(&acme, hash(1), false)).await.unwrap();
        insert(&pool, &customer_token(&acme, initech.id, hash(2))).await.unwrap();
        assert!(list_vendor_tokens(&pool, globex.id).await.unwrap().is_empty());
        assert!(list_customer_tokens(&pool, globex.id, initech.id).await.unwrap().is_empty());
        assert_eq!(get(&pool, globex.id, vendor.id).await.unwrap(), None);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn constraint_violations_store_nothing(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = org(&pool, "globex").await;
        let initech = customers::create(&pool, acme.id, "Initech").await.unwrap();
        insert(&pool, &vendor_token(&acme, hash(1), false)).await.unwrap();

        let err = insert(&pool, &vendor_token(&acme, hash(1), false)).await.unwrap_err();
        assert!(
            matches!(err, DbError::Conflict(ref c) if c == "access_tokens_token_hash_key"),
            "{err:?}"
        );
        // A customer of another organization.
        let h = hash(3);
        assert!(insert(&pool, &customer_token(&globex, initech.id, h)).await.is_err());
        // A user who is not a member of the organization.
        let mut foreign = vendor_token(&globex, h, false);
        foreign.owner = TokenOwner::Vendor { user_id: acme.owner, read_only: false };
        assert!(insert(&pool, &foreign).await.is_err());
        // An empty name, an expiry in the past.
        let mut unnamed = vendor_token(&acme, h, false);
        unnamed.name = "";
        assert!(insert(&pool, &unnamed).await.is_err());
        let mut expired = vendor_token(&acme, h, false);
        expired.expires_at = Some(OffsetDateTime::now_utc() - Duration::days(1));
        assert!(insert(&pool, &expired).await.is_err());
        // Rows that bypass the typed API: a hash of the wrong length, a kind without its owner.
        let short = sqlx::query(
            "insert into access_tokens (id, organization_id, kind, user_id, name, token_hash, display_prefix)
             values ($1, $2, 'vendor', $3, 'x', '\\x00', 'p')",
        )
        .bind(Uuid::now_v7())
        .bind(acme.id)
        .bind(acme.owner)
        .execute(&pool)
        .await;
        assert!(short.is_err());
        let ownerless = sqlx::query(
            "insert into access_tokens (id, organization_id, kind, name, token_hash, display_prefix)
             values ($1, $2, 'customer', 'x', $3, 'p')",
        )
        .bind(Uuid::now_v7())
        .bind(acme.id)
        .bind(&h[..])
        .execute(&pool)
        .await;
        assert!(ownerless.is_err());
        assert_eq!(count(&pool).await, 1);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn removing_a_member_removes_their_vendor_tokens(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let dev =
            accounts::create_user(&pool, acme.id, "dev@acme.test", PASSWORD_HASH, "developer")
                .await
                .unwrap();
        let mut new = vendor_token(&acme, hash(1), false);
        new.owner = TokenOwner::Vendor { user_id: dev.id, read_only: false };
        let dev_token = insert(&pool, &new).await.unwrap();
        // A customer token created by the developer survives them, with an unknown creator.
        let initech = customers::create(&pool, acme.id, "Initech").await.unwrap();
        let mut issued = customer_token(&acme, initech.id, hash(2));
        issued.created_by = Some(dev.id);
        let issued = insert(&pool, &issued).await.unwrap();

        sqlx::query("delete from users where id = $1").bind(dev.id).execute(&pool).await.unwrap();
        assert_eq!(get(&pool, acme.id, dev_token.id).await.unwrap(), None);
        let kept = get(&pool, acme.id, issued.id).await.unwrap().unwrap();
        assert_eq!((kept.created_by, kept.created_by_email), (None, None));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn expiry_and_last_used(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let mut new = vendor_token(&acme, hash(1), false);
        let expires = OffsetDateTime::now_utc() + Duration::days(30);
        new.expires_at = Some(expires);
        let token = insert(&pool, &new).await.unwrap();
        let found = find_by_hash(&pool, hash(1)).await.unwrap().unwrap();
        assert_eq!(found.status(expires - Duration::seconds(1)), TokenStatus::Active);
        assert_eq!(found.status(expires), TokenStatus::Expired);

        let other = insert(&pool, &vendor_token(&acme, hash(2), false)).await.unwrap();
        let t0 = OffsetDateTime::now_utc();
        assert_eq!(touch_last_used(&pool, &[token.id, other.id], t0).await.unwrap(), 2);
        // Within a minute: nothing is written.
        let t1 = t0 + Duration::seconds(59);
        assert_eq!(touch_last_used(&pool, &[token.id, other.id], t1).await.unwrap(), 0);
        let t2 = t0 + Duration::seconds(61);
        assert_eq!(touch_last_used(&pool, &[token.id, Uuid::now_v7()], t2).await.unwrap(), 1);
        let last = |id| {
            let pool = pool.clone();
            async move { get(&pool, acme.id, id).await.unwrap().unwrap().last_used_at.unwrap() }
        };
        assert_eq!(last(token.id).await.unix_timestamp(), t2.unix_timestamp());
        assert_eq!(last(other.id).await.unix_timestamp(), t0.unix_timestamp());
        assert_eq!(touch_last_used(&pool, &[], t2).await.unwrap(), 0);
    }
}
