//! `/api/v1/settings`: the organization's name and the branding of its customer portal
//! (title, primary colour, welcome Markdown, registry host shown in commands, whether
//! customers see their pull history, and the current logo's address). `GET` for any
//! member's token; `PUT` (owners and admins) replaces every field, validated and audited by
//! `wharf_app::branding` exactly as the Settings page does. The logo is uploaded in the
//! portal only.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use wharf_app::branding::{self, BrandingForm};

use crate::{
    App, Caller, Problem,
    extract::{ApiJson, Manager},
};

/// The settings as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsBody {
    /// The organization's name.
    pub organization_name: String,
    /// The customer portal's title (empty: the organization's name).
    pub title: String,
    /// `#rrggbb`, or `null` for Wharf's colours.
    pub primary_color: Option<String>,
    /// The welcome text, Markdown (rendered through an allow-list sanitizer).
    pub welcome_markdown: String,
    /// `host[:port]` shown in commands, or `null` for the public URL's.
    pub registry_host: Option<String>,
    /// Whether customers see their own pull history.
    pub show_pull_history: bool,
    /// The logo's path, if there is one.
    pub logo_url: Option<String>,
}

/// `PUT /api/v1/settings`: every field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// The organization's name (1 to 200 characters).
    pub organization_name: String,
    /// The portal's title (at most 100 characters; empty: the organization's name).
    #[serde(default)]
    pub title: String,
    /// `#rrggbb`, or `null`/empty.
    #[serde(default)]
    pub primary_color: Option<String>,
    /// Markdown, at most 20,000 characters.
    #[serde(default)]
    pub welcome_markdown: String,
    /// `host[:port]`, or `null`/empty.
    #[serde(default)]
    pub registry_host: Option<String>,
    /// Whether customers see their own pull history.
    #[serde(default)]
    pub show_pull_history: bool,
}

async fn current(state: &App, slug: &str) -> Result<SettingsBody, Problem> {
    let (_, found) = branding::find(&state.pool, slug)
        .await?
        .ok_or_else(|| Problem::not_found("no such organization"))?;
    Ok(SettingsBody {
        title: found.row.title.clone(),
        primary_color: found.row.primary_color.clone(),
        welcome_markdown: found.row.welcome_markdown.clone(),
        registry_host: found.row.registry_host.clone(),
        show_pull_history: found.row.show_pull_history,
        logo_url: found.logo_path(),
        organization_name: found.org_name,
    })
}

/// `GET /api/v1/settings`.
pub async fn get(caller: Caller, State(state): State<App>) -> Result<Json<SettingsBody>, Problem> {
    Ok(Json(current(&state, &caller.actor.org_slug).await?))
}

/// `PUT /api/v1/settings`.
pub async fn put(
    Manager(caller): Manager,
    State(state): State<App>,
    ApiJson(body): ApiJson<SettingsInput>,
) -> Result<Json<SettingsBody>, Problem> {
    let form = BrandingForm {
        org_name: body.organization_name,
        title: body.title,
        primary_color: body.primary_color.unwrap_or_default(),
        welcome_markdown: body.welcome_markdown,
        registry_host: body.registry_host.unwrap_or_default(),
        show_pull_history: body.show_pull_history,
    };
    branding::update(&state.pool, &state.audit, &caller.actor, &form).await?;
    Ok(Json(current(&state, &caller.actor.org_slug).await?))
}
