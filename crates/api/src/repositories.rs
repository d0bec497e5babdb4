//! The vendor's own artifacts: `GET /api/v1/repositories` and
//! `GET /api/v1/repositories/{name}/tags` (paged in byte order of names, with digests, sizes,
//! push times and each repository's rules), one artifact's details
//! (`GET …/{name}/manifests/{reference}`: kind, platforms, config and layers, annotations,
//! referrers), the rules (`PATCH …/{name}`: `public`, `immutable_tags`; owners and admins)
//! and deleting (`DELETE …/{name}/tags/{tag}`, `DELETE …/{name}/manifests/{digest}`;
//! developers and up). Writes are `VendorActions`', the portal's, audited.
//!
//! Repository names contain slashes (`acme/charts/app`), so everything below
//! `/api/v1/repositories/` is one wildcard: the handler of each method splits off what
//! follows the name (tag names and digests contain no slash). A name outside the caller's
//! organization answers as an unknown one (404).

use axum::{
    Json,
    extract::{Path, RawQuery, State, rejection::PathRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use wharf_db::registry::{
    manifests::{self, BlobView, ManifestRef, ManifestView, Referrer},
    repositories::{self, Repository, RepositorySummary},
    tags::{self, TagDetail},
};

use crate::{
    App, Caller, Problem,
    extract::{ApiJson, Manager, PageQuery, encode_cursor},
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
    /// Whether its tags are immutable (a push never moves an existing tag).
    pub immutable_tags: bool,
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
            immutable_tags: r.immutable_tags,
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
    let items = items.into_iter().map(RepositoryBody::from).collect();
    Ok(Json(RepositoryPage { items, next_cursor }))
}

/// What a path below `/api/v1/repositories/` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Below<'a> {
    /// `{name}/tags`.
    Tags(&'a str),
    /// `{name}/tags/{tag}`.
    Tag(&'a str, &'a str),
    /// `{name}/manifests/{reference}`.
    Manifest(&'a str, &'a str),
    /// Anything else.
    Unknown,
}

/// Splits `path` (what follows `/api/v1/repositories/`) into a repository name and what
/// follows it.
fn below(path: &str) -> Below<'_> {
    if let Some(name) = path.strip_suffix("/tags") {
        return Below::Tags(name);
    }
    let Some((rest, last)) = path.rsplit_once('/') else { return Below::Unknown };
    if last.is_empty() {
        return Below::Unknown;
    }
    if let Some(name) = rest.strip_suffix("/tags") {
        Below::Tag(name, last)
    } else if let Some(name) = rest.strip_suffix("/manifests") {
        Below::Manifest(name, last)
    } else {
        Below::Unknown
    }
}

fn no_endpoint() -> Problem {
    Problem::not_found("no such endpoint; see /api/v1/openapi.json")
}

fn no_repository() -> Problem {
    Problem::not_found("no such repository in your organization")
}

/// Repository `name`, if the caller's organization owns it.
async fn own_repository(state: &App, caller: &Caller, name: &str) -> Result<Repository, Problem> {
    repositories::find(&state.pool, name)
        .await?
        .filter(|r| r.organization_id == caller.actor.org_id)
        .ok_or_else(no_repository)
}

/// `GET` below a repository: its tags, or one manifest.
pub async fn get_below(
    caller: Caller,
    State(state): State<App>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let Ok(Path(path)) = path else { return Err(no_repository()) };
    match below(&path) {
        Below::Tags(name) => {
            Ok(tags(&caller, &state, name, query.as_deref()).await?.into_response())
        }
        Below::Manifest(name, reference) => {
            Ok(manifest(&caller, &state, name, reference).await?.into_response())
        }
        Below::Tag(..) | Below::Unknown => Err(no_endpoint()),
    }
}

/// `GET /api/v1/repositories/{name}/tags?limit=&cursor=`.
async fn tags(
    caller: &Caller,
    state: &App,
    name: &str,
    query: Option<&str>,
) -> Result<Json<TagPage>, Problem> {
    let page = PageQuery::parse(query)?;
    let repository = own_repository(state, caller, name).await?;
    let found =
        tags::list_details(&state.pool, repository.id, page.after.as_deref(), page.limit + 1)
            .await?;
    let (items, next_cursor) = page_of(found, page.limit, |t| t.name.as_str());
    Ok(Json(TagPage { items: items.into_iter().map(Into::into).collect(), next_cursor }))
}

/// What an artifact is, for programs: `index` (a multi-platform image or other index),
/// `helm-chart`, `image`, or `artifact` (anything else: signatures, SBOMs, …).
pub fn kind(media_type: &str, artifact_type: Option<&str>) -> &'static str {
    if media_type.contains("image.index") || media_type.contains("manifest.list") {
        return "index";
    }
    match artifact_type {
        Some("application/vnd.cncf.helm.config.v1+json") => "helm-chart",
        None
        | Some(
            "application/vnd.oci.image.config.v1+json"
            | "application/vnd.docker.container.image.v1+json",
        ) => "image",
        Some(_) => "artifact",
    }
}

/// A config or layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobBody {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// A non-distributable layer, fetched from elsewhere (always `false` for a config).
    pub external: bool,
}

impl From<&BlobView> for BlobBody {
    fn from(b: &BlobView) -> Self {
        Self {
            digest: b.digest.clone(),
            media_type: b.media_type.clone(),
            size: b.size,
            external: b.external,
        }
    }
}

/// A manifest's own config (`null` for an index) and layers, in order.
fn parts_of(blobs: &[BlobView], digest: &str) -> (Option<BlobBody>, Vec<BlobBody>) {
    let own = blobs.iter().filter(|b| b.manifest_digest == digest);
    let config = own.clone().find(|b| b.kind == "config").map(BlobBody::from);
    let layers = own.filter(|b| b.kind != "config").map(BlobBody::from).collect();
    (config, layers)
}

/// A child of an index: one platform's image, usually.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChildBody {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Bytes of its manifest.
    pub size: i64,
    /// `os/arch[/variant]`, or `null` when the index names none (an attestation, say).
    pub platform: Option<String>,
    /// Its config, or `null`.
    pub config: Option<BlobBody>,
    /// Its layers, in order.
    pub layers: Vec<BlobBody>,
}

/// A manifest whose subject is this one (a signature, an SBOM, an attestation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferrerBody {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its artifact type, or `null`.
    pub artifact_type: Option<String>,
    /// Bytes of its manifest.
    pub size: i64,
    /// Its annotations (an object of strings).
    pub annotations: serde_json::Value,
}

impl From<Referrer> for ReferrerBody {
    fn from(r: Referrer) -> Self {
        Self {
            digest: r.digest,
            media_type: r.media_type,
            artifact_type: r.artifact_type,
            size: r.size,
            annotations: r.annotations,
        }
    }
}

/// One artifact (a manifest) with everything the vendor portal shows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestBody {
    /// The repository.
    pub repository: String,
    /// Its digest.
    pub digest: String,
    /// `index`, `image`, `helm-chart` or `artifact`.
    pub kind: &'static str,
    /// Its media type.
    pub media_type: String,
    /// Its artifact type (`artifactType`, else the config's media type), or `null`.
    pub artifact_type: Option<String>,
    /// Bytes of the manifest itself.
    pub size: i64,
    /// When it was first pushed.
    #[serde(with = "time::serde::rfc3339")]
    pub pushed_at: OffsetDateTime,
    /// The tags pointing at it, by name.
    pub tags: Vec<String>,
    /// The manifest it refers to (it is a signature, an SBOM…), or `null`.
    pub subject: Option<String>,
    /// Its annotations (an object of strings).
    pub annotations: serde_json::Value,
    /// Its config, or `null` (an index).
    pub config: Option<BlobBody>,
    /// Its layers, in order (none for an index).
    pub layers: Vec<BlobBody>,
    /// An index's children (platforms), in order.
    pub children: Vec<ChildBody>,
    /// The manifests whose subject it is, by digest.
    pub referrers: Vec<ReferrerBody>,
}

impl ManifestBody {
    fn new(repository: String, view: ManifestView, referrers: Vec<Referrer>) -> Self {
        let (config, layers) = parts_of(&view.blobs, &view.digest);
        let children = view
            .children
            .iter()
            .map(|c| {
                let (config, layers) = parts_of(&view.blobs, &c.digest);
                ChildBody {
                    digest: c.digest.clone(),
                    media_type: c.media_type.clone(),
                    size: c.size,
                    platform: c.platform.clone(),
                    config,
                    layers,
                }
            })
            .collect();
        Self {
            repository,
            kind: kind(&view.media_type, view.artifact_type.as_deref()),
            digest: view.digest,
            media_type: view.media_type,
            artifact_type: view.artifact_type,
            size: view.size,
            pushed_at: view.pushed_at,
            tags: view.tags,
            subject: view.subject_digest,
            annotations: view.annotations,
            config,
            layers,
            children,
            referrers: referrers.into_iter().map(Into::into).collect(),
        }
    }
}

/// Whether `reference` is a digest (`algorithm:encoded`) rather than a tag.
fn is_digest(reference: &str) -> bool {
    reference.contains(':')
}

/// `GET /api/v1/repositories/{name}/manifests/{reference}` (a tag or a digest).
async fn manifest(
    caller: &Caller,
    state: &App,
    name: &str,
    reference: &str,
) -> Result<Json<ManifestBody>, Problem> {
    let repository = own_repository(state, caller, name).await?;
    let unknown = || Problem::not_found("no such tag or manifest in this repository");
    let by = if is_digest(reference) {
        ManifestRef::Digest(reference)
    } else {
        ManifestRef::Tag(reference)
    };
    let found =
        manifests::find(&state.pool, repository.id, by, false).await?.ok_or_else(unknown)?;
    let view =
        manifests::view(&state.pool, repository.id, &found.digest).await?.ok_or_else(unknown)?;
    let referrers = manifests::referrers(&state.pool, repository.id, &found.digest).await?;
    Ok(Json(ManifestBody::new(repository.name, view, referrers)))
}

/// `PATCH /api/v1/repositories/{name}`: what is given changes; `null` is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryPatch {
    /// Anyone may pull it (`true`) or only entitled customers (`false`).
    #[serde(default, deserialize_with = "crate::customers::present")]
    pub public: Option<Option<bool>>,
    /// A push may never move an existing tag (`true`), or may (`false`).
    #[serde(default, deserialize_with = "crate::customers::present")]
    pub immutable_tags: Option<Option<bool>>,
}

/// A repository's rules, as `PATCH` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositoryRules {
    /// Full name.
    pub name: String,
    /// Whether anyone may pull it.
    pub public: bool,
    /// Whether its tags are immutable.
    pub immutable_tags: bool,
}

/// `PATCH /api/v1/repositories/{name}`: owners and admins set `public` and/or
/// `immutable_tags`; answers the rules as they are now.
pub async fn update(
    Manager(caller): Manager,
    State(state): State<App>,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<RepositoryPatch>,
) -> Result<Json<RepositoryRules>, Problem> {
    let Ok(Path(name)) = path else { return Err(no_repository()) };
    let public = crate::customers::not_null("public", body.public)?;
    let immutable = crate::customers::not_null("immutable_tags", body.immutable_tags)?;
    if public.is_none() && immutable.is_none() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "nothing to change: give `public` and/or `immutable_tags`",
        ));
    }
    own_repository(&state, &caller, &name).await?;
    if let Some(public) = public {
        state.actions.set_repository_visibility(&caller.actor, &name, public).await.map_err(
            |err| match err {
                wharf_app::actions::ActionError::NotFound => no_repository(),
                other => other.into(),
            },
        )?;
    }
    if let Some(immutable) = immutable {
        state.actions.set_repository_immutability(&caller.actor, &name, immutable).await.map_err(
            |err| match err {
                wharf_app::actions::ActionError::NotFound => no_repository(),
                other => other.into(),
            },
        )?;
    }
    let now = own_repository(&state, &caller, &name).await?;
    Ok(Json(RepositoryRules {
        name: now.name,
        public: now.public,
        immutable_tags: now.immutable_tags,
    }))
}

/// `DELETE /api/v1/repositories/{name}/tags/{tag}` (the manifest stays, reachable by
/// digest) and `DELETE /api/v1/repositories/{name}/manifests/{digest}` (with the tags
/// pointing at it): developers and up; 204.
pub async fn delete_below(
    caller: Caller,
    State(state): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let Ok(Path(path)) = path else { return Err(no_repository()) };
    let target = below(&path);
    if matches!(target, Below::Tags(_) | Below::Unknown) {
        return Err(no_endpoint());
    }
    caller.artifact_writer()?;
    let done = match target {
        Below::Tag(name, tag) => {
            own_repository(&state, &caller, name).await?;
            state.actions.delete_tag(&caller.actor, name, tag).await
        }
        Below::Manifest(name, digest) => {
            if !is_digest(digest) {
                return Err(Problem::invalid(
                    "digest",
                    "digest: give the manifest's digest (`sha256:…`); to delete a tag, use \
                     /tags/{tag}",
                ));
            }
            own_repository(&state, &caller, name).await?;
            state.actions.delete_manifest(&caller.actor, name, digest).await
        }
        Below::Tags(_) | Below::Unknown => return Err(no_endpoint()),
    };
    done.map_err(|err| match err {
        wharf_app::actions::ActionError::NotFound => {
            Problem::not_found("no such tag or manifest in this repository")
        }
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_below_a_repository() {
        assert_eq!(below("acme/app/tags"), Below::Tags("acme/app"));
        assert_eq!(below("acme/charts/app/tags/1.0"), Below::Tag("acme/charts/app", "1.0"));
        assert_eq!(below("acme/tags/tags/v1"), Below::Tag("acme/tags", "v1"));
        assert_eq!(
            below("acme/app/manifests/sha256:abc"),
            Below::Manifest("acme/app", "sha256:abc")
        );
        assert_eq!(below("acme/app/manifests/latest"), Below::Manifest("acme/app", "latest"));
        for unknown in ["acme/app", "acme/app/tags/", "acme/app/blobs/x", "tags/x", "x"] {
            assert_eq!(below(unknown), Below::Unknown, "{unknown}");
        }
    }

    #[test]
    fn kinds_for_programs() {
        assert_eq!(kind("application/vnd.oci.image.index.v1+json", None), "index");
        assert_eq!(
            kind("application/vnd.docker.distribution.manifest.list.v2+json", None),
            "index"
        );
        assert_eq!(
            kind(
                "application/vnd.oci.image.manifest.v1+json",
                Some("application/vnd.cncf.helm.config.v1+json")
            ),
            "helm-chart"
        );
        assert_eq!(
            kind(
                "application/vnd.oci.image.manifest.v1+json",
                Some("application/vnd.oci.image.config.v1+json")
            ),
            "image"
        );
        assert_eq!(
            kind("application/vnd.oci.image.manifest.v1+json", Some("application/spdx+json")),
            "artifact"
        );
    }
}
