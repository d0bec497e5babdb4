//! The member's own vendor API tokens, `/vendor/{slug}/tokens`: create one (name, expiry,
//! read-only), shown exactly once with a copy button and a warning; list; revoke; and the
//! commands to push with it (`docker login`, a CI job).
//!
//! A vendor token acts as the member who made it, with their current role (or pull-only when
//! read-only), so every member may make tokens for themselves; a viewer's tokens can only
//! pull. Issued through `VendorActions::issue_vendor_token`, the API's function.

use askama::Template;
use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use wharf_db::tokens;

use super::{
    VendorScope,
    customers::{TokenRow, action_error, field_message, token_row},
};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    pages::{home::registry_host, page_with},
    shell::{Field, Shell},
    visitor::Visitor,
};

/// The expiry choices: form value, label, days (none: never).
const EXPIRIES: [(&str, &str, Option<i64>); 4] = [
    ("30", "30 days", Some(30)),
    ("90", "90 days", Some(90)),
    ("365", "1 year", Some(365)),
    ("never", "Never (not recommended)", None),
];

/// The tokens' routes.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/vendor/{slug}/tokens", get(tokens_get).post(tokens_post))
        .route("/vendor/{slug}/tokens/{id}/revoke", post(revoke_post))
}

/// A token just made, shown once.
struct Created {
    name: String,
    plaintext: String,
    login: String,
    ci: String,
}

#[derive(Template)]
#[template(path = "vendor/tokens.html")]
struct TokensPage {
    shell: Shell,
    action: String,
    name: Field,
    expiry: String,
    expiries: &'static [(&'static str, &'static str, Option<i64>)],
    read_only: bool,
    role: &'static str,
    rows: Vec<TokenRow>,
    created: Option<Created>,
    login_example: String,
}

/// The new token form.
#[derive(Deserialize, Default)]
pub(crate) struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expiry: String,
    #[serde(default)]
    read_only: Option<String>,
}

/// `GET /vendor/{slug}/tokens`.
pub(crate) async fn tokens_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    render(&portal, &scope, TokenForm::default(), Field::default(), None, StatusCode::OK).await
}

fn login_command(host: &str, slug: &str, token: &str) -> String {
    format!("echo '{token}' | docker login {host} -u {slug} --password-stdin")
}

async fn render(
    portal: &Portal,
    scope: &VendorScope,
    form: TokenForm,
    name: Field,
    created: Option<Created>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let now = OffsetDateTime::now_utc();
    let me = scope.who.person.id;
    let rows = tokens::list_vendor_tokens(&portal.app.pool, scope.org_id())
        .await?
        .into_iter()
        .filter(|t| t.user_id == Some(me) && t.revoked_at.is_none())
        .map(|t| {
            let mut row = token_row(&t, Some(scope.path(&format!("/tokens/{}/revoke", t.id))), now);
            if t.read_only {
                row.name.push_str(" (read-only)");
            }
            row
        })
        .collect();
    let host = registry_host(portal);
    page_with(
        status,
        &TokensPage {
            shell: scope.shell("Tokens", "/tokens").await?,
            action: scope.path("/tokens"),
            name,
            expiry: if form.expiry.is_empty() { "90".into() } else { form.expiry },
            expiries: &EXPIRIES,
            read_only: form.read_only.is_some(),
            role: scope.membership.role.as_str(),
            rows,
            created,
            login_example: format!(
                "echo \"$WHARF_TOKEN\" | docker login {host} -u {} --password-stdin",
                scope.slug()
            ),
        },
    )
}

/// `POST /vendor/{slug}/tokens`: makes a token for the signed-in member and shows it once.
pub(crate) async fn tokens_post(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    PageForm { visitor, form }: PageForm<TokenForm>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    let mut name = Field::with(form.name.trim());
    let Some((_, _, days)) = EXPIRIES.iter().find(|(value, _, _)| *value == form.expiry) else {
        return Err(PageError::BadForm);
    };
    let expires_at = days.map(|d| OffsetDateTime::now_utc() + Duration::days(d));
    let issued = portal
        .app
        .actions
        .issue_vendor_token(
            &scope.actor(),
            &scope.who.person.email,
            form.name.trim(),
            form.read_only.is_some(),
            expires_at,
        )
        .await;
    let (issued, _) = match issued {
        Ok(issued) => issued,
        Err(err) => {
            name.fail(field_message(err)?);
            return render(&portal, &scope, form, name, None, StatusCode::UNPROCESSABLE_ENTITY)
                .await;
        }
    };
    let host = registry_host(&portal);
    let plaintext = issued.plaintext.expose_secret().to_owned();
    let created = Created {
        name: issued.token.name.clone(),
        login: login_command(&host, scope.slug(), &plaintext),
        ci: format!(
            "# GitHub Actions: store the token as the secret WHARF_TOKEN, then\n- run: echo \"${{{{ secrets.WHARF_TOKEN }}}}\" | docker login {host} -u {slug} --password-stdin\n- run: docker push {host}/{slug}/my-app:${{{{ github.ref_name }}}}",
            slug = scope.slug()
        ),
        plaintext,
    };
    render(&portal, &scope, TokenForm::default(), Field::default(), Some(created), StatusCode::OK)
        .await
}

/// `POST /vendor/{slug}/tokens/{id}/revoke`: one of the member's own tokens, at once.
pub(crate) async fn revoke_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    portal.app.actions.revoke_own_vendor_token(&scope.actor(), id).await.map_err(action_error)?;
    scope.flash("success", "The token was revoked: it stops working at once.").await?;
    Ok(Redirect::to(&scope.path("/tokens")).into_response())
}
