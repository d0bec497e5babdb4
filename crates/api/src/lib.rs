//! wharf-api: the vendor JSON API under `/api/v1`: customers, licenses, customer tokens, entitlements,
//! the vendor's repositories, pull reports and the audit log, for automation (CRM, billing,
//! CI). The contract is in
//! `docs/api.md` and the OpenAPI document ([`openapi`], served at `/api/v1/openapi.json`).
//!
//! Owns routing, request parsing ([`extract`]: bearer credentials, JSON bodies, ids, paging),
//! the response shapes and problem responses ([`problem`]). Its state is the application
//! ([`App`]): tokens are checked by `wharf-app`'s credentials (format and checksum before
//! lookup, throttling, revocation, expiry, last use: the same check as `/token`), writes go
//! through [`wharf_app::actions::VendorActions`], and reads call `wharf-db` directly, scoped
//! to the caller's organization. Never imports the registry or the portal.
//!
//! Roles: every authenticated vendor API token may read (open invitations: owners and
//! admins only); owners and admins may write (customers, licenses, customer tokens,
//! repository settings, members, invitations), developers delete tags and manifests, and
//! every member manages their own vendor tokens, unless the token is read-only. Viewers read
//! only. A token acts as the member it belongs to (the audit log names them; the team's rules
//! are checked against that member's current role). Customer tokens are refused (401): this
//! API is for vendors.

pub mod customers;
pub mod entitlements;
pub mod export;
pub mod extract;
pub mod licenses;
pub mod members;
pub mod openapi;
pub mod problem;
pub mod repositories;
pub mod settings;
pub mod tokens;
pub mod usage;
pub mod vendor_tokens;

use axum::{
    Router,
    http::{HeaderValue, header},
    response::IntoResponse,
    routing::{MethodRouter, any, get},
};
pub use wharf_app::App;
use wharf_app::actions::Actor;
use wharf_auth::principal::Role;

pub use self::problem::Problem;

/// The path every route of this API starts with.
pub const BASE: &str = "/api/v1";

/// A vendor API token that passed authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who acts, in which organization.
    pub actor: Actor,
    /// The current role of the member the token acts as.
    pub role: Role,
    /// A read-only token: reads only, whatever the role.
    pub read_only: bool,
}

impl Caller {
    /// Whether the caller may create, change and delete customers, licenses and customer
    /// tokens: an owner or admin, through a token that is not read-only.
    pub fn may_manage_customers(&self) -> bool {
        self.role.can_manage_customers() && !self.read_only
    }

    /// Refuses a read-only token (403): it may not change anything.
    pub fn writable(&self) -> Result<(), Problem> {
        if self.read_only {
            return Err(Problem::forbidden("this token is read-only: it may not change anything"));
        }
        Ok(())
    }

    /// An owner or admin through a token that is not read-only; 403 otherwise.
    pub fn manager(&self) -> Result<(), Problem> {
        self.writable()?;
        if !self.role.can_manage_customers() {
            return Err(Problem::forbidden(format!(
                "role `{}` may read but not change this; owner or admin required",
                self.role
            )));
        }
        Ok(())
    }

    /// A member who may write artifacts (developer and up) through a token that is not
    /// read-only; 403 otherwise.
    pub fn artifact_writer(&self) -> Result<(), Problem> {
        self.writable()?;
        if !self.role.can_write_artifacts() {
            return Err(Problem::forbidden(format!(
                "role `{}` may read artifacts but not delete them; developer or above required",
                self.role
            )));
        }
        Ok(())
    }

    /// The member the token acts as (403 for a token acting for nobody, which only an
    /// operator could have made).
    pub fn member(&self) -> Result<uuid::Uuid, Problem> {
        self.actor
            .user_id
            .ok_or_else(|| Problem::forbidden("this token acts for no member of the organization"))
    }
}

/// One route: the path as axum matches it, the paths the OpenAPI document names it by (a
/// wildcard route serves several: repository names contain slashes), and its handlers.
#[derive(Debug)]
pub struct ApiRoute {
    /// The axum path (`/api/v1/customers/{id}`, `/api/v1/repositories/{*path}`).
    pub path: &'static str,
    /// The OpenAPI paths (`/api/v1/customers/{id}`; `/api/v1/repositories/{name}`,
    /// `/api/v1/repositories/{name}/tags`, … for one wildcard).
    pub documented_as: &'static [&'static str],
    /// The handlers by method.
    pub handlers: MethodRouter<App>,
}

/// Every route this API serves. The router is built from this list, and a test checks it
/// against the OpenAPI document both ways (paths and methods).
pub fn routes() -> Vec<ApiRoute> {
    use axum::routing::{delete, patch};
    fn route(
        path: &'static str,
        documented_as: &'static [&'static str],
        handlers: MethodRouter<App>,
    ) -> ApiRoute {
        ApiRoute { path, documented_as, handlers }
    }
    vec![
        route("/api/v1/openapi.json", &["/api/v1/openapi.json"], get(openapi::document)),
        route(
            "/api/v1/customers",
            &["/api/v1/customers"],
            get(customers::list).post(customers::create),
        ),
        route(
            "/api/v1/customers/{id}",
            &["/api/v1/customers/{id}"],
            get(customers::get).patch(customers::update).delete(customers::delete),
        ),
        route(
            "/api/v1/customers/{id}/licenses",
            &["/api/v1/customers/{id}/licenses"],
            get(licenses::list).post(licenses::create),
        ),
        route(
            "/api/v1/licenses/{id}",
            &["/api/v1/licenses/{id}"],
            get(licenses::get).put(licenses::replace).delete(licenses::delete),
        ),
        route(
            "/api/v1/customers/{id}/tokens",
            &["/api/v1/customers/{id}/tokens"],
            get(tokens::list).post(tokens::create),
        ),
        route("/api/v1/tokens/{id}", &["/api/v1/tokens/{id}"], delete(tokens::revoke)),
        route(
            "/api/v1/customers/{id}/entitlements",
            &["/api/v1/customers/{id}/entitlements"],
            get(entitlements::get),
        ),
        route(
            "/api/v1/customers/{id}/export",
            &["/api/v1/customers/{id}/export"],
            get(export::get).post(export::post),
        ),
        route("/api/v1/repositories", &["/api/v1/repositories"], get(repositories::list)),
        route("/api/v1/settings", &["/api/v1/settings"], get(settings::get).put(settings::put)),
        route("/api/v1/pulls", &["/api/v1/pulls"], get(usage::list_pulls)),
        route("/api/v1/pulls.csv", &["/api/v1/pulls.csv"], get(usage::pulls_csv)),
        route("/api/v1/pulls/summary", &["/api/v1/pulls/summary"], get(usage::summary)),
        route("/api/v1/bytes/summary", &["/api/v1/bytes/summary"], get(usage::bytes_summary)),
        route("/api/v1/checks/summary", &["/api/v1/checks/summary"], get(usage::checks_summary)),
        route("/api/v1/audit", &["/api/v1/audit"], get(usage::list_audit)),
        route("/api/v1/audit.csv", &["/api/v1/audit.csv"], get(usage::audit_csv)),
        route("/api/v1/members", &["/api/v1/members"], get(members::list)),
        route(
            "/api/v1/members/{user_id}",
            &["/api/v1/members/{user_id}"],
            patch(members::change).delete(members::remove),
        ),
        route(
            "/api/v1/invitations",
            &["/api/v1/invitations"],
            get(members::list_invitations).post(members::invite),
        ),
        route(
            "/api/v1/invitations/{id}",
            &["/api/v1/invitations/{id}"],
            delete(members::revoke_invitation),
        ),
        route(
            "/api/v1/customers/{id}/invitations",
            &["/api/v1/customers/{id}/invitations"],
            get(members::list_customer_invitations).post(members::invite_customer_user),
        ),
        route(
            "/api/v1/customers/{id}/invitations/{invitation}",
            &["/api/v1/customers/{id}/invitations/{invitation}"],
            delete(members::revoke_customer_invitation),
        ),
        route(
            "/api/v1/vendor-tokens",
            &["/api/v1/vendor-tokens"],
            get(vendor_tokens::list).post(vendor_tokens::issue),
        ),
        route(
            "/api/v1/vendor-tokens/{id}",
            &["/api/v1/vendor-tokens/{id}"],
            delete(vendor_tokens::revoke),
        ),
        // Repository names contain slashes: one wildcard; each handler splits the path into
        // the name and what follows it (`/tags`, `/tags/{tag}`, `/manifests/{reference}`).
        route(
            "/api/v1/repositories/{*path}",
            &[
                "/api/v1/repositories/{name}",
                "/api/v1/repositories/{name}/tags",
                "/api/v1/repositories/{name}/tags/{tag}",
                "/api/v1/repositories/{name}/manifests/{reference}",
            ],
            get(repositories::get_below)
                .patch(repositories::update)
                .delete(repositories::delete_below),
        ),
    ]
}

/// The API's router, every path under [`BASE`]. Unknown paths under it and unsupported
/// methods answer with problem JSON too.
pub fn router(state: App) -> Router {
    let mut router = Router::new();
    for route in routes() {
        router = router.route(route.path, route.handlers);
    }
    router
        .route("/api/v1", any(unknown_endpoint))
        .route("/api/v1/", any(unknown_endpoint))
        .route("/api/v1/{*rest}", any(unknown_endpoint))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn unknown_endpoint() -> Problem {
    Problem::not_found("no such endpoint; see /api/v1/openapi.json")
}

async fn method_not_allowed() -> impl IntoResponse {
    Problem::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed here; see /api/v1/openapi.json",
    )
}

/// `Cache-Control: no-store`, for responses nobody should keep (a plaintext token).
pub(crate) fn no_store() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]
}
