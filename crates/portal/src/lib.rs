//! wharf-portal: the pages front door, the server-rendered vendor and customer portals.
//!
//! Owns its router and, as pages land, everything only pages need: askama templates under
//! `web/templates`, portal sessions, CSRF and the Content-Security-Policy. Those layers are
//! applied inside [`router`], so the binary cannot put sessions on `/v2`, `/token` or
//! `/api` by accident. Every rule and every write is `wharf-app`'s; this crate turns them into
//! pages, forms and redirects. Never imports the registry or the API.
//!
//! No page exists yet: the router answers nothing, and requests fall through to the binary's
//! other routes.

use axum::Router;

/// The pages' router, with its own layers. Merged into the binary's router beside the
/// registry's and the API's.
pub fn router() -> Router {
    Router::new()
}
