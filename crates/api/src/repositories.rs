//! `GET /api/v1/repositories` and `GET /api/v1/repositories/{name}/tags`: the vendor's own
//! artifacts, with digests, sizes and push times. Both are paged in byte order of names.
//!
//! Repository names contain slashes (`acme/charts/app`), so the second route is one wildcard
//! whose last segment must be `tags`; a name outside the caller's organization answers as an
//! unknown one (404).

use axum::{
    Json,
    extract::{Path, RawQuery, State},
};
use serde::Serialize;
use time::OffsetDateTime;
use wharf_db::registry::{
    repositories::{self, RepositorySummary},
    tags::{self, TagDetail},
};

use crate::{
    App, Caller, Problem,
    extract::{PageQuery, encode_cursor},
};

/// A repository as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositoryBody {
    /// Full name, `<org-slug>/<path>`.
    pub name: String,
    /// Whether anyone may pull it.
    pub public: bool,
    /// When it was created (first push).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// How many tags it has.
    pub tag_count: i64,
    /// When a tag was last pushed, or `null`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_pushed_at: Option<OffsetDateTime>,
}

impl From<RepositorySummary> for RepositoryBody {
    fn from(r: RepositorySummary) -> Self {
        Self {
            name: r.name,
            public: r.public,
            created_at: r.created_at,
            tag_count: r.tag_count,
            last_pushed_at: r.last_pushed_at,
        }
    }
}

/// A page of repositories.
#[derive(Debug, Clone, Serialize)]
pub struct RepositoryPage {
    /// By name.
    pub items: Vec<RepositoryBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A tag as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagBody {
    /// The tag.
    pub name: String,
    /// The manifest it points at.
    pub digest: String,
    /// That manifest's media type.
    pub media_type: String,
    /// Its artifact type, or `null`.
    pub artifact_type: Option<String>,
    /// Bytes a pull of everything the tag reaches downloads: the manifest, child manifests
    /// of an index, configs and layers, each distinct blob once.
    pub size: i64,
    /// Bytes of the manifest itself.
    pub manifest_size: i64,
    /// When the tag was set to this digest.
    #[serde(with = "time::serde::rfc3339")]
    pub pushed_at: OffsetDateTime,
}

impl From<TagDetail> for TagBody {
    fn from(t: TagDetail) -> Self {
        Self {
            name: t.name,
            digest: t.digest,
            media_type: t.media_type,
            artifact_type: t.artifact_type,
            size: t.total_size,
            manifest_size: t.manifest_size,
            pushed_at: t.pushed_at,
        }
    }
}

/// A page of tags.
#[derive(Debug, Clone, Serialize)]
pub struct TagPage {
    /// By name, in byte order.
    pub items: Vec<TagBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Cuts a page fetched with one extra row down to `limit`, with the cursor of its last
/// item when there is more.
fn page_of<T>(mut found: Vec<T>, limit: i64, key: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
    let more = found.len() as i64 > limit;
    found.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if more { found.last().map(|last| encode_cursor(key(last))) } else { None };
    (found, next)
}

/// `GET /api/v1/repositories?limit=&cursor=`.
pub async fn list(
    caller: Caller,
    State(state): State<App>,
    RawQuery(query): RawQuery,
) -> Result<Json<RepositoryPage>, Problem> {
    let page = PageQuery::parse(query.as_deref())?;
    let found = repositories::list_summaries(
        &state.pool,
        caller.actor.org_id,
        page.after.as_deref(),
        page.limit + 1,
    )
    .await?;
    let (items, next_cursor) = page_of(found, page.limit, |r| r.name.as_str());
    Ok(Json(RepositoryPage { items: items.into_iter().map(Into::into).collect(), next_cursor }))
}

/// `GET /api/v1/repositories/{name}/tags?limit=&cursor=` (`path` is `{name}/tags`).
pub async fn tags(
    caller: Caller,
    State(state): State<App>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<TagPage>, Problem> {
    let unknown = || Problem::not_found("no such repository in your organization");
    let Ok(Path(path)) = path else { return Err(unknown()) };
    let Some(name) = path.strip_suffix("/tags") else {
        return Err(Problem::not_found("no such endpoint; see /api/v1/openapi.json"));
    };
    let page = PageQuery::parse(query.as_deref())?;
    let repository = repositories::find(&state.pool, name)
        .await?
        .filter(|r| r.organization_id == caller.actor.org_id)
        .ok_or_else(unknown)?;
    let found =
        tags::list_details(&state.pool, repository.id, page.after.as_deref(), page.limit + 1)
            .await?;
    let (items, next_cursor) = page_of(found, page.limit, |t| t.name.as_str());
    Ok(Json(TagPage { items: items.into_iter().map(Into::into).collect(), next_cursor }))
}
