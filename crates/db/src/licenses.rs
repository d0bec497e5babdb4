//! Licenses and their grants.
//!
//! Owns the SQL for the `licenses` and `license_grants` tables. Writes take grants already
//! validated by `wharf-entitlements` (the one place that decides what a valid grant is); reads
//! validate again on the way out, so a row that no longer validates (say, the organization's
//! slug changed) grants nothing rather than something unexpected. Every function takes the
//! vendor organization it is scoped to: a license or customer id of another organization
//! behaves exactly like one that does not exist.

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;
use wharf_entitlements::{ExpiryPolicy, Grant, GrantSpec, License, LicenseId, TagSelectorSpec};

use crate::{DbError, PgPool};

/// A license as stored, with its validated grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRecord {
    /// Primary key.
    pub id: Uuid,
    /// The vendor organization.
    pub organization_id: Uuid,
    /// The customer holding it.
    pub customer_id: Uuid,
    /// Display name.
    pub name: String,
    /// Start of validity (inclusive).
    pub starts_at: OffsetDateTime,
    /// End of validity (exclusive), if any.
    pub expires_at: Option<OffsetDateTime>,
    /// What happens after expiry.
    pub on_expiry: ExpiryPolicy,
    /// A suspended license grants nothing.
    pub suspended: bool,
    /// The vendor's notes.
    pub notes: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    pub updated_at: OffsetDateTime,
    /// The grants, in the order given.
    pub grants: Vec<Grant>,
}

impl LicenseRecord {
    /// The license as `wharf-entitlements` decides with it; `None` if the stored dates do
    /// not validate (the table's checks prevent that).
    pub fn to_license(&self) -> Option<License> {
        License::new(
            LicenseId(self.id.as_u128()),
            self.starts_at,
            self.expires_at,
            self.on_expiry,
            self.suspended,
            self.grants.clone(),
        )
        .ok()
    }
}

/// What a license is made of, when creating or replacing one.
#[derive(Debug, Clone, Copy)]
pub struct LicenseInput<'a> {
    /// Display name (1 to 200 characters).
    pub name: &'a str,
    /// Start of validity (inclusive).
    pub starts_at: OffsetDateTime,
    /// End of validity (exclusive); must be later than `starts_at`.
    pub expires_at: Option<OffsetDateTime>,
    /// What happens after expiry.
    pub on_expiry: ExpiryPolicy,
    /// Whether it is suspended.
    pub suspended: bool,
    /// Free-form notes (at most 4000 characters).
    pub notes: &'a str,
    /// Validated grants, in order.
    pub grants: &'a [Grant],
}

fn policy_text(policy: ExpiryPolicy) -> &'static str {
    match policy {
        ExpiryPolicy::Revoke => "revoke",
        ExpiryPolicy::KeepReleased => "keep_released",
    }
}

fn parse_policy(text: &str) -> ExpiryPolicy {
    match text {
        "keep_released" => ExpiryPolicy::KeepReleased,
        // The only other value the table allows.
        _ => ExpiryPolicy::Revoke,
    }
}

/// Creates a license for customer `customer_id` of organization `org_id`. `None` when the
/// customer does not exist in that organization.
pub async fn create(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
    input: &LicenseInput<'_>,
) -> Result<Option<LicenseRecord>, DbError> {
    let mut tx = pool.begin().await?;
    let id = Uuid::now_v7();
    let inserted = sqlx::query_scalar!(
        "insert into licenses
             (id, organization_id, customer_id, name, starts_at, expires_at, on_expiry,
              suspended, notes)
         select $1, c.organization_id, c.id, $4, $5, $6, $7, $8, $9
         from customers c where c.organization_id = $2 and c.id = $3
         returning id",
        id,
        org_id,
        customer_id,
        input.name,
        input.starts_at,
        input.expires_at,
        policy_text(input.on_expiry),
        input.suspended,
        input.notes,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        return Ok(None);
    }
    insert_grants(&mut tx, id, input.grants).await?;
    tx.commit().await?;
    get(pool, org_id, id).await
}

/// Replaces a license's fields and all its grants. Returns the new state, `None` when the
/// license does not exist in organization `org_id`.
pub async fn replace(
    pool: &PgPool,
    org_id: Uuid,
    id: Uuid,
    input: &LicenseInput<'_>,
) -> Result<Option<LicenseRecord>, DbError> {
    let mut tx = pool.begin().await?;
    let updated = sqlx::query!(
        "update licenses
         set name = $3, starts_at = $4, expires_at = $5, on_expiry = $6, suspended = $7,
             notes = $8, updated_at = now()
         where organization_id = $1 and id = $2",
        org_id,
        id,
        input.name,
        input.starts_at,
        input.expires_at,
        policy_text(input.on_expiry),
        input.suspended,
        input.notes,
    )
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(None);
    }
    sqlx::query!("delete from license_grants where license_id = $1", id).execute(&mut *tx).await?;
    insert_grants(&mut tx, id, input.grants).await?;
    tx.commit().await?;
    get(pool, org_id, id).await
}

/// Suspends (`true`) or resumes (`false`) a license. Returns whether it exists.
pub async fn set_suspended(
    pool: &PgPool,
    org_id: Uuid,
    id: Uuid,
    suspended: bool,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update licenses set suspended = $3, updated_at = now()
         where organization_id = $1 and id = $2",
        org_id,
        id,
        suspended,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a license and its grants. Returns whether it existed.
pub async fn delete(pool: &PgPool, org_id: Uuid, id: Uuid) -> Result<bool, DbError> {
    let done =
        sqlx::query!("delete from licenses where organization_id = $1 and id = $2", org_id, id)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

async fn insert_grants(
    tx: &mut sqlx::PgConnection,
    license_id: Uuid,
    grants: &[Grant],
) -> Result<(), DbError> {
    if grants.is_empty() {
        return Ok(());
    }
    let specs: Vec<GrantSpec> = grants.iter().map(Grant::to_spec).collect();
    let positions: Vec<i32> =
        (0..specs.len()).map(|i| i32::try_from(i).unwrap_or(i32::MAX)).collect();
    let repositories: Vec<String> = specs.iter().map(|s| s.repository.clone()).collect();
    let tags: Vec<serde_json::Value> = specs
        .iter()
        .map(|s| serde_json::to_value(&s.tags))
        .collect::<Result<_, _>>()
        .map_err(|err| DbError::Sqlx(sqlx::Error::Encode(Box::new(err))))?;
    let after: Vec<Option<OffsetDateTime>> = specs.iter().map(|s| s.published_after).collect();
    let before: Vec<Option<OffsetDateTime>> = specs.iter().map(|s| s.published_before).collect();
    sqlx::query!(
        "insert into license_grants
             (license_id, position, repository, tags, published_after, published_before)
         select $1, * from unnest($2::int4[], $3::text[], $4::jsonb[], $5::timestamptz[],
                                  $6::timestamptz[])",
        license_id,
        &positions,
        &repositories,
        &tags,
        &after as &[Option<OffsetDateTime>],
        &before as &[Option<OffsetDateTime>],
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// A license row before its grants are attached.
struct Row {
    id: Uuid,
    organization_id: Uuid,
    customer_id: Uuid,
    org_slug: String,
    name: String,
    starts_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    on_expiry: String,
    suspended: bool,
    notes: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

/// The license `id` of organization `org_id`.
pub async fn get(pool: &PgPool, org_id: Uuid, id: Uuid) -> Result<Option<LicenseRecord>, DbError> {
    Ok(select(pool, org_id, Some(id), None).await?.pop())
}

/// The licenses of customer `customer_id` of organization `org_id`, oldest first; empty when
/// the customer does not exist there.
pub async fn list_for_customer(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
) -> Result<Vec<LicenseRecord>, DbError> {
    select(pool, org_id, None, Some(customer_id)).await
}

/// Every license of organization `org_id` with its grants (for questions about all its
/// customers at once, such as who may pull a tag).
pub async fn list_for_organization(
    pool: &PgPool,
    org_id: Uuid,
) -> Result<Vec<LicenseRecord>, DbError> {
    select(pool, org_id, None, None).await
}

/// The licenses of organization `org_id`, narrowed to one license and/or one customer,
/// oldest first, with their grants.
async fn select(
    pool: &PgPool,
    org_id: Uuid,
    id: Option<Uuid>,
    customer_id: Option<Uuid>,
) -> Result<Vec<LicenseRecord>, DbError> {
    let rows = sqlx::query_as!(
        Row,
        "select l.id, l.organization_id, l.customer_id, o.slug as org_slug, l.name,
                l.starts_at, l.expires_at, l.on_expiry, l.suspended, l.notes, l.created_at,
                l.updated_at
         from licenses l join organizations o on o.id = l.organization_id
         where l.organization_id = $1
           and ($2::uuid is null or l.id = $2)
           and ($3::uuid is null or l.customer_id = $3)
         order by l.created_at, l.id",
        org_id,
        id,
        customer_id,
    )
    .fetch_all(pool)
    .await?;
    with_grants(pool, rows).await
}

/// The licenses of a customer as `wharf-entitlements` decides with them (for the registry's
/// entitlement view).
pub async fn entitlements_of(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
) -> Result<Vec<License>, DbError> {
    Ok(list_for_customer(pool, org_id, customer_id)
        .await?
        .iter()
        .filter_map(LicenseRecord::to_license)
        .collect())
}

async fn with_grants(pool: &PgPool, rows: Vec<Row>) -> Result<Vec<LicenseRecord>, DbError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let grant_rows = sqlx::query!(
        r#"select license_id, repository, tags, published_after, published_before
           from license_grants where license_id = any($1) order by license_id, position"#,
        &ids,
    )
    .fetch_all(pool)
    .await?;
    let slugs: HashMap<Uuid, &str> = rows.iter().map(|r| (r.id, r.org_slug.as_str())).collect();
    let mut grants: HashMap<Uuid, Vec<Grant>> = HashMap::new();
    for g in grant_rows {
        let Some(slug) = slugs.get(&g.license_id) else { continue };
        let tags: Result<TagSelectorSpec, _> = serde_json::from_value(g.tags);
        let spec = tags.map(|tags| GrantSpec {
            repository: g.repository.clone(),
            tags,
            published_after: g.published_after,
            published_before: g.published_before,
        });
        match spec
            .map_err(|e| e.to_string())
            .and_then(|s| s.validate(slug).map_err(|e| e.to_string()))
        {
            Ok(grant) => grants.entry(g.license_id).or_default().push(grant),
            Err(err) => {
                // Grants nothing: default deny. Reported so the vendor can fix it.
                tracing::warn!(license = %g.license_id, "stored grant no longer validates: {err}");
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| LicenseRecord {
            grants: grants.remove(&r.id).unwrap_or_default(),
            id: r.id,
            organization_id: r.organization_id,
            customer_id: r.customer_id,
            name: r.name,
            starts_at: r.starts_at,
            expires_at: r.expires_at,
            on_expiry: parse_policy(&r.on_expiry),
            suspended: r.suspended,
            notes: r.notes,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use wharf_entitlements::{TagSelector, TagSelectorSpec};

    use super::*;
    use crate::customers;

    async fn org(pool: &PgPool, slug: &str) -> Uuid {
        crate::testing::org(pool, slug).await.id
    }

    fn grants() -> Vec<Grant> {
        vec![
            Grant::new(
                "acme",
                "acme/app",
                TagSelectorSpec::Semver {
                    range: ">=1.0.0 <2.0.0".into(),
                    allow_v_prefix: true,
                    include_prereleases: false,
                }
                .validate()
                .unwrap(),
                Some(datetime!(2026-01-01 0:00 UTC)),
                None,
            )
            .unwrap(),
            Grant::new("acme", "acme/charts/*", TagSelector::exact(["0.1.0"]).unwrap(), None, None)
                .unwrap(),
        ]
    }

    fn input<'a>(grants: &'a [Grant], name: &'a str) -> LicenseInput<'a> {
        LicenseInput {
            name,
            starts_at: datetime!(2026-01-01 0:00 UTC),
            expires_at: Some(datetime!(2027-01-01 0:00 UTC)),
            on_expiry: ExpiryPolicy::KeepReleased,
            suspended: false,
            notes: "renewal due",
            grants,
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn licenses_round_trip_with_their_grants_in_order(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = customers::create(&pool, acme, "Globex").await.unwrap();
        let grants = grants();
        let created =
            create(&pool, acme, globex.id, &input(&grants, "Gold")).await.unwrap().unwrap();
        assert_eq!(created.grants, grants);
        assert_eq!(created.on_expiry, ExpiryPolicy::KeepReleased);
        assert_eq!(created.notes, "renewal due");
        assert_eq!(get(&pool, acme, created.id).await.unwrap(), Some(created.clone()));
        let license = created.to_license().unwrap();
        assert_eq!(license.grants().len(), 2);
        assert_eq!(entitlements_of(&pool, acme, globex.id).await.unwrap(), vec![license]);

        // Replacing swaps every field and the whole grant list.
        let fewer = vec![grants[1].clone()];
        let mut changed = input(&fewer, "Silver");
        changed.on_expiry = ExpiryPolicy::Revoke;
        changed.expires_at = None;
        let replaced = replace(&pool, acme, created.id, &changed).await.unwrap().unwrap();
        assert_eq!((replaced.name.as_str(), replaced.grants.clone()), ("Silver", fewer));
        assert_eq!((replaced.on_expiry, replaced.expires_at), (ExpiryPolicy::Revoke, None));
        assert!(replaced.updated_at >= created.updated_at);

        assert!(set_suspended(&pool, acme, created.id, true).await.unwrap());
        assert!(get(&pool, acme, created.id).await.unwrap().unwrap().suspended);
        let no_grants =
            create(&pool, acme, globex.id, &input(&[], "Empty")).await.unwrap().unwrap();
        assert!(no_grants.grants.is_empty());
        let listed = list_for_customer(&pool, acme, globex.id).await.unwrap();
        assert_eq!(listed.iter().map(|l| l.id).collect::<Vec<_>>(), vec![created.id, no_grants.id]);
        assert!(delete(&pool, acme, created.id).await.unwrap());
        assert!(!delete(&pool, acme, created.id).await.unwrap());
        assert_eq!(get(&pool, acme, created.id).await.unwrap(), None);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn another_organization_sees_nothing_and_changes_nothing(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let other = org(&pool, "other").await;
        let globex = customers::create(&pool, acme, "Globex").await.unwrap();
        let grants = grants();
        let license =
            create(&pool, acme, globex.id, &input(&grants, "Gold")).await.unwrap().unwrap();

        assert_eq!(create(&pool, other, globex.id, &input(&grants, "X")).await.unwrap(), None);
        assert_eq!(get(&pool, other, license.id).await.unwrap(), None);
        assert!(list_for_customer(&pool, other, globex.id).await.unwrap().is_empty());
        assert!(entitlements_of(&pool, other, globex.id).await.unwrap().is_empty());
        assert_eq!(replace(&pool, other, license.id, &input(&[], "X")).await.unwrap(), None);
        assert!(!set_suspended(&pool, other, license.id, true).await.unwrap());
        assert!(!delete(&pool, other, license.id).await.unwrap());
        assert_eq!(get(&pool, acme, license.id).await.unwrap(), Some(license));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_table_refuses_what_validation_refuses(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = customers::create(&pool, acme, "Globex").await.unwrap();
        let mut bad = input(&[], "Backwards");
        bad.expires_at = Some(bad.starts_at);
        assert!(create(&pool, acme, globex.id, &bad).await.is_err());
        assert!(list_for_customer(&pool, acme, globex.id).await.unwrap().is_empty());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_stored_grant_that_no_longer_validates_grants_nothing(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let globex = customers::create(&pool, acme, "Globex").await.unwrap();
        let grants = grants();
        let license =
            create(&pool, acme, globex.id, &input(&grants, "Gold")).await.unwrap().unwrap();
        sqlx::query("update license_grants set tags = '{\"kind\":\"glob\",\"pattern\":\"(.*)\"}' where position = 0")
            .execute(&pool)
            .await
            .unwrap();
        let read = get(&pool, acme, license.id).await.unwrap().unwrap();
        assert_eq!(read.grants, vec![grants[1].clone()]);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn changes_notify_the_customer_and_the_repository(pool: PgPool) {
        use sqlx::postgres::PgListener;
        let acme = org(&pool, "acme").await;
        let globex = customers::create(&pool, acme, "Globex").await.unwrap();
        let mut listener = PgListener::connect_with(&pool).await.unwrap();
        listener.listen("wharf_invalidate").await.unwrap();
        let grants = grants();
        let license =
            create(&pool, acme, globex.id, &input(&grants, "Gold")).await.unwrap().unwrap();
        let want = format!("entitlements:{}", globex.id);
        let got = listener.recv().await.unwrap();
        assert_eq!(got.payload(), want, "one notification for the license and its grants");
        assert!(delete(&pool, acme, license.id).await.unwrap());
        assert_eq!(listener.recv().await.unwrap().payload(), want);

        let repo = crate::registry::repositories::find_or_create(&pool, acme, "acme", "acme/app")
            .await
            .unwrap()
            .unwrap();
        assert!(crate::registry::repositories::set_public(&pool, repo.id, true).await.unwrap());
        assert_eq!(listener.recv().await.unwrap().payload(), "repository:acme/app");
    }
}
