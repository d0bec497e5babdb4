//! The organization's team, `/vendor/{slug}/team`: its members and their roles. Owners and
//! admins change roles and remove members (confirmed); an admin can neither make an owner
//! nor change or remove one, and the last owner stays (`Accounts::change_member` decides,
//! and audits). Inviting is on the invitations page (`/vendor/{slug}/invitations`).

use askama::Template;
use axum::{
    Router,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use uuid::Uuid;
use wharf_app::accounts::TeamError;
use wharf_auth::principal::Role;
use wharf_db::accounts;

use super::{Need, VendorScope, customers::day};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    pages::{account::ConfirmPage, page},
    shell::Shell,
    visitor::Visitor,
};

/// The team's routes.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/vendor/{slug}/team", get(team_get))
        .route("/vendor/{slug}/team/{user}/role", post(role_post))
        .route("/vendor/{slug}/team/{user}/remove", get(remove_get).post(remove_post))
}

/// A member in the list.
struct MemberRow {
    email: String,
    role: String,
    since: String,
    is_you: bool,
    /// Where to change their role, and the roles the acting member may give, when they may.
    change: Option<(String, Vec<&'static str>)>,
    remove: Option<String>,
}

#[derive(Template)]
#[template(path = "vendor/team.html")]
struct TeamPage {
    shell: Shell,
    org_name: String,
    members: Vec<MemberRow>,
    invite: Option<String>,
}

/// The roles `actor` may give: an owner any, an admin up to admin.
fn grantable(actor: Role) -> Vec<&'static str> {
    match actor {
        Role::Owner => vec!["owner", "admin", "developer", "viewer"],
        Role::Admin => vec!["admin", "developer", "viewer"],
        Role::Developer | Role::Viewer => Vec::new(),
    }
}

/// `GET /vendor/{slug}/team`.
pub(crate) async fn team_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    let members = accounts::list_members(&portal.app.pool, scope.org_id()).await?;
    let actor = scope.membership.role;
    let manages = scope.may(Need::Admin);
    let rows = members
        .into_iter()
        .map(|m| {
            let role: Option<Role> = m.role.parse().ok();
            // Owners are managed by owners only.
            let may = manages && (actor == Role::Owner || role != Some(Role::Owner));
            let base = scope.path(&format!("/team/{}", m.user_id));
            MemberRow {
                is_you: m.user_id == scope.who.person.id,
                since: day(m.created_at),
                change: may.then(|| (format!("{base}/role"), grantable(actor))),
                remove: may.then(|| format!("{base}/remove")),
                email: m.email,
                role: m.role,
            }
        })
        .collect();
    page(&TeamPage {
        shell: scope.shell("Team", "/team").await?,
        org_name: scope.membership.name.clone(),
        members: rows,
        invite: manages.then(|| scope.path("/invitations")),
    })
}

/// The new role.
#[derive(Deserialize)]
pub(crate) struct RoleForm {
    #[serde(default)]
    role: String,
}

fn team_error(err: TeamError) -> Result<String, PageError> {
    match err {
        TeamError::NotFound => Err(PageError::NotFound),
        TeamError::NotAllowed(_) => Err(PageError::Forbidden),
        TeamError::LastOwner => Ok(err.to_string()),
        TeamError::Internal(err) => Err(err.into()),
    }
}

/// `POST /vendor/{slug}/team/{user}/role`.
pub(crate) async fn role_post(
    State(portal): State<Portal>,
    Path((slug, user)): Path<(String, String)>,
    PageForm { visitor, form }: PageForm<RoleForm>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Admin)?;
    let user: Uuid = user.parse().map_err(|_| PageError::NotFound)?;
    let role: Role = form.role.parse().map_err(|_| PageError::BadForm)?;
    let client = Some(scope.who.visitor.client);
    match portal
        .app
        .accounts
        .change_member(scope.org_id(), scope.who.person.id, user, Some(role), client)
        .await
    {
        Ok(()) => scope.flash("success", format!("The role is now {}.", role.as_str())).await?,
        Err(err) => scope.flash("error", team_error(err)?).await?,
    }
    Ok(Redirect::to(&scope.path("/team")).into_response())
}

/// `GET /vendor/{slug}/team/{user}/remove`: the confirmation.
pub(crate) async fn remove_get(
    State(portal): State<Portal>,
    Path((slug, user)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Admin)?;
    let user: Uuid = user.parse().map_err(|_| PageError::NotFound)?;
    let member = accounts::find_member(&portal.app.pool, scope.org_id(), user)
        .await?
        .ok_or(PageError::NotFound)?;
    let base = scope.path(&format!("/team/{user}"));
    page(&ConfirmPage {
        shell: scope.shell(format!("Remove {}?", member.email), "/team").await?,
        question: format!(
            "{} loses access to {} at their next request, and their vendor API tokens stop working. Their account stays; you can invite them again.",
            member.email, scope.membership.name
        ),
        action: format!("{base}/remove"),
        confirm_label: "Remove from the team".into(),
        cancel: scope.path("/team"),
    })
}

/// `POST /vendor/{slug}/team/{user}/remove`.
pub(crate) async fn remove_post(
    State(portal): State<Portal>,
    Path((slug, user)): Path<(String, String)>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Admin)?;
    let user: Uuid = user.parse().map_err(|_| PageError::NotFound)?;
    let client = Some(scope.who.visitor.client);
    let removed_self = user == scope.who.person.id;
    match portal
        .app
        .accounts
        .change_member(scope.org_id(), scope.who.person.id, user, None, client)
        .await
    {
        Ok(()) if removed_self => {
            scope.flash("success", format!("You left {}.", scope.membership.name)).await?;
            return Ok(Redirect::to("/").into_response());
        }
        Ok(()) => scope.flash("success", "The member was removed.").await?,
        Err(err) => scope.flash("error", team_error(err)?).await?,
    }
    Ok(Redirect::to(&scope.path("/team")).into_response())
}
