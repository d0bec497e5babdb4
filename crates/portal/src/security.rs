//! What every page response carries and what every page write must show.
//!
//! - [`headers`]: `Content-Security-Policy` without `unsafe-inline` (scripts and styles only
//!   from this site's own files), `X-Content-Type-Options: nosniff`, `Referrer-Policy:
//!   same-origin` (a reset link in the address bar never leaves in a `Referer`; a stricter
//!   `no-referrer` would make browsers send `Origin: null` on the site's own form posts),
//!   `X-Frame-Options: DENY` beside `frame-ancestors 'none'` for old browsers,
//!   `Cache-Control: no-store` on every page (static files set their own), HSTS when the
//!   public URL is https.
//! - [`same_origin_writes`]: a POST (or any method but GET, HEAD, OPTIONS) from another site
//!   is refused with 403 before its handler runs: `Sec-Fetch-Site` must be `same-origin`
//!   (or `none`, typed by the person), else `Origin` must be this site's public origin.
//!   Requests with neither header (not from a browser) pass on to the form-token check
//!   ([`crate::csrf`]), which every form has as well.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{Portal, PortalSettings, error::PageError};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response of the pages' router.
pub async fn headers(
    State(settings): State<Arc<PortalSettings>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A handler may set a stricter policy of its own (a vendor's logo).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if settings.https() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// Refuses a write that a browser says came from another site.
pub async fn same_origin_writes(
    State(portal): State<Portal>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let allowed = match (site, origin) {
        (Some(site), _) => matches!(site, "same-origin" | "none"),
        (None, Some(origin)) => origin == portal.settings.origin(),
        (None, None) => true,
    };
    if allowed {
        next.run(request).await
    } else {
        tracing::info!(?site, ?origin, path = %crate::loggable_path(request.uri().path()), "cross-site write refused");
        PageError::CrossSite.into_response()
    }
}
