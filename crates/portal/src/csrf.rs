//! Form tokens: every form carries a `csrf` field (htmx requests an `X-CSRF-Token` header)
//! that must match the visitor's token, beside the same-origin check of
//! [`crate::security`].
//!
//! A signed-in session has its own token (made at sign-in, kept in the session). An
//! anonymous visitor (sign-in, sign-up, forgot-password and invitation forms) gets a random
//! token in a cookie of its own (`wharf_csrf`, `SameSite=Lax`, `HttpOnly`) and the form
//! must repeat it: a cross-site page can neither read nor set that cookie. No database row
//! is made for an anonymous visitor.

use axum::{
    extract::{FromRequest, Request},
    http::header,
};
use base64::Engine as _;
use rand::RngExt as _;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use crate::{Portal, error::PageError, visitor::Visitor};

/// The anonymous token's cookie on http.
pub const COOKIE: &str = "wharf_csrf";
/// The anonymous token's cookie on https.
pub const HTTPS_COOKIE: &str = "__Host-wharf_csrf";
/// The form field.
pub const FIELD: &str = "csrf";
/// The header htmx sends.
pub const HEADER: &str = "x-csrf-token";
/// Largest form body read.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A new random token (256 bits, URL-safe base64).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two tokens in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    // Comparing digests: equal length, and a mismatch position tells nothing about `b`.
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes()) && !a.is_empty()
}

/// A submitted form whose token matched, with who sent it.
#[derive(Debug)]
pub struct PageForm<T> {
    /// Who sent it.
    pub visitor: Visitor,
    /// The form's fields.
    pub form: T,
}

impl<T> FromRequest<Portal> for PageForm<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = PageError;

    async fn from_request(request: Request, portal: &Portal) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let visitor = <Visitor as axum::extract::FromRequestParts<Portal>>::from_request_parts(
            &mut parts, portal,
        )
        .await?;
        let bytes =
            axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| PageError::BadForm)?;
        check(&visitor, &parts, &bytes)?;
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadForm)?;
        Ok(PageForm { visitor, form })
    }
}

/// Checks a form body (or the htmx header) against the visitor's token: 403 when it is
/// missing or wrong, 400 when the body is not a form.
pub fn check(
    visitor: &Visitor,
    parts: &http::request::Parts,
    bytes: &[u8],
) -> Result<(), PageError> {
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form && !bytes.is_empty() {
        return Err(PageError::BadForm);
    }
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(bytes).map_err(|_| PageError::BadForm)?;
    let sent = fields
        .iter()
        .find(|(name, _)| name == FIELD)
        .map(|(_, value)| value.as_str())
        .or_else(|| parts.headers.get(HEADER).and_then(|v| v.to_str().ok()))
        .unwrap_or_default();
    if !same(visitor.csrf(), sent) {
        tracing::info!(path = %crate::loggable_path(parts.uri.path()), "form token mismatch");
        return Err(PageError::CrossSite);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[..42]));
        assert!(!same("", ""), "an empty token never matches");
    }
}
