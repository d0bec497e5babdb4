//! What the vendor portal's dashboard and analytics read: bounded lists (latest pushes,
//! licenses about to expire, customers who never pulled, tokens used lately) and one
//! breakdown of pulls by day, customer, repository, tag and client kind.
//!
//! Each function is one statement returning a bounded number of rows, scoped to one
//! organization. Pulls are counted as in `usage`: top-level manifest GETs (an index pull's
//! child GETs are part of it), each event weighing the identical GETs it stands for.

use time::{Date, OffsetDateTime, Time};
use uuid::Uuid;

use crate::{DbError, PgPool};

/// A tag, as the latest pushes show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestPush {
    /// Repository name.
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// The digest it points at.
    pub digest: String,
    /// When it was pushed (or last moved).
    pub pushed_at: OffsetDateTime,
}

/// The `limit` tags of `org` pushed last, newest first.
pub async fn latest_pushes(
    pool: &PgPool,
    org: Uuid,
    limit: i64,
) -> Result<Vec<LatestPush>, DbError> {
    Ok(sqlx::query_as!(
        LatestPush,
        r#"select r.name as repository, t.name as tag, t.digest, t.pushed_at
           from tags t
           join repositories r on r.id = t.repository_id
           where r.organization_id = $1
           order by t.pushed_at desc, r.name, t.name
           limit $2"#,
        org,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// A license that ends soon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringLicense {
    /// The license.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its customer.
    pub customer_id: Uuid,
    /// The customer's name.
    pub customer_name: String,
    /// When it ends.
    pub expires_at: OffsetDateTime,
}

/// Licenses of `org` (not suspended) ending between now and `until`, soonest first; at
/// most `limit`.
pub async fn expiring_licenses(
    pool: &PgPool,
    org: Uuid,
    until: OffsetDateTime,
    limit: i64,
) -> Result<Vec<ExpiringLicense>, DbError> {
    Ok(sqlx::query_as!(
        ExpiringLicense,
        r#"select l.id, l.name, l.customer_id, c.name as customer_name,
                  l.expires_at as "expires_at!"
           from licenses l
           join customers c on c.id = l.customer_id and c.organization_id = l.organization_id
           where l.organization_id = $1 and not l.suspended
             and l.expires_at >= now() and l.expires_at < $2
           order by l.expires_at, l.id
           limit $3"#,
        org,
        until,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// A customer who has never pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleCustomer {
    /// The customer.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// Enabled customers of `org` with no recorded pull (neither a raw event nor, once events
/// are pruned, a day in the roll-up), newest first; at most `limit`.
pub async fn customers_never_pulled(
    pool: &PgPool,
    org: Uuid,
    limit: i64,
) -> Result<Vec<IdleCustomer>, DbError> {
    Ok(sqlx::query_as!(
        IdleCustomer,
        r#"select c.id, c.name, c.created_at
           from customers c
           where c.organization_id = $1 and not c.disabled
             and not exists (select 1 from pull_events e
                             where e.organization_id = $1 and e.customer_id = c.id)
             and not exists (select 1 from pull_daily_rollup r
                             where r.organization_id = $1 and r.customer_id = c.id)
           order by c.created_at desc, c.id
           limit $2"#,
        org,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// An access token and when it was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentToken {
    /// The token.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its display prefix.
    pub display_prefix: String,
    /// `vendor` or `customer`.
    pub kind: String,
    /// Its customer, for a customer token.
    pub customer_id: Option<Uuid>,
    /// The customer's name.
    pub customer_name: Option<String>,
    /// When it was last used.
    pub last_used_at: OffsetDateTime,
}

/// Unrevoked tokens of `org` (vendor and customer) by last use, latest first; at most
/// `limit`.
pub async fn tokens_used_recently(
    pool: &PgPool,
    org: Uuid,
    limit: i64,
) -> Result<Vec<RecentToken>, DbError> {
    Ok(sqlx::query_as!(
        RecentToken,
        r#"select t.id, t.name, t.display_prefix, t.kind, t.customer_id,
                  c.name as "customer_name?", t.last_used_at as "last_used_at!"
           from access_tokens t
           left join customers c on c.id = t.customer_id
           where t.organization_id = $1 and t.revoked_at is null
             and t.last_used_at is not null
           order by t.last_used_at desc, t.id
           limit $2"#,
        org,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// Which pulls a breakdown covers: whole UTC days.
#[derive(Debug, Clone)]
pub struct BreakdownFilter {
    /// From this day on (inclusive).
    pub since: Date,
    /// Before this day (exclusive).
    pub until: Date,
    /// One customer.
    pub customer_id: Option<Uuid>,
    /// One repository.
    pub repository: Option<String>,
}

/// What a breakdown groups pulls by, beside the day (which it always has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Per customer (`vendor` for the organization's own tokens).
    Customer,
    /// Per repository.
    Repository,
    /// Per `repository:tag` (a pull counts for each tag it matched).
    Tag,
    /// Per client kind.
    Client,
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 4] =
        [Dimension::Customer, Dimension::Repository, Dimension::Tag, Dimension::Client];

    /// Its name in rows and in `pull_daily_totals`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Customer => "customer",
            Dimension::Repository => "repository",
            Dimension::Tag => "tag",
            Dimension::Client => "client",
        }
    }
}

/// One line of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakdownRow {
    /// `day`, `customer`, `repository`, `client` or `tag`.
    pub dimension: String,
    /// The group: a UTC day (`2026-11-24`), a customer id (`vendor` for the vendor's own
    /// tokens), a repository, a client kind, or `<repository>:<tag>`.
    pub key: String,
    /// A customer's current name (or its name at its latest pull, once deleted).
    pub label: Option<String>,
    /// Pulls.
    pub pulls: i64,
    /// How many groups this dimension has in all (a dimension is cut to the top ones).
    pub groups: i64,
}

/// Pulls of `org` matching `filter` by UTC day (every day that has pulls, oldest first), and
/// by each of `dimensions`, the `top` groups with the most pulls.
///
/// Without a customer or repository filter, adds up the daily totals (`pull_daily_totals`,
/// one index range per dimension); with one, scans the matching pull events once (through
/// their customer or repository index), and for the days whose events the retention pass
/// may have pruned (`pull_events_pruned`), the daily roll-up (`pull_daily_rollup`) instead.
/// Both roll-ups are kept whatever their age, so a breakdown counts the same pulls before
/// and after pruning. One statement: the branch that does not apply is cut by a one-time
/// filter.
pub async fn pull_breakdown(
    pool: &PgPool,
    org: Uuid,
    filter: &BreakdownFilter,
    top: i64,
    dimensions: &[Dimension],
) -> Result<Vec<BreakdownRow>, DbError> {
    let dimensions: Vec<String> = dimensions.iter().map(|d| d.as_str().to_owned()).collect();
    let since = filter.since.with_time(Time::MIDNIGHT).assume_utc();
    let until = filter.until.with_time(Time::MIDNIGHT).assume_utc();
    Ok(sqlx::query_as!(
        BreakdownRow,
        r#"with totals as (
               select 'day' as dimension, to_char(t.day, 'YYYY-MM-DD') as key,
                      null as name, t.pulls
               from pull_daily_totals t
               where $4::uuid is null and $5::text is null
                 and t.organization_id = $1 and t.dimension = 'total'
                 and t.day >= $8 and t.day < $9
               union all
               select t.dimension, t.key, max(t.name), sum(t.pulls)::int8
               from pull_daily_totals t
               where $4::uuid is null and $5::text is null
                 and t.organization_id = $1 and t.dimension = any($7)
                 and t.day >= $8 and t.day < $9
               group by t.dimension, t.key
           ),
           pulls as materialized (
               select e.at, e.customer_id, e.customer_name, e.repository, e.tags,
                      e.client_kind, e.requests::int8 as requests
               from pull_events e
               where ($4::uuid is not null or $5::text is not null)
                 and e.organization_id = $1 and e.parent_id is null
                 and e.at >= $2 and e.at < $3
                 and ($4::uuid is null or e.customer_id = $4)
                 and ($5::text is null or e.repository = $5)
                 -- raw events from the day after the last prune, the roll-up before
                 and e.at >= coalesce((select ((p.pruned_before at time zone 'UTC')::date + 1)
                                              ::timestamp at time zone 'UTC'
                                       from pull_events_pruned p), '-infinity')
               union all
               select r.last_pull_at, r.customer_id, r.customer_name, r.repository, r.tags,
                      r.client_kind, r.pulls
               from pull_daily_rollup r
               where ($4::uuid is not null or $5::text is not null)
                 and r.organization_id = $1
                 and r.day < (select (p.pruned_before at time zone 'UTC')::date + 1
                              from pull_events_pruned p)
                 and r.day >= $8 and r.day < $9
                 and ($4::uuid is null or r.customer_id = $4)
                 and ($5::text is null or r.repository = $5)
           ),
           grouped as (
               select s.dimension, s.key, s.name, s.pulls from totals s
               union all
               select case when grouping(p.day) = 0 then 'day'
                           when grouping(p.customer) = 0 then 'customer'
                           when grouping(p.repository) = 0 then 'repository'
                           else 'client' end,
                      coalesce(p.day, p.customer, p.repository, p.client_kind),
                      max(p.customer_name), sum(p.requests)::int8
               from (select to_char(q.at at time zone 'UTC', 'YYYY-MM-DD') as day,
                            coalesce(q.customer_id::text, 'vendor') as customer,
                            q.customer_name, q.repository, q.client_kind, q.requests
                     from pulls q) p
               group by grouping sets ((p.day), (p.customer), (p.repository), (p.client_kind))
               union all
               select 'tag', p.repository || ':' || t.tag, null, sum(p.requests)::int8
               from pulls p cross join lateral unnest(p.tags) as t(tag)
               where 'tag' = any($7)
               group by p.repository, t.tag
           ),
           ranked as (
               select g.dimension, g.key, g.name, g.pulls,
                      count(*) over (partition by g.dimension) as groups,
                      row_number() over (partition by g.dimension
                                         order by case when g.dimension = 'day' then g.key end,
                                                  g.pulls desc, g.key) as rank
               from grouped g
           )
           select r.dimension as "dimension!", r.key as "key!",
                  case when r.dimension = 'customer' then coalesce(c.name, r.name) end as label,
                  r.pulls as "pulls!", r.groups as "groups!"
           from ranked r
           left join customers c
             on c.organization_id = $1
            and c.id = case when r.dimension = 'customer' and r.key <> 'vendor'
                            then r.key::uuid end
           where r.dimension = 'day' or (r.dimension = any($7) and r.rank <= $6)
           order by r.dimension, r.rank"#,
        org,
        since,
        until,
        filter.customer_id,
        filter.repository.as_deref(),
        top,
        &dimensions,
        filter.since,
        filter.until,
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    /// Pulls of one customer (plus a rolled-up child GET and another organization's pull),
    /// as the usage writer inserts them.
    async fn pulls(pool: &PgPool, org: Uuid, other: Uuid, customer: Uuid) {
        sqlx::query(
            "insert into pull_events (id, at, organization_id, customer_id, customer_name,
                                      token_id, repository, reference, digest, tags, media_type,
                                      client_kind, requests, parent_id)
             select gen_random_uuid(), now() - (n % 3) * interval '1 day',
                    case when n = 10 then $2 else $1 end, $3, 'Initech', $3,
                    'acme/' || (array['app', 'cli'])[1 + n % 2], 'v' || (n % 2),
                    'sha256:' || n, array['v' || (n % 2), 'latest'],
                    'application/vnd.oci.image.manifest.v1+json',
                    (array['docker', 'helm'])[1 + n % 2], 1 + n % 3,
                    case when n = 9 then gen_random_uuid() end
             from generate_series(1, 10) n",
        )
        .bind(org)
        .bind(other)
        .bind(customer)
        .execute(pool)
        .await
        .unwrap();
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn daily_totals_and_pull_events_tell_the_same(pool: PgPool) {
        let acme = crate::testing::org(&pool, "acme").await.id;
        let rival = crate::testing::org(&pool, "rival").await.id;
        let customer = crate::testing::customer(&pool, acme, "Initech").await.id;
        pulls(&pool, acme, rival, customer).await;
        let today = OffsetDateTime::now_utc().date();
        let mut filter = BreakdownFilter {
            since: today - Duration::days(6),
            until: today + Duration::days(1),
            customer_id: None,
            repository: None,
        };
        let from_totals = pull_breakdown(&pool, acme, &filter, 10, &Dimension::ALL).await.unwrap();
        filter.customer_id = Some(customer);
        let from_events = pull_breakdown(&pool, acme, &filter, 10, &Dimension::ALL).await.unwrap();
        assert_eq!(from_totals, from_events);
        let sum =
            |d: &str| from_totals.iter().filter(|r| r.dimension == d).map(|r| r.pulls).sum::<i64>();
        // Events 1..=8 of acme count their requests (n % 3 + 1); the child GET (9) and
        // the other organization's (10) do not.
        let expected: i64 = (1..=8).map(|n| 1 + n % 3).sum();
        assert_eq!(sum("day"), expected);
        assert_eq!(sum("customer"), expected);
        assert_eq!(sum("repository"), expected);
        assert_eq!(sum("client"), expected);
        assert_eq!(sum("tag"), 2 * expected, "each tag of a pull counts it");
        let customer_row = from_totals.iter().find(|r| r.dimension == "customer").unwrap();
        assert_eq!(customer_row.label.as_deref(), Some("Initech"));
        // Cut to the top groups, with the number of groups kept.
        let top = pull_breakdown(
            &pool,
            acme,
            &BreakdownFilter { customer_id: None, ..filter },
            1,
            &Dimension::ALL,
        )
        .await
        .unwrap();
        let tags: Vec<_> = top.iter().filter(|r| r.dimension == "tag").collect();
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].groups, 4);
    }
}
