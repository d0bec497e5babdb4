//! The customer portal: `/customer/{vendor slug}/{customer id}/…`, where a vendor's customer
//! gets the software it is entitled to, branded as the vendor's. One module per section:
//! home (welcome, licenses), artifacts (what it can pull, with the commands), access
//! tokens, team (admins), downloads (its pull history, when the vendor allows it), and "why can't I pull
//! this?".
//!
//! Every handler starts with [`CustomerScope::enter`]: the signed-in person's membership in
//! the customer named by the URL, read on every request (a removed user, or a user of a
//! disabled customer, gets the 404 page at once; another customer's id looks like one that
//! does not exist). What a customer sees of the registry comes from the same cached
//! entitlement view the registry answers from (`wharf_app::entitled`). Customers never write
//! to the registry; their token writes go through `wharf_app::actions::VendorActions` as the
//! customer user ([`CustomerScope::actor`]), so the vendor's audit log names them.

pub mod artifacts;
pub mod bundle;
pub mod downloads;
pub mod home;
pub mod team;
pub mod tokens;
pub mod why;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use uuid::Uuid;
use wharf_app::{
    accounts::CustomerMembership,
    actions::{Actor, RequestMeta},
    branding::Branding,
};
use wharf_auth::principal::CustomerRole;

use super::branding::BrandView;
use crate::{
    Portal,
    error::PageError,
    links,
    shell::{NavItem, Shell},
    visitor::{SignedIn, Visitor},
};

/// The customer portal's routes.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/customer/{slug}/{customer_id}", get(home::home_get))
        .route("/customer/{slug}/{customer_id}/artifacts", get(artifacts::artifacts_get))
        .route(
            "/customer/{slug}/{customer_id}/tokens",
            get(tokens::tokens_get).post(tokens::tokens_post),
        )
        .route("/customer/{slug}/{customer_id}/tokens/{id}/revoke", post(tokens::revoke_post))
        .route("/customer/{slug}/{customer_id}/tokens/{id}/rotate", post(tokens::rotate_post))
        .route(
            "/customer/{slug}/{customer_id}/bundle",
            get(bundle::bundle_get)
                .post(bundle::bundle_post)
                .layer(DefaultBodyLimit::max(crate::csrf::MAX_UPLOAD_BYTES)),
        )
        .route("/customer/{slug}/{customer_id}/downloads", get(downloads::downloads_get))
        .route("/customer/{slug}/{customer_id}/why", get(why::why_get))
        .route("/customer/{slug}/{customer_id}/team", get(team::team_get).post(team::team_post))
        .route("/customer/{slug}/{customer_id}/team/{user}/role", post(team::role_post))
        .route("/customer/{slug}/{customer_id}/team/{user}/remove", post(team::remove_post))
}

/// A signed-in user acting for one customer of one vendor.
#[derive(Debug, Clone)]
pub struct CustomerScope {
    /// The person and their request.
    pub who: SignedIn,
    /// Their membership (vendor, customer, role), read for this request.
    pub membership: CustomerMembership,
    /// The vendor's branding.
    pub branding: Branding,
}

impl CustomerScope {
    /// The signed-in `visitor`'s membership in customer `customer_id` of vendor `slug`:
    /// sign-in first for nobody, 404 for a customer they are not a user of (exactly as for
    /// one that does not exist).
    pub async fn enter(
        portal: &Portal,
        visitor: Visitor,
        slug: &str,
        customer_id: &str,
    ) -> Result<Self, PageError> {
        let here = visitor.here.clone();
        let who = visitor.require().map_err(|_| PageError::SignIn(here))?;
        let customer_id: Uuid = customer_id.parse().map_err(|_| PageError::NotFound)?;
        let (_, customer) = portal.app.accounts.memberships(who.person.id).await?;
        let membership = customer
            .into_iter()
            .find(|m| m.organization_slug == slug && m.customer_id == customer_id)
            .ok_or(PageError::NotFound)?;
        let (_, branding) =
            wharf_app::branding::find(&portal.app.pool, slug).await?.ok_or(PageError::NotFound)?;
        Ok(CustomerScope { who, membership, branding })
    }

    /// Whether the user is an admin of the customer (sees and revokes all its tokens,
    /// manages its users, creates service tokens).
    pub fn is_admin(&self) -> bool {
        self.membership.role == CustomerRole::Admin
    }

    /// The vendor organization's id.
    pub fn org_id(&self) -> Uuid {
        self.membership.organization_id
    }

    /// The customer's id.
    pub fn customer_id(&self) -> Uuid {
        self.membership.customer_id
    }

    /// `/customer/{slug}/{id}` followed by `rest` (`""` for the home, `"/tokens"`, …).
    pub fn path(&self, rest: &str) -> String {
        let m = &self.membership;
        format!("{}{rest}", links::customer_home(&m.organization_slug, m.customer_id))
    }

    /// The host shown in commands: the vendor's setting, else the public URL's.
    pub fn registry_host(&self, portal: &Portal) -> String {
        self.branding.registry_host(&super::home::registry_host(portal))
    }

    /// The name the user logs in to the registry with (their email; the token is the
    /// password).
    pub fn login_name(&self) -> &str {
        &self.who.person.email
    }

    /// The user as the actor of a token write, with this request's address, user agent and
    /// request id: the vendor's audit log records the customer user.
    pub fn actor(&self) -> Actor {
        let visitor = &self.who.visitor;
        Actor {
            org_id: self.membership.organization_id,
            org_slug: self.membership.organization_slug.clone(),
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

    /// The vendor's branding for this customer's pages.
    pub fn brand(&self) -> BrandView {
        BrandView::of(&self.branding, self.path(""))
    }

    /// The shell of a page of this customer titled `title`, in the section whose path is
    /// `section` (`""` for the home): its sections and who is acting as what.
    pub async fn shell(&self, title: impl Into<String>, section: &str) -> Result<Shell, PageError> {
        let m = &self.membership;
        let context = format!("{} · {}", m.customer_name, m.role.as_str());
        let mut sections = vec![
            NavItem { label: "Home".into(), href: self.path("") },
            NavItem { label: "Artifacts".into(), href: self.path("/artifacts") },
            NavItem { label: "Access tokens".into(), href: self.path("/tokens") },
        ];
        if self.is_admin() {
            sections.push(NavItem { label: "Team".into(), href: self.path("/team") });
        }
        if self.branding.row.show_pull_history {
            sections.push(NavItem { label: "Downloads".into(), href: self.path("/downloads") });
        }
        sections.push(NavItem { label: "Why can't I pull?".into(), href: self.path("/why") });
        Ok(self
            .who
            .visitor
            .shell(title)
            .await?
            .in_context(context)
            .with_sections(sections)
            .at(&self.path(section)))
    }

    /// Records a flash message for the user's next page.
    pub async fn flash(&self, kind: &str, text: impl Into<String>) -> Result<(), PageError> {
        Ok(crate::session::flash(&self.who.visitor.session, kind, text).await?)
    }
}

/// A byte count as people read it (`12.3 MB`).
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_500), "1.5 kB");
        assert_eq!(human_size(12_345_678), "12.3 MB");
    }
}
