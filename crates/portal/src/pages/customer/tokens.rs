//! The customer's access tokens (`/customer/{slug}/{id}/tokens`): personal tokens, and
//! service tokens owned by the customer (for CI and clusters; kept when the person who
//! created them leaves). Create (name and expiry; shown exactly once, with the login command
//! and a Kubernetes pull secret filled in), list (name, prefix, owner, created, expires, last
//! used; pages of [`PAGE_TOKENS`], newest first, `?after=` the previous page's last), revoke,
//! rotate (a new token with the same name and kind; the old one is revoked once the user
//! confirms).
//!
//! Customer admins see and revoke every token of their customer and may create service
//! tokens; members see and revoke only the tokens they created. A token of another customer
//! (or vendor) answers 404 like an unknown one. Writes go through `VendorActions` as the
//! customer user, so each is in the vendor's audit log under that user.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use base64::Engine as _;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use wharf_app::actions::{ActionError, IssuedToken};
use wharf_db::{
    customer_portal,
    tokens::{self, AccessToken},
};

use super::{super::branding::BrandView, CustomerScope, home::shell_word};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    pages::{account::when, page_with},
    shell::{Field, Pages, Shell},
    visitor::Visitor,
};

/// Tokens per page of the list.
pub const PAGE_TOKENS: i64 = 200;

/// `?after=`: the last token of the previous page.
#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    after: Option<String>,
}

/// Expiry choices: form value, label, days (none: never).
const EXPIRIES: [(&str, &str, Option<i64>); 4] = [
    ("30", "30 days", Some(30)),
    ("90", "90 days", Some(90)),
    ("365", "1 year", Some(365)),
    ("never", "Never", None),
];

/// A token row.
struct TokenRow {
    name: String,
    prefix: String,
    owner: String,
    created: String,
    expires: String,
    last_used: String,
    status: &'static str,
    /// Where revoke and rotate post (only for active tokens the user may manage).
    actions: Option<(String, String)>,
}

/// A token just created (or rotated), shown once.
struct Created {
    name: String,
    token: String,
    login: String,
    kubectl: String,
    secret_yaml: String,
    /// The rotated token's revoke address, when this replaces one.
    revoke_old: Option<String>,
}

#[derive(Template)]
#[template(path = "customer/tokens.html")]
struct TokensPage {
    shell: Shell,
    brand: BrandView,
    action: String,
    name: Field,
    expiry: String,
    expiry_error: Option<String>,
    expiries: Vec<(&'static str, &'static str)>,
    service: bool,
    may_create_service: bool,
    is_admin: bool,
    rows: Vec<TokenRow>,
    pages: Pages,
    created: Option<Created>,
}

/// The create form.
#[derive(Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expiry: String,
    #[serde(default)]
    kind: String,
}

/// The revoke and rotate forms (the token only).
#[derive(Deserialize)]
pub(crate) struct EmptyForm {}

struct FormState {
    name: Field,
    expiry: String,
    expiry_error: Option<String>,
    service: bool,
}

impl Default for FormState {
    fn default() -> Self {
        FormState {
            name: Field::default(),
            expiry: "90".into(),
            expiry_error: None,
            service: false,
        }
    }
}

/// `GET /customer/{slug}/{customer_id}/tokens`.
pub(crate) async fn tokens_get(
    State(portal): State<Portal>,
    Path((slug, customer_id)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = CustomerScope::enter(&portal, visitor, &slug, &customer_id).await?;
    // Not a token id: the first page, as for any position that is not in the list.
    let after = query.after.as_deref().and_then(|a| a.parse::<Uuid>().ok());
    render_page(&portal, &scope, FormState::default(), None, after, StatusCode::OK).await
}

/// `POST /customer/{slug}/{customer_id}/tokens`: creates a token and shows it once.
pub(crate) async fn tokens_post(
    State(portal): State<Portal>,
    Path((slug, customer_id)): Path<(String, String)>,
    PageForm { visitor, form }: PageForm<CreateForm>,
) -> Result<Response, PageError> {
    let scope = CustomerScope::enter(&portal, visitor, &slug, &customer_id).await?;
    let service = form.kind == "service";
    let mut state = FormState {
        name: Field::with(form.name.trim()),
        expiry: form.expiry.clone(),
        expiry_error: None,
        service,
    };
    if service && !scope.is_admin() {
        return Err(PageError::Forbidden);
    }
    let Some((_, _, days)) = EXPIRIES.iter().find(|(value, _, _)| *value == form.expiry) else {
        state.expiry_error = Some("Choose when the token expires.".into());
        return render(&portal, &scope, state, None, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let expires_at = days.map(|d| OffsetDateTime::now_utc() + Duration::days(d));
    match issue(&portal, &scope, form.name.trim(), expires_at, service).await {
        Ok(issued) => {
            let created = created_view(&portal, &scope, &issued, None);
            render(&portal, &scope, FormState::default(), Some(created), StatusCode::OK).await
        }
        Err(ActionError::Invalid { message, .. }) => {
            state.name.fail(format!("Name {message}."));
            render(&portal, &scope, state, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(err) => Err(action_error(err)),
    }
}

/// `POST /customer/{slug}/{customer_id}/tokens/{id}/revoke`.
pub(crate) async fn revoke_post(
    State(portal): State<Portal>,
    Path((slug, customer_id, id)): Path<(String, String, String)>,
    PageForm { visitor, form: EmptyForm {} }: PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let scope = CustomerScope::enter(&portal, visitor, &slug, &customer_id).await?;
    let token = manageable(&portal, &scope, &id).await?;
    portal
        .app
        .actions
        .revoke_customer_token(&scope.actor(), token.id)
        .await
        .map_err(action_error)?;
    scope
        .flash("success", format!("Token “{}” was revoked: it no longer works.", token.name))
        .await?;
    Ok(Redirect::to(&scope.path("/tokens")).into_response())
}

/// `POST /customer/{slug}/{customer_id}/tokens/{id}/rotate`: issues a new token with the
/// same name, kind and lifetime, shows it once, and offers to revoke the old one.
pub(crate) async fn rotate_post(
    State(portal): State<Portal>,
    Path((slug, customer_id, id)): Path<(String, String, String)>,
    PageForm { visitor, form: EmptyForm {} }: PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let scope = CustomerScope::enter(&portal, visitor, &slug, &customer_id).await?;
    let old = manageable(&portal, &scope, &id).await?;
    let service = customer_portal::service_tokens(&portal.app.pool, scope.customer_id())
        .await?
        .contains(&old.id);
    let expires_at = old.expires_at.map(|end| OffsetDateTime::now_utc() + (end - old.created_at));
    let issued =
        issue(&portal, &scope, &old.name, expires_at, service).await.map_err(action_error)?;
    let revoke_old = Some(scope.path(&format!("/tokens/{}/revoke", old.id)));
    let created = created_view(&portal, &scope, &issued, revoke_old);
    render(&portal, &scope, FormState::default(), Some(created), StatusCode::OK).await
}

async fn issue(
    portal: &Portal,
    scope: &CustomerScope,
    name: &str,
    expires_at: Option<OffsetDateTime>,
    service: bool,
) -> Result<IssuedToken, ActionError> {
    let issued = portal
        .app
        .actions
        .issue_customer_token(&scope.actor(), scope.customer_id(), name, expires_at)
        .await?;
    if service {
        customer_portal::mark_service_token(&portal.app.pool, scope.customer_id(), issued.token.id)
            .await?;
    }
    Ok(issued)
}

fn action_error(err: ActionError) -> PageError {
    match err {
        ActionError::NotFound => PageError::NotFound,
        other => PageError::internal(other),
    }
}

/// The token `id` if it is one of this customer's that the user may manage (admins: all;
/// members: their own); 404 otherwise.
async fn manageable(
    portal: &Portal,
    scope: &CustomerScope,
    id: &str,
) -> Result<AccessToken, PageError> {
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let token = tokens::get(&portal.app.pool, scope.org_id(), id)
        .await?
        .filter(|t| t.customer_id == Some(scope.customer_id()))
        .filter(|t| scope.is_admin() || t.created_by == Some(scope.who.person.id))
        .ok_or(PageError::NotFound)?;
    Ok(token)
}

/// The `.dockerconfigjson` of a pull secret for `host`, `login` and `token`, built as JSON
/// (every character escaped as JSON needs) and base64-encoded as Kubernetes expects.
pub fn docker_config_json(host: &str, login: &str, token: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let auth = b64.encode(format!("{login}:{token}"));
    let config = serde_json::json!({
        "auths": { host: { "username": login, "password": token, "auth": auth } }
    });
    b64.encode(config.to_string())
}

/// A Kubernetes Secret of type `kubernetes.io/dockerconfigjson` named `wharf-pull`.
pub fn pull_secret_yaml(host: &str, login: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: wharf-pull\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
        docker_config_json(host, login, token)
    )
}

fn created_view(
    portal: &Portal,
    scope: &CustomerScope,
    issued: &IssuedToken,
    revoke_old: Option<String>,
) -> Created {
    let host = scope.registry_host(portal);
    let login = scope.login_name();
    let token = issued.plaintext.expose_secret().to_owned();
    Created {
        name: issued.token.name.clone(),
        login: format!(
            "echo {} | docker login {host} -u {} --password-stdin",
            shell_word(&token),
            shell_word(login)
        ),
        kubectl: format!(
            "kubectl create secret docker-registry wharf-pull --docker-server={host} \
             --docker-username={} --docker-password={}",
            shell_word(login),
            shell_word(&token)
        ),
        secret_yaml: pull_secret_yaml(&host, login, &token),
        token,
        revoke_old,
    }
}

/// The page with the list's first page (after a form post).
async fn render(
    portal: &Portal,
    scope: &CustomerScope,
    form: FormState,
    created: Option<Created>,
    status: StatusCode,
) -> Result<Response, PageError> {
    render_page(portal, scope, form, created, None, status).await
}

/// The page with the list's page after token `after` (the first page without).
async fn render_page(
    portal: &Portal,
    scope: &CustomerScope,
    form: FormState,
    created: Option<Created>,
    after: Option<Uuid>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let pool = &portal.app.pool;
    let now = OffsetDateTime::now_utc();
    let service = customer_portal::service_tokens(pool, scope.customer_id()).await?;
    let me = scope.who.person.id;
    // Admins see every token of the customer, members those they created.
    let created_by = (!scope.is_admin()).then_some(me);
    let mut found = tokens::page_customer_tokens(
        pool,
        scope.org_id(),
        scope.customer_id(),
        created_by,
        after,
        PAGE_TOKENS + 1,
    )
    .await?;
    let more = found.len() as i64 > PAGE_TOKENS;
    found.truncate(PAGE_TOKENS as usize);
    let base = scope.path("/tokens");
    let pages = Pages {
        previous: after.map(|_| base.clone()),
        next: found.last().filter(|_| more).map(|t| format!("{base}?after={}", t.id)),
        summary: format!("{} token{}", found.len(), if found.len() == 1 { "" } else { "s" }),
    };
    let rows = found
        .into_iter()
        .map(|t| {
            let is_service = service.contains(&t.id);
            let status = if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|end| end <= now) {
                "expired"
            } else {
                "active"
            };
            let creator = t.created_by_email.clone().unwrap_or_else(|| "a former user".into());
            TokenRow {
                owner: if is_service {
                    format!("{} (service, created by {creator})", scope.membership.customer_name)
                } else {
                    creator
                },
                created: when(t.created_at),
                expires: t.expires_at.map_or_else(|| "never".into(), when),
                last_used: t.last_used_at.map_or_else(|| "never".into(), when),
                actions: (status == "active").then(|| {
                    (
                        scope.path(&format!("/tokens/{}/revoke", t.id)),
                        scope.path(&format!("/tokens/{}/rotate", t.id)),
                    )
                }),
                status,
                name: t.name,
                prefix: t.display_prefix,
            }
        })
        .collect();
    let page = TokensPage {
        shell: scope.shell("Access tokens", "/tokens").await?,
        brand: scope.brand(),
        action: scope.path("/tokens"),
        name: form.name,
        expiry: form.expiry,
        expiry_error: form.expiry_error,
        expiries: EXPIRIES.iter().map(|(v, l, _)| (*v, *l)).collect(),
        service: form.service,
        may_create_service: scope.is_admin(),
        is_admin: scope.is_admin(),
        rows,
        pages,
        created,
    };
    page_with(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_secrets_escape_what_json_needs() {
        let token = r#"wharf_cst_a$b"c\d'e"#;
        let encoded = docker_config_json("reg.example.com:5000", "o'neil@x.com", token);
        let b64 = base64::engine::general_purpose::STANDARD;
        let json: serde_json::Value =
            serde_json::from_slice(&b64.decode(encoded).unwrap()).unwrap();
        let entry = &json["auths"]["reg.example.com:5000"];
        assert_eq!(entry["password"], token);
        assert_eq!(entry["username"], "o'neil@x.com");
        let auth = b64.decode(entry["auth"].as_str().unwrap()).unwrap();
        assert_eq!(String::from_utf8(auth).unwrap(), format!("o'neil@x.com:{token}"));
    }
}
