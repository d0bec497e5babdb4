//! Usage reports and the audit log: `GET /api/v1/pulls`, `/api/v1/pulls.csv`,
//! `/api/v1/pulls/summary`, `/api/v1/bytes/summary`, `/api/v1/checks/summary`,
//! `/api/v1/audit` and
//! `/api/v1/audit.csv`, all scoped to the caller's organization and readable by every role.
//!
//! Lists are paged newest first with opaque cursors; the CSV exports stream every matching
//! row straight from the database cursor into the response (no row cap, nothing buffered
//! but one row). Bad parameters answer a 400 problem naming the parameter.

use axum::{
    Json,
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;
use wharf_app::csv;
use wharf_db::{
    audit::{self, AuditFilter, AuditRow},
    usage::{
        self, BytesFilter, BytesGrouping, BytesTotal, CheckGrouping, CheckTotal, PullFilter,
        PullGrouping, PullRow, PullTotal,
    },
};

use crate::{
    App, Caller, Problem,
    extract::{DEFAULT_LIMIT, MAX_LIMIT, bad_cursor, decode_cursor, encode_cursor},
};

/// The query string as pairs; unknown parameters are refused (a misspelt filter must not
/// silently widen a report).
pub(crate) fn pairs(query: Option<&str>, known: &[&str]) -> Result<Vec<(String, String)>, Problem> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).map_err(|_| {
            Problem::new(StatusCode::BAD_REQUEST, "the query string is not valid form encoding")
        })?;
    for (key, _) in &pairs {
        if !known.contains(&key.as_str()) {
            return Err(Problem::invalid(
                key.clone(),
                format!("{key}: unknown parameter; known: {}", known.join(", ")),
            ));
        }
    }
    Ok(pairs)
}

fn time_param(field: &str, value: &str) -> Result<OffsetDateTime, Problem> {
    OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
        Problem::invalid(field, format!("{field}: not an RFC 3339 time (2026-01-01T00:00:00Z)"))
    })
}

fn customer_param(value: &str) -> Result<Uuid, Problem> {
    value.parse().map_err(|_| Problem::invalid("customer", "customer: not a customer id (a UUID)"))
}

fn limit_param(value: &str) -> Result<i64, Problem> {
    value.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
        Problem::invalid("limit", format!("limit: must be a whole number from 1 to {MAX_LIMIT}"))
    })
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Parsed `?customer=&repository=&tag=&client=&since=&until=` (+ paging, + `group`).
struct PullParams {
    filter: PullFilter,
    limit: i64,
    after: Option<(OffsetDateTime, Uuid)>,
    group: Option<PullGrouping>,
}

const CLIENT_KINDS: [&str; 7] =
    ["docker", "containerd", "podman", "helm", "oras", "other", "export"];

fn pull_params(query: Option<&str>, known: &[&str]) -> Result<PullParams, Problem> {
    let mut p = PullParams {
        filter: PullFilter::default(),
        limit: DEFAULT_LIMIT,
        after: None,
        group: None,
    };
    for (key, value) in pairs(query, known)? {
        match key.as_str() {
            "customer" => {
                p.filter.customer_id = Some(customer_param(&value)?);
            }
            "repository" => p.filter.repository = Some(value),
            "tag" => p.filter.tag = Some(value),
            "client" => {
                if !CLIENT_KINDS.contains(&value.as_str()) {
                    return Err(Problem::invalid(
                        "client",
                        format!("client: one of {}", CLIENT_KINDS.join(", ")),
                    ));
                }
                p.filter.client_kind = Some(value);
            }
            "since" => p.filter.since = Some(time_param("since", &value)?),
            "until" => p.filter.until = Some(time_param("until", &value)?),
            "limit" => p.limit = limit_param(&value)?,
            "cursor" if !value.is_empty() => {
                let decoded = decode_cursor(&value)?;
                let (nanos, id) = decoded.split_once(',').ok_or_else(bad_cursor)?;
                let at = nanos
                    .parse::<i128>()
                    .ok()
                    .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok())
                    .ok_or_else(bad_cursor)?;
                p.after = Some((at, id.parse().map_err(|_| bad_cursor())?));
            }
            "group" => {
                p.group = Some(match value.as_str() {
                    "day" => PullGrouping::Day,
                    "customer" => PullGrouping::Customer,
                    "version" => PullGrouping::Version,
                    _ => return Err(Problem::invalid("group", "group: day, customer or version")),
                });
            }
            _ => {}
        }
    }
    Ok(p)
}

/// A pull as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PullBody {
    /// Event id.
    pub id: Uuid,
    /// When (RFC 3339).
    pub at: String,
    /// The customer, for a customer token.
    pub customer_id: Option<Uuid>,
    /// Its name at the time.
    pub customer_name: Option<String>,
    /// The token.
    pub token_id: Uuid,
    /// Its name at the time.
    pub token_name: Option<String>,
    /// Its display prefix.
    pub token_prefix: Option<String>,
    /// Repository.
    pub repository: String,
    /// The reference as requested.
    pub reference: String,
    /// The digest served.
    pub digest: String,
    /// The requested tag, or the tags pointing at the digest.
    pub tags: Vec<String>,
    /// Media type.
    pub media_type: String,
    /// Platforms of the index children pulled with it.
    pub platforms: Vec<String>,
    /// Client address.
    pub client_addr: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Client kind.
    pub client: String,
    /// How many identical GETs within that second this pull stands for.
    pub requests: i32,
}

impl From<PullRow> for PullBody {
    fn from(r: PullRow) -> Self {
        Self {
            id: r.id,
            at: rfc3339(r.at),
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            token_id: r.token_id,
            token_name: r.token_name,
            token_prefix: r.token_prefix,
            repository: r.repository,
            reference: r.reference,
            digest: r.digest,
            tags: r.tags,
            media_type: r.media_type,
            platforms: r.platforms,
            client_addr: r.client_addr,
            user_agent: r.user_agent,
            client: r.client_kind,
            requests: r.requests,
        }
    }
}

/// A page of pulls.
#[derive(Debug, Clone, Serialize)]
pub struct PullPage {
    /// Newest first.
    pub items: Vec<PullBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

const PULL_PARAMS: [&str; 8] =
    ["customer", "repository", "tag", "client", "since", "until", "limit", "cursor"];

/// `GET /api/v1/pulls`.
pub async fn list_pulls(
    caller: Caller,
    State(state): State<App>,
    RawQuery(query): RawQuery,
) -> Result<Json<PullPage>, Problem> {
    let p = pull_params(query.as_deref(), &PULL_PARAMS)?;
    let mut found =
        usage::list_pulls(&state.pool, caller.actor.org_id, &p.filter, p.after, p.limit + 1)
            .await?;
    let more = found.len() as i64 > p.limit;
    found.truncate(usize::try_from(p.limit).unwrap_or(0));
    let next_cursor = match (more, found.last()) {
        (true, Some(last)) => {
            Some(encode_cursor(&format!("{},{}", last.at.unix_timestamp_nanos(), last.id)))
        }
        _ => None,
    };
    Ok(Json(PullPage { items: found.into_iter().map(Into::into).collect(), next_cursor }))
}

/// A line of a summary.
#[derive(Debug, Clone, Serialize)]
pub struct TotalBody {
    /// The group: a day, a customer id (`vendor` for vendor tokens), `<repository>:<tag>`.
    pub key: String,
    /// Its label: the day, the customer's latest name, the version.
    pub label: Option<String>,
    /// Pulls.
    pub pulls: i64,
    /// Distinct customers.
    pub customers: i64,
    /// The latest pull (RFC 3339).
    pub last_pull_at: String,
}

impl From<PullTotal> for TotalBody {
    fn from(t: PullTotal) -> Self {
        Self {
            key: t.key,
            label: t.label,
            pulls: t.pulls,
            customers: t.customers,
            last_pull_at: rfc3339(t.last_pull_at),
        }
    }
}

/// A summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `day`, `customer` or `version`.
    pub group: &'static str,
    /// The totals.
    pub items: Vec<TotalBody>,
}

/// `GET /api/v1/pulls/summary?group=day|customer|version`.
pub async fn summary(
    caller: Caller,
    State(state): State<App>,
    RawQuery(query): RawQuery,
) -> Result<Json<Summary>, Problem> {
    let known = ["group", "customer", "repository", "tag", "client", "since", "until"];
    let p = pull_params(query.as_deref(), &known)?;
    let group = p
        .group
        .ok_or_else(|| Problem::invalid("group", "group: day, customer or version is required"))?;
    let totals = usage::summarize_pulls(&state.pool, caller.actor.org_id, &p.filter, group).await?;
    Ok(Json(Summary {
        group: match group {
            PullGrouping::Day => "day",
            PullGrouping::Customer => "customer",
            PullGrouping::Version => "version",
        },
        items: totals.into_iter().map(Into::into).collect(),
    }))
}

/// A line of a bytes summary.
#[derive(Debug, Clone, Serialize)]
pub struct BytesTotalBody {
    /// The group: a day, a customer id (`vendor` for vendor tokens), a repository.
    pub key: String,
    /// Its label: the day, the customer's latest recorded name, the repository.
    pub label: Option<String>,
    /// Blob bytes sent (ranges count what was sent).
    pub bytes: i64,
    /// Blob GETs that sent them.
    pub requests: i64,
    /// Distinct customers.
    pub customers: i64,
}

impl From<BytesTotal> for BytesTotalBody {
    fn from(t: BytesTotal) -> Self {
        Self {
            key: t.key,
            label: t.label,
            bytes: t.bytes,
            requests: t.requests,
            customers: t.customers,
        }
    }
}

/// A bytes summary.
#[derive(Debug, Clone, Serialize)]
pub struct BytesSummary {
    /// `day`, `customer` or `repository`.
    pub group: &'static str,
    /// The totals.
    pub items: Vec<BytesTotalBody>,
}

fn day_param(field: &str, value: &str) -> Result<time::Date, Problem> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, format)
        .map_err(|_| Problem::invalid(field, format!("{field}: not a day (2026-01-31)")))
}

/// Reads one of the day filters shared by the bytes and version-check summaries
/// (`customer`, `repository`, `since`, `until`) into `filter`; other keys are left alone.
fn day_filter(filter: &mut BytesFilter, key: &str, value: String) -> Result<(), Problem> {
    match key {
        "customer" => filter.customer_id = Some(customer_param(&value)?),
        "repository" => filter.repository = Some(value),
        "since" => filter.since = Some(day_param("since", &value)?),
        "until" => filter.until = Some(day_param("until", &value)?),
        _ => {}
    }
    Ok(())
}

/// `GET /api/v1/bytes/summary?group=day|customer|repository`: blob bytes served, from the
/// daily aggregates.
pub async fn bytes_summary(
    caller: Caller,
    State(state): State<App>,
    RawQuery(query): RawQuery,
) -> Result<Json<BytesSummary>, Problem> {
    let known = ["group", "customer", "repository", "since", "until"];
    let mut filter = BytesFilter::default();
    let mut group = None;
    for (key, value) in pairs(query.as_deref(), &known)? {
        match key.as_str() {
            "group" => {
                group = Some(match value.as_str() {
                    "day" => ("day", BytesGrouping::Day),
                    "customer" => ("customer", BytesGrouping::Customer),
                    "repository" => ("repository", BytesGrouping::Repository),
                    _ => {
                        return Err(Problem::invalid(
                            "group",
                            "group: day, customer or repository",
                        ));
                    }
                });
            }
            _ => day_filter(&mut filter, &key, value)?,
        }
    }
    let (name, group) = group.ok_or_else(|| {
        Problem::invalid("group", "group: day, customer or repository is required")
    })?;
    let totals = usage::summarize_bytes(&state.pool, caller.actor.org_id, &filter, group).await?;
    Ok(Json(BytesSummary { group: name, items: totals.into_iter().map(Into::into).collect() }))
}

/// One line of a version-check summary.
#[derive(Debug, Clone, Serialize)]
pub struct CheckTotalBody {
    /// A day, a customer id (`vendor`), a repository, `repository:reference` or a client kind.
    pub key: String,
    /// Its label: the customer's latest recorded name; else the key.
    pub label: Option<String>,
    /// Manifest HEADs counted as version checks.
    pub checks: i64,
    /// Distinct customers (vendor tokens count as one).
    pub customers: i64,
    /// The latest check (RFC 3339).
    pub last_check_at: String,
}

impl From<CheckTotal> for CheckTotalBody {
    fn from(t: CheckTotal) -> Self {
        Self {
            key: t.key,
            label: t.label,
            checks: t.checks,
            customers: t.customers,
            last_check_at: rfc3339(t.last_check_at),
        }
    }
}

/// A version-check summary.
#[derive(Debug, Clone, Serialize)]
pub struct CheckSummary {
    /// `day`, `customer`, `repository`, `reference` or `client`.
    pub group: &'static str,
    /// The totals.
    pub items: Vec<CheckTotalBody>,
}

/// `GET /api/v1/checks/summary?group=day|customer|repository|reference|client`: version
/// checks (manifest HEADs that no GET of the same manifest followed), from the daily
/// counters; the same filters as the bytes summary (UTC days).
pub async fn checks_summary(
    caller: Caller,
    State(state): State<App>,
    RawQuery(query): RawQuery,
) -> Result<Json<CheckSummary>, Problem> {
    let known = ["group", "customer", "repository", "since", "until"];
    let groups = "day, customer, repository, reference or client";
    let mut filter = BytesFilter::default();
    let mut group = None;
    for (key, value) in pairs(query.as_deref(), &known)? {
        match key.as_str() {
            "group" => {
                group = Some(match value.as_str() {
                    "day" => CheckGrouping::Day,
                    "customer" => CheckGrouping::Customer,
                    "repository" => CheckGrouping::Repository,
                    "reference" => CheckGrouping::Reference,
                    "client" => CheckGrouping::Client,
                    _ => return Err(Problem::invalid("group", format!("group: {groups}"))),
                });
            }
            _ => day_filter(&mut filter, &key, value)?,
        }
    }
    let group =
        group.ok_or_else(|| Problem::invalid("group", format!("group: {groups} is required")))?;
    let totals = usage::summarize_checks(&state.pool, caller.actor.org_id, &filter, group).await?;
    Ok(Json(CheckSummary {
        group: group.as_str(),
        items: totals.into_iter().map(Into::into).collect(),
    }))
}

/// `GET /api/v1/pulls.csv`: every matching pull, streamed.
pub async fn pulls_csv(
    caller: Caller,
    State(state): State<App>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let p = pull_params(query.as_deref(), &PULL_PARAMS[..6])?;
    let org = caller.actor.org_id;
    let header = "id,at,customer_id,customer_name,token_id,token_name,token_prefix,repository,\
                  reference,digest,tags,media_type,platforms,client_addr,user_agent,client,\
                  requests\n";
    Ok(csv_response("pulls.csv", header, move |tx| async move {
        let rows = usage::stream_pulls(&state.pool, org, &p.filter);
        csv::forward(rows, tx, |r: PullRow| {
            csv::line(&[
                &r.id.to_string(),
                &rfc3339(r.at),
                &opt(r.customer_id),
                r.customer_name.as_deref().unwrap_or(""),
                &r.token_id.to_string(),
                r.token_name.as_deref().unwrap_or(""),
                r.token_prefix.as_deref().unwrap_or(""),
                &r.repository,
                &r.reference,
                &r.digest,
                &r.tags.join(" "),
                &r.media_type,
                &r.platforms.join(" "),
                r.client_addr.as_deref().unwrap_or(""),
                r.user_agent.as_deref().unwrap_or(""),
                &r.client_kind,
                &r.requests.to_string(),
            ])
        })
        .await;
    }))
}

/// An audit entry as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditBody {
    /// Position.
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
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

impl From<AuditRow> for AuditBody {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: rfc3339(r.at),
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            target: r.target,
            target_name: r.target_name,
            outcome: r.outcome,
            detail: r.detail,
            client_addr: r.client_addr,
            user_agent: r.user_agent,
            request_id: r.request_id,
        }
    }
}

/// A page of audit entries.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

const AUDIT_PARAMS: [&str; 7] = ["actor", "action", "target", "since", "until", "limit", "cursor"];

fn audit_params(
    query: Option<&str>,
    known: &[&str],
) -> Result<(AuditFilter, i64, Option<i64>), Problem> {
    let mut filter = AuditFilter::default();
    let (mut limit, mut before) = (DEFAULT_LIMIT, None);
    for (key, value) in pairs(query, known)? {
        match key.as_str() {
            "actor" => filter.actor = Some(value),
            "action" => filter.action = Some(value),
            "target" => filter.target = Some(value),
            "since" => filter.since = Some(time_param("since", &value)?),
            "until" => filter.until = Some(time_param("until", &value)?),
            "limit" => limit = limit_param(&value)?,
            "cursor" if !value.is_empty() => {
                before = Some(decode_cursor(&value)?.parse().map_err(|_| bad_cursor())?);
            }
            _ => {}
        }
    }
    Ok((filter, limit, before))
}

/// `GET /api/v1/audit`.
pub async fn list_audit(
    caller: Caller,
    State(state): State<App>,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditPage>, Problem> {
    let (filter, limit, before) = audit_params(query.as_deref(), &AUDIT_PARAMS)?;
    let mut found =
        audit::list(&state.pool, caller.actor.org_id, &filter, before, limit + 1).await?;
    let more = found.len() as i64 > limit;
    found.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = match (more, found.last()) {
        (true, Some(last)) => Some(encode_cursor(&last.id.to_string())),
        _ => None,
    };
    Ok(Json(AuditPage { items: found.into_iter().map(Into::into).collect(), next_cursor }))
}

/// `GET /api/v1/audit.csv`: every matching entry, streamed.
pub async fn audit_csv(
    caller: Caller,
    State(state): State<App>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let (filter, _, _) = audit_params(query.as_deref(), &AUDIT_PARAMS[..5])?;
    let org = caller.actor.org_id;
    let header = "id,at,actor_kind,actor_id,actor_name,action,target,target_name,outcome,\
                  detail,client_addr,user_agent,request_id\n";
    Ok(csv_response("audit.csv", header, move |tx| async move {
        let rows = audit::stream(&state.pool, org, &filter);
        csv::forward(rows, tx, |r: AuditRow| {
            csv::line(&[
                &r.id.to_string(),
                &rfc3339(r.at),
                &r.actor_kind,
                &opt(r.actor_id),
                r.actor_name.as_deref().unwrap_or(""),
                &r.action,
                &r.target,
                r.target_name.as_deref().unwrap_or(""),
                &r.outcome,
                &r.detail.to_string(),
                r.client_addr.as_deref().unwrap_or(""),
                r.user_agent.as_deref().unwrap_or(""),
                r.request_id.as_deref().unwrap_or(""),
            ])
        })
        .await;
    }))
}

fn opt(id: Option<Uuid>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

/// A `text/csv` attachment whose body is fed by `produce` ([`wharf_app::csv::export`]).
fn csv_response<F, Fut>(filename: &str, header: &'static str, produce: F) -> Response
where
    F: FnOnce(tokio::sync::mpsc::Sender<csv::Chunk>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let body = Body::from_stream(csv::export(header.to_owned(), produce));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_name_themselves() {
        let field = |q: &str| pull_params(Some(q), &PULL_PARAMS).err().and_then(|p| p.field);
        assert_eq!(field("since=yesterday").as_deref(), Some("since"));
        assert_eq!(field("customer=acme").as_deref(), Some("customer"));
        assert_eq!(field("client=curl").as_deref(), Some("client"));
        assert_eq!(field("limit=0").as_deref(), Some("limit"));
        assert_eq!(field("cursor=%21%21").as_deref(), Some("cursor"));
        assert_eq!(field("custmer=x").as_deref(), Some("custmer"));
        assert!(pull_params(Some("since=2026-01-01T00:00:00Z&client=oras"), &PULL_PARAMS).is_ok());
    }
}
