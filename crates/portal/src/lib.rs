//! wharf-portal: the pages front door, the server-rendered vendor and customer portals.
//!
//! Owns its router and everything only pages need: askama templates under `web/templates`,
//! the static files under `web/static` ([`assets`]), portal sessions ([`session`]), the
//! cross-site checks and security headers ([`security`], [`csrf`]) and the HTML error pages
//! ([`error`]). Those layers are applied inside [`router`], so the binary cannot put
//! sessions on `/v2`, `/token` or `/api` by accident. Every rule and every write is
//! `wharf-app`'s; this crate turns them into pages, forms and redirects. Never imports the
//! registry or the API.
//!
//! Where things are: [`pages`] has one module per page area (sign-in, account, password
//! reset, invitations, sign-up, homes), each with its handlers (named after page and
//! method) and its templates' structs; [`links`] builds every path the pages link or
//! redirect to; [`shell`] is what every page's layout shows (navigation, who is signed in,
//! flash messages, the form token).

pub mod assets;
pub mod csrf;
pub mod error;
pub mod links;
pub mod pages;
pub mod security;
pub mod session;
pub mod shell;
pub mod visitor;

use std::{sync::Arc, time::Duration};

use axum::{Router, middleware};
use url::Url;
use wharf_app::App;

pub use error::not_found;

/// How the pages are configured (the binary builds this from its flags).
#[derive(Debug, Clone)]
pub struct PortalSettings {
    /// The address people reach Wharf at (`WHARF_PUBLIC_URL`): links in emails, the origin
    /// cross-site checks compare with, and whether cookies are `Secure`.
    pub public_url: Url,
    /// A session unused for this long ends (`WHARF_SESSION_IDLE_TIMEOUT`).
    pub session_idle: Duration,
    /// A session ends this long after sign-in, used or not (`WHARF_SESSION_MAX_AGE`).
    pub session_max_age: Duration,
}

impl PortalSettings {
    /// Whether the public URL is https: cookies are then `Secure` with the `__Host-` prefix,
    /// and pages send HSTS.
    pub fn https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The public URL's origin (`scheme://host[:port]`), as browsers send it in `Origin`.
    pub fn origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

/// What every page handler can reach: the application and the pages' settings.
#[derive(Debug, Clone)]
pub struct Portal {
    /// The application's services.
    pub app: App,
    /// The pages' settings.
    pub settings: Arc<PortalSettings>,
}

/// The pages' router, with its own layers (sessions, cross-site checks, security headers).
/// Merged into the binary's router beside the registry's and the API's; its fallback is the
/// HTML 404 page.
pub fn router(app: App, settings: PortalSettings) -> Router {
    let portal = Portal { app: app.clone(), settings: Arc::new(settings) };
    let sessions = session::layer(&portal);
    pages::routes()
        .fallback(error::not_found)
        .layer(middleware::from_fn_with_state(portal.clone(), security::same_origin_writes))
        .layer(sessions)
        .layer(middleware::from_fn(error::render))
        .with_state(portal.clone())
        .merge(assets::router())
        .layer(middleware::from_fn_with_state(portal.settings.clone(), security::headers))
}

/// The path to log for a request: a path carrying a secret (a password-reset, invitation or
/// sign-up invitation link) has it replaced by `…`. Query strings are never logged.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    links::redact_secret(path)
}
