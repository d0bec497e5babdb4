//! The audit log, `/vendor/{slug}/audit` and its CSV `/vendor/{slug}/audit.csv`, for the
//! organization's owners and admins: every entry of the organization (actor, action,
//! target, result, address, time), newest first, 50 a page (keyset on the entry's id), with
//! filters (action or action family, actor, result, period). The CSV streams every entry the
//! filters select, formula-safe (`wharf_app::csv`). Reads `wharf_db::audit`, as
//! `/api/v1/audit` does.

use askama::Template;
use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::Response,
};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use wharf_db::audit::{self, AuditFilter, AuditRow};

use super::{
    Need, VendorScope,
    report::{Choice, PeriodForm, csv_attachment, param, query_pairs, query_string},
};
use crate::{
    Portal,
    error::PageError,
    pages::{account::when, page_with},
    shell::{Field, Shell},
    visitor::Visitor,
};

/// Entries per page.
const PAGE: i64 = 50;
/// The periods offered, in days (0: all time).
const PERIODS: [i64; 5] = [0, 1, 7, 30, 90];
/// The results an entry can have.
const OUTCOMES: [&str; 3] = ["success", "failure", "denied"];

/// An entry as the page shows it.
struct Entry {
    at: String,
    actor: String,
    actor_kind: String,
    action: String,
    target: String,
    target_name: Option<String>,
    outcome: String,
    address: String,
    detail: Option<String>,
}

impl From<AuditRow> for Entry {
    fn from(r: AuditRow) -> Self {
        let detail = match &r.detail {
            serde_json::Value::Object(map) if map.is_empty() => None,
            serde_json::Value::Null => None,
            other => Some(serde_json::to_string_pretty(other).unwrap_or_default()),
        };
        Entry {
            at: when(r.at),
            actor: r.actor_name.unwrap_or_else(|| match r.actor_id {
                Some(id) => id.to_string(),
                None => r.actor_kind.clone(),
            }),
            actor_kind: r.actor_kind,
            action: r.action,
            target: r.target,
            target_name: r.target_name,
            outcome: r.outcome,
            address: r.client_addr.unwrap_or_default(),
            detail,
        }
    }
}

#[derive(Template)]
#[template(path = "vendor/audit.html")]
struct AuditPage {
    shell: Shell,
    action_path: String,
    period: PeriodForm,
    action: Field,
    actor: Field,
    outcome: String,
    outcome_error: Option<String>,
    outcomes: Vec<Choice>,
    /// The entries, when the filters are valid.
    entries: Option<Vec<Entry>>,
    filtered: bool,
    newest: Option<String>,
    older: Option<String>,
    csv: String,
}

/// The filters as read from the query string.
struct Filters {
    period: PeriodForm,
    action: Field,
    actor: Field,
    outcome: String,
    outcome_error: Option<String>,
    /// The filter for the database, when every field is valid.
    filter: Option<AuditFilter>,
    before: Option<i64>,
}

impl Filters {
    fn read(query: Option<&str>, now: OffsetDateTime) -> Self {
        let pairs = query_pairs(query);
        let (period, range) = PeriodForm::read(&pairs, &PERIODS, 0, now);
        let mut action = Field::with(param(&pairs, "action"));
        if action.value.len() > 100 {
            action.fail("an action has at most 100 characters");
        }
        let mut actor = Field::with(param(&pairs, "actor"));
        if actor.value.len() > 320 {
            actor.fail("an actor has at most 320 characters");
        }
        let outcome = param(&pairs, "result").to_owned();
        let outcome_error = (!outcome.is_empty() && !OUTCOMES.contains(&outcome.as_str()))
            .then(|| "choose one of the results".to_owned());
        // A position that is not one reads as the first page.
        let before = param(&pairs, "before").parse::<i64>().ok();
        let filter = match range {
            Some(range)
                if !action.is_invalid() && !actor.is_invalid() && outcome_error.is_none() =>
            {
                Some(AuditFilter {
                    actor: Some(actor.value.clone()).filter(|a| !a.is_empty()),
                    action: Some(action.value.clone()).filter(|a| !a.is_empty()),
                    target: None,
                    since: range.since,
                    until: range.until,
                    outcome: Some(outcome.clone()).filter(|o| !o.is_empty()),
                })
            }
            _ => None,
        };
        Filters { period, action, actor, outcome, outcome_error, filter, before }
    }

    /// The filters' query string, with `extra` added.
    fn query(&self, extra: &[(&'static str, String)]) -> String {
        let mut q = self.period.query();
        if q.first().is_some_and(|(_, v)| v == "all") {
            q.clear();
        }
        q.push(("action", self.action.value.clone()));
        q.push(("actor", self.actor.value.clone()));
        q.push(("result", self.outcome.clone()));
        q.extend(extra.iter().cloned());
        query_string(&q)
    }
}

/// `GET /vendor/{slug}/audit`.
pub(crate) async fn audit_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Admin)?;
    let filters = Filters::read(query.as_deref(), OffsetDateTime::now_utc());
    let base = scope.path("/audit");
    let (status, entries, older) = match &filters.filter {
        Some(filter) => {
            let mut found =
                audit::list(&portal.app.pool, scope.org_id(), filter, filters.before, PAGE + 1)
                    .await?;
            let more = found.len() as i64 > PAGE;
            found.truncate(PAGE as usize);
            let older = match (more, found.last()) {
                (true, Some(last)) => {
                    Some(format!("{base}{}", filters.query(&[("before", last.id.to_string())])))
                }
                _ => None,
            };
            (StatusCode::OK, Some(found.into_iter().map(Entry::from).collect()), older)
        }
        None => (StatusCode::UNPROCESSABLE_ENTITY, None, None),
    };
    let mut outcomes = vec![Choice::new("", "Any result")];
    outcomes.extend(OUTCOMES.iter().map(|o| Choice::new(*o, *o)));
    let filtered = !filters.query(&[]).is_empty();
    page_with(
        status,
        &AuditPage {
            shell: scope.shell("Audit log", "/audit").await?,
            newest: filters.before.map(|_| format!("{base}{}", filters.query(&[]))),
            older,
            csv: format!("{}{}", scope.path("/audit.csv"), filters.query(&[])),
            action_path: base,
            filtered,
            entries,
            period: filters.period,
            action: filters.action,
            actor: filters.actor,
            outcome: filters.outcome,
            outcome_error: filters.outcome_error,
            outcomes,
        },
    )
}

/// `GET /vendor/{slug}/audit.csv`: every entry the filters select, newest first, streamed.
pub(crate) async fn audit_csv(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Admin)?;
    let filters = Filters::read(query.as_deref(), OffsetDateTime::now_utc());
    let filter = filters.filter.ok_or(PageError::BadForm)?;
    let (pool, org) = (portal.app.pool.clone(), scope.org_id());
    let header = wharf_app::csv::line(&[
        "id",
        "at",
        "actor_kind",
        "actor_id",
        "actor_name",
        "action",
        "target",
        "target_name",
        "result",
        "detail",
        "client_addr",
        "user_agent",
        "request_id",
    ]);
    let body = wharf_app::csv::export(header, move |tx| async move {
        let rows = audit::stream(&pool, org, &filter);
        wharf_app::csv::forward(rows, tx, |r: AuditRow| {
            wharf_app::csv::line(&[
                &r.id.to_string(),
                &r.at.format(&Rfc3339).unwrap_or_default(),
                &r.actor_kind,
                &r.actor_id.map(|i| i.to_string()).unwrap_or_default(),
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
    });
    Ok(csv_attachment("audit.csv", body))
}
