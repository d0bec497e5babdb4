//! A customer's licenses: create (`/vendor/{slug}/customers/{id}/licenses/new`) and edit
//! (`/vendor/{slug}/licenses/{id}`) a license and its grants with a live preview of the tags
//! each grant matches today; suspend and reinstate; delete; the license's history from the
//! audit log.
//!
//! The form has one block of fields per grant (`grant-{i}-repository`, `-kind`, `-value`,
//! `-v-prefix`, `-prereleases`, `-after`, `-before`, `-remove`) and works without
//! JavaScript: "Add a grant" and "Preview" are submit buttons that show the form again with
//! one more grant or with the preview. With htmx, the preview refreshes as the vendor types
//! (`POST /vendor/{slug}/licenses/preview` answers the preview alone). Saving goes through
//! `VendorActions::{create_license, replace_license}`, the JSON API's functions, so the
//! rules (grants by `wharf-entitlements`, dates, names) and the audit entry are theirs.

use std::collections::HashMap;

use askama::Template;
use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use time::{Date, OffsetDateTime, Time, macros::format_description};
use uuid::Uuid;
use wharf_app::actions::{ActionError, LicenseForm};
use wharf_db::{
    audit::{self, AuditFilter},
    licenses::{self, LicenseRecord},
    registry::tags::{self, OrganizationTag},
};
use wharf_entitlements::{ExpiryPolicy, Grant, GrantSpec, TagSelector, TagSelectorSpec};

use super::{
    Need, VendorScope,
    customers::{self, action_error, customer_path, day, upper_first},
};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    pages::{
        account::{ConfirmPage, when},
        page, page_with,
    },
    shell::{Field, Shell},
    visitor::Visitor,
};

/// Grants one license may have in the form.
const MAX_GRANTS: usize = 50;
/// Tags the preview reads at most (the organization's, by repository and tag).
const PREVIEW_TAG_LIMIT: i64 = 100_000;
/// Matching tags the preview lists per grant before "and N more".
const PREVIEW_SHOWN: usize = 12;

/// The licenses' routes.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/vendor/{slug}/customers/{id}/licenses/new", get(new_get).post(new_post))
        .route("/vendor/{slug}/licenses/preview", post(preview_post))
        .route("/vendor/{slug}/licenses/{id}", get(edit_get).post(edit_post))
        .route("/vendor/{slug}/licenses/{id}/suspension", post(suspension_post))
        .route("/vendor/{slug}/licenses/{id}/delete", get(delete_get).post(delete_post))
}

fn license_path(scope: &VendorScope, id: Uuid) -> String {
    scope.path(&format!("/licenses/{id}"))
}

/// A license as a customer's page lists it.
pub(crate) struct LicenseSummary {
    pub href: String,
    pub name: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub validity: String,
    pub grants: Vec<String>,
}

impl LicenseSummary {
    /// The summary of `license` at `now`.
    pub fn new(scope: &VendorScope, license: &LicenseRecord, now: OffsetDateTime) -> Self {
        let (state, state_class) = state(license, now);
        LicenseSummary {
            href: license_path(scope, license.id),
            name: license.name.clone(),
            state,
            state_class,
            validity: validity(license),
            grants: license.grants.iter().map(describe_grant).collect(),
        }
    }
}

/// The license's state at `now`, and the badge class that shows it.
pub(crate) fn state(license: &LicenseRecord, now: OffsetDateTime) -> (&'static str, &'static str) {
    if license.suspended {
        ("suspended", "off")
    } else if license.starts_at > now {
        ("not started", "off")
    } else if license.expires_at.is_some_and(|at| at <= now) {
        match license.on_expiry {
            ExpiryPolicy::Revoke => ("expired", "off"),
            ExpiryPolicy::KeepReleased => ("expired, keeps released versions", "warn"),
        }
    } else if license.expires_at.is_some_and(|at| at - now <= time::Duration::days(30)) {
        ("expires soon", "warn")
    } else {
        ("in force", "on")
    }
}

/// "from 2026-01-01 until 2027-01-01 (then keeps what was released before)".
pub(crate) fn validity(license: &LicenseRecord) -> String {
    match license.expires_at {
        None => format!("from {}, no end", day(license.starts_at)),
        Some(at) => format!(
            "from {} until {}{}",
            day(license.starts_at),
            day(at),
            match license.on_expiry {
                ExpiryPolicy::Revoke => "",
                ExpiryPolicy::KeepReleased => " (then keeps what was released before)",
            }
        ),
    }
}

/// A grant in plain words: "acme/app: versions >=1.0.0 <2.0.0 (semver), released before
/// 2027-01-01".
pub(crate) fn describe_grant(grant: &Grant) -> String {
    let tags = match grant.tags() {
        TagSelector::All => "every tag".to_owned(),
        TagSelector::Exact(tags) => format!("tags {}", tags.values().join(", ")),
        TagSelector::Glob(glob) => format!("tags matching {}", glob.pattern()),
        TagSelector::Semver(semver) => {
            let mut text = format!("versions {} (semver", semver.range().as_str());
            if semver.include_prereleases() {
                text.push_str(", pre-releases included");
            }
            if semver.allow_v_prefix() {
                text.push_str(", v prefix allowed");
            }
            text.push(')');
            text
        }
    };
    let mut text = format!("{}: {tags}", grant.repository());
    if let Some(after) = grant.published_after() {
        text.push_str(&format!(", released from {}", day(after)));
    }
    if let Some(before) = grant.published_before() {
        text.push_str(&format!(", released before {}", day(before)));
    }
    text
}

/// One grant's fields in the form, as typed.
#[derive(Debug, Clone, Default)]
pub(crate) struct GrantFields {
    repository: String,
    kind: String,
    value: String,
    v_prefix: bool,
    prereleases: bool,
    after: String,
    before: String,
    error: Option<String>,
    /// The tags it matches today (preview), when shown.
    preview: Option<Preview>,
}

/// What a grant matches today.
#[derive(Debug, Clone, Default)]
pub(crate) struct Preview {
    total: usize,
    repositories: usize,
    shown: Vec<String>,
}

impl Preview {
    fn more(&self) -> usize {
        self.total.saturating_sub(self.shown.len())
    }
}

/// The whole form, as typed.
#[derive(Debug, Clone, Default)]
pub(crate) struct LicenseFields {
    name: Field,
    starts: Field,
    expires: Field,
    on_expiry: String,
    suspended: bool,
    notes: Field,
    grants: Vec<GrantFields>,
    intent: String,
}

impl LicenseFields {
    /// Reads the form's fields (unknown ones are ignored; at most [`MAX_GRANTS`] grants).
    fn parse(pairs: Vec<(String, String)>) -> Result<Self, PageError> {
        let mut fields = LicenseFields::default();
        let mut grants: HashMap<usize, GrantFields> = HashMap::new();
        let mut removed = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "name" => fields.name = Field::with(value.trim()),
                "starts" => fields.starts = Field::with(value.trim()),
                "expires" => fields.expires = Field::with(value.trim()),
                "on_expiry" => fields.on_expiry = value,
                "suspended" => fields.suspended = value == "on",
                "notes" => fields.notes = Field::with(value),
                "intent" => fields.intent = value,
                _ => {
                    let Some(rest) = key.strip_prefix("grant-") else { continue };
                    let Some((index, part)) = rest.split_once('-') else { continue };
                    let Ok(index) = index.parse::<usize>() else { continue };
                    if index >= MAX_GRANTS {
                        return Err(PageError::BadForm);
                    }
                    let grant = grants.entry(index).or_default();
                    match part {
                        "repository" => grant.repository = value.trim().to_owned(),
                        "kind" => grant.kind = value,
                        "value" => grant.value = value.trim().to_owned(),
                        "v-prefix" => grant.v_prefix = value == "on",
                        "prereleases" => grant.prereleases = value == "on",
                        "after" => grant.after = value.trim().to_owned(),
                        "before" => grant.before = value.trim().to_owned(),
                        "remove" if value == "on" => removed.push(index),
                        _ => {}
                    }
                }
            }
        }
        let mut indexed: Vec<(usize, GrantFields)> = grants.into_iter().collect();
        indexed.sort_by_key(|(index, _)| *index);
        fields.grants = indexed
            .into_iter()
            .filter(|(index, grant)| !removed.contains(index) && !grant.is_blank())
            .map(|(_, grant)| grant)
            .collect();
        Ok(fields)
    }

    /// The form filled with `license`.
    fn of(license: &LicenseRecord) -> Self {
        LicenseFields {
            name: Field::with(license.name.clone()),
            starts: Field::with(license.starts_at.date().to_string()),
            expires: Field::with(
                license.expires_at.map(|at| at.date().to_string()).unwrap_or_default(),
            ),
            on_expiry: expiry_str(license.on_expiry).to_owned(),
            suspended: license.suspended,
            notes: Field::with(license.notes.clone()),
            grants: license.grants.iter().map(GrantFields::of).collect(),
            intent: String::new(),
        }
    }

    /// An empty form for a new license, starting today.
    fn blank() -> Self {
        LicenseFields {
            starts: Field::with(OffsetDateTime::now_utc().date().to_string()),
            on_expiry: "revoke".into(),
            ..LicenseFields::default()
        }
    }

    /// The grants' specifications, each with the error of its own fields (dates); `None`
    /// for a grant whose fields do not even make a specification.
    fn specs(&mut self) -> Vec<Option<GrantSpec>> {
        self.grants.iter_mut().map(GrantFields::spec).collect()
    }

    /// The license as `VendorActions` takes it, or the form with errors beside its fields.
    fn validated(&mut self) -> Option<LicenseForm> {
        let mut ok = true;
        let starts_at = match parse_day(&self.starts.value) {
            Some(at) => Some(at),
            None => {
                self.starts.fail("Give the first day, as YYYY-MM-DD.");
                ok = false;
                None
            }
        };
        let expires_at = if self.expires.value.is_empty() {
            None
        } else {
            match parse_day(&self.expires.value) {
                Some(at) => Some(at),
                None => {
                    self.expires
                        .fail("Give the end date as YYYY-MM-DD, or leave it empty for no end.");
                    ok = false;
                    None
                }
            }
        };
        let on_expiry = match self.on_expiry.as_str() {
            "keep_released" => ExpiryPolicy::KeepReleased,
            _ => ExpiryPolicy::Revoke,
        };
        let specs = self.specs();
        let grants: Option<Vec<GrantSpec>> = specs.into_iter().collect();
        let (Some(starts_at), true, Some(grants)) = (starts_at, ok, grants) else {
            return None;
        };
        Some(LicenseForm {
            name: self.name.value.clone(),
            starts_at,
            expires_at,
            on_expiry,
            suspended: self.suspended,
            notes: self.notes.value.clone(),
            grants,
        })
    }

    /// Puts a refused action's message beside its field.
    fn fail(&mut self, err: ActionError) -> Result<(), PageError> {
        let (field, message) = match &err {
            ActionError::Invalid { field, message } | ActionError::Conflict { field, message } => {
                (field.clone(), message.clone())
            }
            _ => return Err(customers::action_error(err)),
        };
        let message = upper_first(&message);
        if let Some(rest) = field.strip_prefix("grants[") {
            let index = rest.split(']').next().and_then(|i| i.parse::<usize>().ok());
            if let Some(grant) = index.and_then(|i| self.grants.get_mut(i)) {
                grant.error = Some(message);
                return Ok(());
            }
        }
        match field.as_str() {
            "starts_at" => self.starts.fail(message),
            "expires_at" => self.expires.fail(message),
            "notes" => self.notes.fail(message),
            _ => self.name.fail(message),
        }
        Ok(())
    }

    fn has_errors(&self) -> bool {
        self.name.is_invalid()
            || self.starts.is_invalid()
            || self.expires.is_invalid()
            || self.notes.is_invalid()
            || self.grants.iter().any(|g| g.error.is_some())
    }
}

fn expiry_str(policy: ExpiryPolicy) -> &'static str {
    match policy {
        ExpiryPolicy::Revoke => "revoke",
        ExpiryPolicy::KeepReleased => "keep_released",
    }
}

/// `2026-12-06` as midnight UTC of that day.
fn parse_day(text: &str) -> Option<OffsetDateTime> {
    let format = format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).ok().map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
}

impl GrantFields {
    fn is_blank(&self) -> bool {
        self.repository.is_empty()
            && self.value.is_empty()
            && self.after.is_empty()
            && self.before.is_empty()
    }

    fn of(grant: &Grant) -> Self {
        let spec = grant.to_spec();
        let (kind, value, v_prefix, prereleases) = match spec.tags {
            TagSelectorSpec::All => ("all", String::new(), false, false),
            TagSelectorSpec::Exact { values } => ("exact", values.join(", "), false, false),
            TagSelectorSpec::Glob { pattern } => ("glob", pattern, false, false),
            TagSelectorSpec::Semver { range, allow_v_prefix, include_prereleases } => {
                ("semver", range, allow_v_prefix, include_prereleases)
            }
        };
        GrantFields {
            repository: spec.repository,
            kind: kind.to_owned(),
            value,
            v_prefix,
            prereleases,
            after: spec.published_after.map(|at| at.date().to_string()).unwrap_or_default(),
            before: spec.published_before.map(|at| at.date().to_string()).unwrap_or_default(),
            error: None,
            preview: None,
        }
    }

    /// The grant's specification, or `None` with its error set (an unreadable date).
    fn spec(&mut self) -> Option<GrantSpec> {
        let tags = match self.kind.as_str() {
            "exact" => TagSelectorSpec::Exact {
                values: self
                    .value
                    .split([',', ' ', '\n'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
            "glob" => TagSelectorSpec::Glob { pattern: self.value.clone() },
            "semver" => TagSelectorSpec::Semver {
                range: self.value.clone(),
                allow_v_prefix: self.v_prefix,
                include_prereleases: self.prereleases,
            },
            _ => TagSelectorSpec::All,
        };
        let mut bound = |text: &str, what: &str| -> Result<Option<OffsetDateTime>, ()> {
            if text.is_empty() {
                return Ok(None);
            }
            parse_day(text).map(Some).ok_or_else(|| {
                self.error =
                    Some(format!("Give the {what} date as YYYY-MM-DD, or leave it empty."));
            })
        };
        let after = bound(&self.after.clone(), "released-from");
        let before = bound(&self.before.clone(), "released-before");
        let (Ok(published_after), Ok(published_before)) = (after, before) else {
            return None;
        };
        Some(GrantSpec {
            repository: self.repository.clone(),
            tags,
            published_after,
            published_before,
        })
    }
}

/// Fills each grant's preview (the organization's tags it matches today) or its error.
async fn preview(
    portal: &Portal,
    scope: &VendorScope,
    fields: &mut LicenseFields,
) -> Result<(), PageError> {
    let all = tags::of_organization(&portal.app.pool, scope.org_id(), PREVIEW_TAG_LIMIT).await?;
    let slug = scope.slug().to_owned();
    for grant in &mut fields.grants {
        let Some(spec) = grant.spec() else { continue };
        match spec.validate(&slug) {
            Ok(valid) => grant.preview = Some(matches(&valid, &all)),
            Err(err) => grant.error = Some(upper_first(&err.to_string())),
        }
    }
    Ok(())
}

/// The tags of `all` that `grant` matches.
fn matches(grant: &Grant, all: &[OrganizationTag]) -> Preview {
    let mut preview = Preview::default();
    let mut last_repository = "";
    for tag in all {
        if !grant.covers_repository(&tag.repository)
            || !grant.tags().matches(&tag.tag)
            || !grant.published_in_window(tag.pushed_at)
        {
            continue;
        }
        preview.total += 1;
        if tag.repository != last_repository {
            preview.repositories += 1;
            last_repository = &tag.repository;
        }
        if preview.shown.len() < PREVIEW_SHOWN {
            preview.shown.push(format!("{}:{}", tag.repository, tag.tag));
        }
    }
    preview
}

#[derive(Template)]
#[template(path = "vendor/license.html")]
struct LicensePage {
    shell: Shell,
    heading: String,
    customer_name: String,
    customer_href: String,
    action: String,
    preview_action: String,
    fields: LicenseFields,
    /// The grants' blocks: those typed, and one empty block to add another.
    blocks: Vec<(usize, GrantFields)>,
    slug: String,
    existing: Option<Existing>,
    may_manage: bool,
}

/// What the page of an existing license shows besides the form.
struct Existing {
    suspended: bool,
    suspension: String,
    delete: String,
    state: &'static str,
    state_class: &'static str,
    history: Vec<HistoryLine>,
}

struct HistoryLine {
    at: String,
    who: String,
    action: String,
}

#[derive(Template)]
#[template(path = "vendor/license_preview.html")]
struct PreviewFragment {
    blocks: Vec<(usize, GrantFields)>,
}

fn blocks(fields: &LicenseFields, extra: bool) -> Vec<(usize, GrantFields)> {
    let mut blocks: Vec<(usize, GrantFields)> = fields.grants.iter().cloned().enumerate().collect();
    if (extra || blocks.is_empty()) && blocks.len() < MAX_GRANTS {
        let kind = if blocks.is_empty() { "semver" } else { "all" };
        blocks.push((blocks.len(), GrantFields { kind: kind.into(), ..GrantFields::default() }));
    }
    blocks
}

/// The license being edited, with its customer's name and page.
struct Subject {
    license: Option<LicenseRecord>,
    customer_id: Uuid,
    customer_name: String,
}

async fn render(
    portal: &Portal,
    scope: &VendorScope,
    subject: &Subject,
    fields: LicenseFields,
    extra_block: bool,
    status: StatusCode,
) -> Result<Response, PageError> {
    let now = OffsetDateTime::now_utc();
    let existing = match &subject.license {
        None => None,
        Some(license) => {
            let base = license_path(scope, license.id);
            let (state, state_class) = state(license, now);
            Some(Existing {
                suspended: license.suspended,
                suspension: format!("{base}/suspension"),
                delete: format!("{base}/delete"),
                state,
                state_class,
                history: history(portal, scope, license.id).await?,
            })
        }
    };
    let customer_href = customer_path(scope, subject.customer_id);
    let (heading, action) = match &subject.license {
        Some(license) => (license.name.clone(), license_path(scope, license.id)),
        None => ("New license".to_owned(), format!("{customer_href}/licenses/new")),
    };
    page_with(
        status,
        &LicensePage {
            shell: scope.shell(heading.clone(), "/customers").await?,
            heading,
            customer_name: subject.customer_name.clone(),
            customer_href,
            action,
            preview_action: scope.path("/licenses/preview"),
            blocks: blocks(&fields, extra_block),
            fields,
            slug: scope.slug().to_owned(),
            existing,
            may_manage: scope.may(Need::Customers),
        },
    )
}

/// The license's changes, newest first, from the audit log.
async fn history(
    portal: &Portal,
    scope: &VendorScope,
    id: Uuid,
) -> Result<Vec<HistoryLine>, PageError> {
    let filter = AuditFilter { target: Some(format!("license:{id}")), ..AuditFilter::default() };
    let rows = audit::list(&portal.app.pool, scope.org_id(), &filter, None, 50).await?;
    Ok(rows
        .into_iter()
        .map(|row| HistoryLine {
            at: when(row.at),
            who: row.actor_name.unwrap_or_else(|| row.actor_kind.clone()),
            action: row.action,
        })
        .collect())
}

async fn subject_of_customer(
    portal: &Portal,
    scope: &VendorScope,
    id: &str,
) -> Result<Subject, PageError> {
    let customer = customers::find(portal, scope, id).await?;
    Ok(Subject { license: None, customer_id: customer.id, customer_name: customer.name })
}

async fn subject_of_license(
    portal: &Portal,
    scope: &VendorScope,
    id: &str,
) -> Result<Subject, PageError> {
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let license =
        licenses::get(&portal.app.pool, scope.org_id(), id).await?.ok_or(PageError::NotFound)?;
    let customer = wharf_db::customers::get(&portal.app.pool, scope.org_id(), license.customer_id)
        .await?
        .ok_or(PageError::NotFound)?;
    Ok(Subject { license: Some(license), customer_id: customer.id, customer_name: customer.name })
}

/// `GET /vendor/{slug}/customers/{id}/licenses/new`.
pub(crate) async fn new_get(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let subject = subject_of_customer(&portal, &scope, &id).await?;
    render(&portal, &scope, &subject, LicenseFields::blank(), false, StatusCode::OK).await
}

/// `POST /vendor/{slug}/customers/{id}/licenses/new`.
pub(crate) async fn new_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    PageForm { visitor, form }: PageForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let subject = subject_of_customer(&portal, &scope, &id).await?;
    save(&portal, &scope, subject, LicenseFields::parse(form)?).await
}

/// `GET /vendor/{slug}/licenses/{id}`: the license, its form (read-only for those who may
/// not change it) and its history.
pub(crate) async fn edit_get(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    let subject = subject_of_license(&portal, &scope, &id).await?;
    let mut fields = subject.license.as_ref().map(LicenseFields::of).unwrap_or_default();
    preview(&portal, &scope, &mut fields).await?;
    render(&portal, &scope, &subject, fields, false, StatusCode::OK).await
}

/// `POST /vendor/{slug}/licenses/{id}`.
pub(crate) async fn edit_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    PageForm { visitor, form }: PageForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let subject = subject_of_license(&portal, &scope, &id).await?;
    save(&portal, &scope, subject, LicenseFields::parse(form)?).await
}

/// Saves the form, or shows it again: with one more grant ("Add a grant"), with the preview
/// ("Preview"), or with the errors beside their fields (422).
async fn save(
    portal: &Portal,
    scope: &VendorScope,
    subject: Subject,
    mut fields: LicenseFields,
) -> Result<Response, PageError> {
    match fields.intent.as_str() {
        "add" => {
            preview(portal, scope, &mut fields).await?;
            return render(portal, scope, &subject, fields, true, StatusCode::OK).await;
        }
        "preview" => {
            preview(portal, scope, &mut fields).await?;
            return render(portal, scope, &subject, fields, false, StatusCode::OK).await;
        }
        _ => {}
    }
    let Some(form) = fields.validated() else {
        return render(portal, scope, &subject, fields, false, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    };
    let actor = scope.actor();
    let saved = match &subject.license {
        None => portal.app.actions.create_license(&actor, subject.customer_id, &form).await,
        Some(license) => portal.app.actions.replace_license(&actor, license.id, &form).await,
    };
    match saved {
        Ok(license) => {
            let now = OffsetDateTime::now_utc();
            let (state, _) = state(&license, now);
            let text = if license.grants.is_empty() {
                format!(
                    "License {} saved ({state}). It has no grant yet, so it allows nothing.",
                    license.name
                )
            } else {
                format!("License {} saved ({state}). It applies to the next pull.", license.name)
            };
            scope.flash("success", text).await?;
            Ok(Redirect::to(&customer_path(scope, subject.customer_id)).into_response())
        }
        Err(err) => {
            fields.fail(err)?;
            debug_assert!(fields.has_errors());
            render(portal, scope, &subject, fields, false, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// `POST /vendor/{slug}/licenses/preview`: the preview alone (htmx), from the form as typed.
pub(crate) async fn preview_post(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    PageForm { visitor, form }: PageForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let mut fields = LicenseFields::parse(form)?;
    preview(&portal, &scope, &mut fields).await?;
    let fragment = PreviewFragment { blocks: blocks(&fields, false) };
    let html = fragment.render().map_err(PageError::internal)?;
    Ok(Html(html).into_response())
}

/// Suspend or reinstate.
#[derive(serde::Deserialize)]
pub(crate) struct SuspensionForm {
    #[serde(default)]
    suspended: String,
}

/// `POST /vendor/{slug}/licenses/{id}/suspension`: suspends (it grants nothing, from the
/// next pull) or reinstates a license.
pub(crate) async fn suspension_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    PageForm { visitor, form }: PageForm<SuspensionForm>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let subject = subject_of_license(&portal, &scope, &id).await?;
    let Some(license) = subject.license else { return Err(PageError::NotFound) };
    let suspended = match form.suspended.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(PageError::BadForm),
    };
    let mut change = LicenseFields::of(&license)
        .validated()
        .ok_or_else(|| PageError::internal("stored license does not read back"))?;
    change.suspended = suspended;
    portal
        .app
        .actions
        .replace_license(&scope.actor(), license.id, &change)
        .await
        .map_err(action_error)?;
    let text = if suspended {
        format!("License {} is suspended: it grants nothing from the next pull.", license.name)
    } else {
        format!("License {} is reinstated.", license.name)
    };
    scope.flash("success", text).await?;
    Ok(Redirect::to(&license_path(&scope, license.id)).into_response())
}

/// `GET /vendor/{slug}/licenses/{id}/delete`: the confirmation.
pub(crate) async fn delete_get(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let subject = subject_of_license(&portal, &scope, &id).await?;
    let Some(license) = subject.license else { return Err(PageError::NotFound) };
    let base = license_path(&scope, license.id);
    page(&ConfirmPage {
        shell: scope.shell(format!("Delete license {}?", license.name), "/customers").await?,
        question: format!(
            "{} loses what this license grants from its next pull. The audit log keeps the license as it was. To stop it for a while, suspend it instead.",
            subject.customer_name
        ),
        action: format!("{base}/delete"),
        confirm_label: "Delete the license".into(),
        cancel: base,
    })
}

/// `POST /vendor/{slug}/licenses/{id}/delete`.
pub(crate) async fn delete_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let subject = subject_of_license(&portal, &scope, &id).await?;
    let Some(license) = subject.license else { return Err(PageError::NotFound) };
    portal.app.actions.delete_license(&scope.actor(), license.id).await.map_err(action_error)?;
    scope.flash("success", format!("License {} was deleted.", license.name)).await?;
    Ok(Redirect::to(&customer_path(&scope, subject.customer_id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_form_reads_grants_in_order_and_drops_blank_and_removed_ones() {
        let fields = LicenseFields::parse(pairs(&[
            ("name", " Gold "),
            ("grant-1-repository", "acme/b"),
            ("grant-1-kind", "all"),
            ("grant-0-repository", "acme/a"),
            ("grant-0-kind", "semver"),
            ("grant-0-value", ">=1.0.0 <2.0.0"),
            ("grant-2-repository", ""),
            ("grant-2-kind", "all"),
            ("grant-3-repository", "acme/c"),
            ("grant-3-remove", "on"),
        ]))
        .unwrap();
        assert_eq!(fields.name.value, "Gold");
        let repositories: Vec<&str> = fields.grants.iter().map(|g| g.repository.as_str()).collect();
        assert_eq!(repositories, ["acme/a", "acme/b"]);
        assert!(LicenseFields::parse(pairs(&[("grant-50-kind", "all")])).is_err());
    }

    #[test]
    fn bad_dates_are_errors_beside_their_fields() {
        let mut fields = LicenseFields::parse(pairs(&[
            ("name", "x"),
            ("starts", "yesterday"),
            ("grant-0-repository", "acme/a"),
            ("grant-0-kind", "all"),
            ("grant-0-before", "2026-13-01"),
        ]))
        .unwrap();
        assert!(fields.validated().is_none());
        assert!(fields.starts.is_invalid());
        assert!(fields.grants[0].error.is_some());
    }

    #[test]
    fn a_grant_reads_back_as_it_was_saved() {
        let spec = GrantSpec {
            repository: "acme/charts/*".into(),
            tags: TagSelectorSpec::Semver {
                range: "^1.2".into(),
                allow_v_prefix: true,
                include_prereleases: false,
            },
            published_after: None,
            published_before: parse_day("2027-01-01"),
        };
        let grant = spec.validate("acme").unwrap();
        let mut fields = GrantFields::of(&grant);
        assert_eq!(fields.spec().unwrap().validate("acme").unwrap(), grant);
        let text = describe_grant(&grant);
        assert!(text.starts_with("acme/charts/*: versions "), "{text}");
        assert!(text.ends_with("(semver, v prefix allowed), released before 2027-01-01"), "{text}");
    }
}
