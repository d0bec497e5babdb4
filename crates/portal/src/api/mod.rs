//! The vendor JSON API under `/api/v1`: customers, licenses, customer tokens, entitlements,
//! the vendor's repositories, pull reports and the audit log, for automation (CRM, billing,
//! CI). The contract is in
//! `docs/api.md` and the OpenAPI document ([`openapi`], served at `/api/v1/openapi.json`).
//!
//! Owns routing, request parsing ([`extract`]: bearer credentials, JSON bodies, ids, paging),
//! the response shapes and problem responses ([`problem`]). It does not authenticate tokens
//! itself: the server implements [`Authenticator`] with the registry's token checks (format
//! and checksum before lookup, throttling, revocation, expiry, last use), so there is one
//! implementation of "is this access token good". Writes go through
//! [`crate::actions::VendorActions`]; reads call `wharf-db` directly, scoped to the caller's
//! organization. Never imports registry internals.
//!
//! Roles: every authenticated vendor API token may read; owners and admins may write
//! (customers, licenses, customer tokens), unless the token is read-only. Developers and
//! viewers read only. Customer tokens are refused (401): this API is for vendors.

pub mod customers;
pub mod entitlements;
pub mod extract;
pub mod licenses;
pub mod openapi;
pub mod problem;
pub mod repositories;
pub mod tokens;
pub mod usage;

use std::{fmt, net::IpAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::{
    Router,
    http::{HeaderValue, header},
    response::IntoResponse,
    routing::{MethodRouter, any, get},
};
use wharf_auth::principal::Role;
use wharf_db::PgPool;

use crate::actions::{Actor, Hooks, VendorActions};

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
}

/// Why a presented token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Malformed, unknown, revoked, expired, or not a vendor API token. The reason is logged
    /// by the implementation, never told to the client.
    Invalid,
    /// Too many failed attempts from this client recently.
    Throttled(Duration),
    /// The database could not answer.
    Unavailable,
}

/// Checks a bearer token presented to the API. The server implements it with the registry's
/// token checks.
#[async_trait]
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// Authenticates `token` (the text after `Bearer `) sent from `client`. Only vendor API
    /// tokens (`wharf_vnd_…`) are accepted.
    async fn authenticate(&self, token: &str, client: IpAddr) -> Result<Caller, AuthFailure>;
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The database (reads; writes go through `actions`).
    pub pool: PgPool,
    /// Token authentication.
    pub auth: Arc<dyn Authenticator>,
    /// The write actions.
    pub actions: VendorActions,
}

impl ApiState {
    /// State over `pool`, authenticating with `auth` and reporting writes to `hooks`.
    pub fn new(pool: PgPool, auth: Arc<dyn Authenticator>, hooks: Arc<dyn Hooks>) -> Self {
        let actions = VendorActions::new(pool.clone(), hooks);
        Self { pool, auth, actions }
    }
}

/// One route: the path as axum matches it, the path as the OpenAPI document names it, and
/// its handlers.
#[derive(Debug)]
pub struct ApiRoute {
    /// The axum path (`/api/v1/customers/{id}`, `/api/v1/repositories/{*path}`).
    pub path: &'static str,
    /// The OpenAPI path (`/api/v1/customers/{id}`, `/api/v1/repositories/{name}/tags`).
    pub documented_as: &'static str,
    /// The handlers by method.
    pub handlers: MethodRouter<ApiState>,
}

/// Every route this API serves. The router is built from this list, and a test checks it
/// against the OpenAPI document both ways (paths and methods).
pub fn routes() -> Vec<ApiRoute> {
    use axum::routing::delete;
    let route = |path, documented_as, handlers| ApiRoute { path, documented_as, handlers };
    vec![
        route("/api/v1/openapi.json", "/api/v1/openapi.json", get(openapi::document)),
        route(
            "/api/v1/customers",
            "/api/v1/customers",
            get(customers::list).post(customers::create),
        ),
        route(
            "/api/v1/customers/{id}",
            "/api/v1/customers/{id}",
            get(customers::get).patch(customers::update).delete(customers::delete),
        ),
        route(
            "/api/v1/customers/{id}/licenses",
            "/api/v1/customers/{id}/licenses",
            get(licenses::list).post(licenses::create),
        ),
        route(
            "/api/v1/licenses/{id}",
            "/api/v1/licenses/{id}",
            get(licenses::get).put(licenses::replace).delete(licenses::delete),
        ),
        route(
            "/api/v1/customers/{id}/tokens",
            "/api/v1/customers/{id}/tokens",
            get(tokens::list).post(tokens::create),
        ),
        route("/api/v1/tokens/{id}", "/api/v1/tokens/{id}", delete(tokens::revoke)),
        route(
            "/api/v1/customers/{id}/entitlements",
            "/api/v1/customers/{id}/entitlements",
            get(entitlements::get),
        ),
        route("/api/v1/repositories", "/api/v1/repositories", get(repositories::list)),
        route("/api/v1/pulls", "/api/v1/pulls", get(usage::list_pulls)),
        route("/api/v1/pulls.csv", "/api/v1/pulls.csv", get(usage::pulls_csv)),
        route("/api/v1/pulls/summary", "/api/v1/pulls/summary", get(usage::summary)),
        route("/api/v1/bytes/summary", "/api/v1/bytes/summary", get(usage::bytes_summary)),
        route("/api/v1/audit", "/api/v1/audit", get(usage::list_audit)),
        route("/api/v1/audit.csv", "/api/v1/audit.csv", get(usage::audit_csv)),
        // Repository names contain slashes: one wildcard, the handler splits off `/tags`.
        route(
            "/api/v1/repositories/{*path}",
            "/api/v1/repositories/{name}/tags",
            get(repositories::tags),
        ),
    ]
}

/// The API's router, every path under [`BASE`]. Unknown paths under it and unsupported
/// methods answer with problem JSON too.
pub fn router(state: ApiState) -> Router {
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
