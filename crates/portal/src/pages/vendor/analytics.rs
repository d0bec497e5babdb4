//! Analytics, `/vendor/{slug}/analytics` and its CSV `/vendor/{slug}/analytics.csv`, for
//! every member: pulls by day, customer, repository, tag and client kind, and blob bytes
//! served, over a period (the last 7, 30 or 90 days, or from/to dates), optionally for one
//! customer and one repository. The filters are a GET form; bad input is shown beside its
//! field (status 422), never a failure. The CSV holds exactly the tables the page shows.
//!
//! A pull is a manifest GET answered to an access token (an index pull's child GETs are
//! part of it; identical GETs in one second count each). A version check is a manifest HEAD
//! that no GET of the same manifest by the same token followed (docs/portal.md, "Version
//! checks"); they are shown apart, never as pulls.
//!
//! The reads (`insights::pull_breakdown`, one scan of the period's pull events,
//! `usage::summarize_bytes`, the daily byte aggregates, and `usage::summarize_checks` three
//! times, the daily version-check counters) run concurrently.

use askama::Template;
use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::Response,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use wharf_db::{
    customers,
    insights::{self, BreakdownFilter, BreakdownRow, Dimension},
    usage::{self, BytesFilter, BytesGrouping, CheckGrouping, CheckTotal},
};

use super::{
    Need, VendorScope,
    dashboard::repository_path,
    report::{
        Chart, Choice, PeriodForm, Range, bytes_text, csv_attachment, day_text, midnight, param,
        query_pairs, query_string,
    },
};
use crate::{
    Portal,
    error::PageError,
    pages::page_with,
    shell::{Field, Shell},
    visitor::Visitor,
};

/// Groups shown per table (days are all shown).
const TOP: i64 = 25;
/// The periods offered, in days.
const PERIODS: [i64; 3] = [7, 30, 90];

/// A line of a table.
struct Line {
    label: String,
    /// The group's own page (a customer, a repository).
    href: Option<String>,
    /// This page narrowed to the group.
    narrow: Option<String>,
    /// Pulls, or version checks in the version-check tables.
    pulls: i64,
    /// Bytes served (the day table only).
    bytes: Option<i64>,
    /// Version checks (the day table only).
    checks: Option<i64>,
}

impl Line {
    /// The bytes for people (`""` when the table has none).
    fn bytes_shown(&self) -> String {
        self.bytes.map(bytes_text).unwrap_or_default()
    }
}

/// One table of the page.
struct Table {
    id: &'static str,
    title: &'static str,
    column: &'static str,
    /// What the count column counts: `Pulls` or `Version checks`.
    counted: &'static str,
    lines: Vec<Line>,
    /// How many groups there are in all (the table shows the top ones).
    groups: i64,
}

/// `bytes_text` for the template.
fn bytes_text_of(bytes: &i64) -> String {
    bytes_text(*bytes)
}

#[derive(Template)]
#[template(path = "vendor/analytics.html")]
struct AnalyticsPage {
    shell: Shell,
    action: String,
    period: PeriodForm,
    customer: Field,
    customer_choices: Vec<Choice>,
    repository: Field,
    repository_choices: Vec<Choice>,
    /// The figures, when the filters are valid.
    report: Option<Report>,
}

struct Report {
    described: String,
    pulls: i64,
    /// Customers who pulled (your team's own tokens count as one).
    pullers: i64,
    repositories: i64,
    bytes: i64,
    /// Version checks (manifest HEADs not followed by a GET).
    checks: i64,
    chart: Chart,
    tables: Vec<Table>,
    csv: String,
}

/// The filters as read from the query string.
struct Filters {
    period: PeriodForm,
    range: Option<Range>,
    customer: Field,
    customer_id: Option<Uuid>,
    customer_name: Option<String>,
    repository: Field,
}

impl Filters {
    fn is_valid(&self) -> bool {
        self.range.is_some() && !self.customer.is_invalid() && !self.repository.is_invalid()
    }

    /// The filters' query string (for links that keep them).
    fn query(&self, extra: &[(&'static str, String)]) -> String {
        let mut q = self.period.query();
        q.push(("customer", self.customer.value.clone()));
        q.push(("repository", self.repository.value.clone()));
        for (key, value) in extra {
            q.retain(|(k, _)| k != key);
            q.push((key, value.clone()));
        }
        query_string(&q)
    }
}

async fn read_filters(
    portal: &Portal,
    scope: &VendorScope,
    query: Option<&str>,
    now: OffsetDateTime,
) -> Result<Filters, PageError> {
    let pairs = query_pairs(query);
    let (period, range) = PeriodForm::read(&pairs, &PERIODS, 30, now);
    let mut customer = Field::with(param(&pairs, "customer"));
    let mut customer_id = None;
    let mut customer_name = None;
    if !customer.value.is_empty() {
        match customer.value.parse::<Uuid>() {
            Err(_) => customer.fail("not a customer of this organization"),
            // Another organization's customer reads exactly like one that does not exist.
            Ok(id) => match customers::get(&portal.app.pool, scope.org_id(), id).await? {
                Some(found) => {
                    customer_id = Some(id);
                    customer_name = Some(found.name);
                }
                None => customer.fail("not a customer of this organization"),
            },
        }
    }
    let mut repository = Field::with(param(&pairs, "repository"));
    if repository.value.len() > 255 {
        repository.fail("a repository name has at most 255 characters");
    }
    Ok(Filters { period, range, customer, customer_id, customer_name, repository })
}

/// The figures for valid `filters`.
async fn figures(
    portal: &Portal,
    scope: &VendorScope,
    filters: &Filters,
    range: Range,
    now: OffsetDateTime,
) -> Result<Figures, PageError> {
    let today = now.date();
    let until = range.until.unwrap_or_else(|| midnight(today + Duration::days(1)));
    let since = range.since.unwrap_or(until);
    let range = Range { since: Some(since), until: Some(until) };
    let repository = Some(filters.repository.value.clone()).filter(|r| !r.is_empty());
    let pulls = BreakdownFilter {
        since: since.date(),
        until: until.date(),
        customer_id: filters.customer_id,
        repository: repository.clone(),
    };
    let bytes = BytesFilter {
        since: Some(since.date()),
        until: Some(until.date()),
        customer_id: filters.customer_id,
        repository,
    };
    let pool = &portal.app.pool;
    let org = scope.org_id();
    let (breakdown, served, checks_by_day, checks_by_customer, checks_by_repository) = tokio::try_join!(
        insights::pull_breakdown(pool, org, &pulls, TOP, &Dimension::ALL),
        usage::summarize_bytes(pool, org, &bytes, BytesGrouping::Day),
        usage::summarize_checks(pool, org, &bytes, CheckGrouping::Day),
        usage::summarize_checks(pool, org, &bytes, CheckGrouping::Customer),
        usage::summarize_checks(pool, org, &bytes, CheckGrouping::Repository),
    )?;
    let bytes = served;
    let days: Vec<String> = range.days().into_iter().map(day_text).collect();
    let by_day: Vec<(String, i64)> = days
        .iter()
        .map(|day| {
            let served = bytes.iter().find(|b| &b.key == day).map_or(0, |b| b.bytes);
            (day.clone(), served)
        })
        .collect();
    Ok(Figures {
        breakdown,
        bytes: by_day,
        days,
        checks_by_day,
        checks_by_customer,
        checks_by_repository,
    })
}

/// What the page shows, read.
struct Figures {
    breakdown: Vec<BreakdownRow>,
    /// Bytes served on each day of the period.
    bytes: Vec<(String, i64)>,
    days: Vec<String>,
    checks_by_day: Vec<CheckTotal>,
    checks_by_customer: Vec<CheckTotal>,
    checks_by_repository: Vec<CheckTotal>,
}

fn report(scope: &VendorScope, filters: &Filters, figures: &Figures) -> Report {
    let Figures { breakdown, bytes, days, .. } = figures;
    let of = |dimension: &'static str| breakdown.iter().filter(move |r| r.dimension == dimension);
    let groups = |dimension: &'static str| of(dimension).next().map_or(0, |r| r.groups);
    let pulls_on = |day: &str| of("day").find(|r| r.key == day).map_or(0, |r| r.pulls);
    let day_lines: Vec<Line> = days
        .iter()
        .zip(bytes)
        .map(|(day, (_, served))| Line {
            label: day.clone(),
            href: None,
            narrow: None,
            pulls: pulls_on(day),
            bytes: Some(*served),
            checks: Some(
                figures.checks_by_day.iter().find(|c| &c.key == day).map_or(0, |c| c.checks),
            ),
        })
        .collect();
    let chart_days: Vec<(String, i64)> =
        day_lines.iter().map(|l| (l.label.clone(), l.pulls)).collect();
    let described = filters.period.describe();
    let chart = Chart::of(&chart_days, &filters.period.during());
    let customer_lines = of("customer")
        .map(|r| {
            let vendor = r.key == "vendor";
            Line {
                label: r.label.clone().unwrap_or_else(|| "Your team (vendor tokens)".into()),
                href: Some(if vendor {
                    scope.path("/tokens")
                } else {
                    scope.path(&format!("/customers/{}", r.key))
                }),
                narrow: (!vendor).then(|| filters.query(&[("customer", r.key.clone())])),
                pulls: r.pulls,
                bytes: None,
                checks: None,
            }
        })
        .collect();
    let repository_lines = of("repository")
        .map(|r| Line {
            label: r.key.clone(),
            href: Some(
                scope.path(&format!("/artifacts/{}", repository_path(scope.slug(), &r.key))),
            ),
            narrow: Some(filters.query(&[("repository", r.key.clone())])),
            pulls: r.pulls,
            bytes: None,
            checks: None,
        })
        .collect();
    let plain = |dimension: &'static str| -> Vec<Line> {
        of(dimension)
            .map(|r| Line {
                label: r.key.clone(),
                href: None,
                narrow: None,
                pulls: r.pulls,
                bytes: None,
                checks: None,
            })
            .collect()
    };
    let total_bytes: i64 = bytes.iter().map(|b| b.1).sum();
    let check_customers = figures
        .checks_by_customer
        .iter()
        .take(TOP as usize)
        .map(|c| {
            let vendor = c.key == "vendor";
            Line {
                label: if vendor {
                    "Your team (vendor tokens)".into()
                } else {
                    c.label.clone().unwrap_or_else(|| c.key.clone())
                },
                href: Some(if vendor {
                    scope.path("/tokens")
                } else {
                    scope.path(&format!("/customers/{}", c.key))
                }),
                narrow: (!vendor).then(|| filters.query(&[("customer", c.key.clone())])),
                pulls: c.checks,
                bytes: None,
                checks: None,
            }
        })
        .collect();
    let check_repositories = figures
        .checks_by_repository
        .iter()
        .take(TOP as usize)
        .map(|c| Line {
            label: c.key.clone(),
            href: Some(
                scope.path(&format!("/artifacts/{}", repository_path(scope.slug(), &c.key))),
            ),
            narrow: Some(filters.query(&[("repository", c.key.clone())])),
            pulls: c.checks,
            bytes: None,
            checks: None,
        })
        .collect();
    let tables = vec![
        Table {
            id: "by-customer",
            counted: "Pulls",
            title: "By customer",
            column: "Customer",
            lines: customer_lines,
            groups: groups("customer"),
        },
        Table {
            id: "by-repository",
            counted: "Pulls",
            title: "By repository",
            column: "Repository",
            lines: repository_lines,
            groups: groups("repository"),
        },
        Table {
            id: "by-tag",
            counted: "Pulls",
            title: "By tag",
            column: "Repository:tag",
            lines: plain("tag"),
            groups: groups("tag"),
        },
        Table {
            id: "by-client",
            counted: "Pulls",
            title: "By client",
            column: "Client",
            lines: plain("client"),
            groups: groups("client"),
        },
        Table {
            id: "by-day",
            counted: "Pulls",
            title: "By day",
            column: "Day (UTC)",
            lines: day_lines,
            groups: days.len() as i64,
        },
        Table {
            id: "checks-by-customer",
            title: "Version checks by customer",
            column: "Customer",
            counted: "Version checks",
            lines: check_customers,
            groups: figures.checks_by_customer.len() as i64,
        },
        Table {
            id: "checks-by-repository",
            title: "Version checks by repository",
            column: "Repository",
            counted: "Version checks",
            lines: check_repositories,
            groups: figures.checks_by_repository.len() as i64,
        },
    ];
    Report {
        pulls: chart.total,
        pullers: groups("customer"),
        repositories: groups("repository"),
        bytes: total_bytes,
        checks: figures.checks_by_day.iter().map(|c| c.checks).sum(),
        described,
        chart,
        tables,
        csv: format!("{}{}", scope.path("/analytics.csv"), filters.query(&[])),
    }
}

/// `GET /vendor/{slug}/analytics`.
pub(crate) async fn analytics_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Read)?;
    let now = OffsetDateTime::now_utc();
    let filters = read_filters(&portal, &scope, query.as_deref(), now).await?;
    let (status, report) = match filters.range {
        Some(range) if filters.is_valid() => {
            let figures = figures(&portal, &scope, &filters, range, now).await?;
            (StatusCode::OK, Some(report(&scope, &filters, &figures)))
        }
        _ => (StatusCode::UNPROCESSABLE_ENTITY, None),
    };
    let mut customer_choices = vec![Choice::new("", "All customers")];
    let mut repository_choices = vec![Choice::new("", "All repositories")];
    if let (Some(id), Some(name)) = (filters.customer_id, &filters.customer_name) {
        customer_choices.push(Choice::new(id.to_string(), name.clone()));
    }
    if !filters.repository.value.is_empty() && !filters.repository.is_invalid() {
        let name = filters.repository.value.clone();
        repository_choices.push(Choice::new(name.clone(), name));
    }
    if let Some(report) = &report {
        for table in &report.tables {
            for line in &table.lines {
                let Some(narrow) = &line.narrow else { continue };
                let value = query_pairs(narrow.strip_prefix('?'));
                match table.id {
                    "by-customer" if filters.customer_id.is_none() => customer_choices
                        .push(Choice::new(param(&value, "customer"), line.label.clone())),
                    "by-repository" if filters.repository.value.is_empty() => {
                        repository_choices.push(Choice::new(line.label.clone(), line.label.clone()))
                    }
                    _ => {}
                }
            }
        }
    }
    page_with(
        status,
        &AnalyticsPage {
            shell: scope.shell("Analytics", "/analytics").await?,
            action: scope.path("/analytics"),
            period: filters.period,
            customer: filters.customer,
            customer_choices,
            repository: filters.repository,
            repository_choices,
            report,
        },
    )
}

/// `GET /vendor/{slug}/analytics.csv`: the page's tables (same filters), one line per
/// group: `table,key,name,pulls,bytes,checks` (the version-check tables fill `checks`).
pub(crate) async fn analytics_csv(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Read)?;
    let now = OffsetDateTime::now_utc();
    let filters = read_filters(&portal, &scope, query.as_deref(), now).await?;
    let Some(range) = filters.range.filter(|_| filters.is_valid()) else {
        return Err(PageError::BadForm);
    };
    let figures = figures(&portal, &scope, &filters, range, now).await?;
    let report = report(&scope, &filters, &figures);
    let body = csv_lines(&report, &figures);
    Ok(csv_attachment("analytics.csv", futures_util::stream::iter(body.into_iter().map(Ok))))
}

/// The CSV's lines: the header, the total, then each table as shown.
fn csv_lines(report: &Report, figures: &Figures) -> Vec<String> {
    use wharf_app::csv::line;
    let mut lines = vec![line(&["table", "key", "name", "pulls", "bytes", "checks"])];
    let (pulls, bytes) = (report.pulls.to_string(), report.bytes.to_string());
    let checks = report.checks.to_string();
    lines.push(line(&["total", &report.described, "", &pulls, &bytes, &checks]));
    let shown = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    for table in &report.tables {
        let (dimension, counts_checks) = match table.id.strip_prefix("checks-") {
            Some(id) => (id.trim_start_matches("by-"), true),
            None => (table.id.trim_start_matches("by-"), false),
        };
        let keys: Vec<&str> = match (dimension, counts_checks) {
            ("day", _) => table.lines.iter().map(|l| l.label.as_str()).collect(),
            (_, true) => {
                let of = if dimension == "customer" {
                    &figures.checks_by_customer
                } else {
                    &figures.checks_by_repository
                };
                of.iter().map(|c| c.key.as_str()).collect()
            }
            (_, false) => figures
                .breakdown
                .iter()
                .filter(|r| r.dimension == dimension)
                .map(|r| r.key.as_str())
                .collect(),
        };
        let table_name =
            if counts_checks { format!("checks-{dimension}") } else { dimension.to_owned() };
        for (l, key) in table.lines.iter().zip(keys) {
            let name = if dimension == "customer" { l.label.as_str() } else { "" };
            let (pulls, checks) =
                if counts_checks { (None, Some(l.pulls)) } else { (Some(l.pulls), l.checks) };
            lines.push(line(&[
                &table_name,
                key,
                name,
                &shown(pulls),
                &shown(l.bytes),
                &shown(checks),
            ]));
        }
    }
    lines
}
