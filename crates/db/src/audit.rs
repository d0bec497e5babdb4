//! The audit log (`audit_log`): append-only entries of security-relevant actions.
//!
//! Owns appending entries (in batches, from the server's background writer), the retention
//! job's prune (the only delete the table's trigger lets through) and the report queries.
//! There is no function that changes an entry.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// One entry to append.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// When it happened.
    pub at: OffsetDateTime,
    /// The vendor organization concerned.
    pub organization_id: Option<Uuid>,
    /// `token`, `user`, `operator` or `anonymous`.
    pub actor_kind: &'static str,
    /// The token or user id.
    pub actor_id: Option<Uuid>,
    /// The actor's name when the caller knows it; else copied from the token (its name) or
    /// the user (its email) when the entry is written.
    pub actor_name: Option<String>,
    /// What was done, e.g. `license.replace`.
    pub action: String,
    /// On what, e.g. `license:<id>` or `acme/app:1.2.0`.
    pub target: String,
    /// A name for the target (customer name, token name), copied.
    pub target_name: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: &'static str,
    /// Action-specific facts.
    pub detail: serde_json::Value,
    /// The client's address.
    pub client_addr: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `X-Request-Id`.
    pub request_id: Option<String>,
}

impl NewAuditEntry {
    /// A successful action happening now, with no request details (client address, user
    /// agent, request id) and the actor's name left to be copied when written; set the rest
    /// with struct update syntax.
    pub fn success(
        organization_id: Option<Uuid>,
        actor_kind: &'static str,
        actor_id: Option<Uuid>,
        action: &str,
        target: String,
        target_name: Option<String>,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            at: OffsetDateTime::now_utc(),
            organization_id,
            actor_kind,
            actor_id,
            actor_name: None,
            action: action.to_owned(),
            target,
            target_name,
            outcome: "success",
            detail,
            client_addr: None,
            user_agent: None,
            request_id: None,
        }
    }
}

/// Appends entries in one statement.
pub async fn append(pool: &PgPool, entries: &[NewAuditEntry]) -> Result<u64, DbError> {
    if entries.is_empty() {
        return Ok(0);
    }
    let ats: Vec<OffsetDateTime> = entries.iter().map(|e| e.at).collect();
    let orgs: Vec<Option<Uuid>> = entries.iter().map(|e| e.organization_id).collect();
    let kinds: Vec<String> = entries.iter().map(|e| e.actor_kind.to_owned()).collect();
    let actor_ids: Vec<Option<Uuid>> = entries.iter().map(|e| e.actor_id).collect();
    let actor_names: Vec<Option<String>> = entries.iter().map(|e| e.actor_name.clone()).collect();
    let actions: Vec<String> = entries.iter().map(|e| e.action.clone()).collect();
    let targets: Vec<String> = entries.iter().map(|e| e.target.clone()).collect();
    let target_names: Vec<Option<String>> = entries.iter().map(|e| e.target_name.clone()).collect();
    let outcomes: Vec<String> = entries.iter().map(|e| e.outcome.to_owned()).collect();
    let details: Vec<String> = entries.iter().map(|e| e.detail.to_string()).collect();
    let addrs: Vec<Option<String>> = entries.iter().map(|e| e.client_addr.clone()).collect();
    let agents: Vec<Option<String>> = entries.iter().map(|e| e.user_agent.clone()).collect();
    let request_ids: Vec<Option<String>> = entries.iter().map(|e| e.request_id.clone()).collect();
    let done = sqlx::query!(
        r#"insert into audit_log (at, organization_id, actor_kind, actor_id, actor_name, action,
                                  target, target_name, outcome, detail, client_addr, user_agent,
                                  request_id)
           select b.at, b.organization_id, b.actor_kind, b.actor_id,
                  coalesce(b.actor_name, t.name, u.email), b.action, b.target, b.target_name,
                  b.outcome, b.detail::jsonb, b.client_addr::inet, b.user_agent, b.request_id
           from unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::uuid[], $5::text[],
                       $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                       $11::text[], $12::text[], $13::text[])
                with ordinality as b(at, organization_id, actor_kind, actor_id, actor_name,
                                     action, target, target_name, outcome, detail,
                                     client_addr, user_agent, request_id, ord)
           left join access_tokens t on b.actor_kind = 'token' and t.id = b.actor_id
           left join users u on b.actor_kind = 'user' and u.id = b.actor_id
           order by b.ord"#,
        &ats,
        &orgs as &[Option<Uuid>],
        &kinds,
        &actor_ids as &[Option<Uuid>],
        &actor_names as &[Option<String>],
        &actions,
        &targets,
        &target_names as &[Option<String>],
        &outcomes,
        &details,
        &addrs as &[Option<String>],
        &agents as &[Option<String>],
        &request_ids as &[Option<String>],
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes entries older than `before`: the retention job, the only delete the table allows.
pub async fn prune(pool: &PgPool, before: OffsetDateTime) -> Result<u64, DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query!("select set_config('wharf.audit_prune', 'on', true) as \"set!\"")
        .fetch_one(&mut *tx)
        .await?;
    let done =
        sqlx::query!("delete from audit_log where at < $1", before).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Which entries a report covers. Every field narrows; `None` does not.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// An actor: its id, or its name as recorded.
    pub actor: Option<String>,
    /// An action (`license.replace`), or a family (`license`: every `license.*`).
    pub action: Option<String>,
    /// A target, exactly as recorded (`customer:<id>`, `acme/app:1.2.0`).
    pub target: Option<String>,
    /// From this time on (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Before this time (exclusive).
    pub until: Option<OffsetDateTime>,
    /// One outcome: `success`, `failure` or `denied`.
    pub outcome: Option<String>,
}

/// An entry as reports show it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    /// Its position (the cursor).
    pub id: i64,
    /// When.
    pub at: OffsetDateTime,
    /// `token`, `user`, `operator`, `anonymous`.
    pub actor_kind: String,
    /// Token or user id.
    pub actor_id: Option<Uuid>,
    /// Name at the time.
    pub actor_name: Option<String>,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Its name at the time.
    pub target_name: Option<String>,
    /// `success`, `failure`, `denied`.
    pub outcome: String,
    /// Action-specific facts.
    pub detail: serde_json::Value,
    /// Client address.
    pub client_addr: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
}

/// Entries of `org` matching `filter`, newest first, before the id `before`; at most `limit`.
pub async fn list(
    pool: &PgPool,
    org: Uuid,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, DbError> {
    Ok(audit_query(org, filter, before, limit).fetch_all(pool).await?)
}

/// Every entry of `org` matching `filter`, newest first, as a stream (exports).
pub fn stream<'a>(
    pool: &'a PgPool,
    org: Uuid,
    filter: &'a AuditFilter,
) -> impl futures_util::Stream<Item = Result<AuditRow, sqlx::Error>> + Send + 'a {
    audit_query(org, filter, None, i64::MAX).fetch(pool)
}

fn audit_query<'a>(
    org: Uuid,
    filter: &'a AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> sqlx::query::Map<
    'a,
    sqlx::Postgres,
    impl FnMut(sqlx::postgres::PgRow) -> Result<AuditRow, sqlx::Error> + Send,
    sqlx::postgres::PgArguments,
> {
    sqlx::query_as!(
        AuditRow,
        r#"select id, at, actor_kind, actor_id, actor_name, action, target, target_name,
                  outcome, detail, host(client_addr) as client_addr, user_agent, request_id
           from audit_log
           where organization_id = $1
             and ($2::text is null or actor_id::text = $2 or actor_name = $2)
             and ($3::text is null or action = $3 or action like $3 || '.%')
             and ($4::text is null or target = $4)
             and ($5::timestamptz is null or at >= $5)
             and ($6::timestamptz is null or at < $6)
             and ($7::bigint is null or id < $7)
             and ($9::text is null or outcome = $9)
           order by id desc
           limit $8"#,
        org,
        filter.actor.as_deref(),
        filter.action.as_deref(),
        filter.target.as_deref(),
        filter.since,
        filter.until,
        before,
        limit,
        filter.outcome.as_deref(),
    )
}
