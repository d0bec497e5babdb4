//! `wharf serve --demo` (`just demo`): fills the first organization of a fresh instance with
//! a realistic vendor, so a newcomer sees the product working in a minute: container images
//! with several versions, a multi-platform image, a Helm chart, a signed image with an SBOM,
//! customers with licenses of each kind (semver, exact tags, prefix, expiring with
//! `keep_released`, suspended, expired), customer tokens, and 30 days of pulls.
//!
//! Artifacts are pushed through the very router `wharf serve` answers with (`/v2`, a vendor
//! token of the owner's made for the purpose and revoked afterwards), so they are stored and
//! checked exactly as a client's push. Customers and licenses go through `VendorActions`, as
//! the portal's and the API's do. Only the past pulls are written straight to the usage table,
//! with their dates. Runs once: an organization that has repositories already is left alone.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, StatusCode, header},
};
use base64::Engine as _;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use tower::ServiceExt as _;
use uuid::Uuid;
use wharf_app::{
    App,
    actions::{Actor, LicenseForm, RequestMeta},
};
use wharf_db::{
    PgPool, accounts,
    usage::{NewPullEvent, VersionChecks},
};
use wharf_entitlements::{ExpiryPolicy, GrantSpec, TagSelectorSpec};
use wharf_oci::digest::Algorithm;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// Seeds the demo into the oldest organization, unless it has repositories already.
pub async fn seed(router: &Router, app: &App, pool: &PgPool) -> anyhow::Result<()> {
    let Some((org_id, slug)) = first_org(pool).await? else {
        bail!(
            "--demo needs an organization: start once without it, or create one with `wharf admin create-org`"
        );
    };
    if !wharf_db::registry::repositories::list_names(pool, org_id).await?.is_empty() {
        tracing::info!(org = %slug, "demo: the organization has repositories already, nothing seeded");
        return Ok(());
    }
    let started = std::time::Instant::now();
    while !app.credentials.views_synced() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            bail!("demo: the credential views did not load");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let owner = accounts::list_members(pool, org_id)
        .await?
        .into_iter()
        .find(|m| m.role == "owner")
        .context("demo: the organization has no owner")?;
    let actor = Actor {
        org_id,
        org_slug: slug.clone(),
        user_id: None,
        token_id: None,
        request: RequestMeta::default(),
    };
    let (issued, _) = app
        .actions
        .issue_vendor_token(
            &actor,
            &owner.email,
            "demo seed",
            false,
            Some(OffsetDateTime::now_utc() + Duration::hours(1)),
        )
        .await?;
    let pusher = Pusher {
        router: router.clone(),
        authorization: format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{slug}:{}", issued.plaintext.expose_secret()))
        ),
    };
    let pushed = push_artifacts(&pusher, &slug).await;
    wharf_db::tokens::revoke_vendor(pool, org_id, owner.user_id, issued.token.id).await?;
    let pushed = pushed?;
    let customers = customers_and_licenses(app, &actor, &slug).await?;
    let pulls = past_pulls(app, pool, &actor, &customers, &pushed).await?;
    tracing::info!(
        org = %slug,
        tags = pushed.len(),
        customers = customers.len(),
        pulls,
        "demo: seeded"
    );
    Ok(())
}

async fn first_org(pool: &PgPool) -> anyhow::Result<Option<(Uuid, String)>> {
    Ok(accounts::first_organization(pool).await?.map(|o| (o.id, o.slug)))
}

/// Pushes through the router as a client would.
struct Pusher {
    router: Router,
    authorization: String,
}

/// A tag pushed: repository, tag, digest, media type.
struct Pushed {
    repository: String,
    tag: String,
    digest: String,
    media_type: &'static str,
}

impl Pusher {
    async fn send(&self, request: Request<Body>) -> anyhow::Result<StatusCode> {
        let mut request = request;
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0))));
        let response = self.router.clone().oneshot(request).await?;
        Ok(response.status())
    }

    /// Uploads `bytes` as a blob of `repository`; returns its descriptor.
    async fn blob(
        &self,
        repository: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let digest = Algorithm::Sha256.digest(&bytes).to_string();
        let size = bytes.len();
        let request = Request::post(format!("/v2/{repository}/blobs/uploads/?digest={digest}"))
            .header(header::AUTHORIZATION, &self.authorization)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(bytes))?;
        let status = self.send(request).await?;
        if status != StatusCode::CREATED {
            bail!("demo: uploading a blob to {repository} answered {status}");
        }
        Ok(json!({"mediaType": media_type, "digest": digest, "size": size}))
    }

    /// Pushes `manifest` as `reference`; returns its digest.
    async fn manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &Value,
    ) -> anyhow::Result<String> {
        let bytes = serde_json::to_vec(manifest)?;
        let digest = Algorithm::Sha256.digest(&bytes).to_string();
        let media_type = manifest["mediaType"].as_str().unwrap_or(OCI_MANIFEST).to_owned();
        let request = Request::put(format!("/v2/{repository}/manifests/{reference}"))
            .header(header::AUTHORIZATION, &self.authorization)
            .header(header::CONTENT_TYPE, media_type)
            .body(Body::from(bytes))?;
        let status = self.send(request).await?;
        if status != StatusCode::CREATED {
            bail!("demo: pushing {repository}:{reference} answered {status}");
        }
        Ok(digest)
    }

    /// An image of one layer, annotated, tagged `tag` (pushed by digest without one);
    /// returns its digest and manifest.
    async fn image(
        &self,
        repository: &str,
        tag: Option<&str>,
        platform: Option<(&str, &str)>,
        annotations: Value,
    ) -> anyhow::Result<(String, Value)> {
        let (os, arch) = platform.unwrap_or(("linux", "amd64"));
        let config = json!({
            "architecture": arch,
            "os": os,
            "config": {"Entrypoint": [format!("/usr/local/bin/{}", repository.rsplit('/').next().unwrap_or("app"))]},
            "rootfs": {"type": "layers", "diff_ids": []},
            "created": "2026-11-01T00:00:00Z",
            "history": [{"created_by": format!("demo {repository} {annotations} {arch}")}],
        });
        let config = self.blob(repository, OCI_CONFIG, serde_json::to_vec(&config)?).await?;
        // Layers of a few hundred kilobytes, different per version and platform.
        let seed = format!("{repository}:{annotations}:{arch}");
        let layer: Vec<u8> = seed.bytes().cycle().take(200_000 + seed.len() * 997).collect();
        let layer = self.blob(repository, OCI_LAYER, layer).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config,
            "layers": [layer],
            "annotations": annotations,
        });
        let reference = match tag {
            Some(tag) => tag.to_owned(),
            None => Algorithm::Sha256.digest(&serde_json::to_vec(&manifest)?).to_string(),
        };
        Ok((self.manifest(repository, &reference, &manifest).await?, manifest))
    }
}

/// Every artifact of the demo, pushed.
async fn push_artifacts(pusher: &Pusher, slug: &str) -> anyhow::Result<Vec<Pushed>> {
    let mut pushed = Vec::new();
    let web = format!("{slug}/web");
    for (version, notes) in [
        ("1.0.0", "First release."),
        ("1.1.0", "Adds single sign-on."),
        ("1.2.0", "Faster search; fixes the export of large reports."),
        ("2.0.0", "New dashboard. Requires Postgres 15."),
        ("2.1.0-rc.1", "Release candidate of 2.1."),
    ] {
        let annotations = json!({
            "org.opencontainers.image.title": "Acme Web",
            "org.opencontainers.image.description": "The web front end of the Acme platform.",
            "org.opencontainers.image.version": version,
            "org.opencontainers.image.source": "https://example.com/acme/web",
            "com.example.release-notes": notes,
        });
        let (digest, manifest) = pusher.image(&web, Some(version), None, annotations).await?;
        pushed.push(Pushed {
            repository: web.clone(),
            tag: version.into(),
            digest: digest.clone(),
            media_type: OCI_MANIFEST,
        });
        if version == "2.0.0" {
            // `latest` is a tag like any other; here it points at 2.0.0.
            pusher.manifest(&web, "latest", &manifest).await?;
            pushed.push(Pushed {
                repository: web.clone(),
                tag: "latest".into(),
                digest,
                media_type: OCI_MANIFEST,
            });
        }
    }

    // A signature and an SBOM of web:2.0.0, as referrers.
    let signed =
        pushed.iter().find(|p| p.tag == "2.0.0").map(|p| p.digest.clone()).unwrap_or_default();
    let size = manifest_size(pusher, &web, &signed).await?;
    let subject = json!({"mediaType": OCI_MANIFEST, "digest": signed, "size": size});
    for (artifact_type, media_type, content) in [
        (
            "application/vnd.dev.cosign.artifact.sig.v1+json",
            "application/vnd.dev.cosign.simplesigning.v1+json",
            b"{\"critical\":{\"type\":\"cosign container image signature\"}}".to_vec(),
        ),
        (
            "application/spdx+json",
            "application/spdx+json",
            b"{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"acme-web-2.0.0\",\"packages\":[]}".to_vec(),
        ),
    ] {
        let empty = pusher.blob(&web, "application/vnd.oci.empty.v1+json", b"{}".to_vec()).await?;
        let layer = pusher.blob(&web, media_type, content).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": empty,
            "layers": [layer],
            "subject": subject,
            "annotations": {"org.opencontainers.image.created": "2026-11-20T10:00:00Z"},
        });
        let bytes = serde_json::to_vec(&manifest)?;
        let digest = Algorithm::Sha256.digest(&bytes).to_string();
        pusher.manifest(&web, &digest, &manifest).await?;
    }

    // A multi-platform image.
    let agent = format!("{slug}/agent");
    for version in ["3.0.0", "3.1.0"] {
        let mut children = Vec::new();
        for (os, arch) in [("linux", "amd64"), ("linux", "arm64")] {
            let annotations = json!({"org.opencontainers.image.version": version});
            let (digest, _) = pusher.image(&agent, None, Some((os, arch)), annotations).await?;
            children.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": manifest_size(pusher, &agent, &digest).await?,
                "platform": {"os": os, "architecture": arch},
            }));
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": children,
            "annotations": {"org.opencontainers.image.title": "Acme Agent", "org.opencontainers.image.version": version},
        });
        let digest = pusher.manifest(&agent, version, &index).await?;
        pushed.push(Pushed {
            repository: agent.clone(),
            tag: version.into(),
            digest,
            media_type: OCI_INDEX,
        });
    }

    // A Helm chart.
    let chart = format!("{slug}/charts/web");
    for version in ["0.1.0", "0.2.0"] {
        let config = json!({"apiVersion": "v2", "name": "web", "version": version, "description": "Acme Web on Kubernetes", "type": "application"});
        let config = pusher.blob(&chart, HELM_CONFIG, serde_json::to_vec(&config)?).await?;
        let content: Vec<u8> = format!("chart web {version}").bytes().cycle().take(4_000).collect();
        let layer = pusher.blob(&chart, HELM_CHART, content).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config,
            "layers": [layer],
            "annotations": {"org.opencontainers.image.title": "web", "org.opencontainers.image.version": version},
        });
        let digest = pusher.manifest(&chart, version, &manifest).await?;
        pushed.push(Pushed {
            repository: chart.clone(),
            tag: version.into(),
            digest,
            media_type: OCI_MANIFEST,
        });
    }
    Ok(pushed)
}

/// The size of a manifest just pushed (`Content-Length` of a HEAD).
async fn manifest_size(pusher: &Pusher, repository: &str, digest: &str) -> anyhow::Result<i64> {
    let request = Request::head(format!("/v2/{repository}/manifests/{digest}"))
        .header(header::AUTHORIZATION, &pusher.authorization)
        .body(Body::empty())?;
    let mut request = request;
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0))));
    let response = pusher.router.clone().oneshot(request).await?;
    response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .context("demo: no size for a pushed manifest")
}

/// A demo customer: its id, name and whether it pulls.
struct DemoCustomer {
    id: Uuid,
    pulls: bool,
}

fn grant(repository: String, tags: TagSelectorSpec) -> GrantSpec {
    GrantSpec { repository, tags, published_after: None, published_before: None }
}

/// Customers with a license of each kind.
async fn customers_and_licenses(
    app: &App,
    actor: &Actor,
    slug: &str,
) -> anyhow::Result<Vec<DemoCustomer>> {
    let now = OffsetDateTime::now_utc();
    let semver = |range: &str| TagSelectorSpec::Semver {
        range: range.into(),
        allow_v_prefix: false,
        include_prereleases: false,
    };
    let plans: Vec<(&str, Option<LicenseForm>, bool)> = vec![
        (
            "Globex Corporation",
            Some(LicenseForm {
                name: "Enterprise 2026".into(),
                starts_at: now - Duration::days(200),
                expires_at: Some(now + Duration::days(20)),
                on_expiry: ExpiryPolicy::KeepReleased,
                suspended: false,
                notes: "Renewal in discussion.".into(),
                grants: vec![
                    grant(format!("{slug}/web"), semver(">=1.0.0 <3.0.0")),
                    grant(format!("{slug}/charts/*"), TagSelectorSpec::All),
                    grant(format!("{slug}/agent"), TagSelectorSpec::Glob { pattern: "3.*".into() }),
                ],
            }),
            true,
        ),
        (
            "Initech",
            Some(LicenseForm {
                name: "Web 1.x".into(),
                starts_at: now - Duration::days(90),
                expires_at: None,
                on_expiry: ExpiryPolicy::Revoke,
                suspended: false,
                notes: String::new(),
                grants: vec![grant(
                    format!("{slug}/web"),
                    TagSelectorSpec::Exact {
                        values: vec!["1.0.0".into(), "1.1.0".into(), "1.2.0".into()],
                    },
                )],
            }),
            true,
        ),
        (
            "Umbrella Health",
            Some(LicenseForm {
                name: "Pilot".into(),
                starts_at: now - Duration::days(60),
                expires_at: Some(now + Duration::days(300)),
                on_expiry: ExpiryPolicy::Revoke,
                suspended: true,
                notes: "Suspended: invoice overdue.".into(),
                grants: vec![grant(format!("{slug}/web"), TagSelectorSpec::All)],
            }),
            false,
        ),
        (
            "Stark Industries",
            Some(LicenseForm {
                name: "Trial".into(),
                starts_at: now - Duration::days(45),
                expires_at: Some(now - Duration::days(15)),
                on_expiry: ExpiryPolicy::Revoke,
                suspended: false,
                notes: String::new(),
                grants: vec![grant(format!("{slug}/web"), semver("^2"))],
            }),
            false,
        ),
        ("Hooli", None, false),
    ];
    let mut made = Vec::new();
    for (name, license, pulls) in plans {
        let customer = app.actions.create_customer(actor, name).await?;
        if let Some(license) = license {
            app.actions.create_license(actor, customer.id, &license).await?;
        }
        made.push(DemoCustomer { id: customer.id, pulls });
    }
    Ok(made)
}

/// 30 days of pulls by the customers that pull, each with a token of its own.
async fn past_pulls(
    app: &App,
    pool: &PgPool,
    actor: &Actor,
    customers: &[DemoCustomer],
    pushed: &[Pushed],
) -> anyhow::Result<u64> {
    let now = OffsetDateTime::now_utc();
    let (mut events, mut checks) = (Vec::new(), Vec::new());
    for (n, customer) in customers.iter().filter(|c| c.pulls).enumerate() {
        let token = app
            .actions
            .issue_customer_token(actor, customer.id, "production cluster", None)
            .await?;
        let entitled: Vec<&Pushed> = pushed
            .iter()
            .filter(|p| {
                if n == 0 {
                    p.tag != "2.1.0-rc.1"
                } else {
                    p.repository.ends_with("/web") && p.tag.starts_with("1.")
                }
            })
            .collect();
        // Version checks (manifest HEADs, docs/portal.md) of its newest web image: the first
        // customer's cluster polls every half hour (as Watchtower or Flux would), the
        // other's CI a few times a day.
        let polled = entitled.iter().rev().find(|p| p.repository.ends_with("/web"));
        let (check_kind, checks_a_day) = if n == 0 { ("containerd", 48) } else { ("docker", 4) };
        for day in 0..30_i64 {
            if let Some(polled) = polled {
                let last = now - Duration::days(29 - day) - Duration::minutes(20);
                checks.push(VersionChecks {
                    day: last.date(),
                    organization_id: actor.org_id,
                    customer_id: Some(customer.id),
                    repository: polled.repository.clone(),
                    reference: polled.tag.clone(),
                    client_kind: check_kind,
                    checks: checks_a_day,
                    last_check_at: last,
                });
            }
            // A few pulls a day, more on weekdays, growing towards today.
            let count = 1 + (day % 3) as usize + usize::from(day > 15) * (n + 1);
            for i in 0..count {
                let what = entitled[(day as usize * 7 + i * 3 + n) % entitled.len()];
                let (client_kind, agent) = match (i + n) % 3 {
                    0 => ("docker", "docker/27.3.1 go/go1.22.7 os/linux arch/amd64"),
                    1 => ("containerd", "containerd/v1.7.22"),
                    _ if what.repository.contains("/charts/") => ("helm", "Helm/3.16.2"),
                    _ => ("podman", "libpod/5.2.3"),
                };
                events.push(NewPullEvent {
                    id: Uuid::now_v7(),
                    at: now - Duration::days(29 - day) - Duration::minutes((i as i64) * 37 + 60),
                    organization_id: actor.org_id,
                    customer_id: Some(customer.id),
                    token_id: token.token.id,
                    repository: what.repository.clone(),
                    reference: what.tag.clone(),
                    tag: Some(what.tag.clone()),
                    digest: what.digest.clone(),
                    media_type: what.media_type.to_owned(),
                    client_addr: Some(format!("203.0.113.{}", 10 + n)),
                    user_agent: Some(agent.to_owned()),
                    client_kind,
                    requests: 1,
                });
            }
        }
    }
    let pulls = wharf_db::usage::insert_pull_events(pool, &events).await?;
    wharf_db::usage::add_version_checks(pool, &checks).await?;
    Ok(pulls)
}
