//! The client scenarios, written once and run against any registry: the reference registry
//! (`e2e/clients_reference.rs`) and Wharf (`e2e/clients.rs`).
//!
//! Every scenario logs in with the target's credentials, pushes content made locally, pulls
//! it back and compares digests: the digest the pushing client reports, the digest the
//! pulling client reports and the sha256 of the manifest bytes the registry serves (read
//! with `skopeo inspect --raw`) must all be the same.

use std::path::Path;

use serde_json::json;

use super::{
    docker::Docker,
    fixtures,
    helm::Helm,
    oras::{ArtifactFile, Descriptor, Oras, OrasAuth},
    podman::Podman,
    process::{must, sha256_digest},
    skopeo::Skopeo,
};

/// A registry to run the scenarios against.
#[derive(Debug, Clone)]
pub struct Target {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// User name for logins (Wharf ignores it; the password is an access token).
    pub user: String,
    /// Password or access token with push and pull rights on `namespace/*`.
    pub password: String,
    /// First path segment of every repository (Wharf: the organization slug).
    pub namespace: String,
    /// oras-py auth backend this registry needs.
    pub oras_auth: OrasAuth,
    /// Whether the registry implements the OCI 1.1 referrers API (distribution 2.8 does
    /// not).
    pub referrers_api: bool,
}

impl Target {
    /// `HOST/NAMESPACE/NAME`.
    pub fn repo(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.host, self.namespace)
    }

    /// `NAMESPACE/NAME` (the repository name without the host).
    pub fn name(&self, name: &str) -> String {
        format!("{}/{name}", self.namespace)
    }

    fn skopeo(&self, dir: &Path) -> Skopeo {
        let skopeo = Skopeo::new(&dir.join("skopeo"));
        skopeo.login(&self.host, &self.user, &self.password);
        skopeo
    }
}

/// docker: a wrong password is refused; `docker import` of a one-file tar, push, remove,
/// pull by tag and by digest; every digest matches the bytes the registry serves.
pub fn docker_single_layer(t: &Target, dir: &Path) {
    let docker = Docker::start(&dir.join("docker"));
    let refused = docker.try_login(&t.host, &t.user, "not-the-password");
    assert!(refused.is_err(), "docker login with a wrong password must fail");
    docker.login(&t.host, &t.user, &t.password);

    let repo = t.repo("e2e-docker");
    let reference = format!("{repo}:1.0");
    let tar = fixtures::single_file_tar(&dir.join("fixture"));
    let image_id = docker.import(&tar, &reference);
    let pushed = docker.push(&reference);
    assert!(pushed.starts_with("sha256:"), "{pushed}");
    assert!(docker.repo_digests(&reference).contains(&format!("{repo}@{pushed}")));
    assert_eq!(t.skopeo(dir).digest(&reference), pushed, "served bytes hash to the pushed digest");

    docker.remove(&reference);
    assert_eq!(docker.pull(&reference), pushed, "pull by tag");
    assert_eq!(docker.image_id(&reference), image_id, "same config after the round trip");
    let by_digest = format!("{repo}@{pushed}");
    assert_eq!(docker.pull(&by_digest), pushed, "pull by digest");
}

/// podman: the same round trip as docker, with `--tls-verify=false`.
pub fn podman_single_layer(t: &Target, dir: &Path) {
    let podman = Podman::new(&dir.join("podman"));
    assert!(podman.try_login(&t.host, &t.user, "not-the-password").is_err());
    podman.login(&t.host, &t.user, &t.password);

    let repo = t.repo("e2e-podman");
    let reference = format!("{repo}:1.0");
    let tar = fixtures::single_file_tar(&dir.join("fixture"));
    podman.import(&tar, &reference);
    let pushed = podman.push(&reference);
    assert!(pushed.starts_with("sha256:"), "{pushed}");
    assert_eq!(t.skopeo(dir).digest(&reference), pushed, "served bytes hash to the pushed digest");

    podman.remove(&reference);
    assert_eq!(podman.pull(&reference), pushed, "pull by tag");
    assert_eq!(podman.pull(&format!("{repo}@{pushed}")), pushed, "pull by digest");
}

/// A docker-pushed image pulled by podman and skopeo: all three agree on the digest.
pub fn docker_push_podman_pull(t: &Target, dir: &Path) {
    let docker = Docker::start(&dir.join("docker"));
    docker.login(&t.host, &t.user, &t.password);
    let reference = format!("{}:cross", t.repo("e2e-cross"));
    let tar = fixtures::single_file_tar(&dir.join("fixture"));
    docker.import(&tar, &reference);
    let pushed = docker.push(&reference);

    let podman = Podman::new(&dir.join("podman"));
    podman.login(&t.host, &t.user, &t.password);
    assert_eq!(podman.pull(&reference), pushed);
    assert_eq!(t.skopeo(dir).digest(&reference), pushed);
}

/// skopeo: a hand-built multi-platform index (linux/amd64 + linux/arm64) copied with
/// `--all --preserve-digests` goes up and comes back byte for byte; podman pulls each
/// platform's manifest by `--platform`.
pub fn skopeo_multi_platform_index(t: &Target, dir: &Path) {
    let skopeo = Skopeo::new(&dir.join("skopeo"));
    assert!(skopeo.try_login(&t.host, &t.user, "not-the-password").is_err());
    skopeo.login(&t.host, &t.user, &t.password);

    let layout = fixtures::multi_platform_layout(&dir.join("layout"), "multi");
    let repo = t.repo("e2e-multi");
    let reference = format!("{repo}:multi");
    let pushed = skopeo.push_layout(&layout.dir, &layout.tag, &reference);
    assert_eq!(pushed, layout.index_digest, "skopeo reports the index digest");
    let served = skopeo.raw_manifest(&reference);
    assert_eq!(served, layout.index, "the index is served byte for byte");
    for (platform, digest) in &layout.manifests {
        let child = skopeo.raw_manifest(&format!("{repo}@{digest}"));
        assert_eq!(&sha256_digest(&child), digest, "{platform} manifest by digest");
        assert_eq!(child, fixtures::layout_blob(&layout.dir, digest));
    }

    let back = dir.join("pulled-layout");
    skopeo.pull_layout(&reference, &back, "multi");
    let desc = fixtures::layout_descriptor(&back, "multi");
    assert_eq!(desc["digest"], layout.index_digest.as_str());
    for (_, digest) in &layout.manifests {
        let manifest: serde_json::Value =
            serde_json::from_slice(&fixtures::layout_blob(&back, digest)).unwrap();
        for blob in
            std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap())
        {
            let digest = blob["digest"].as_str().unwrap();
            let bytes = fixtures::layout_blob(&back, digest);
            assert_eq!(sha256_digest(&bytes), digest);
            assert_eq!(bytes, fixtures::layout_blob(&layout.dir, digest));
        }
    }

    let podman = Podman::new(&dir.join("podman"));
    podman.login(&t.host, &t.user, &t.password);
    for (platform, digest) in &layout.manifests {
        let local = format!("{repo}:{}", platform.replace('/', "-"));
        must(
            podman
                .command()
                .args(["pull", "--quiet", "--tls-verify=false", "--platform", platform])
                .arg(&reference),
        );
        must(podman.command().args(["tag", &reference, &local]));
        // podman records the digest it pulled by (the index) and the platform manifest's.
        let digests = podman.repo_digests(&local);
        assert!(digests.contains(&format!("{repo}@{digest}")), "{platform}: {digests:?}");
        assert!(digests.contains(&format!("{repo}@{}", layout.index_digest)), "{digests:?}");
        assert_eq!(podman.digest(&local), layout.index_digest);
    }
}

/// helm: a chart whose version has a `+` (`1.2.3+build.7`) is pushed as tag `1.2.3_build.7`,
/// listed by helm as `1.2.3+build.7`, and pulled back as the same archive bytes.
pub fn helm_chart_plus_version(t: &Target, dir: &Path) {
    let helm = Helm::new(&dir.join("helm"));
    assert!(helm.try_login(&t.host, &t.user, "not-the-password").is_err());
    helm.login(&t.host, &t.user, &t.password);

    let chart_dir = fixtures::helm_chart(&dir.join("chart-src"), "e2e-chart", "1.2.3+build.7");
    let archive = helm.package(&chart_dir);
    let remote = format!("oci://{}", t.repo("charts"));
    let pushed = helm.push(&archive, &remote);
    assert_eq!(pushed.media_type, "application/vnd.oci.image.manifest.v1+json");

    let chart = format!("{remote}/e2e-chart");
    assert_eq!(helm.tags(&chart), vec!["1.2.3+build.7".to_owned()]);
    let skopeo = t.skopeo(dir);
    assert_eq!(skopeo.tags(&t.repo("charts/e2e-chart")), vec!["1.2.3_build.7".to_owned()]);
    let tagged = format!("{}:1.2.3_build.7", t.repo("charts/e2e-chart"));
    assert_eq!(skopeo.digest(&tagged), pushed.digest);
    let manifest: serde_json::Value =
        serde_json::from_slice(&skopeo.raw_manifest(&tagged)).unwrap();
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.cncf.helm.config.v1+json");
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    );

    let pulled = helm.pull(&chart, "1.2.3+build.7");
    assert_eq!(std::fs::read(&pulled).unwrap(), std::fs::read(&archive).unwrap());
    assert_eq!(helm.resolve(&format!("{chart}:1.2.3_build.7")), pushed.digest);
}

/// The artifact type of the SBOM-like referrer (its config media type).
pub const SBOM_TYPE: &str = "application/vnd.wharf.e2e.sbom.v1+json";

/// oras: an artifact pushed and pulled back, then a second artifact whose `subject` is the
/// first. With a referrers API, `GET /v2/<name>/referrers/<digest>` lists it (also with an
/// `artifactType` filter). Returns (subject, referrer).
pub fn oras_artifact_with_subject(t: &Target, dir: &Path) -> (Descriptor, Descriptor) {
    let oras = Oras::new(&dir.join("oras"), &t.host, t.oras_auth);
    assert!(oras.try_login(&t.user, "not-the-password").is_err());
    oras.login(&t.user, &t.password);

    let name = t.name("e2e-artifact");
    let readme = format!("artifact {}\n", uuid::Uuid::new_v4());
    let subject = oras.push(
        &format!("{name}:v1"),
        &[ArtifactFile {
            name: "readme.txt".into(),
            contents: readme.clone().into_bytes(),
            media_type: "text/plain".into(),
        }],
        None,
        None,
        Some(&json!({"org.opencontainers.image.title": "e2e"})),
    );
    let pulled = oras.pull(&format!("{name}:v1"));
    assert_eq!(pulled.digest, subject.digest);
    assert_eq!(pulled.files.len(), 1);
    assert_eq!(std::fs::read_to_string(&pulled.files[0]).unwrap(), readme);
    let skopeo = t.skopeo(dir);
    assert_eq!(skopeo.digest(&format!("{}:v1", t.repo("e2e-artifact"))), subject.digest);

    let sbom = br#"{"spdxVersion":"SPDX-2.3","name":"e2e"}"#.to_vec();
    let referrer = oras.push(
        &format!("{name}:sbom"),
        &[ArtifactFile {
            name: "sbom.spdx.json".into(),
            contents: sbom.clone(),
            media_type: "application/spdx+json".into(),
        }],
        Some(SBOM_TYPE),
        Some(&subject),
        None,
    );
    let pulled = oras.pull(&format!("{name}@{}", referrer.digest));
    assert_eq!(pulled.digest, referrer.digest);
    assert_eq!(std::fs::read(&pulled.files[0]).unwrap(), sbom);
    let manifest: serde_json::Value =
        serde_json::from_slice(&skopeo.raw_manifest(&format!("{}:sbom", t.repo("e2e-artifact"))))
            .unwrap();
    assert_eq!(manifest["subject"]["digest"], subject.digest.as_str());

    if t.referrers_api {
        let (status, _, index) = oras.referrers(&name, &subject.digest, None);
        assert_eq!(status, 200, "{index}");
        assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
        let found: Vec<_> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["digest"] == referrer.digest.as_str())
            .collect();
        assert_eq!(found.len(), 1, "the referrer is listed: {index}");
        assert_eq!(found[0]["artifactType"], SBOM_TYPE);
        assert_eq!(found[0]["size"], referrer.size);

        let (status, headers, index) = oras.referrers(&name, &subject.digest, Some(SBOM_TYPE));
        assert_eq!(status, 200);
        assert_eq!(
            headers.get("oci-filters-applied").and_then(|v| v.as_str()),
            Some("artifactType")
        );
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");

        let (status, _, index) =
            oras.referrers(&name, &subject.digest, Some("application/vnd.example.other"));
        assert_eq!(status, 200);
        assert_eq!(index["manifests"], json!([]), "{index}");

        let unknown = sha256_digest(b"no such manifest");
        let (status, _, index) = oras.referrers(&name, &unknown, None);
        assert_eq!(status, 200, "an unknown subject has an empty index, not a 404");
        assert_eq!(index["manifests"], json!([]));
    }
    (subject, referrer)
}
