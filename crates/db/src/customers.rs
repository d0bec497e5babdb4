//! Customers (a vendor's customer organizations) and their users.
//!
//! Owns the SQL for the `customers` and `customer_users` tables. Every function takes the
//! vendor organization it is scoped to: a customer id of another organization behaves exactly
//! like an id that does not exist. Licenses and entitlements are not here.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// A vendor's customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Primary key.
    pub id: Uuid,
    /// The vendor organization.
    pub organization_id: Uuid,
    /// Display name, unique within the vendor.
    pub name: String,
    /// A disabled customer keeps its data but none of its tokens authenticate.
    pub disabled: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

impl Customer {
    /// Where the next page starts when this is the last customer of a page.
    pub fn cursor(&self) -> CustomerCursor {
        CustomerCursor { created_at: self.created_at, id: self.id }
    }
}

/// A position in the list of customers (ordered by creation time, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerCursor {
    /// Creation time of the last customer seen.
    pub created_at: OffsetDateTime,
    /// Id of the last customer seen.
    pub id: Uuid,
}

/// A user of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerUser {
    /// The user.
    pub user_id: Uuid,
    /// The user's email.
    pub email: String,
    /// `admin` (manages the customer's users and tokens) or `member`.
    pub role: String,
    /// When the user was added.
    pub created_at: OffsetDateTime,
}

/// Creates a customer of organization `org_id`. A name the organization already uses is
/// [`DbError::Conflict`] (`customers_organization_id_name_key`).
pub async fn create(pool: &PgPool, org_id: Uuid, name: &str) -> Result<Customer, DbError> {
    sqlx::query_as!(
        Customer,
        "insert into customers (id, organization_id, name) values ($1, $2, $3)
         returning id, organization_id, name, disabled, created_at",
        Uuid::now_v7(),
        org_id,
        name,
    )
    .fetch_one(pool)
    .await
    .map_err(DbError::from_insert)
}

/// A customer of organization `org_id`.
pub async fn get(pool: &PgPool, org_id: Uuid, id: Uuid) -> Result<Option<Customer>, DbError> {
    Ok(sqlx::query_as!(
        Customer,
        "select id, organization_id, name, disabled, created_at
         from customers where organization_id = $1 and id = $2",
        org_id,
        id,
    )
    .fetch_optional(pool)
    .await?)
}

/// One page of the customers of organization `org_id`, oldest first: at most `limit`
/// customers after `after` (from the start without it).
pub async fn list(
    pool: &PgPool,
    org_id: Uuid,
    after: Option<CustomerCursor>,
    limit: i64,
) -> Result<Vec<Customer>, DbError> {
    let (after_time, after_id) = after.map(|c| (c.created_at, c.id)).unzip();
    Ok(sqlx::query_as!(
        Customer,
        "select id, organization_id, name, disabled, created_at
         from customers
         where organization_id = $1
           and ($2::timestamptz is null or (created_at, id) > ($2, $3::uuid))
         order by created_at, id
         limit $4",
        org_id,
        after_time,
        after_id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// Changes a customer's name and/or disabled flag in one statement (`None` keeps the value)
/// and returns the result; `None` when the customer does not exist in organization `org_id`.
/// A name in use is [`DbError::Conflict`] and changes nothing.
pub async fn update(
    pool: &PgPool,
    org_id: Uuid,
    id: Uuid,
    name: Option<&str>,
    disabled: Option<bool>,
) -> Result<Option<Customer>, DbError> {
    sqlx::query_as!(
        Customer,
        "update customers
         set name = coalesce($3, name), disabled = coalesce($4, disabled)
         where organization_id = $1 and id = $2
         returning id, organization_id, name, disabled, created_at",
        org_id,
        id,
        name,
        disabled,
    )
    .fetch_optional(pool)
    .await
    .map_err(DbError::from_insert)
}

/// Deletes a customer with its user memberships and its access tokens (see the migration for
/// what history keeps). Returns whether it existed.
pub async fn delete(pool: &PgPool, org_id: Uuid, id: Uuid) -> Result<bool, DbError> {
    let done =
        sqlx::query!("delete from customers where organization_id = $1 and id = $2", org_id, id)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Adds an existing user to a customer of organization `org_id` with `role` (`admin` or
/// `member`). Returns whether the customer exists; a user already there is
/// [`DbError::Conflict`] (`customer_users_pkey`).
pub async fn add_user(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "insert into customer_users (customer_id, user_id, role)
         select id, $3, $4 from customers where organization_id = $1 and id = $2",
        org_id,
        customer_id,
        user_id,
        role,
    )
    .execute(pool)
    .await
    .map_err(DbError::from_insert)?;
    Ok(done.rows_affected() == 1)
}

/// The users of a customer of organization `org_id`, by email.
pub async fn list_users(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
) -> Result<Vec<CustomerUser>, DbError> {
    Ok(sqlx::query_as!(
        CustomerUser,
        "select cu.user_id, u.email, cu.role, cu.created_at
         from customer_users cu
         join customers c on c.id = cu.customer_id
         join users u on u.id = cu.user_id
         where c.organization_id = $1 and cu.customer_id = $2
         order by u.email",
        org_id,
        customer_id,
    )
    .fetch_all(pool)
    .await?)
}

/// The customer of organization `org_id` with this name.
pub async fn find_by_name(
    pool: &PgPool,
    org_id: Uuid,
    name: &str,
) -> Result<Option<Customer>, DbError> {
    Ok(sqlx::query_as!(
        Customer,
        "select id, organization_id, name, disabled, created_at
         from customers where organization_id = $1 and name = $2",
        org_id,
        name,
    )
    .fetch_optional(pool)
    .await?)
}

/// User `user_id` as a user of customer `customer_id` of organization `org_id`, if they are one.
pub async fn find_user(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
    user_id: Uuid,
) -> Result<Option<CustomerUser>, DbError> {
    Ok(sqlx::query_as!(
        CustomerUser,
        "select cu.user_id, u.email, cu.role, cu.created_at
         from customer_users cu
         join customers c on c.id = cu.customer_id
         join users u on u.id = cu.user_id
         where c.organization_id = $1 and cu.customer_id = $2 and cu.user_id = $3",
        org_id,
        customer_id,
        user_id,
    )
    .fetch_optional(pool)
    .await?)
}

/// A customer a user belongs to, with the vendor it buys from and the user's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerMembershipRow {
    /// The vendor organization.
    pub organization_id: Uuid,
    /// The vendor's slug.
    pub organization_slug: String,
    /// The vendor's display name.
    pub organization_name: String,
    /// The customer.
    pub customer_id: Uuid,
    /// The customer's name.
    pub customer_name: String,
    /// `admin` or `member`.
    pub role: String,
}

/// The enabled customers user `user_id` belongs to, by vendor slug and customer name
/// (a disabled customer's users cannot work for it). Not scoped to one organization: it is
/// the signed-in user's own list, for choosing where to work.
pub async fn memberships_of(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Vec<CustomerMembershipRow>, DbError> {
    Ok(sqlx::query_as!(
        CustomerMembershipRow,
        "select o.id as organization_id, o.slug as organization_slug,
                o.name as organization_name, c.id as customer_id, c.name as customer_name,
                cu.role
         from customer_users cu
         join customers c on c.id = cu.customer_id
         join organizations o on o.id = c.organization_id
         where cu.user_id = $1 and not c.disabled
         order by o.slug, c.name",
        user_id,
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts;

    async fn org(pool: &PgPool, slug: &str) -> Uuid {
        crate::testing::org(pool, slug).await.id
    }

    async fn count(pool: &PgPool, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(pool).await.unwrap()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn create_get_rename_disable_delete(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let c = create(&pool, acme, "Initech").await.unwrap();
        assert!(!c.disabled);
        assert_eq!(get(&pool, acme, c.id).await.unwrap(), Some(c.clone()));

        assert!(update(&pool, acme, c.id, Some("Initech GmbH"), None).await.unwrap().is_some());
        assert!(update(&pool, acme, c.id, None, Some(true)).await.unwrap().is_some());
        let changed = get(&pool, acme, c.id).await.unwrap().unwrap();
        assert_eq!((changed.name.as_str(), changed.disabled), ("Initech GmbH", true));
        assert!(update(&pool, acme, c.id, None, Some(false)).await.unwrap().is_some());
        assert!(!get(&pool, acme, c.id).await.unwrap().unwrap().disabled);

        assert!(delete(&pool, acme, c.id).await.unwrap());
        assert_eq!(get(&pool, acme, c.id).await.unwrap(), None);
        assert!(!delete(&pool, acme, c.id).await.unwrap());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn pages_follow_creation_order(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let mut created = Vec::new();
        for i in 0..7 {
            created.push(create(&pool, acme, &format!("customer {i}")).await.unwrap());
        }
        // Two customers created in the same instant are ordered by id.
        sqlx::query("update customers set created_at = $1 where organization_id = $2")
            .bind(created[0].created_at)
            .bind(acme)
            .execute(&pool)
            .await
            .unwrap();
        let mut expected: Vec<Uuid> = created.iter().map(|c| c.id).collect();
        expected.sort();

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = list(&pool, acme, after, 3).await.unwrap();
            assert!(page.len() <= 3);
            seen.extend(page.iter().map(|c| c.id));
            match page.last() {
                Some(last) if page.len() == 3 => after = Some(last.cursor()),
                _ => break,
            }
        }
        assert_eq!(seen, expected);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn another_organization_sees_nothing_and_changes_nothing(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = org(&pool, "globex").await;
        let c = create(&pool, acme, "Initech").await.unwrap();
        assert_eq!(get(&pool, globex, c.id).await.unwrap(), None);
        assert!(list(&pool, globex, None, 100).await.unwrap().is_empty());
        assert_eq!(update(&pool, globex, c.id, Some("Mine"), None).await.unwrap(), None);
        assert_eq!(update(&pool, globex, c.id, None, Some(true)).await.unwrap(), None);
        assert!(!delete(&pool, globex, c.id).await.unwrap());
        let owner =
            accounts::find_user_by_email(&pool, "owner@globex.test").await.unwrap().unwrap();
        assert!(!add_user(&pool, globex, c.id, owner.id, "admin").await.unwrap());
        assert!(list_users(&pool, globex, c.id).await.unwrap().is_empty());
        assert_eq!(get(&pool, acme, c.id).await.unwrap(), Some(c));
        assert_eq!(count(&pool, "customer_users").await, 0);
        // The same name is free in another organization.
        create(&pool, globex, "Initech").await.unwrap();
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn duplicate_names_are_conflicts_and_change_nothing(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let a = create(&pool, acme, "Initech").await.unwrap();
        let b = create(&pool, acme, "Umbrella").await.unwrap();
        let err = create(&pool, acme, "Initech").await.unwrap_err();
        assert!(
            matches!(err, DbError::Conflict(ref c) if c == "customers_organization_id_name_key"),
            "{err:?}"
        );
        let err = update(&pool, acme, b.id, Some("Initech"), None).await.unwrap_err();
        assert!(matches!(err, DbError::Conflict(_)), "{err:?}");
        assert_eq!(count(&pool, "customers").await, 2);
        assert_eq!(get(&pool, acme, b.id).await.unwrap().unwrap().name, "Umbrella");
        assert!(create(&pool, acme, "").await.is_err(), "empty names are refused");
        assert_eq!(get(&pool, acme, a.id).await.unwrap(), Some(a));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn update_changes_what_is_given_atomically(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = org(&pool, "globex").await;
        let c = create(&pool, acme, "Initech").await.unwrap();
        create(&pool, acme, "Umbrella").await.unwrap();

        let same = update(&pool, acme, c.id, None, None).await.unwrap().unwrap();
        assert_eq!(same, c);
        let both =
            update(&pool, acme, c.id, Some("Initech AG"), Some(true)).await.unwrap().unwrap();
        assert_eq!((both.name.as_str(), both.disabled), ("Initech AG", true));
        let enabled = update(&pool, acme, c.id, None, Some(false)).await.unwrap().unwrap();
        assert_eq!((enabled.name.as_str(), enabled.disabled), ("Initech AG", false));

        // A taken name changes nothing, not even the flag given with it.
        let err = update(&pool, acme, c.id, Some("Umbrella"), Some(true)).await.unwrap_err();
        assert!(matches!(err, DbError::Conflict(_)), "{err:?}");
        assert_eq!(get(&pool, acme, c.id).await.unwrap(), Some(enabled.clone()));
        // Another organization's customer is not there.
        assert_eq!(update(&pool, globex, c.id, Some("Mine"), Some(true)).await.unwrap(), None);
        assert_eq!(get(&pool, acme, c.id).await.unwrap(), Some(enabled));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn customer_users_and_vendor_membership_coexist(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = org(&pool, "globex").await;
        let c = create(&pool, acme, "Globex as a customer").await.unwrap();
        // The owner of one vendor is a customer user of another.
        let boss = accounts::find_user_by_email(&pool, "owner@globex.test").await.unwrap().unwrap();
        assert!(add_user(&pool, acme, c.id, boss.id, "admin").await.unwrap());
        let users = list_users(&pool, acme, c.id).await.unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(
            (users[0].email.as_str(), users[0].role.as_str()),
            ("owner@globex.test", "admin")
        );
        assert!(accounts::find_member(&pool, globex, boss.id).await.unwrap().is_some());

        let err = add_user(&pool, acme, c.id, boss.id, "member").await.unwrap_err();
        assert!(matches!(err, DbError::Conflict(ref k) if k == "customer_users_pkey"), "{err:?}");
        assert!(add_user(&pool, acme, c.id, Uuid::now_v7(), "member").await.is_err());
        let other = create(&pool, acme, "Other").await.unwrap();
        assert!(add_user(&pool, acme, other.id, boss.id, "owner").await.is_err(), "bad role");
        assert_eq!(count(&pool, "customer_users").await, 1);

        assert!(delete(&pool, acme, c.id).await.unwrap());
        assert_eq!(count(&pool, "customer_users").await, 0, "memberships go with the customer");
        assert!(accounts::find_user_by_email(&pool, "owner@globex.test").await.unwrap().is_some());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn lookups_by_name_and_user_are_scoped(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = org(&pool, "globex").await;
        let c = create(&pool, acme, "Initech").await.unwrap();
        assert_eq!(find_by_name(&pool, acme, "Initech").await.unwrap(), Some(c.clone()));
        assert_eq!(find_by_name(&pool, acme, "initech").await.unwrap(), None);
        assert_eq!(find_by_name(&pool, globex, "Initech").await.unwrap(), None);
        let boss = accounts::find_user_by_email(&pool, "owner@globex.test").await.unwrap().unwrap();
        assert_eq!(find_user(&pool, acme, c.id, boss.id).await.unwrap(), None);
        add_user(&pool, acme, c.id, boss.id, "admin").await.unwrap();
        assert_eq!(find_user(&pool, acme, c.id, boss.id).await.unwrap().unwrap().role, "admin");
        assert_eq!(find_user(&pool, globex, c.id, boss.id).await.unwrap(), None);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_users_customer_memberships_leave_out_disabled_customers(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = org(&pool, "globex").await;
        let a = create(&pool, acme, "Initech").await.unwrap();
        let b = create(&pool, globex, "Initech").await.unwrap();
        let off = create(&pool, acme, "Umbrella").await.unwrap();
        let boss = accounts::find_user_by_email(&pool, "owner@globex.test").await.unwrap().unwrap();
        add_user(&pool, acme, a.id, boss.id, "member").await.unwrap();
        add_user(&pool, globex, b.id, boss.id, "admin").await.unwrap();
        add_user(&pool, acme, off.id, boss.id, "admin").await.unwrap();
        update(&pool, acme, off.id, None, Some(true)).await.unwrap();
        let memberships = memberships_of(&pool, boss.id).await.unwrap();
        let summary: Vec<(&str, &str, &str)> = memberships
            .iter()
            .map(|m| (m.organization_slug.as_str(), m.customer_name.as_str(), m.role.as_str()))
            .collect();
        assert_eq!(summary, [("acme", "Initech", "member"), ("globex", "Initech", "admin")]);
        assert_eq!((memberships[0].customer_id, memberships[0].organization_id), (a.id, acme));
    }
}

/// A customer as the vendor's list shows it: its state, its licenses in brief and its last
/// pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerOverview {
    /// The customer.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Whether it is disabled.
    pub disabled: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// How many licenses it holds.
    pub licenses: i64,
    /// How many of them are in force now (started, not expired, not suspended).
    pub active_licenses: i64,
    /// The earliest expiry among its licenses that have not expired yet.
    pub next_expiry: Option<OffsetDateTime>,
    /// Its latest pull, if it ever pulled.
    pub last_pull_at: Option<OffsetDateTime>,
}

/// One page of organization `org_id`'s customers by name (case-insensitive, then id), with
/// their licenses in brief and last pull: at most `limit` customers whose name contains
/// `search` (case-insensitive; all without it), after the customer named `after` (name, id).
/// One statement; each customer's licenses and last pull are index lookups.
pub async fn overview(
    pool: &PgPool,
    org_id: Uuid,
    search: Option<&str>,
    after: Option<(&str, Uuid)>,
    limit: i64,
) -> Result<Vec<CustomerOverview>, DbError> {
    let pattern = search.map(|s| format!("%{}%", escape_like(s)));
    let (after_name, after_id) = after.unzip();
    Ok(sqlx::query_as!(
        CustomerOverview,
        r#"select c.id, c.name, c.disabled, c.created_at,
                  l.licenses as "licenses!", l.active_licenses as "active_licenses!",
                  l.next_expiry, p.last_pull_at
           from customers c
           cross join lateral (
               select count(*) as licenses,
                      count(*) filter (where not suspended and starts_at <= now()
                                       and (expires_at is null or expires_at > now()))
                          as active_licenses,
                      min(expires_at) filter (where expires_at > now()) as next_expiry
               from licenses where customer_id = c.id
           ) l
           left join lateral (
               -- the roll-up keeps the latest pull once its raw events are pruned
               select coalesce(
                   (select max(at) from pull_events
                    where organization_id = $1 and customer_id = c.id),
                   (select max(last_pull_at) from pull_daily_rollup
                    where organization_id = $1 and customer_id = c.id)) as last_pull_at
           ) p on true
           where c.organization_id = $1
             and ($2::text is null or c.name ilike $2)
             and ($3::text is null or (lower(c.name), c.id) > (lower($3), $4::uuid))
           order by lower(c.name), c.id
           limit $5"#,
        org_id,
        pattern,
        after_name,
        after_id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// The names and disabled flags of customers `ids` of organization `org_id` (ids of other
/// organizations are left out).
pub async fn names(
    pool: &PgPool,
    org_id: Uuid,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, (String, bool)>, DbError> {
    Ok(sqlx::query!(
        "select id, name, disabled from customers where organization_id = $1 and id = any($2)",
        org_id,
        ids,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.id, (r.name, r.disabled)))
    .collect())
}

/// `text` with the `LIKE` wildcards and the escape character escaped.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
