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

/// A submitted `multipart/form-data` form (one with a file) whose token matched: its text
/// fields in order, and its files by field name. At most [`MAX_UPLOAD_BYTES`] in all: a
/// route that takes one sets `DefaultBodyLimit::max(MAX_UPLOAD_BYTES)`.
#[derive(Debug)]
pub struct PageUpload {
    /// Who sent it.
    pub visitor: Visitor,
    /// The text fields, in order (a field may repeat).
    pub fields: Vec<(String, String)>,
    /// The files: field name and bytes (an empty file input sends no file).
    pub files: Vec<(String, bytes::Bytes)>,
}

/// Largest upload read (a previous bundle's `wharf-bundle.json` lists every digest the
/// customer holds: about 75 bytes each).
pub const MAX_UPLOAD_BYTES: usize = 16 * 1024 * 1024;

impl PageUpload {
    /// The values of the text field `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first value of the text field `name`, or "".
    pub fn value<'a>(&'a self, name: &str) -> &'a str {
        self.fields.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }

    /// The file sent in field `name`, if one was.
    pub fn file(&self, name: &str) -> Option<&bytes::Bytes> {
        self.files.iter().find(|(n, _)| n == name).map(|(_, bytes)| bytes)
    }
}

impl FromRequest<Portal> for PageUpload {
    type Rejection = PageError;

    async fn from_request(request: Request, portal: &Portal) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let visitor = <Visitor as axum::extract::FromRequestParts<Portal>>::from_request_parts(
            &mut parts, portal,
        )
        .await?;
        let path = parts.uri.path().to_owned();
        let header_token =
            parts.headers.get(HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        // The routes that take uploads raise axum's body limit to `MAX_UPLOAD_BYTES`.
        let request = Request::from_parts(parts, body);
        let mut multipart = axum::extract::Multipart::from_request(request, &())
            .await
            .map_err(|_| PageError::BadForm)?;
        let (mut fields, mut files) = (Vec::new(), Vec::new());
        while let Some(field) = multipart.next_field().await.map_err(|_| PageError::BadForm)? {
            let name = field.name().unwrap_or_default().to_owned();
            if field.file_name().is_some() {
                let bytes = field.bytes().await.map_err(|_| PageError::BadForm)?;
                if !bytes.is_empty() {
                    files.push((name, bytes));
                }
            } else {
                fields.push((name, field.text().await.map_err(|_| PageError::BadForm)?));
            }
        }
        verify(&visitor, &fields, header_token.as_deref(), &path)?;
        Ok(PageUpload { visitor, fields, files })
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
    let header = parts.headers.get(HEADER).and_then(|v| v.to_str().ok());
    verify(visitor, &fields, header, parts.uri.path())
}

/// The form's `csrf` field (else the htmx header) against the visitor's token: 403 when it
/// is missing or wrong.
fn verify(
    visitor: &Visitor,
    fields: &[(String, String)],
    header: Option<&str>,
    path: &str,
) -> Result<(), PageError> {
    let sent = fields
        .iter()
        .find(|(name, _)| name == FIELD)
        .map(|(_, value)| value.as_str())
        .or(header)
        .unwrap_or_default();
    if !same(visitor.csrf(), sent) {
        tracing::info!(path = %crate::loggable_path(path), "form token mismatch");
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
