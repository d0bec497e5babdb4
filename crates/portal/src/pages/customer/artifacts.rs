//! What the customer can pull now (`/customer/{slug}/{id}/artifacts`): every repository and
//! tag the registry would serve it, computed by `wharf_app::entitled` from the same cached
//! entitlement view that answers `_catalog` and `tags/list`, with each tag's kind,
//! platforms, size and push time (one query for the page's tags, never one per repository
//! or tag), and per tag copy-ready commands with the real host and the user's
//! login name. Pages of [`PAGE_TAGS`] tags, optionally of one repository: the view gives the
//! page's tags, one query their details.

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    response::Response,
};
use serde::Deserialize;
use time::OffsetDateTime;
use wharf_app::credentials::entitlement_view::Subject;
use wharf_app::entitled::entitled_repositories;
use wharf_db::{
    customer_portal::{self, Referrer, TagDetail},
    customers,
};

use super::{super::branding::BrandView, CustomerScope, home::shell_word, human_size};
use crate::{
    Portal,
    error::PageError,
    pages::{account::when, page},
    shell::Shell,
    visitor::Visitor,
};

/// Tags per page.
pub const PAGE_TAGS: usize = 50;

const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";

/// `?repository=` and `?page=`.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ArtifactsQuery {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    page: Option<usize>,
}

/// A copy-ready command.
struct Command {
    id: String,
    label: String,
    text: String,
}

/// A tag row.
struct TagView {
    repository: String,
    /// Whether this row starts a repository (its heading row is shown).
    first_of_repository: bool,
    tag: String,
    kind: String,
    platforms: String,
    size: String,
    pushed: String,
    digest: String,
    title: Option<String>,
    description: Option<String>,
    commands: Vec<Command>,
    /// Its signatures, SBOMs and attestations the customer may pull, with their commands.
    referrers: Vec<ReferrerView>,
}

/// A signature, SBOM or attestation of a tag.
struct ReferrerView {
    kind: String,
    digest: String,
    command: Command,
}

/// What a referrer is, from its artifact type.
pub fn referrer_kind(artifact_type: Option<&str>) -> String {
    let t = artifact_type.unwrap_or_default().to_ascii_lowercase();
    if t.contains("signature") || t.contains("cosign") || t.contains("notary") {
        "Signature".into()
    } else if t.contains("spdx") || t.contains("cyclonedx") || t.contains("sbom") {
        "SBOM".into()
    } else if t.contains("in-toto") || t.contains("attestation") || t.contains("provenance") {
        "Attestation".into()
    } else if t.is_empty() {
        "Referrer".into()
    } else {
        format!("Artifact ({t})")
    }
}

#[derive(Template)]
#[template(path = "customer/artifacts.html")]
struct ArtifactsPage {
    shell: Shell,
    brand: BrandView,
    repositories: Vec<String>,
    selected: String,
    rows: Vec<TagView>,
    previous: Option<String>,
    next: Option<String>,
    summary: String,
    login_command: String,
    tokens: String,
    bundle: String,
}

/// The kind of a manifest as people say it.
pub fn kind(media_type: &str, artifact_type: Option<&str>) -> String {
    if media_type.contains("index") || media_type.contains("manifest.list") {
        return "Multi-platform image".into();
    }
    match artifact_type {
        Some(HELM_CONFIG) => "Helm chart".into(),
        Some(
            "application/vnd.oci.image.config.v1+json"
            | "application/vnd.docker.container.image.v1+json",
        )
        | None => "Container image".into(),
        Some(other) => format!("OCI artifact ({other})"),
    }
}

/// The commands for pulling `repository:tag` (a Helm chart when `is_chart`) from `host` as
/// `login`; their element ids start with `cmd-{index}-`. Over plain HTTP (`scheme` `http`)
/// the clients that insist on TLS are told not to (`--plain-http`, `--tls-verify=false`),
/// so every line runs as shown.
fn commands(
    scheme: &str,
    host: &str,
    login: &str,
    repository: &str,
    tag: &str,
    is_chart: bool,
    index: usize,
) -> Vec<Command> {
    let reference = format!("{host}/{repository}:{tag}");
    let user = shell_word(login);
    let plain = scheme == "http";
    let plain_http = if plain { " --plain-http" } else { "" };
    let tls_verify = if plain { " --tls-verify=false" } else { "" };
    let mut out = Vec::new();
    let mut push = |label: &str, text: String| {
        let id = format!("cmd-{index}-{}", out.len());
        out.push(Command { id, label: label.to_owned(), text });
    };
    if is_chart {
        push(
            "Helm: log in",
            format!(
                "echo \"$WHARF_TOKEN\" | helm registry login {host} -u {user} --password-stdin{plain_http}"
            ),
        );
        let name = repository.rsplit('/').next().unwrap_or(repository);
        push(
            "Helm: install",
            format!("helm install {name} oci://{host}/{repository} --version {tag}{plain_http}"),
        );
        push(
            "Helm: pull",
            format!("helm pull oci://{host}/{repository} --version {tag}{plain_http}"),
        );
    } else {
        push(
            "Docker: log in",
            format!("echo \"$WHARF_TOKEN\" | docker login {host} -u {user} --password-stdin"),
        );
        push("Docker: pull", format!("docker pull {reference}"));
        push(
            "Podman: log in",
            format!(
                "echo \"$WHARF_TOKEN\" | podman login{tls_verify} {host} -u {user} --password-stdin"
            ),
        );
        push("Podman: pull", format!("podman pull{tls_verify} {reference}"));
    }
    push("ORAS: pull", format!("oras pull{plain_http} {reference} -u {user} -p \"$WHARF_TOKEN\""));
    push(
        "Kubernetes: image pull secret",
        format!(
            "kubectl create secret docker-registry wharf-pull --docker-server={host} \
             --docker-username={user} --docker-password=\"$WHARF_TOKEN\""
        ),
    );
    push(
        "Test your token",
        format!("curl -fsS -u {user}:\"$WHARF_TOKEN\" {scheme}://{host}/v2/{repository}/tags/list"),
    );
    out
}

/// `GET /customer/{slug}/{customer_id}/artifacts`.
pub(crate) async fn artifacts_get(
    State(portal): State<Portal>,
    Path((slug, customer_id)): Path<(String, String)>,
    Query(query): Query<ArtifactsQuery>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = CustomerScope::enter(&portal, visitor, &slug, &customer_id).await?;
    let pool = &portal.app.pool;
    let customer = customers::get(pool, scope.org_id(), scope.customer_id())
        .await?
        .ok_or(PageError::NotFound)?;
    let view = portal.app.credentials.entitlements();
    let now = OffsetDateTime::now_utc();
    let entitled = entitled_repositories(pool, view, &customer, now)
        .await
        .map_err(|_| PageError::Unavailable)?;
    let repositories: Vec<String> = entitled.iter().map(|r| r.name.clone()).collect();
    let selected = if repositories.contains(&query.repository) {
        query.repository.clone()
    } else {
        String::new()
    };
    // The page's tags, from the view (sorted by repository, then tag); then one query for
    // their details.
    let listed: Vec<(&str, &str)> = entitled
        .iter()
        .filter(|r| selected.is_empty() || r.name == selected)
        .flat_map(|r| r.tags.iter().map(move |t| (r.name.as_str(), t.as_str())))
        .collect();
    let total = listed.len();
    let pages = total.div_ceil(PAGE_TAGS).max(1);
    let page_no = query.page.unwrap_or(1).clamp(1, pages);
    let (page_repositories, page_tags): (Vec<String>, Vec<String>) = listed
        .iter()
        .skip((page_no - 1) * PAGE_TAGS)
        .take(PAGE_TAGS)
        .map(|(r, t)| ((*r).to_owned(), (*t).to_owned()))
        .unzip();
    let details: Vec<TagDetail> =
        customer_portal::tag_details(pool, scope.org_id(), &page_repositories, &page_tags).await?;
    // Their signatures, SBOMs and attestations: one query, kept when the view allows them.
    let (ref_repositories, ref_subjects): (Vec<String>, Vec<String>) =
        details.iter().map(|d| (d.repository.clone(), d.digest.clone())).unzip();
    let found =
        customer_portal::referrers(pool, scope.org_id(), &ref_repositories, &ref_subjects).await?;
    let subject = Subject::Customer { org_id: scope.org_id(), customer_id: scope.customer_id() };
    let mut referrers: HashMap<(String, String), Vec<Referrer>> = HashMap::new();
    for referrer in found {
        let set = view
            .set_for(subject, &referrer.repository, now)
            .await
            .map_err(|_| PageError::Unavailable)?;
        if set.referrers(&referrer.subject).iter().any(|d| d.as_str() == referrer.digest) {
            let key = (referrer.repository.clone(), referrer.subject.clone());
            referrers.entry(key).or_default().push(referrer);
        }
    }
    let host = scope.registry_host(&portal);
    let scheme = portal.settings.public_url.scheme().to_owned();
    let login = scope.login_name().to_owned();
    let mut last_repository = String::new();
    let rows = details
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let is_chart = d.artifact_type.as_deref() == Some(HELM_CONFIG);
            let first = d.repository != last_repository;
            last_repository.clone_from(&d.repository);
            let key = (d.repository.clone(), d.digest.clone());
            let referrers = referrers
                .remove(&key)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(j, r)| ReferrerView {
                    kind: referrer_kind(r.artifact_type.as_deref()),
                    digest: r.digest.get(..19).unwrap_or(&r.digest).to_owned(),
                    command: Command {
                        id: format!("ref-{i}-{j}"),
                        label: format!("{}: fetch", referrer_kind(r.artifact_type.as_deref())),
                        text: format!(
                            "oras pull{} {host}/{}@{} -u {} -p \"$WHARF_TOKEN\"",
                            if scheme == "http" { " --plain-http" } else { "" },
                            r.repository,
                            r.digest,
                            shell_word(&login)
                        ),
                    },
                })
                .collect();
            TagView {
                referrers,
                commands: commands(&scheme, &host, &login, &d.repository, &d.tag, is_chart, i),
                first_of_repository: first,
                kind: kind(&d.media_type, d.artifact_type.as_deref()),
                platforms: d.platforms.join(", "),
                size: human_size(d.size),
                pushed: when(d.pushed_at),
                digest: d.digest.get(..19).unwrap_or(&d.digest).to_owned(),
                title: d.title,
                description: d.description,
                repository: d.repository,
                tag: d.tag,
            }
        })
        .collect();
    let link = |n: usize| {
        let mut href = format!("{}?page={n}", scope.path("/artifacts"));
        if !selected.is_empty() {
            href.push_str("&repository=");
            href.push_str(
                &url::form_urlencoded::byte_serialize(selected.as_bytes()).collect::<String>(),
            );
        }
        href
    };
    page(&ArtifactsPage {
        shell: scope.shell("Artifacts", "/artifacts").await?,
        brand: scope.brand(),
        previous: (page_no > 1).then(|| link(page_no - 1)),
        next: (page_no < pages).then(|| link(page_no + 1)),
        summary: format!("Page {page_no} of {pages} · {total} tags"),
        repositories,
        selected,
        rows,
        login_command: super::home::login_command(&host, &login),
        tokens: scope.path("/tokens"),
        bundle: scope.path("/bundle"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_as_people_say_them() {
        assert_eq!(kind("application/vnd.oci.image.index.v1+json", None), "Multi-platform image");
        assert_eq!(
            kind("application/vnd.oci.image.manifest.v1+json", Some(HELM_CONFIG)),
            "Helm chart"
        );
        assert_eq!(
            kind(
                "application/vnd.oci.image.manifest.v1+json",
                Some("application/vnd.oci.image.config.v1+json")
            ),
            "Container image"
        );
        assert_eq!(
            kind(
                "application/vnd.oci.image.manifest.v1+json",
                Some("application/vnd.example+json")
            ),
            "OCI artifact (application/vnd.example+json)"
        );
    }

    #[test]
    fn referrers_are_named_by_their_type() {
        assert_eq!(
            referrer_kind(Some("application/vnd.dev.cosign.artifact.sig.v1+json")),
            "Signature"
        );
        assert_eq!(referrer_kind(Some("application/spdx+json")), "SBOM");
        assert_eq!(referrer_kind(Some("application/vnd.in-toto+json")), "Attestation");
        assert_eq!(referrer_kind(None), "Referrer");
    }

    #[test]
    fn chart_commands_use_helm_and_images_docker() {
        let chart =
            commands("https", "reg.example.com", "a@b.c", "acme/charts/app", "0.1.0", true, 0);
        assert!(
            chart.iter().any(|c| c.text
                == "helm install app oci://reg.example.com/acme/charts/app --version 0.1.0")
        );
        let image = commands("https", "reg.example.com", "a@b.c", "acme/app", "1.0.0", false, 1);
        assert!(image.iter().any(|c| c.text == "docker pull reg.example.com/acme/app:1.0.0"));
        assert!(image.iter().any(|c| c.text == "podman pull reg.example.com/acme/app:1.0.0"));
        assert!(image.iter().all(|c| c.id.starts_with("cmd-1-")));
        assert!(
            chart
                .iter()
                .chain(&image)
                .all(|c| !c.text.contains("--plain-http") && !c.text.contains("--tls-verify"))
        );
    }

    #[test]
    fn over_plain_http_every_client_is_told_so() {
        let chart =
            commands("http", "127.0.0.1:8080", "a@b.c", "acme/charts/app", "0.1.0", true, 0);
        let image = commands("http", "127.0.0.1:8080", "a@b.c", "acme/app", "1.0.0", false, 1);
        let text = |commands: &[Command], label: &str| {
            commands.iter().find(|c| c.label == label).map(|c| c.text.clone()).unwrap()
        };
        assert_eq!(
            text(&chart, "Helm: install"),
            "helm install app oci://127.0.0.1:8080/acme/charts/app --version 0.1.0 --plain-http"
        );
        assert!(text(&chart, "Helm: log in").ends_with("--password-stdin --plain-http"));
        assert!(text(&chart, "Helm: pull").ends_with("--plain-http"));
        assert_eq!(
            text(&image, "Podman: log in"),
            "echo \"$WHARF_TOKEN\" | podman login --tls-verify=false 127.0.0.1:8080 -u a@b.c --password-stdin"
        );
        assert_eq!(
            text(&image, "Podman: pull"),
            "podman pull --tls-verify=false 127.0.0.1:8080/acme/app:1.0.0"
        );
        assert!(text(&image, "ORAS: pull").starts_with("oras pull --plain-http "));
        // docker needs no flag: it reaches 127.0.0.0/8 over HTTP, other hosts by its config.
        assert_eq!(text(&image, "Docker: pull"), "docker pull 127.0.0.1:8080/acme/app:1.0.0");
    }
}
