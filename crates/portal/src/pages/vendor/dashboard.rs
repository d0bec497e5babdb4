//! The vendor organization's dashboard, `/vendor/{slug}`, for every member: pulls over the
//! last 30 days (a server-drawn SVG chart, its figures also in a table), the most active
//! customers, the latest pushes, licenses expiring in the next 30 days, customers who have
//! never pulled and tokens used recently, each linking to its page. With nothing pushed or
//! no customer yet, it says what to do first, with this instance's real commands.
//!
//! Six bounded reads (`wharf_db::insights`), run concurrently; none per row.

use askama::Template;
use axum::{
    extract::{Path, State},
    response::Response,
};
use time::{Duration, OffsetDateTime};
use wharf_db::insights::{self, BreakdownFilter, Dimension};

use super::{
    Need, VendorScope,
    report::{Chart, day_text},
};
use crate::{
    Portal,
    error::PageError,
    pages::{account::when, home::registry_host, page},
    shell::Shell,
    visitor::Visitor,
};

/// Rows per list.
const ROWS: i64 = 6;
/// The chart's days.
const DAYS: i64 = 30;

/// A line of a dashboard list: what it names, where it links, and a fact beside it.
struct Item {
    label: String,
    href: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "vendor/dashboard.html")]
struct DashboardPage {
    shell: Shell,
    org_name: String,
    role: String,
    slug: String,
    chart: Chart,
    analytics: String,
    active: Vec<Item>,
    pushes: Vec<Item>,
    expiring: Vec<Item>,
    idle: Vec<Item>,
    tokens: Vec<Item>,
    /// Nothing pushed yet: show the push commands first.
    first_push: bool,
    /// No customer has pulled or waits to: offer to create one.
    first_customer: bool,
    may_customers: bool,
    /// Owners and admins: a link to invite people to the team.
    invitations: Option<String>,
    customers_href: String,
    tokens_href: String,
    login_command: String,
    push_command: String,
}

/// `GET /vendor/{slug}`.
pub(crate) async fn dashboard_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Read)?;
    let org = scope.org_id();
    let pool = &portal.app.pool;
    let now = OffsetDateTime::now_utc();
    let first = now.date() - Duration::days(DAYS - 1);
    let filter = BreakdownFilter {
        since: first,
        until: now.date() + Duration::days(1),
        customer_id: None,
        repository: None,
    };
    let (breakdown, pushes, expiring, idle, tokens) = tokio::try_join!(
        insights::pull_breakdown(pool, org, &filter, ROWS, &[Dimension::Customer]),
        insights::latest_pushes(pool, org, ROWS),
        insights::expiring_licenses(pool, org, now + Duration::days(30), ROWS),
        insights::customers_never_pulled(pool, org, ROWS),
        insights::tokens_used_recently(pool, org, ROWS),
    )?;

    let days: Vec<(String, i64)> = (0..DAYS)
        .map(|i| {
            let day = day_text(first + Duration::days(i));
            let pulls = breakdown
                .iter()
                .find(|r| r.dimension == "day" && r.key == day)
                .map_or(0, |r| r.pulls);
            (day, pulls)
        })
        .collect();
    let chart = Chart::of(&days, "in the last 30 days");
    let customer = |id: &str| scope.path(&format!("/customers/{id}"));
    let active = breakdown
        .iter()
        .filter(|r| r.dimension == "customer")
        .map(|r| Item {
            label: r.label.clone().unwrap_or_else(|| "Your team (vendor tokens)".into()),
            href: if r.key == "vendor" { scope.path("/tokens") } else { customer(&r.key) },
            detail: plural(r.pulls, "pull"),
        })
        .collect();
    let first_push = pushes.is_empty();
    let pushes = pushes
        .into_iter()
        .map(|p| Item {
            href: scope
                .path(&format!("/artifacts/{}", repository_path(scope.slug(), &p.repository))),
            label: format!("{}:{}", p.repository, p.tag),
            detail: when(p.pushed_at),
        })
        .collect();
    let expiring = expiring
        .into_iter()
        .map(|l| Item {
            label: format!("{} · {}", l.customer_name, l.name),
            href: customer(&l.customer_id.to_string()),
            detail: format!("ends {}", when(l.expires_at)),
        })
        .collect();
    let first_customer = idle.is_empty()
        && !breakdown.iter().any(|r| r.dimension == "customer" && r.key != "vendor");
    let idle = idle
        .into_iter()
        .map(|c| Item {
            label: c.name,
            href: customer(&c.id.to_string()),
            detail: format!("created {}", when(c.created_at)),
        })
        .collect();
    let tokens = tokens
        .into_iter()
        .map(|t| {
            let (owner, href) = match (t.customer_id, t.customer_name) {
                (Some(id), Some(name)) => (name, customer(&id.to_string())),
                _ => ("your team".to_owned(), scope.path("/tokens")),
            };
            Item {
                label: format!("{} · {owner}", t.name),
                href,
                detail: format!("{}… used {}", t.display_prefix, when(t.last_used_at)),
            }
        })
        .collect();

    let slug = scope.slug().to_owned();
    let (login_command, push_command) = super::push_commands(&registry_host(&portal), &slug);
    page(&DashboardPage {
        shell: scope.shell(scope.membership.name.clone(), "").await?,
        org_name: scope.membership.name.clone(),
        role: scope.membership.role.as_str().to_owned(),
        chart,
        analytics: scope.path("/analytics"),
        active,
        pushes,
        expiring,
        idle,
        tokens,
        first_push,
        first_customer,
        may_customers: scope.may(Need::Customers),
        invitations: scope.may(Need::Admin).then(|| scope.path("/invitations")),
        customers_href: scope.path("/customers"),
        tokens_href: scope.path("/tokens"),
        login_command,
        push_command,
        slug,
    })
}

/// `acme/tools/cli` of organization `acme` → `tools/cli`: the repository's path below the
/// organization's artifacts page.
pub(crate) fn repository_path<'a>(slug: &str, repository: &'a str) -> &'a str {
    repository.strip_prefix(slug).and_then(|r| r.strip_prefix('/')).unwrap_or(repository)
}

/// `1 pull`, `2 pulls`.
pub(crate) fn plural(n: i64, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}
