//! The vendor portal: `/vendor/{slug}/…`, one module per section (dashboard, artifacts,
//! customers and their licenses, analytics, audit log, team, tokens, settings).
//!
//! Every handler starts with [`VendorScope::enter`]: the signed-in person's membership in
//! the organization named by the URL's slug, read on every request (a removed member gets
//! the 404 page at once, and a slug they do not belong to looks like one that does not
//! exist). What a role may do is asked of the scope ([`VendorScope::require`]), on the
//! server, for every page and every action; pages offer only what the role may do. Writes
//! go through `wharf_app::actions::VendorActions`, the same functions the JSON API calls,
//! as [`VendorScope::actor`].

pub mod analytics;
pub mod artifacts;
pub mod audit;
pub mod bundle;
pub mod customers;
pub mod dashboard;
pub mod licenses;
mod report;
pub mod settings;
pub mod team;
pub mod tokens;

use axum::{Router, routing::get};
use wharf_app::{
    accounts::VendorMembership,
    actions::{Actor, RequestMeta},
};
use wharf_auth::principal::Role;

use crate::{
    Portal,
    error::PageError,
    links,
    shell::{NavItem, Shell},
    visitor::{SignedIn, Visitor},
};

/// The vendor portal's routes.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/vendor/{slug}", get(dashboard::dashboard_get))
        .route("/vendor/{slug}/analytics", get(analytics::analytics_get))
        .route("/vendor/{slug}/analytics.csv", get(analytics::analytics_csv))
        .route("/vendor/{slug}/audit", get(audit::audit_get))
        .route("/vendor/{slug}/audit.csv", get(audit::audit_csv))
        .merge(artifacts::routes())
        .merge(bundle::routes())
        .merge(customers::routes())
        .merge(licenses::routes())
        .merge(settings::routes())
        .merge(team::routes())
        .merge(tokens::routes())
}

/// What a page or action needs of the member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any member (viewers included): reading.
    Read,
    /// Pushing, deleting and configuring artifacts (developers and up).
    Artifacts,
    /// Managing customers, licenses and their tokens (admins and owners).
    Customers,
    /// Managing the team, the audit log and the settings (admins and owners).
    Admin,
}

impl Need {
    /// Whether `role` has it.
    pub fn allows(self, role: Role) -> bool {
        match self {
            Need::Read => true,
            Need::Artifacts => role.can_write_artifacts(),
            Need::Customers => role.can_manage_customers(),
            Need::Admin => matches!(role, Role::Owner | Role::Admin),
        }
    }
}

/// A signed-in member acting in one vendor organization.
#[derive(Debug, Clone)]
pub struct VendorScope {
    /// The person and their request.
    pub who: SignedIn,
    /// Their membership (organization, slug, name, role), read for this request.
    pub membership: VendorMembership,
}

impl VendorScope {
    /// The signed-in `visitor`'s membership in the organization `slug`: sign-in first for
    /// nobody, 404 for a slug they are not a member of (exactly as for one that does not
    /// exist).
    pub async fn enter(portal: &Portal, visitor: Visitor, slug: &str) -> Result<Self, PageError> {
        let here = visitor.here.clone();
        let who = visitor.require().map_err(|_| PageError::SignIn(here))?;
        Self::of(portal, who, slug).await
    }

    /// As [`VendorScope::enter`], for a person already known to be signed in.
    pub async fn of(portal: &Portal, who: SignedIn, slug: &str) -> Result<Self, PageError> {
        let (vendor, _) = portal.app.accounts.memberships(who.person.id).await?;
        let membership = vendor.into_iter().find(|m| m.slug == slug).ok_or(PageError::NotFound)?;
        Ok(VendorScope { who, membership })
    }

    /// Refuses (403) unless the member's role has `need`.
    pub fn require(&self, need: Need) -> Result<(), PageError> {
        if need.allows(self.membership.role) { Ok(()) } else { Err(PageError::Forbidden) }
    }

    /// Whether the member's role has `need` (for offering an action on a page).
    pub fn may(&self, need: Need) -> bool {
        need.allows(self.membership.role)
    }

    /// The organization's id.
    pub fn org_id(&self) -> uuid::Uuid {
        self.membership.organization_id
    }

    /// The organization's slug.
    pub fn slug(&self) -> &str {
        &self.membership.slug
    }

    /// `/vendor/{slug}` followed by `rest` (`""` for the dashboard, `"/customers"`, …).
    pub fn path(&self, rest: &str) -> String {
        format!("{}{rest}", links::vendor_home(&self.membership.slug))
    }

    /// The member as the actor of a `VendorActions` write, with this request's address,
    /// user agent and request id for the audit log.
    pub fn actor(&self) -> Actor {
        let visitor = &self.who.visitor;
        Actor {
            org_id: self.membership.organization_id,
            org_slug: self.membership.slug.clone(),
            user_id: Some(self.who.person.id),
            token_id: None,
            request: RequestMeta {
                peer: Some(visitor.client),
                forwarded_for: None,
                user_agent: visitor.user_agent.clone(),
                request_id: visitor.request_id.clone(),
            },
        }
    }

    /// The shell of a page of this organization titled `title`, in the section whose path
    /// is `section` (`""` for the dashboard, `"/customers"`, …): the organization's
    /// sections (those the role may see) and who is acting as what.
    pub async fn shell(&self, title: impl Into<String>, section: &str) -> Result<Shell, PageError> {
        shell(&self.who.visitor, &self.membership, title, section).await
    }

    /// Records a flash message for the member's next page.
    pub async fn flash(&self, kind: &str, text: impl Into<String>) -> Result<(), PageError> {
        Ok(crate::session::flash(&self.who.visitor.session, kind, text).await?)
    }
}

/// The shell of a page of `membership`'s organization for `visitor` (see
/// [`VendorScope::shell`]).
pub(crate) async fn shell(
    visitor: &Visitor,
    membership: &VendorMembership,
    title: impl Into<String>,
    section: &str,
) -> Result<Shell, PageError> {
    let context = format!("{} · {}", membership.name, membership.role.as_str());
    let home = links::vendor_home(&membership.slug);
    let sections = SECTIONS
        .iter()
        .filter(|(_, _, need)| need.allows(membership.role))
        .map(|(label, rest, _)| NavItem { label: (*label).into(), href: format!("{home}{rest}") })
        .collect();
    Ok(visitor
        .shell(title)
        .await?
        .in_context(context)
        .with_sections(sections)
        .at(&format!("{home}{section}")))
}

/// The organization's sections: label, path below `/vendor/{slug}`, who sees it.
const SECTIONS: [(&str, &str, Need); 8] = [
    ("Dashboard", "", Need::Read),
    ("Artifacts", "/artifacts", Need::Read),
    ("Customers", "/customers", Need::Read),
    ("Analytics", "/analytics", Need::Read),
    ("Audit log", "/audit", Need::Admin),
    ("Team", "/team", Need::Read),
    ("Tokens", "/tokens", Need::Read),
    ("Settings", "/settings", Need::Admin),
];

/// The first-push commands a vendor is shown (dashboard and artifacts, while nothing is
/// pushed yet): `docker login` to `host` as organization `slug` with `$WHARF_TOKEN`, and a tag
/// and push of an example image.
pub(crate) fn push_commands(host: &str, slug: &str) -> (String, String) {
    (
        format!("echo \"$WHARF_TOKEN\" | docker login {host} -u {slug} --password-stdin"),
        format!(
            "docker tag my-app:1.0 {host}/{slug}/my-app:1.0 && docker push {host}/{slug}/my-app:1.0"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_have_what_they_need() {
        let table = [
            (Role::Viewer, [true, false, false, false]),
            (Role::Developer, [true, true, false, false]),
            (Role::Admin, [true, true, true, true]),
            (Role::Owner, [true, true, true, true]),
        ];
        for (role, expected) in table {
            let got = [Need::Read, Need::Artifacts, Need::Customers, Need::Admin]
                .map(|need| need.allows(role));
            assert_eq!(got, expected, "{role:?}");
        }
    }
}
