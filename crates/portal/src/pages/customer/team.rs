//! The customer's users (`/customer/{slug}/{id}/team`), for its admins: invite by email
//! (mailed when SMTP is configured, else the link is shown once to copy), change a user's
//! role, remove a user (their personal tokens are revoked; service tokens stay). The last
//! admin can be neither demoted nor removed. Members get 403; a user of another customer
//! answers 404.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;
use wharf_app::{
    accounts::{InviteError, Inviter},
    customer_team::{self, TeamError},
    mail::{InvitationMail, invitation_mail},
};
use wharf_auth::principal::CustomerRole;
use wharf_db::customers;

use super::{super::branding::BrandView, CustomerScope};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    links,
    pages::{account::when, page_with, password_reset::absolute},
    shell::{Field, Shell},
    visitor::Visitor,
};

/// A user row.
struct UserRow {
    email: String,
    role: String,
    since: String,
    is_me: bool,
    role_action: String,
    remove_action: String,
    other_role: &'static str,
}

#[derive(Template)]
#[template(path = "customer/team.html")]
struct TeamPage {
    shell: Shell,
    brand: BrandView,
    action: String,
    email: Field,
    role: String,
    rows: Vec<UserRow>,
    mail_configured: bool,
    created_link: Option<String>,
    created_for: String,
}

/// The invitation form.
#[derive(Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// The role form.
#[derive(Deserialize)]
pub(crate) struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn admin_scope(
    portal: &Portal,
    visitor: Visitor,
    slug: &str,
    customer_id: &str,
) -> Result<CustomerScope, PageError> {
    let scope = CustomerScope::enter(portal, visitor, slug, customer_id).await?;
    if !scope.is_admin() {
        return Err(PageError::Forbidden);
    }
    Ok(scope)
}

/// `GET /customer/{slug}/{customer_id}/team`.
pub(crate) async fn team_get(
    State(portal): State<Portal>,
    Path((slug, customer_id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = admin_scope(&portal, visitor, &slug, &customer_id).await?;
    render(&portal, &scope, Field::default(), "member".into(), None, StatusCode::OK).await
}

/// `POST /customer/{slug}/{customer_id}/team`: invites a user.
pub(crate) async fn team_post(
    State(portal): State<Portal>,
    Path((slug, customer_id)): Path<(String, String)>,
    PageForm { visitor, form }: PageForm<InviteForm>,
) -> Result<Response, PageError> {
    let scope = admin_scope(&portal, visitor, &slug, &customer_id).await?;
    let mut email = Field::with(form.email.trim());
    let Ok(role) = form.role.parse::<CustomerRole>() else {
        email.fail("Choose a role.");
        return render(&portal, &scope, email, form.role, None, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    };
    let inviter = Inviter::User(scope.who.person.id);
    let issued = match portal
        .app
        .accounts
        .invite_customer_user(scope.org_id(), scope.customer_id(), inviter, &form.email, role)
        .await
    {
        Ok(issued) => issued,
        Err(InviteError::Internal(err)) => return Err(err.into()),
        Err(InviteError::NotFound) => return Err(PageError::NotFound),
        Err(InviteError::NotAllowed) => return Err(PageError::Forbidden),
        Err(err) => {
            email.fail(err.to_string());
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(&portal, &scope, email, form.role, None, status).await;
        }
    };
    let to = issued.invitation.email.clone().unwrap_or_default();
    let link = absolute(&portal, &links::invitation(issued.token.expose_secret()));
    if !portal.app.mailer.configured() {
        // Shown once, to whoever invited; only the hash is kept.
        let created = Some((to, link));
        return render(&portal, &scope, Field::default(), "member".into(), created, StatusCode::OK)
            .await;
    }
    let m = &scope.membership;
    let mail = invitation_mail(InvitationMail {
        to: to.clone(),
        link: SecretString::from(link),
        vendor_name: m.organization_name.clone(),
        inviter_name: Some(
            scope.who.person.name.clone().unwrap_or_else(|| scope.who.person.email.clone()),
        ),
        what: format!("get {}'s software as a user of {}", m.organization_name, m.customer_name),
        expires_at: issued.invitation.expires_at,
        organization_id: Some(m.organization_id),
        invitation_id: issued.invitation.id,
    })
    .map_err(PageError::internal)?;
    let text = match portal.app.mailer.queue(mail).await {
        Ok(_) => format!("Invitation sent to {to}."),
        Err(err) => {
            tracing::warn!(invitation = %issued.invitation.id, "invitation mail not queued: {err}");
            format!("The invitation for {to} was made, but its mail could not be queued.")
        }
    };
    scope.flash("success", text).await?;
    Ok(Redirect::to(&scope.path("/team")).into_response())
}

/// `POST /customer/{slug}/{customer_id}/team/{user}/role`.
pub(crate) async fn role_post(
    State(portal): State<Portal>,
    Path((slug, customer_id, user)): Path<(String, String, String)>,
    PageForm { visitor, form }: PageForm<RoleForm>,
) -> Result<Response, PageError> {
    let scope = admin_scope(&portal, visitor, &slug, &customer_id).await?;
    let user: Uuid = user.parse().map_err(|_| PageError::NotFound)?;
    let role: CustomerRole = form.role.parse().map_err(|_| PageError::BadForm)?;
    let result =
        customer_team::change_role(&portal.app, &scope.actor(), scope.customer_id(), user, role)
            .await;
    finish(&scope, result.map(|()| format!("The role is now {role}."))).await
}

/// `POST /customer/{slug}/{customer_id}/team/{user}/remove`.
pub(crate) async fn remove_post(
    State(portal): State<Portal>,
    Path((slug, customer_id, user)): Path<(String, String, String)>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let scope = admin_scope(&portal, visitor, &slug, &customer_id).await?;
    let user: Uuid = user.parse().map_err(|_| PageError::NotFound)?;
    let result =
        customer_team::remove_user(&portal.app, &scope.actor(), scope.customer_id(), user).await;
    let text = result.map(|revoked| match revoked {
        0 => "The user was removed.".to_owned(),
        n => format!("The user was removed and their {n} personal token(s) revoked."),
    });
    finish(&scope, text).await
}

async fn finish(
    scope: &CustomerScope,
    result: Result<String, TeamError>,
) -> Result<Response, PageError> {
    match result {
        Ok(text) => scope.flash("success", text).await?,
        Err(TeamError::NotFound) => return Err(PageError::NotFound),
        Err(TeamError::LastAdmin) => {
            scope
                .flash(
                    "error",
                    "A customer keeps at least one admin: make someone else admin first.",
                )
                .await?
        }
        Err(TeamError::Action(err)) => return Err(PageError::internal(err)),
    }
    // Someone who removed or demoted themselves no longer manages the team.
    Ok(Redirect::to(&scope.path("/team")).into_response())
}

async fn render(
    portal: &Portal,
    scope: &CustomerScope,
    email: Field,
    role: String,
    created: Option<(String, String)>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let me = scope.who.person.id;
    let rows = customers::list_users(&portal.app.pool, scope.org_id(), scope.customer_id())
        .await?
        .into_iter()
        .map(|u| UserRow {
            role_action: scope.path(&format!("/team/{}/role", u.user_id)),
            remove_action: scope.path(&format!("/team/{}/remove", u.user_id)),
            other_role: if u.role == "admin" { "member" } else { "admin" },
            is_me: u.user_id == me,
            since: when(u.created_at),
            email: u.email,
            role: u.role,
        })
        .collect();
    let (created_for, created_link) = match created {
        Some((to, link)) => (to, Some(link)),
        None => (String::new(), None),
    };
    let page = TeamPage {
        shell: scope.shell("Team", "/team").await?,
        brand: scope.brand(),
        action: scope.path("/team"),
        email,
        role,
        rows,
        mail_configured: portal.app.mailer.configured(),
        created_link,
        created_for,
    };
    page_with(status, &page)
}
