//! The vendor's customers: `/vendor/{slug}/customers` (search, state, licenses in brief,
//! last pull; create) and a customer's page `/vendor/{slug}/customers/{id}` (rename,
//! disable, re-enable, delete; its licenses, users and invitations, access tokens, recent
//! pulls and what it can pull right now).
//!
//! Everyone in the organization reads; owners and admins change ([`Need::Customers`]).
//! Writes are `VendorActions`' (the JSON API's) and the accounts service's invitations, so
//! each is validated and audited once. A customer id of another organization answers 404,
//! exactly like one that does not exist.

use askama::Template;
use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_app::{
    accounts::{InviteError, Inviter},
    actions::ActionError,
    entitled::entitled_repositories,
};
use wharf_auth::principal::CustomerRole;
use wharf_db::{
    customers::{self, Customer, CustomerOverview},
    invitations::{self, InvitationStatus},
    licenses, tokens,
    usage::{self, PullFilter},
};

use super::{Need, VendorScope, licenses::LicenseSummary};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    pages::{
        account::{ConfirmPage, when},
        invitations::{Delivered, deliver},
        page, page_with,
    },
    shell::{Field, Pages, Shell},
    visitor::Visitor,
};

/// Customers per page of the list.
const PAGE_SIZE: i64 = 50;
/// Recent pulls shown on a customer's page.
const RECENT_PULLS: i64 = 10;

/// The customers' routes.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/vendor/{slug}/customers", get(list_get).post(create_post))
        .route("/vendor/{slug}/customers/{id}", get(customer_get))
        .route("/vendor/{slug}/customers/{id}/rename", post(rename_post))
        .route("/vendor/{slug}/customers/{id}/status", post(status_post))
        .route("/vendor/{slug}/customers/{id}/delete", get(delete_get).post(delete_post))
        .route("/vendor/{slug}/customers/{id}/invitations", post(invite_post))
        .route(
            "/vendor/{slug}/customers/{id}/invitations/{invitation}/revoke",
            post(revoke_invitation_post),
        )
        .route(
            "/vendor/{slug}/customers/{id}/invitations/{invitation}/resend",
            post(resend_invitation_post),
        )
        .route("/vendor/{slug}/customers/{id}/tokens/{token}/revoke", post(revoke_token_post))
        .route("/vendor/{slug}/customers/{id}/users/{user}/role", post(user_role_post))
        .route(
            "/vendor/{slug}/customers/{id}/users/{user}/remove",
            get(remove_user_get).post(remove_user_post),
        )
}

/// `/vendor/{slug}/customers/{id}`.
pub fn customer_path(scope: &VendorScope, id: Uuid) -> String {
    scope.path(&format!("/customers/{id}"))
}

/// A customer id from a URL: anything that is not one is a customer that does not exist.
pub(crate) fn parse_id(id: &str) -> Result<Uuid, PageError> {
    id.parse().map_err(|_| PageError::NotFound)
}

/// The customer `id` of the scope's organization (404 otherwise).
pub(crate) async fn find(
    portal: &Portal,
    scope: &VendorScope,
    id: &str,
) -> Result<Customer, PageError> {
    let id = parse_id(id)?;
    customers::get(&portal.app.pool, scope.org_id(), id).await?.ok_or(PageError::NotFound)
}

/// One customer in the list.
struct ListRow {
    href: String,
    name: String,
    disabled: bool,
    licenses: String,
    license_warning: bool,
    last_pull: String,
}

impl ListRow {
    fn new(scope: &VendorScope, c: CustomerOverview, now: OffsetDateTime) -> Self {
        let licenses = match (c.licenses, c.active_licenses) {
            (0, _) => "no license".to_owned(),
            (n, 0) => format!("{n} license{}, none in force", plural(n)),
            (n, a) if n == a => format!("{n} in force"),
            (n, a) => format!("{a} of {n} in force"),
        };
        let expiring = c.next_expiry.filter(|at| *at - now <= time::Duration::days(30));
        let licenses = match expiring {
            Some(at) => format!("{licenses}; one expires {}", day(at)),
            None => licenses,
        };
        ListRow {
            href: customer_path(scope, c.id),
            name: c.name,
            disabled: c.disabled,
            license_warning: c.active_licenses == 0 || expiring.is_some(),
            licenses,
            last_pull: c.last_pull_at.map_or_else(|| "never".to_owned(), when),
        }
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A date as the pages show it: `2026-12-06`.
pub(crate) fn day(at: OffsetDateTime) -> String {
    when(at).get(..10).unwrap_or_default().to_owned()
}

#[derive(Template)]
#[template(path = "vendor/customers.html")]
struct ListPage {
    shell: Shell,
    action: String,
    search: String,
    rows: Vec<ListRow>,
    pages: Pages,
    may_manage: bool,
    name: Field,
}

/// The list's query: a search and a cursor (the last customer of the previous page).
#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

/// `GET /vendor/{slug}/customers`.
pub(crate) async fn list_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    Query(query): Query<ListQuery>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    render_list(&portal, &scope, &query, Field::default(), StatusCode::OK).await
}

async fn render_list(
    portal: &Portal,
    scope: &VendorScope,
    query: &ListQuery,
    name: Field,
    status: StatusCode,
) -> Result<Response, PageError> {
    let search = query.q.trim();
    let search = (!search.is_empty()).then_some(search);
    // The cursor names a customer of this organization; anything else starts over.
    let after = match query.after.as_deref().map(str::parse::<Uuid>) {
        Some(Ok(id)) => customers::get(&portal.app.pool, scope.org_id(), id).await?,
        _ => None,
    };
    let mut rows = customers::overview(
        &portal.app.pool,
        scope.org_id(),
        search,
        after.as_ref().map(|c| (c.name.as_str(), c.id)),
        PAGE_SIZE + 1,
    )
    .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let base = scope.path("/customers");
    let with = |after: Option<Uuid>| {
        let mut pairs = Vec::new();
        if let Some(q) = search {
            pairs.push(("q", q.to_owned()));
        }
        if let Some(id) = after {
            pairs.push(("after", id.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() { base.clone() } else { format!("{base}?{query}") }
    };
    let pages = Pages {
        previous: after.is_some().then(|| with(None)),
        next: if more { rows.last().map(|c| with(Some(c.id))) } else { None },
        summary: match (rows.len(), search) {
            (0, _) => String::new(),
            (n, Some(q)) => format!("{n} customer{} matching “{q}”", plural(n as i64)),
            (n, None) => format!("{n} customer{}", plural(n as i64)),
        },
    };
    let now = OffsetDateTime::now_utc();
    page_with(
        status,
        &ListPage {
            shell: scope.shell("Customers", "/customers").await?,
            action: base.clone(),
            search: query.q.clone(),
            rows: rows.into_iter().map(|c| ListRow::new(scope, c, now)).collect(),
            pages,
            may_manage: scope.may(Need::Customers),
            name,
        },
    )
}

/// The new customer form.
#[derive(Deserialize)]
pub(crate) struct NameForm {
    #[serde(default)]
    name: String,
}

/// `POST /vendor/{slug}/customers`: creates a customer and opens its page.
pub(crate) async fn create_post(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    PageForm { visitor, form }: PageForm<NameForm>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    match portal.app.actions.create_customer(&scope.actor(), &form.name).await {
        Ok(customer) => {
            scope
                .flash(
                    "success",
                    format!("Customer {} created. Give it a license next.", customer.name),
                )
                .await?;
            Ok(Redirect::to(&customer_path(&scope, customer.id)).into_response())
        }
        Err(err) => {
            let mut name = Field::with(form.name.trim());
            name.fail(field_message(err)?);
            render_list(
                &portal,
                &scope,
                &ListQuery::default(),
                name,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// The message to show beside a form's field for a refused action; a failure that is not
/// the input's fault is the error page.
pub(crate) fn field_message(err: ActionError) -> Result<String, PageError> {
    match err {
        ActionError::Invalid { message, .. } | ActionError::Conflict { message, .. } => {
            Ok(upper_first(&message))
        }
        ActionError::NotFound => Err(PageError::NotFound),
        ActionError::Database(db) => Err(db.into()),
    }
}

/// `text` with its first letter in upper case (messages of `wharf-app` start lower-case).
pub(crate) fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// A user of the customer.
struct UserRow {
    email: String,
    role: String,
    since: String,
    /// Where to change the user's role and to remove them (owners and admins).
    role_action: String,
    remove: String,
}

/// An open invitation to the customer.
struct InvitationRow {
    email: String,
    role: String,
    expires: String,
    revoke: String,
    resend: String,
}

/// An access token of the customer.
pub(crate) struct TokenRow {
    pub name: String,
    pub prefix: String,
    pub creator: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub revoke: Option<String>,
}

/// A recent pull.
pub(crate) struct PullLine {
    pub at: String,
    pub what: String,
    pub token: String,
    pub client: String,
}

/// A repository the customer can pull now, with its tags.
struct EntitledRow {
    name: String,
    href: String,
    tags: Vec<String>,
    more: usize,
}

/// Tags of a repository the entitled preview shows before "and N more".
const PREVIEW_TAGS: usize = 20;

#[derive(Template)]
#[template(path = "vendor/customer.html")]
struct CustomerPage {
    shell: Shell,
    customer: Customer,
    base: String,
    may_manage: bool,
    rename: Field,
    licenses: Vec<LicenseSummary>,
    new_license: String,
    bundle: String,
    users: Vec<UserRow>,
    invitations: Vec<InvitationRow>,
    invite_email: Field,
    invite_role: String,
    created_link: Option<String>,
    created_for: String,
    mail_configured: bool,
    tokens: Vec<TokenRow>,
    pulls: Vec<PullLine>,
    pulls_href: String,
    entitled: Option<Vec<EntitledRow>>,
}

/// What a customer's page shows again after a refused form.
#[derive(Default)]
struct Shown {
    rename: Option<Field>,
    invite_email: Field,
    invite_role: String,
    created: Option<(String, String)>,
}

/// `GET /vendor/{slug}/customers/{id}`.
pub(crate) async fn customer_get(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    let customer = find(&portal, &scope, &id).await?;
    render_customer(&portal, &scope, customer, Shown::default(), StatusCode::OK).await
}

async fn render_customer(
    portal: &Portal,
    scope: &VendorScope,
    customer: Customer,
    shown: Shown,
    status: StatusCode,
) -> Result<Response, PageError> {
    let pool = &portal.app.pool;
    let org = scope.org_id();
    let now = OffsetDateTime::now_utc();
    let may_manage = scope.may(Need::Customers);
    let base = customer_path(scope, customer.id);
    let pull_filter = PullFilter { customer_id: Some(customer.id), ..PullFilter::default() };
    let (licenses, users, invitations, tokens, pulls) = tokio::try_join!(
        licenses::list_for_customer(pool, org, customer.id),
        customers::list_users(pool, org, customer.id),
        invitations::list_customer(pool, org, customer.id),
        tokens::list_customer_tokens(pool, org, customer.id),
        usage::list_pulls(pool, org, &pull_filter, None, RECENT_PULLS),
    )?;
    let entitled =
        match entitled_repositories(pool, portal.app.credentials.entitlements(), &customer, now)
            .await
        {
            Ok(repositories) => Some(
                repositories
                    .into_iter()
                    .map(|r| EntitledRow {
                        href: super::artifacts::repository_path(scope, &r.name),
                        more: r.tags.len().saturating_sub(PREVIEW_TAGS),
                        tags: r.tags.into_iter().take(PREVIEW_TAGS).collect(),
                        name: r.name,
                    })
                    .collect(),
            ),
            // The view could not be loaded: say so rather than show nothing as if nothing were
            // entitled.
            Err(_) => None,
        };
    let (created_for, created_link) = match shown.created {
        Some((email, link)) => (email, Some(link)),
        None => (String::new(), None),
    };
    page_with(
        status,
        &CustomerPage {
            shell: scope.shell(customer.name.clone(), "/customers").await?,
            rename: shown.rename.unwrap_or_else(|| Field::with(customer.name.clone())),
            licenses: licenses.iter().map(|l| LicenseSummary::new(scope, l, now)).collect(),
            new_license: format!("{base}/licenses/new"),
            bundle: format!("{base}/bundle"),
            users: users
                .into_iter()
                .map(|u| UserRow {
                    role_action: format!("{base}/users/{}/role", u.user_id),
                    remove: format!("{base}/users/{}/remove", u.user_id),
                    email: u.email,
                    role: u.role,
                    since: day(u.created_at),
                })
                .collect(),
            invitations: invitations
                .into_iter()
                .filter(|i| i.status(now) == InvitationStatus::Open)
                .map(|i| InvitationRow {
                    email: i.email.unwrap_or_default(),
                    role: i.role.unwrap_or_default(),
                    expires: when(i.expires_at),
                    revoke: format!("{base}/invitations/{}/revoke", i.id),
                    resend: format!("{base}/invitations/{}/resend", i.id),
                })
                .collect(),
            invite_email: shown.invite_email,
            invite_role: if shown.invite_role.is_empty() {
                "admin".into()
            } else {
                shown.invite_role
            },
            created_link,
            created_for,
            mail_configured: portal.app.mailer.configured(),
            tokens: tokens
                .into_iter()
                .filter(|t| t.revoked_at.is_none())
                .map(|t| {
                    token_row(&t, may_manage.then(|| format!("{base}/tokens/{}/revoke", t.id)), now)
                })
                .collect(),
            pulls: pulls.into_iter().map(pull_line).collect(),
            pulls_href: format!(
                "{}?{}",
                scope.path("/analytics"),
                serde_urlencoded::to_string([("customer", customer.id.to_string())])
                    .unwrap_or_default()
            ),
            entitled,
            base,
            may_manage,
            customer,
        },
    )
}

/// A token as the token tables show it.
pub(crate) fn token_row(
    t: &tokens::AccessToken,
    revoke: Option<String>,
    now: OffsetDateTime,
) -> TokenRow {
    TokenRow {
        name: t.name.clone(),
        prefix: t.display_prefix.clone(),
        creator: t.created_by_email.clone().unwrap_or_else(|| "an operator".into()),
        created: day(t.created_at),
        expires: match t.expires_at {
            None => "never".into(),
            Some(at) if at <= now => format!("expired {}", day(at)),
            Some(at) => day(at),
        },
        last_used: t.last_used_at.map_or_else(|| "never".into(), when),
        revoke,
    }
}

/// A pull as the short pull tables show it.
pub(crate) fn pull_line(p: usage::PullRow) -> PullLine {
    let what = if p.reference.starts_with("sha256:") {
        format!("{}@{}", p.repository, short_digest(&p.reference))
    } else {
        format!("{}:{}", p.repository, p.reference)
    };
    PullLine {
        at: when(p.at),
        what,
        token: p.token_name.unwrap_or_else(|| p.token_prefix.unwrap_or_default()),
        client: p.client_kind,
    }
}

/// `sha256:0123456789ab` (the first 12 hex digits).
pub(crate) fn short_digest(digest: &str) -> String {
    digest.get(..19).unwrap_or(digest).to_owned()
}

/// `POST /vendor/{slug}/customers/{id}/rename`.
pub(crate) async fn rename_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    PageForm { visitor, form }: PageForm<NameForm>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    match portal
        .app
        .actions
        .update_customer(&scope.actor(), customer.id, Some(&form.name), None)
        .await
    {
        Ok(renamed) => {
            scope.flash("success", format!("Renamed to {}.", renamed.name)).await?;
            Ok(Redirect::to(&customer_path(&scope, customer.id)).into_response())
        }
        Err(err) => {
            let mut rename = Field::with(form.name.trim());
            rename.fail(field_message(err)?);
            let shown = Shown { rename: Some(rename), ..Shown::default() };
            render_customer(&portal, &scope, customer, shown, StatusCode::UNPROCESSABLE_ENTITY)
                .await
        }
    }
}

/// Disable or re-enable.
#[derive(Deserialize)]
pub(crate) struct StatusForm {
    #[serde(default)]
    disabled: String,
}

/// `POST /vendor/{slug}/customers/{id}/status`: disables (its tokens stop at once, on
/// every instance) or re-enables a customer.
pub(crate) async fn status_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    PageForm { visitor, form }: PageForm<StatusForm>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let disabled = match form.disabled.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(PageError::BadForm),
    };
    let done = portal
        .app
        .actions
        .update_customer(&scope.actor(), customer.id, None, Some(disabled))
        .await
        .map_err(action_error)?;
    let text = if done.disabled {
        format!(
            "{} is disabled: its tokens stopped working and its users cannot sign in to its portal.",
            done.name
        )
    } else {
        format!("{} is enabled again.", done.name)
    };
    scope.flash("success", text).await?;
    Ok(Redirect::to(&customer_path(&scope, customer.id)).into_response())
}

/// An action refused for a reason that is not a form field's.
pub(crate) fn action_error(err: ActionError) -> PageError {
    match err {
        ActionError::NotFound => PageError::NotFound,
        ActionError::Database(db) => db.into(),
        ActionError::Invalid { .. } | ActionError::Conflict { .. } => PageError::BadForm,
    }
}

/// `GET /vendor/{slug}/customers/{id}/delete`: the confirmation.
pub(crate) async fn delete_get(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let base = customer_path(&scope, customer.id);
    page(&ConfirmPage {
        shell: scope.shell(format!("Delete {}?", customer.name), "/customers").await?,
        question: format!(
            "{} loses its licenses, its access tokens and its users' access at once. Pull history and the audit log keep its name. This cannot be undone; to stop access for a while, disable it instead.",
            customer.name
        ),
        action: format!("{base}/delete"),
        confirm_label: "Delete the customer".into(),
        cancel: base,
    })
}

/// `POST /vendor/{slug}/customers/{id}/delete`.
pub(crate) async fn delete_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    portal.app.actions.delete_customer(&scope.actor(), customer.id).await.map_err(action_error)?;
    scope.flash("success", format!("{} was deleted.", customer.name)).await?;
    Ok(Redirect::to(&scope.path("/customers")).into_response())
}

/// The invite-a-user form.
#[derive(Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// `POST /vendor/{slug}/customers/{id}/invitations`: invites a user to the customer (mailed,
/// or the link shown once without SMTP).
pub(crate) async fn invite_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    PageForm { visitor, form }: PageForm<InviteForm>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let mut shown = Shown {
        invite_email: Field::with(form.email.trim()),
        invite_role: form.role.clone(),
        ..Shown::default()
    };
    let role = match form.role.as_str() {
        "admin" => CustomerRole::Admin,
        "member" => CustomerRole::Member,
        _ => return Err(PageError::BadForm),
    };
    let issued = match portal
        .app
        .accounts
        .invite_customer_user(
            scope.org_id(),
            customer.id,
            Inviter::User(scope.who.person.id),
            &form.email,
            role,
        )
        .await
    {
        Ok(issued) => issued,
        Err(InviteError::Internal(err)) => return Err(err.into()),
        Err(InviteError::NotFound) => return Err(PageError::NotFound),
        Err(InviteError::NotAllowed) => return Err(PageError::Forbidden),
        Err(err) => {
            shown.invite_email.fail(err.to_string());
            return render_customer(
                &portal,
                &scope,
                customer,
                shown,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let what = format!("get {}'s software as a user of {}", scope.membership.name, customer.name);
    match deliver(&portal, &scope.who, &scope.membership.name, &issued, what).await? {
        Delivered::ShowLink { email, link } => {
            let shown = Shown { created: Some((email, link)), ..Shown::default() };
            render_customer(&portal, &scope, customer, shown, StatusCode::OK).await
        }
        Delivered::Mailed(text) => {
            scope.flash("success", text).await?;
            Ok(Redirect::to(&customer_path(&scope, customer.id)).into_response())
        }
    }
}

/// `POST /vendor/{slug}/customers/{id}/invitations/{invitation}/revoke`.
pub(crate) async fn revoke_invitation_post(
    State(portal): State<Portal>,
    Path((slug, id, invitation)): Path<(String, String, String)>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let invitation: Uuid = invitation.parse().map_err(|_| PageError::NotFound)?;
    match portal
        .app
        .accounts
        .revoke_customer_invitation(
            scope.org_id(),
            customer.id,
            Inviter::User(scope.who.person.id),
            invitation,
        )
        .await
    {
        Ok(()) => scope.flash("success", "The invitation was revoked.").await?,
        Err(InviteError::Internal(err)) => return Err(err.into()),
        Err(InviteError::NotFound) => return Err(PageError::NotFound),
        Err(_) => return Err(PageError::Forbidden),
    }
    Ok(Redirect::to(&customer_path(&scope, customer.id)).into_response())
}

/// `POST /vendor/{slug}/customers/{id}/invitations/{invitation}/resend`: replaces an open
/// invitation with a new one (same email and role, a new link, a new week), mailed or shown
/// once; the old link stops working.
pub(crate) async fn resend_invitation_post(
    State(portal): State<Portal>,
    Path((slug, id, invitation)): Path<(String, String, String)>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let invitation: Uuid = invitation.parse().map_err(|_| PageError::NotFound)?;
    let now = OffsetDateTime::now_utc();
    let open = invitations::list_customer(&portal.app.pool, scope.org_id(), customer.id)
        .await?
        .into_iter()
        .find(|i| i.id == invitation && i.status(now) == InvitationStatus::Open)
        .ok_or(PageError::NotFound)?;
    let role = match open.role.as_deref() {
        Some("admin") => CustomerRole::Admin,
        _ => CustomerRole::Member,
    };
    let inviter = Inviter::User(scope.who.person.id);
    let accounts = &portal.app.accounts;
    let invite_error = |err: InviteError| match err {
        InviteError::Internal(err) => PageError::from(err),
        InviteError::NotFound => PageError::NotFound,
        _ => PageError::Forbidden,
    };
    accounts
        .revoke_customer_invitation(scope.org_id(), customer.id, inviter, open.id)
        .await
        .map_err(invite_error)?;
    let email = open.email.clone().unwrap_or_default();
    let issued = accounts
        .invite_customer_user(scope.org_id(), customer.id, inviter, &email, role)
        .await
        .map_err(invite_error)?;
    let what = format!("get {}'s software as a user of {}", scope.membership.name, customer.name);
    match deliver(&portal, &scope.who, &scope.membership.name, &issued, what).await? {
        Delivered::ShowLink { email, link } => {
            let shown = Shown { created: Some((email, link)), ..Shown::default() };
            render_customer(&portal, &scope, customer, shown, StatusCode::OK).await
        }
        Delivered::Mailed(text) => {
            scope.flash("success", text).await?;
            Ok(Redirect::to(&customer_path(&scope, customer.id)).into_response())
        }
    }
}

/// `POST /vendor/{slug}/customers/{id}/tokens/{token}/revoke`: the token stops at once, on
/// every instance.
pub(crate) async fn revoke_token_post(
    State(portal): State<Portal>,
    Path((slug, id, token)): Path<(String, String, String)>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let token: Uuid = token.parse().map_err(|_| PageError::NotFound)?;
    // Only a token of this customer: another customer's id answers as unknown.
    let owned = tokens::list_customer_tokens(&portal.app.pool, scope.org_id(), customer.id)
        .await?
        .into_iter()
        .find(|t| t.id == token)
        .ok_or(PageError::NotFound)?;
    portal
        .app
        .actions
        .revoke_customer_token(&scope.actor(), owned.id)
        .await
        .map_err(action_error)?;
    scope
        .flash(
            "success",
            format!(
                "Token {} ({}) was revoked: its next pull fails.",
                owned.name, owned.display_prefix
            ),
        )
        .await?;
    Ok(Redirect::to(&customer_path(&scope, customer.id)).into_response())
}

/// A user of the customer, by the id in the URL (404 for anyone else).
async fn customer_user(
    portal: &Portal,
    scope: &VendorScope,
    customer: &Customer,
    user: &str,
) -> Result<customers::CustomerUser, PageError> {
    let user: Uuid = user.parse().map_err(|_| PageError::NotFound)?;
    customers::find_user(&portal.app.pool, scope.org_id(), customer.id, user)
        .await?
        .ok_or(PageError::NotFound)
}

/// What to say when a customer team change is refused.
fn team_refusal(err: wharf_app::customer_team::TeamError) -> Result<String, PageError> {
    use wharf_app::customer_team::TeamError;
    match err {
        TeamError::NotFound => Err(PageError::NotFound),
        TeamError::LastAdmin => {
            Ok("A customer keeps at least one admin: make someone else admin first.".to_owned())
        }
        TeamError::Action(err) => Err(action_error(err)),
    }
}

/// The new role of a customer user.
#[derive(Deserialize)]
pub(crate) struct UserRoleForm {
    #[serde(default)]
    role: String,
}

/// `POST /vendor/{slug}/customers/{id}/users/{user}/role`: makes a customer user admin or
/// member (the customer's last admin stays one).
pub(crate) async fn user_role_post(
    State(portal): State<Portal>,
    Path((slug, id, user)): Path<(String, String, String)>,
    PageForm { visitor, form }: PageForm<UserRoleForm>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let user = customer_user(&portal, &scope, &customer, &user).await?;
    let role = match form.role.as_str() {
        "admin" => CustomerRole::Admin,
        "member" => CustomerRole::Member,
        _ => return Err(PageError::BadForm),
    };
    match wharf_app::customer_team::change_role(
        &portal.app,
        &scope.actor(),
        customer.id,
        user.user_id,
        role,
    )
    .await
    {
        Ok(()) => {
            scope.flash("success", format!("{} is now {}.", user.email, role.as_str())).await?
        }
        Err(err) => scope.flash("error", team_refusal(err)?).await?,
    }
    Ok(Redirect::to(&customer_path(&scope, customer.id)).into_response())
}

/// `GET /vendor/{slug}/customers/{id}/users/{user}/remove`: the confirmation.
pub(crate) async fn remove_user_get(
    State(portal): State<Portal>,
    Path((slug, id, user)): Path<(String, String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let user = customer_user(&portal, &scope, &customer, &user).await?;
    let base = customer_path(&scope, customer.id);
    page(&ConfirmPage {
        shell: scope.shell(format!("Remove {}?", user.email), "/customers").await?,
        question: format!(
            "{} can no longer use {}'s portal, and the access tokens they made for it stop working at once. The customer's service tokens keep working. Their account stays; you can invite them again.",
            user.email, customer.name
        ),
        action: format!("{base}/users/{}/remove", user.user_id),
        confirm_label: "Remove the user".into(),
        cancel: base,
    })
}

/// `POST /vendor/{slug}/customers/{id}/users/{user}/remove`.
pub(crate) async fn remove_user_post(
    State(portal): State<Portal>,
    Path((slug, id, user)): Path<(String, String, String)>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let user = customer_user(&portal, &scope, &customer, &user).await?;
    match wharf_app::customer_team::remove_user(
        &portal.app,
        &scope.actor(),
        customer.id,
        user.user_id,
    )
    .await
    {
        Ok(revoked) => {
            let tokens = match revoked {
                0 => String::new(),
                1 => " and their access token was revoked".to_owned(),
                n => format!(" and their {n} access tokens were revoked"),
            };
            scope.flash("success", format!("{} was removed{tokens}.", user.email)).await?;
        }
        Err(err) => scope.flash("error", team_refusal(err)?).await?,
    }
    Ok(Redirect::to(&customer_path(&scope, customer.id)).into_response())
}
