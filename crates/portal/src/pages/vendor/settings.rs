//! The organization's settings (`/vendor/{slug}/settings`, owners and admins): its name and
//! the branding of its customer portal — title, logo, primary colour, welcome text
//! (Markdown), the registry host shown in commands, and whether customers see their own
//! pull history — with a preview of the customer's sign-in page and home.
//!
//! The preview follows the typing through htmx (`POST /settings/preview` answers the preview
//! alone); without JavaScript, "Preview" submits the same form and shows it again with the
//! preview of what was typed, saving nothing (the colour comes from `/branding-preview/{rrggbb}.css`, scoped to the
//! preview); "Save" stores it through `wharf_app::branding` (audited). The logo is uploaded
//! apart (`/settings/logo`, multipart): its form token is checked like every form's before
//! anything is read into the database, and its type is sniffed from its bytes.

use askama::Template;
use axum::{
    Router,
    extract::{Multipart, Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use wharf_app::{
    actions::ActionError,
    branding::{self, Branding, BrandingForm},
};
use wharf_db::branding::BrandingRow;

use super::{Need, VendorScope};
use crate::{
    Portal,
    csrf::{self, PageForm},
    error::PageError,
    pages::{branding::sign_in_path, page_with, password_reset::absolute},
    shell::{Field, Shell},
    visitor::{SignedIn, Visitor},
};

/// The settings routes (merged into [`super::routes`]).
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/vendor/{slug}/settings", get(settings_get).post(settings_post))
        .route("/vendor/{slug}/settings/preview", post(preview_post))
        .route("/vendor/{slug}/settings/logo", post(logo_post))
        .route("/vendor/{slug}/settings/logo/remove", post(logo_remove_post))
        .route("/branding-preview/{file}", get(preview_css_get))
}

#[derive(Template)]
#[template(path = "vendor/settings.html")]
struct SettingsPage {
    shell: Shell,
    action: String,
    logo_action: String,
    logo_remove: String,
    org_name: Field,
    title: Field,
    primary_color: Field,
    welcome_markdown: Field,
    registry_host: Field,
    show_pull_history: bool,
    default_host: String,
    logo: Option<String>,
    logo_error: Option<String>,
    sign_in_url: String,
    preview_action: String,
    preview: Preview,
}

/// The preview of the customer's sign-in and home page.
struct Preview {
    logo: Option<String>,
    title: String,
    /// The welcome text as sanitized HTML.
    welcome: String,
    /// The stylesheet of the colour typed, scoped to the preview.
    css: Option<String>,
    previewing: bool,
    sign_in_url: String,
}

/// The preview alone (the htmx refresh's answer).
#[derive(Template)]
#[template(path = "vendor/settings_preview.html")]
struct PreviewFragment {
    preview: Preview,
}

/// The settings form.
#[derive(Deserialize)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    org_name: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    primary_color: String,
    #[serde(default)]
    welcome_markdown: String,
    #[serde(default)]
    registry_host: String,
    #[serde(default)]
    show_pull_history: Option<String>,
    #[serde(default)]
    intent: String,
}

impl SettingsForm {
    fn branding(&self) -> BrandingForm {
        BrandingForm {
            org_name: self.org_name.clone(),
            title: self.title.clone(),
            primary_color: self.primary_color.clone(),
            welcome_markdown: self.welcome_markdown.clone(),
            registry_host: self.registry_host.clone(),
            show_pull_history: self.show_pull_history.is_some(),
        }
    }
}

/// `GET /vendor/{slug}/settings`.
pub(crate) async fn settings_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    who: SignedIn,
) -> Result<Response, PageError> {
    let scope = VendorScope::of(&portal, who, &slug).await?;
    scope.require(Need::Admin)?;
    let row = wharf_db::branding::get(&portal.app.pool, scope.org_id()).await?;
    let form = BrandingForm::of(&scope.membership.name, &row);
    render(&portal, &scope, &form, &row, Vec::new(), None, false, StatusCode::OK).await
}

/// `POST /vendor/{slug}/settings`: previews (`intent=preview`) or saves the settings.
pub(crate) async fn settings_post(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    PageForm { visitor, form }: PageForm<SettingsForm>,
) -> Result<Response, PageError> {
    let scope = enter(&portal, visitor, &slug).await?;
    let row = wharf_db::branding::get(&portal.app.pool, scope.org_id()).await?;
    let submitted = form.branding();
    if form.intent == "preview" {
        let errors = submitted.validate().err().unwrap_or_default();
        let status =
            if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
        return render(&portal, &scope, &submitted, &row, errors, None, true, status).await;
    }
    match branding::update(&portal.app.pool, &portal.app.audit, &scope.actor(), &submitted).await {
        Ok(_) => {
            scope.flash("success", "Settings saved.").await?;
            Ok(Redirect::to(&scope.path("/settings")).into_response())
        }
        Err(ActionError::Invalid { .. }) => {
            let errors = submitted.validate().err().unwrap_or_default();
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render(&portal, &scope, &submitted, &row, errors, None, false, status).await
        }
        Err(err) => Err(PageError::internal(err)),
    }
}

/// `POST /vendor/{slug}/settings/preview`: the preview of what is typed, alone (htmx, as
/// the form changes); saves nothing.
pub(crate) async fn preview_post(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    PageForm { visitor, form }: PageForm<SettingsForm>,
) -> Result<Response, PageError> {
    let scope = enter(&portal, visitor, &slug).await?;
    let row = wharf_db::branding::get(&portal.app.pool, scope.org_id()).await?;
    let preview = preview_of(&portal, &scope, &form.branding(), &row, true);
    crate::pages::page(&PreviewFragment { preview })
}

/// `POST /vendor/{slug}/settings/logo` (multipart: `csrf`, then `logo`).
pub(crate) async fn logo_post(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    visitor: Visitor,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let mut token = None;
    let mut logo: Option<Vec<u8>> = None;
    let mut too_large = false;
    while let Some(mut field) = multipart.next_field().await.map_err(|_| PageError::BadForm)? {
        match field.name() {
            Some(csrf::FIELD) => {
                token = Some(field.text().await.map_err(|_| PageError::BadForm)?);
            }
            Some("logo") => {
                // Read in chunks, stopping past the limit: an oversized upload is not kept.
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|_| PageError::BadForm)? {
                    if bytes.len() + chunk.len() > branding::MAX_LOGO_BYTES {
                        too_large = true;
                        break;
                    }
                    bytes.extend_from_slice(&chunk);
                }
                logo = Some(bytes);
            }
            _ => {}
        }
        if too_large {
            break;
        }
    }
    // The form token is checked before anything is stored, as `PageForm` does for forms.
    if !csrf::same(visitor.csrf(), token.as_deref().unwrap_or_default()) {
        tracing::info!("form token mismatch (logo upload)");
        return Err(PageError::CrossSite);
    }
    let scope = enter(&portal, visitor, &slug).await?;
    let error = if too_large {
        Some(format!("The logo {}.", branding::LogoError::TooLarge))
    } else {
        match logo.filter(|b| !b.is_empty()) {
            None => Some("Choose a PNG, JPEG or SVG file.".to_owned()),
            Some(bytes) => {
                match branding::set_logo(
                    &portal.app.pool,
                    &portal.app.audit,
                    &scope.actor(),
                    Some(&bytes),
                )
                .await
                {
                    Ok(_) => None,
                    Err(ActionError::Invalid { message, .. }) => {
                        Some(format!("The logo {message}."))
                    }
                    Err(err) => return Err(PageError::internal(err)),
                }
            }
        }
    };
    if let Some(error) = error {
        let row = wharf_db::branding::get(&portal.app.pool, scope.org_id()).await?;
        let form = BrandingForm::of(&scope.membership.name, &row);
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return render(&portal, &scope, &form, &row, Vec::new(), Some(error), false, status).await;
    }
    scope.flash("success", "Logo uploaded.").await?;
    Ok(Redirect::to(&scope.path("/settings")).into_response())
}

/// The remove-logo form (the token only).
#[derive(Deserialize)]
pub(crate) struct EmptyForm {}

/// `POST /vendor/{slug}/settings/logo/remove`.
pub(crate) async fn logo_remove_post(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    PageForm { visitor, form: EmptyForm {} }: PageForm<EmptyForm>,
) -> Result<Response, PageError> {
    let scope = enter(&portal, visitor, &slug).await?;
    branding::set_logo(&portal.app.pool, &portal.app.audit, &scope.actor(), None)
        .await
        .map_err(PageError::internal)?;
    scope.flash("success", "Logo removed.").await?;
    Ok(Redirect::to(&scope.path("/settings")).into_response())
}

/// `GET /branding-preview/{rrggbb}.css`: the theme of any colour, scoped to the preview.
pub(crate) async fn preview_css_get(Path(file): Path<String>) -> Result<Response, PageError> {
    let hex = file.strip_suffix(".css").ok_or(PageError::NotFound)?;
    let color =
        branding::check_color(&format!("#{hex}")).ok().flatten().ok_or(PageError::NotFound)?;
    let mut response = branding::preview_css(&color).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    Ok(response)
}

async fn enter(portal: &Portal, visitor: Visitor, slug: &str) -> Result<VendorScope, PageError> {
    let scope = VendorScope::enter(portal, visitor, slug).await?;
    scope.require(Need::Admin)?;
    Ok(scope)
}

#[allow(clippy::too_many_arguments)]
async fn render(
    portal: &Portal,
    scope: &VendorScope,
    form: &BrandingForm,
    row: &BrandingRow,
    errors: Vec<(&'static str, String)>,
    logo_error: Option<String>,
    previewing: bool,
    status: StatusCode,
) -> Result<Response, PageError> {
    let field = |name: &str, value: &str| {
        let mut field = Field::with(value);
        if let Some((_, message)) = errors.iter().find(|(f, _)| *f == name) {
            field.fail(format!("This {message}."));
        }
        field
    };
    let preview = preview_of(portal, scope, form, row, previewing);
    let page = SettingsPage {
        shell: scope.shell("Settings", "/settings").await?,
        action: scope.path("/settings"),
        logo_action: scope.path("/settings/logo"),
        logo_remove: scope.path("/settings/logo/remove"),
        org_name: field("organization_name", &form.org_name),
        title: field("title", &form.title),
        primary_color: field("primary_color", &form.primary_color),
        welcome_markdown: field("welcome_markdown", &form.welcome_markdown),
        registry_host: field("registry_host", &form.registry_host),
        show_pull_history: form.show_pull_history,
        default_host: crate::pages::home::registry_host(portal),
        logo: preview.logo.clone(),
        logo_error,
        sign_in_url: preview.sign_in_url.clone(),
        preview_action: scope.path("/settings/preview"),
        preview,
    };
    page_with(status, &page)
}

/// The preview of `form` (what was typed; the logo is the saved one).
fn preview_of(
    portal: &Portal,
    scope: &VendorScope,
    form: &BrandingForm,
    row: &BrandingRow,
    previewing: bool,
) -> Preview {
    let typed = Branding {
        slug: scope.slug().to_owned(),
        org_name: form.org_name.trim().to_owned(),
        row: BrandingRow {
            title: form.title.trim().to_owned(),
            welcome_markdown: form.welcome_markdown.clone(),
            logo_sha256: row.logo_sha256.clone(),
            ..BrandingRow::default()
        },
    };
    let color = branding::check_color(&form.primary_color).ok().flatten();
    Preview {
        logo: typed.logo_path(),
        title: typed.title().to_owned(),
        welcome: typed.welcome_html(),
        css: color.map(|c| format!("/branding-preview/{}.css", &c[1..])),
        previewing,
        sign_in_url: absolute(portal, &sign_in_path(scope.slug())),
    }
}
