//! The vendor's artifacts: `/vendor/{slug}/artifacts` (repositories with their kind, tags,
//! last push and rules), a repository's page `/vendor/{slug}/artifacts/{path}` (its tags with
//! digest, size, push time and a pull command for the client chosen), and a tag's or
//! manifest's page (`…/{path}/-/tags/{tag}`, `…/{path}/-/manifests/{digest}`: platforms,
//! layers, annotations, referrers such as signatures and SBOMs, which customers may pull it
//! now, and who pulled it).
//!
//! Repository names contain slashes, so everything below a repository is one wildcard route;
//! `-` can never be a path component of a repository name (components start with a letter or
//! digit), so `/-/` separates the name from what follows, as in GitLab.
//!
//! Everyone reads. Developers and up delete tags and manifests ([`Need::Artifacts`]); owners
//! and admins choose who may pull (public or private) and whether tags are immutable
//! ([`Need::Customers`]). Writes are `VendorActions`', audited, applied to every instance.

use std::collections::HashMap;

use askama::Template;
use axum::{
    Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use time::OffsetDateTime;
use wharf_app::credentials::entitlement_view::Subject;
use wharf_db::{
    customers, licenses,
    registry::{
        manifests::{self, ManifestView},
        repositories::{self, Repository, RepositoryOverview},
        tags::{self, TagDetail},
    },
    usage::{self, PullFilter},
};

use super::{
    Need, VendorScope,
    customers::{PullLine, action_error, customer_path, pull_line, short_digest},
};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    pages::{
        account::{ConfirmPage, when},
        home::registry_host,
        page,
    },
    shell::{Pages, Shell},
    visitor::Visitor,
};

/// Repositories or tags per page.
const PAGE_SIZE: i64 = 50;
/// Pulls shown on a tag's page.
const RECENT_PULLS: i64 = 10;

/// The artifacts' routes.
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/vendor/{slug}/artifacts", get(list_get))
        .route("/vendor/{slug}/artifacts/{*rest}", get(below_get).post(below_post))
}

/// `/vendor/{slug}/artifacts/{path}`: a repository's page (`name` is `<slug>/<path>`).
pub fn repository_path(scope: &VendorScope, name: &str) -> String {
    let path = name.strip_prefix(scope.slug()).and_then(|p| p.strip_prefix('/')).unwrap_or(name);
    scope.path(&format!("/artifacts/{path}"))
}

/// What an artifact is, from its manifest's media type and artifact type.
pub(crate) fn kind(media_type: &str, artifact_type: Option<&str>) -> String {
    let index = media_type.contains("image.index") || media_type.contains("manifest.list");
    match artifact_type {
        _ if index => "multi-platform image".to_owned(),
        Some("application/vnd.cncf.helm.config.v1+json") => "Helm chart".to_owned(),
        None
        | Some(
            "application/vnd.oci.image.config.v1+json"
            | "application/vnd.docker.container.image.v1+json",
        ) => "container image".to_owned(),
        Some(other) => format!("artifact ({other})"),
    }
}

/// Whether an artifact of this kind is a Helm chart.
fn is_chart(artifact_type: Option<&str>) -> bool {
    artifact_type == Some("application/vnd.cncf.helm.config.v1+json")
}

/// `1.4 MB`.
pub(crate) fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// The clients a pull command can be shown for.
pub(crate) const CLIENTS: [(&str, &str); 8] = [
    ("auto", "Best for each artifact"),
    ("docker", "docker"),
    ("podman", "podman"),
    ("helm-pull", "helm pull"),
    ("helm-install", "helm install"),
    ("oras", "oras"),
    ("crane", "crane"),
    ("skopeo", "skopeo"),
];

/// The command that pulls `reference` (`tag` or `sha256:…`) of repository `name` from
/// `host` with `client`; `auto` chooses by kind (helm for charts, oras for other artifacts,
/// docker for images). Over plain HTTP (`plain`) the clients that insist on TLS are told not
/// to, so the line runs as shown (docker reaches 127.0.0.0/8 over HTTP by itself, another
/// host by its daemon's configuration).
pub(crate) fn pull_command(
    client: &str,
    plain: bool,
    host: &str,
    name: &str,
    reference: &str,
    artifact_type: Option<&str>,
    media_type: &str,
) -> String {
    let at = if reference.starts_with("sha256:") {
        format!("@{reference}")
    } else {
        format!(":{reference}")
    };
    let image = format!("{host}/{name}{at}");
    let short = name.rsplit('/').next().unwrap_or(name);
    let client = match client {
        "auto" if is_chart(artifact_type) => "helm-install",
        "auto" if kind(media_type, artifact_type).starts_with("artifact") => "oras",
        "auto" => "docker",
        other => other,
    };
    let version = if reference.starts_with("sha256:") {
        String::new()
    } else {
        format!(" --version {reference}")
    };
    let flag = |insecure: &str| if plain { format!(" {insecure}") } else { String::new() };
    match client {
        "podman" => format!("podman pull{} {image}", flag("--tls-verify=false")),
        "helm-pull" => format!("helm pull oci://{host}/{name}{version}{}", flag("--plain-http")),
        "helm-install" => {
            format!("helm install {short} oci://{host}/{name}{version}{}", flag("--plain-http"))
        }
        "oras" => format!("oras pull{} {image}", flag("--plain-http")),
        "crane" => format!("crane pull{} {image} {short}.tar", flag("--insecure")),
        "skopeo" => format!(
            "skopeo copy --all{} docker://{image} oci-archive:{short}.tar",
            flag("--src-tls-verify=false")
        ),
        _ => format!("docker pull {image}"),
    }
}

/// The chosen client (`?client=`), known or `auto`.
#[derive(Deserialize, Default)]
pub(crate) struct ArtifactsQuery {
    client: Option<String>,
    after: Option<String>,
}

impl ArtifactsQuery {
    fn client(&self) -> &'static str {
        let asked = self.client.as_deref().unwrap_or("auto");
        CLIENTS.iter().find(|(id, _)| *id == asked).map_or("auto", |(id, _)| id)
    }
}

/// A repository in the list.
struct RepositoryRow {
    href: String,
    name: String,
    kind: String,
    tags: i64,
    last_push: String,
    public: bool,
    immutable: bool,
}

#[derive(Template)]
#[template(path = "vendor/artifacts.html")]
struct ListPage {
    shell: Shell,
    rows: Vec<RepositoryRow>,
    pages: Pages,
    login_command: String,
    push_command: String,
    slug: String,
    tokens_href: String,
}

/// `GET /vendor/{slug}/artifacts`.
pub(crate) async fn list_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    Query(query): Query<ArtifactsQuery>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    let after = query.after.as_deref().filter(|a| a.starts_with(scope.slug()));
    let mut rows =
        repositories::overview(&portal.app.pool, scope.org_id(), after, PAGE_SIZE + 1).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let base = scope.path("/artifacts");
    let pages = Pages {
        previous: after.map(|_| base.clone()),
        next: if more {
            rows.last().map(|r| {
                format!(
                    "{base}?{}",
                    serde_urlencoded::to_string([("after", &r.name)]).unwrap_or_default()
                )
            })
        } else {
            None
        },
        summary: format!("{} repositor{}", rows.len(), if rows.len() == 1 { "y" } else { "ies" }),
    };
    let slug = scope.slug().to_owned();
    let (login_command, push_command) = super::push_commands(&registry_host(&portal), &slug);
    page(&ListPage {
        shell: scope.shell("Artifacts", "/artifacts").await?,
        rows: rows
            .into_iter()
            .map(|r: RepositoryOverview| RepositoryRow {
                href: repository_path(&scope, &r.name),
                kind: r
                    .media_type
                    .as_deref()
                    .map_or_else(|| "no tags".to_owned(), |m| kind(m, r.artifact_type.as_deref())),
                tags: r.tag_count,
                last_push: r.last_pushed_at.map_or_else(|| "never".to_owned(), when),
                public: r.public,
                immutable: r.immutable_tags,
                name: r.name,
            })
            .collect(),
        pages,
        login_command,
        push_command,
        tokens_href: scope.path("/tokens"),
        slug,
    })
}

/// What a path below `/artifacts/` names.
enum Below<'a> {
    /// A repository.
    Repository { name: String },
    /// A tag of a repository, or an action on it (`delete`).
    Tag { name: String, tag: &'a str, action: Option<&'a str> },
    /// A manifest of a repository, or an action on it (`delete`).
    Manifest { name: String, digest: &'a str, action: Option<&'a str> },
    /// The repository's settings (POST).
    Settings { name: String },
}

/// Reads a path below `/vendor/{slug}/artifacts/`.
fn below<'a>(scope: &VendorScope, rest: &'a str) -> Result<Below<'a>, PageError> {
    let full = |path: &str| format!("{}/{path}", scope.slug());
    let Some((path, what)) = rest.split_once("/-/") else {
        return Ok(Below::Repository { name: full(rest.trim_end_matches('/')) });
    };
    let name = full(path);
    let mut parts = what.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("settings"), None, _, _) => Ok(Below::Settings { name }),
        (Some("tags"), Some(tag), action, None) if !tag.is_empty() => {
            Ok(Below::Tag { name, tag, action })
        }
        (Some("manifests"), Some(digest), action, None) if digest.starts_with("sha256:") => {
            Ok(Below::Manifest { name, digest, action })
        }
        _ => Err(PageError::NotFound),
    }
}

/// Repository `name`, if the scope's organization owns it (404 otherwise, exactly as for one
/// that does not exist).
async fn own(portal: &Portal, scope: &VendorScope, name: &str) -> Result<Repository, PageError> {
    repositories::find(&portal.app.pool, name)
        .await?
        .filter(|r| r.organization_id == scope.org_id())
        .ok_or(PageError::NotFound)
}

/// `GET /vendor/{slug}/artifacts/{rest}`.
pub(crate) async fn below_get(
    State(portal): State<Portal>,
    Path((slug, rest)): Path<(String, String)>,
    Query(query): Query<ArtifactsQuery>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    match below(&scope, &rest)? {
        Below::Repository { name } => repository_page(&portal, &scope, &name, &query).await,
        Below::Tag { name, tag, action: None } => {
            let repository = own(&portal, &scope, &name).await?;
            let digest = tags::digest_of(&portal.app.pool, repository.id, tag)
                .await?
                .ok_or(PageError::NotFound)?;
            manifest_page(&portal, &scope, &repository, &digest, Some(tag)).await
        }
        Below::Manifest { name, digest, action: None } => {
            let repository = own(&portal, &scope, &name).await?;
            manifest_page(&portal, &scope, &repository, digest, None).await
        }
        Below::Tag { name, tag, action: Some("delete") } => {
            scope.require(Need::Artifacts)?;
            let repository = own(&portal, &scope, &name).await?;
            tags::digest_of(&portal.app.pool, repository.id, tag)
                .await?
                .ok_or(PageError::NotFound)?;
            let back = format!("{}/-/tags/{tag}", repository_path(&scope, &name));
            page(&ConfirmPage {
                shell: scope.shell(format!("Delete tag {tag}?"), "/artifacts").await?,
                question: format!(
                    "{name}:{tag} stops existing for everyone at their next request; the manifest it points at stays, reachable by digest. Customers who pull by this tag get “not found”."
                ),
                action: format!("{back}/delete"),
                confirm_label: "Delete the tag".into(),
                cancel: back,
            })
        }
        Below::Manifest { name, digest, action: Some("delete") } => {
            scope.require(Need::Artifacts)?;
            let repository = own(&portal, &scope, &name).await?;
            let view = manifests::view(&portal.app.pool, repository.id, digest)
                .await?
                .ok_or(PageError::NotFound)?;
            let back = format!("{}/-/manifests/{digest}", repository_path(&scope, &name));
            let tags = if view.tags.is_empty() {
                "No tag points at it.".to_owned()
            } else {
                format!("The tags pointing at it go with it: {}.", view.tags.join(", "))
            };
            page(&ConfirmPage {
                shell: scope.shell("Delete this manifest?", "/artifacts").await?,
                question: format!(
                    "{name}@{digest} is deleted for everyone at their next request. {tags} Its layers are removed by the next garbage collection if nothing else uses them. This cannot be undone."
                ),
                action: format!("{back}/delete"),
                confirm_label: "Delete the manifest".into(),
                cancel: back,
            })
        }
        _ => Err(PageError::NotFound),
    }
}

/// The repository settings form.
#[derive(Deserialize, Default)]
pub(crate) struct SettingsForm {
    visibility: Option<String>,
    immutable_tags: Option<String>,
}

/// `POST /vendor/{slug}/artifacts/{rest}`: deletes a tag or a manifest, or changes the
/// repository's settings.
pub(crate) async fn below_post(
    State(portal): State<Portal>,
    Path((slug, rest)): Path<(String, String)>,
    PageForm { visitor, form }: PageForm<SettingsForm>,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    let actor = scope.actor();
    let actions = &portal.app.actions;
    match below(&scope, &rest)? {
        Below::Tag { name, tag, action: Some("delete") } => {
            scope.require(Need::Artifacts)?;
            own(&portal, &scope, &name).await?;
            actions.delete_tag(&actor, &name, tag).await.map_err(action_error)?;
            scope.flash("success", format!("Tag {tag} of {name} was deleted.")).await?;
            Ok(Redirect::to(&repository_path(&scope, &name)).into_response())
        }
        Below::Manifest { name, digest, action: Some("delete") } => {
            scope.require(Need::Artifacts)?;
            own(&portal, &scope, &name).await?;
            actions.delete_manifest(&actor, &name, digest).await.map_err(action_error)?;
            scope
                .flash(
                    "success",
                    format!("Manifest {} of {name} was deleted.", short_digest(digest)),
                )
                .await?;
            Ok(Redirect::to(&repository_path(&scope, &name)).into_response())
        }
        Below::Settings { name } => {
            scope.require(Need::Customers)?;
            let repository = own(&portal, &scope, &name).await?;
            let mut said = Vec::new();
            if let Some(visibility) = form.visibility.as_deref() {
                let public = match visibility {
                    "public" => true,
                    "private" => false,
                    _ => return Err(PageError::BadForm),
                };
                if public != repository.public {
                    actions
                        .set_repository_visibility(&actor, &name, public)
                        .await
                        .map_err(action_error)?;
                    said.push(if public {
                        "it is public: anyone can pull it, without a token"
                    } else {
                        "it is private: only entitled customers can pull it"
                    });
                }
            }
            if let Some(immutable) = form.immutable_tags.as_deref() {
                let immutable = match immutable {
                    "on" => true,
                    "off" => false,
                    _ => return Err(PageError::BadForm),
                };
                if immutable != repository.immutable_tags {
                    actions
                        .set_repository_immutability(&actor, &name, immutable)
                        .await
                        .map_err(action_error)?;
                    said.push(if immutable {
                        "its tags are immutable: a push that would change an existing tag is refused"
                    } else {
                        "its tags can be moved by a new push again"
                    });
                }
            }
            let text = if said.is_empty() {
                format!("{name} is unchanged.")
            } else {
                format!("{name} saved: {}.", said.join("; "))
            };
            scope.flash("success", text).await?;
            Ok(Redirect::to(&repository_path(&scope, &name)).into_response())
        }
        _ => Err(PageError::NotFound),
    }
}

/// A tag in a repository's list.
struct TagRow {
    name: String,
    href: String,
    kind: String,
    digest: String,
    size: String,
    pushed: String,
    command: String,
    delete: Option<String>,
}

#[derive(Template)]
#[template(path = "vendor/repository.html")]
struct RepositoryPage {
    shell: Shell,
    name: String,
    base: String,
    public: bool,
    immutable: bool,
    client: &'static str,
    clients: &'static [(&'static str, &'static str)],
    rows: Vec<TagRow>,
    pages: Pages,
    may_configure: bool,
}

async fn repository_page(
    portal: &Portal,
    scope: &VendorScope,
    name: &str,
    query: &ArtifactsQuery,
) -> Result<Response, PageError> {
    let repository = own(portal, scope, name).await?;
    let after = query.after.as_deref();
    let mut details: Vec<TagDetail> =
        tags::list_details(&portal.app.pool, repository.id, after, PAGE_SIZE + 1).await?;
    let more = details.len() as i64 > PAGE_SIZE;
    details.truncate(PAGE_SIZE as usize);
    let base = repository_path(scope, name);
    let client = query.client();
    let link = |after: Option<&str>| {
        let mut pairs = vec![("client", client.to_owned())];
        if let Some(after) = after {
            pairs.push(("after", after.to_owned()));
        }
        format!("{base}?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
    };
    let pages = Pages {
        previous: after.map(|_| link(None)),
        next: if more { details.last().map(|t| link(Some(&t.name))) } else { None },
        summary: format!("{} tag{}", details.len(), if details.len() == 1 { "" } else { "s" }),
    };
    let host = registry_host(portal);
    let plain = portal.settings.public_url.scheme() == "http";
    let may_delete = scope.may(Need::Artifacts);
    let rows = details
        .into_iter()
        .map(|t| {
            let href = format!("{base}/-/tags/{}", t.name);
            TagRow {
                kind: kind(&t.media_type, t.artifact_type.as_deref()),
                digest: short_digest(&t.digest),
                size: human_size(t.total_size),
                pushed: when(t.pushed_at),
                command: pull_command(
                    client,
                    plain,
                    &host,
                    name,
                    &t.name,
                    t.artifact_type.as_deref(),
                    &t.media_type,
                ),
                delete: may_delete.then(|| format!("{href}/delete")),
                href,
                name: t.name,
            }
        })
        .collect();
    page(&RepositoryPage {
        shell: scope.shell(name.to_owned(), "/artifacts").await?,
        name: name.to_owned(),
        base,
        public: repository.public,
        immutable: repository.immutable_tags,
        client,
        clients: &CLIENTS,
        rows,
        pages,
        may_configure: scope.may(Need::Customers),
    })
}

/// A customer entitled to the artifact.
struct EntitledCustomer {
    name: String,
    href: String,
}

/// A referrer (signature, SBOM, attestation).
struct ReferrerRow {
    kind: String,
    digest: String,
    href: String,
    size: String,
}

/// A child of an index.
struct ChildRow {
    platform: String,
    digest: String,
    href: String,
    size: String,
}

/// A config or layer.
struct BlobRow {
    owner: String,
    kind: String,
    digest: String,
    media_type: String,
    size: String,
}

#[derive(Template)]
#[template(path = "vendor/manifest.html")]
struct ManifestPage {
    shell: Shell,
    name: String,
    repository_href: String,
    tag: Option<String>,
    view: ManifestView,
    kind: String,
    size: String,
    pushed: String,
    commands: Vec<(&'static str, String)>,
    annotations: Vec<(String, String)>,
    children: Vec<ChildRow>,
    blobs: Vec<BlobRow>,
    referrers: Vec<ReferrerRow>,
    subject_href: Option<String>,
    entitled: Option<Vec<EntitledCustomer>>,
    pulls: Vec<PullLine>,
    delete_tag: Option<String>,
    delete_manifest: Option<String>,
}

async fn manifest_page(
    portal: &Portal,
    scope: &VendorScope,
    repository: &Repository,
    digest: &str,
    tag: Option<&str>,
) -> Result<Response, PageError> {
    let pool = &portal.app.pool;
    let name = repository.name.as_str();
    let view = manifests::view(pool, repository.id, digest).await?.ok_or(PageError::NotFound)?;
    let referrers = manifests::referrers(pool, repository.id, digest).await?;
    let base = repository_path(scope, name);
    let manifest_href = |d: &str| format!("{base}/-/manifests/{d}");
    let host = registry_host(portal);
    let plain = portal.settings.public_url.scheme() == "http";
    let reference = tag.unwrap_or(digest);
    let commands = CLIENTS
        .iter()
        .skip(1)
        .map(|(id, label)| {
            (
                *label,
                pull_command(
                    id,
                    plain,
                    &host,
                    name,
                    reference,
                    view.artifact_type.as_deref(),
                    &view.media_type,
                ),
            )
        })
        .collect();
    let pull_filter = PullFilter {
        repository: Some(name.to_owned()),
        tag: tag.map(str::to_owned),
        ..PullFilter::default()
    };
    let pulls = usage::list_pulls(pool, scope.org_id(), &pull_filter, None, RECENT_PULLS).await?;
    let entitled = match tag {
        Some(tag) => entitled_customers(portal, scope, name, tag).await?,
        None => None,
    };
    let annotations = match &view.annotations {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect(),
        _ => Vec::new(),
    };
    let may_delete = scope.may(Need::Artifacts);
    let title = match tag {
        Some(tag) => format!("{name}:{tag}"),
        None => format!("{name}@{}", short_digest(digest)),
    };
    page(&ManifestPage {
        shell: scope.shell(title, "/artifacts").await?,
        repository_href: base.clone(),
        tag: tag.map(str::to_owned),
        kind: kind(&view.media_type, view.artifact_type.as_deref()),
        size: human_size(view.size),
        pushed: when(view.pushed_at),
        commands,
        annotations,
        children: view
            .children
            .iter()
            .map(|c| ChildRow {
                platform: c.platform.clone().unwrap_or_else(|| "unknown platform".into()),
                digest: short_digest(&c.digest),
                href: manifest_href(&c.digest),
                size: human_size(c.size),
            })
            .collect(),
        blobs: view
            .blobs
            .iter()
            .map(|b| BlobRow {
                owner: view
                    .children
                    .iter()
                    .find(|c| c.digest == b.manifest_digest)
                    .and_then(|c| c.platform.clone())
                    .unwrap_or_default(),
                kind: if b.external { format!("{} (external)", b.kind) } else { b.kind.clone() },
                digest: short_digest(&b.digest),
                media_type: b.media_type.clone(),
                size: human_size(b.size),
            })
            .collect(),
        referrers: referrers
            .into_iter()
            .map(|r| ReferrerRow {
                kind: referrer_kind(r.artifact_type.as_deref()),
                href: manifest_href(&r.digest),
                digest: short_digest(&r.digest),
                size: human_size(r.size),
            })
            .collect(),
        subject_href: view.subject_digest.as_deref().map(manifest_href),
        entitled,
        pulls: pulls.into_iter().map(pull_line).collect(),
        delete_tag: tag.filter(|_| may_delete).map(|t| format!("{base}/-/tags/{t}/delete")),
        delete_manifest: may_delete.then(|| format!("{}/delete", manifest_href(digest))),
        name: name.to_owned(),
        view,
    })
}

/// What a referrer is, in words.
fn referrer_kind(artifact_type: Option<&str>) -> String {
    match artifact_type {
        Some(t) if t.contains("cosign") || t.contains("signature") || t.contains("notary") => {
            format!("signature ({t})")
        }
        Some(t) if t.contains("spdx") || t.contains("cyclonedx") || t.contains("sbom") => {
            format!("SBOM ({t})")
        }
        Some(t)
            if t.contains("in-toto") || t.contains("attestation") || t.contains("provenance") =>
        {
            format!("attestation ({t})")
        }
        Some(t) => t.to_owned(),
        None => "artifact".to_owned(),
    }
}

/// The customers that may pull `name:tag` now, by name: those whose licenses grant anything
/// in the repository, each asked of the registry's own entitlement view (the answer a pull
/// would get). `None` when the view is unavailable.
async fn entitled_customers(
    portal: &Portal,
    scope: &VendorScope,
    name: &str,
    tag: &str,
) -> Result<Option<Vec<EntitledCustomer>>, PageError> {
    let pool = &portal.app.pool;
    let all = licenses::list_for_organization(pool, scope.org_id()).await?;
    let mut candidates: Vec<uuid::Uuid> = all
        .iter()
        .filter(|l| l.grants.iter().any(|g| g.covers_repository(name)))
        .map(|l| l.customer_id)
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let names: HashMap<uuid::Uuid, (String, bool)> =
        customers::names(pool, scope.org_id(), &candidates).await?;
    let view = portal.app.credentials.entitlements();
    let now = OffsetDateTime::now_utc();
    let mut entitled = Vec::new();
    for id in candidates {
        let Some((customer_name, disabled)) = names.get(&id) else { continue };
        if *disabled {
            continue;
        }
        let subject = Subject::Customer { org_id: scope.org_id(), customer_id: id };
        let Ok(set) = view.set_for(subject, name, now).await else { return Ok(None) };
        if set.allows_tag(tag) {
            entitled.push(EntitledCustomer {
                name: customer_name.clone(),
                href: customer_path(scope, id),
            });
        }
    }
    entitled.sort_by_key(|c| c.name.to_lowercase());
    Ok(Some(entitled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_from_media_and_artifact_types() {
        let index = "application/vnd.oci.image.index.v1+json";
        let manifest = "application/vnd.oci.image.manifest.v1+json";
        assert_eq!(kind(index, None), "multi-platform image");
        assert_eq!(
            kind(manifest, Some("application/vnd.oci.image.config.v1+json")),
            "container image"
        );
        assert_eq!(kind(manifest, Some("application/vnd.cncf.helm.config.v1+json")), "Helm chart");
        assert_eq!(kind(manifest, Some("application/x.thing")), "artifact (application/x.thing)");
    }

    #[test]
    fn pull_commands_fit_the_client_and_the_artifact() {
        let helm = Some("application/vnd.cncf.helm.config.v1+json");
        let m = "application/vnd.oci.image.manifest.v1+json";
        assert_eq!(
            pull_command("auto", false, "h:5000", "acme/app", "1.0", None, m),
            "docker pull h:5000/acme/app:1.0"
        );
        assert_eq!(
            pull_command("auto", false, "h", "acme/charts/web", "0.1.0", helm, m),
            "helm install web oci://h/acme/charts/web --version 0.1.0"
        );
        assert_eq!(
            pull_command("helm-pull", false, "h", "acme/c", "1", helm, m),
            "helm pull oci://h/acme/c --version 1"
        );
        assert_eq!(
            pull_command("podman", false, "h", "acme/app", "sha256:ab", None, m),
            "podman pull h/acme/app@sha256:ab"
        );
        assert_eq!(
            pull_command("auto", false, "h", "acme/x", "1", Some("application/x.y"), m),
            "oras pull h/acme/x:1"
        );
        assert_eq!(
            pull_command("skopeo", false, "h", "acme/app", "1", None, m),
            "skopeo copy --all docker://h/acme/app:1 oci-archive:app.tar"
        );
        // Over plain HTTP: what each client needs to run as shown.
        let plain = |client| pull_command(client, true, "h:8080", "acme/app", "1.0", None, m);
        assert_eq!(plain("docker"), "docker pull h:8080/acme/app:1.0");
        assert_eq!(plain("podman"), "podman pull --tls-verify=false h:8080/acme/app:1.0");
        assert_eq!(
            plain("helm-pull"),
            "helm pull oci://h:8080/acme/app --version 1.0 --plain-http"
        );
        assert_eq!(
            plain("helm-install"),
            "helm install app oci://h:8080/acme/app --version 1.0 --plain-http"
        );
        assert_eq!(plain("oras"), "oras pull --plain-http h:8080/acme/app:1.0");
        assert_eq!(plain("crane"), "crane pull --insecure h:8080/acme/app:1.0 app.tar");
        assert_eq!(
            plain("skopeo"),
            "skopeo copy --all --src-tls-verify=false docker://h:8080/acme/app:1.0 oci-archive:app.tar"
        );
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_500), "1.5 kB");
        assert_eq!(human_size(1_400_000_000), "1.4 GB");
    }
}
