//! A vendor organization's branding of its customer portal, as stored
//! (`organization_branding`): title, colour, welcome text (Markdown, unrendered), registry
//! host shown in commands, whether customers see their pull history, and the logo's bytes.
//!
//! Owns the SQL only; validating and rendering are `wharf_app::branding`'s. Every query
//! takes the organization (or its slug, for the public branded pages and files).

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// The stored settings (without the logo's bytes). No row reads as the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrandingRow {
    /// The portal's title (empty: the organization's name).
    pub title: String,
    /// `#rrggbb`, if set.
    pub primary_color: Option<String>,
    /// Welcome text in Markdown.
    pub welcome_markdown: String,
    /// Host shown in commands, if set.
    pub registry_host: Option<String>,
    /// Whether customers see their own pull history.
    pub show_pull_history: bool,
    /// The logo's content type, when there is one.
    pub logo_content_type: Option<String>,
    /// The logo's SHA-256 (hex), when there is one.
    pub logo_sha256: Option<String>,
    /// When it last changed.
    pub updated_at: Option<OffsetDateTime>,
}

/// An organization with its branding, found by slug (the public branded pages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandedOrganization {
    /// The organization.
    pub organization_id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// Its branding.
    pub branding: BrandingRow,
}

/// The settings to store (the logo is changed apart, by [`set_logo`]).
#[derive(Debug, Clone)]
pub struct BrandingUpdate<'a> {
    /// The portal's title.
    pub title: &'a str,
    /// `#rrggbb` or none.
    pub primary_color: Option<&'a str>,
    /// Welcome text in Markdown.
    pub welcome_markdown: &'a str,
    /// Host shown in commands, or none.
    pub registry_host: Option<&'a str>,
    /// Whether customers see their own pull history.
    pub show_pull_history: bool,
}

/// The organization `org_id`'s branding (defaults when it has none).
pub async fn get(pool: &PgPool, org_id: Uuid) -> Result<BrandingRow, DbError> {
    let row = sqlx::query_as!(
        BrandingRow,
        r#"select title, primary_color, welcome_markdown, registry_host, show_pull_history,
                  logo_content_type, logo_sha256, updated_at as "updated_at?"
           from organization_branding where organization_id = $1"#,
        org_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.unwrap_or_default())
}

/// The organization whose slug is `slug`, with its branding.
pub async fn find_by_slug(
    pool: &PgPool,
    slug: &str,
) -> Result<Option<BrandedOrganization>, DbError> {
    let row = sqlx::query!(
        r#"select o.id, o.slug, o.name,
                  coalesce(b.title, '') as "title!", b.primary_color as "primary_color?",
                  coalesce(b.welcome_markdown, '') as "welcome_markdown!",
                  b.registry_host as "registry_host?",
                  coalesce(b.show_pull_history, false) as "show_pull_history!",
                  b.logo_content_type as "logo_content_type?", b.logo_sha256 as "logo_sha256?",
                  b.updated_at as "updated_at?"
           from organizations o left join organization_branding b on b.organization_id = o.id
           where o.slug = $1"#,
        slug,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| BrandedOrganization {
        organization_id: r.id,
        slug: r.slug,
        name: r.name,
        branding: BrandingRow {
            title: r.title,
            primary_color: r.primary_color,
            welcome_markdown: r.welcome_markdown,
            registry_host: r.registry_host,
            show_pull_history: r.show_pull_history,
            logo_content_type: r.logo_content_type,
            logo_sha256: r.logo_sha256,
            updated_at: r.updated_at,
        },
    }))
}

/// Stores the settings of organization `org_id` (keeping its logo); returns them.
pub async fn update(
    pool: &PgPool,
    org_id: Uuid,
    new: &BrandingUpdate<'_>,
) -> Result<BrandingRow, DbError> {
    Ok(sqlx::query_as!(
        BrandingRow,
        r#"insert into organization_branding
               (organization_id, title, primary_color, welcome_markdown, registry_host,
                show_pull_history)
           values ($1, $2, $3, $4, $5, $6)
           on conflict (organization_id) do update
               set title = excluded.title, primary_color = excluded.primary_color,
                   welcome_markdown = excluded.welcome_markdown,
                   registry_host = excluded.registry_host,
                   show_pull_history = excluded.show_pull_history, updated_at = now()
           returning title, primary_color, welcome_markdown, registry_host, show_pull_history,
                     logo_content_type, logo_sha256, updated_at as "updated_at?""#,
        org_id,
        new.title,
        new.primary_color,
        new.welcome_markdown,
        new.registry_host,
        new.show_pull_history,
    )
    .fetch_one(pool)
    .await?)
}

/// Replaces (or, with `None`, removes) the logo of organization `org_id`: its bytes, sniffed
/// content type and SHA-256.
pub async fn set_logo(
    pool: &PgPool,
    org_id: Uuid,
    logo: Option<(&[u8], &str, &str)>,
) -> Result<(), DbError> {
    let (bytes, content_type, sha256) = match logo {
        Some((b, c, s)) => (Some(b), Some(c), Some(s)),
        None => (None, None, None),
    };
    sqlx::query!(
        "insert into organization_branding (organization_id, logo, logo_content_type, logo_sha256)
         values ($1, $2, $3, $4)
         on conflict (organization_id) do update
             set logo = excluded.logo, logo_content_type = excluded.logo_content_type,
                 logo_sha256 = excluded.logo_sha256, updated_at = now()",
        org_id,
        bytes,
        content_type,
        sha256,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The logo of the organization `slug` if its SHA-256 is `sha256`: content type and bytes.
pub async fn logo(
    pool: &PgPool,
    slug: &str,
    sha256: &str,
) -> Result<Option<(String, Vec<u8>)>, DbError> {
    let row = sqlx::query!(
        r#"select b.logo_content_type as "content_type!", b.logo as "logo!"
           from organization_branding b join organizations o on o.id = b.organization_id
           where o.slug = $1 and b.logo_sha256 = $2 and b.logo is not null"#,
        slug,
        sha256,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.content_type, r.logo)))
}

/// Renames organization `org_id`; returns its name before.
pub async fn rename_organization(
    pool: &PgPool,
    org_id: Uuid,
    name: &str,
) -> Result<String, DbError> {
    Ok(sqlx::query_scalar!(
        "update organizations o set name = $2 from organizations old
         where o.id = $1 and old.id = o.id returning old.name",
        org_id,
        name,
    )
    .fetch_one(pool)
    .await?)
}
