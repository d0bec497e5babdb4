//! A vendor's branding as the public sees it: its theme stylesheet and logo
//! (`/branding/{slug}/theme.{hash}.css`, `/branding/{slug}/logo.{sha256}`) and its branded
//! sign-in page (`/s/{slug}/sign-in`).
//!
//! The branded sign-in lives under `/s/` rather than at `/{slug}/sign-in`: a vendor slug may
//! be any word (`account`, `vendor`, `static`…), and a top-level slug would collide with the
//! pages' own paths. It is the ordinary sign-in form ([`super::sign_in`]) with the vendor's
//! title, logo and colour; an unknown slug shows the 404 page.
//!
//! Files are named after their content, so they are cached for a year; a name that is not
//! the current one answers 404. A logo is served with the content type sniffed when it was
//! uploaded, `nosniff`, `Content-Disposition: attachment` and a CSP that forbids script, so an
//! SVG opened directly can run nothing (inside `<img>` it never can).

use axum::{
    Router,
    extract::{Path, Query, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use wharf_app::branding::{self, Branding};

use super::sign_in::{self, SignInForm, SignInQuery};
use crate::{Portal, csrf::PageForm, error::PageError, visitor::Visitor};

/// The routes of this module.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/branding/{slug}/{file}", get(file_get))
        .route("/s/{slug}/sign-in", get(branded_sign_in_get).post(branded_sign_in_post))
}

/// What a page shows of a vendor's branding.
#[derive(Debug, Clone, Default)]
pub struct BrandView {
    /// The portal's title.
    pub title: String,
    /// The logo's path.
    pub logo: Option<String>,
    /// The theme stylesheet's path.
    pub theme: Option<String>,
    /// Where the title links to.
    pub home: String,
}

impl BrandView {
    /// The view of `branding`, its title linking to `home`.
    pub fn of(branding: &Branding, home: String) -> Self {
        BrandView {
            title: branding.title().to_owned(),
            logo: branding.logo_path(),
            theme: branding.theme_path(),
            home,
        }
    }
}

/// The branded sign-in page's own path.
pub fn sign_in_path(slug: &str) -> String {
    format!("/s/{slug}/sign-in")
}

async fn find(portal: &Portal, slug: &str) -> Result<Branding, PageError> {
    let (_, found) = branding::find(&portal.app.pool, slug).await?.ok_or(PageError::NotFound)?;
    Ok(found)
}

/// `GET /branding/{slug}/{file}`: the theme stylesheet or the logo, by their current names.
pub(crate) async fn file_get(
    State(portal): State<Portal>,
    Path((slug, file)): Path<(String, String)>,
) -> Result<Response, PageError> {
    const YEAR: &str = "public, max-age=31536000, immutable";
    if let Some(hash) = file.strip_prefix("theme.").and_then(|f| f.strip_suffix(".css")) {
        let found = find(&portal, &slug).await?;
        let color = found.row.primary_color.as_deref().ok_or(PageError::NotFound)?;
        if branding::theme_hash(color) != hash {
            return Err(PageError::NotFound);
        }
        let headers =
            [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, YEAR)];
        return Ok((headers, branding::theme_css(color)).into_response());
    }
    let sha = file.strip_prefix("logo.").ok_or(PageError::NotFound)?;
    if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(PageError::NotFound);
    }
    let (content_type, bytes) =
        wharf_db::branding::logo(&portal.app.pool, &slug, sha).await?.ok_or(PageError::NotFound)?;
    let extension = match content_type.as_str() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        _ => "svg",
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).map_err(PageError::internal)?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(YEAR));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(branding::LOGO_CSP));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"logo.{extension}\""))
            .map_err(PageError::internal)?,
    );
    Ok(response)
}

/// `GET /s/{slug}/sign-in`: the sign-in form with the vendor's branding.
pub(crate) async fn branded_sign_in_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    visitor: Visitor,
    Query(query): Query<SignInQuery>,
) -> Result<Response, PageError> {
    let found = find(&portal, &slug).await?;
    let brand = BrandView::of(&found, sign_in_path(&slug));
    sign_in::show(&portal, visitor, query, Some(brand)).await
}

/// `POST /s/{slug}/sign-in`: signs in as `POST /sign-in` does; a failure shows the branded
/// form again.
pub(crate) async fn branded_sign_in_post(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    form: PageForm<SignInForm>,
) -> Result<Response, PageError> {
    let found = find(&portal, &slug).await?;
    let brand = BrandView::of(&found, sign_in_path(&slug));
    sign_in::submit(&portal, form, Some(brand)).await
}
