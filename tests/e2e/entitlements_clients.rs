//! Entitlements through real clients: a customer entitled to `>=1.0.0 <2.0.0` of `acme/app`
//! and to chart `acme/charts/app` 0.1.0 pulls those with docker, podman, skopeo, helm and
//! oras, and fails for 2.0.0, for a pre-release, for another repository and for another
//! vendor's repository, each failure saying exactly what the same client says for a name
//! that does not exist (compared after putting the two names in one spelling).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use time::OffsetDateTime;
use wharf_db::{
    PgPool, customers,
    licenses::{self, LicenseInput},
    tokens::TokenOwner,
};
use wharf_e2e::{
    ServeOptions, Wharf,
    clients::{
        client_scratch,
        docker::Docker,
        fixtures,
        helm::Helm,
        oras::{ArtifactFile, Oras, OrasAuth},
        podman::Podman,
        skopeo::Skopeo,
    },
    fresh_database, insert_token,
    raw::RawRegistry,
};
use wharf_entitlements::{ExpiryPolicy, Grant, TagSelector, TagSelectorSpec};

/// One spelling for the hidden and the absent reference, so two error messages can be
/// compared; also drops what differs between any two runs of a client (temporary paths).
fn same_spelling(message: &str, hidden: &str, absent: &str, scratch: &Path) -> String {
    // Whole references first, then their repository and tag parts, which some clients print
    // separately ("reading manifest 2.0.0 in host/acme/app").
    let parts = |r: &str| -> (String, String) {
        let slash = r.rfind('/').map_or(0, |i| i + 1);
        match r[slash..].rfind(':') {
            Some(colon) => (r[..slash + colon].to_owned(), r[slash + colon + 1..].to_owned()),
            None => (r.to_owned(), String::new()),
        }
    };
    let (hidden_repo, hidden_tag) = parts(hidden);
    let (absent_repo, absent_tag) = parts(absent);
    let mut text = message
        .replace(hidden, "<REF>")
        .replace(absent, "<REF>")
        .replace(&scratch.display().to_string(), "<SCRATCH>");
    for (a, b, label) in
        [(&hidden_repo, &absent_repo, "<REPO>"), (&hidden_tag, &absent_tag, "<TAG>")]
    {
        if a != b && !a.is_empty() && !b.is_empty() {
            text = text.replace(a.as_str(), label).replace(b.as_str(), label);
        }
    }
    // Go clients (skopeo, podman) log with logrus: `time="2026-11-24T13:15:53Z"`, which
    // differs between two calls a second apart.
    let mut rest = text.as_str();
    let mut timeless = String::new();
    while let Some(start) = rest.find("time=\"") {
        let value = start + "time=\"".len();
        let Some(len) = rest[value..].find('"') else { break };
        timeless.push_str(&rest[..value]);
        timeless.push_str("<TIME>");
        rest = &rest[value + len..];
    }
    timeless.push_str(rest);
    let text = timeless;
    // Per-call temporary directories are named by random hex.
    let mut out = String::new();
    let mut run = String::new();
    for ch in text.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_hexdigit() {
            run.push(ch);
            continue;
        }
        out.push_str(if run.len() >= 32 { "<HEX>" } else { &run });
        run.clear();
        out.push(ch);
    }
    out
}

#[test]
fn logrus_times_are_not_a_difference() {
    let spell = |message: &str| {
        same_spelling(message, "h:1/acme/app:1.0", "h:1/acme/none:1.0", Path::new("/scratch"))
    };
    let at = |time: &str| format!("time=\"{time}\" level=fatal msg=\"denied\"\n");
    assert_eq!(spell(&at("2026-11-24T13:15:53Z")), spell(&at("2026-11-24T13:15:54Z")));
    assert_ne!(spell(&at("x")), spell("time=\"x\" level=fatal msg=\"unknown\"\n"));
}

fn assert_alike(
    client: &str,
    hidden: (&str, Result<impl std::fmt::Debug, String>),
    absent: (&str, Result<impl std::fmt::Debug, String>),
    scratch: &Path,
) {
    let hidden_err = hidden.1.expect_err(&format!("{client}: {} must fail", hidden.0));
    let absent_err = absent.1.expect_err(&format!("{client}: {} must fail", absent.0));
    assert_eq!(
        same_spelling(&hidden_err, hidden.0, absent.0, scratch),
        same_spelling(&absent_err, hidden.0, absent.0, scratch),
        "{client}: {} must fail exactly like {}",
        hidden.0,
        absent.0
    );
}

#[tokio::test]
async fn clients_pull_what_is_entitled_and_fail_for_the_rest_like_for_nothing() {
    let scratch = client_scratch();
    let dir = scratch.path();
    let url = fresh_database().await;
    let out = wharf_e2e::run_wharf(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", out.stderr);
    let pool = PgPool::connect(&url).await.unwrap();
    let (acme, acme_owner) = wharf_e2e::organization_with_owner(&pool, "acme").await;
    let (rival, rival_owner) = wharf_e2e::organization_with_owner(&pool, "rival").await;
    let options = ServeOptions { database_url: Some(url), ..Default::default() };
    let wharf = Wharf::start(&dir.join("wharf"), &options).await;
    let host = wharf.url.trim_start_matches("http://").to_owned();
    let (_, vendor) =
        insert_token(&pool, acme, TokenOwner::Vendor { user_id: acme_owner, read_only: false })
            .await;
    let (_, rival_vendor) =
        insert_token(&pool, rival, TokenOwner::Vendor { user_id: rival_owner, read_only: false })
            .await;

    // The vendor pushes with the clients themselves.
    let docker = Docker::start(&dir.join("docker"));
    docker.login(&host, "ci", &vendor);
    let app = format!("{host}/acme/app");
    for tag in ["1.2.0", "2.0.0", "1.3.0-rc.1"] {
        let tar = fixtures::single_file_tar(&dir.join(format!("fixture-{tag}")));
        let reference = format!("{app}:{tag}");
        docker.import(&tar, &reference);
        docker.push(&reference);
        docker.remove(&reference);
    }
    let tar = fixtures::single_file_tar(&dir.join("fixture-other"));
    docker.import(&tar, &format!("{host}/acme/other:1.0.0"));
    docker.push(&format!("{host}/acme/other:1.0.0"));
    docker.remove(&format!("{host}/acme/other:1.0.0"));
    RawRegistry::with_token(&wharf.url, &rival_vendor)
        .push_image("rival/app", Some("1.0.0"), None)
        .await;

    let helm = Helm::new(&dir.join("helm"));
    helm.login(&host, "ci", &vendor);
    for version in ["0.1.0", "0.2.0"] {
        let chart_dir = fixtures::helm_chart(&dir.join(format!("chart-{version}")), "app", version);
        helm.push(&helm.package(&chart_dir), &format!("oci://{host}/acme/charts"));
    }
    let oras = Oras::new(&dir.join("oras"), &host, OrasAuth::Token);
    oras.login("ci", &vendor);
    let file = |text: &str| ArtifactFile {
        name: "notes.txt".into(),
        contents: text.as_bytes().to_vec(),
        media_type: "text/plain".into(),
    };
    oras.push("acme/app:1.4.0", &[file("one four")], None, None, None);
    oras.push("acme/app:2.1.0", &[file("two one")], None, None, None);

    // The customer and its license.
    let globex = customers::create(&pool, acme, "Globex").await.unwrap();
    let semver = TagSelectorSpec::Semver {
        range: ">=1.0.0 <2.0.0".into(),
        allow_v_prefix: false,
        include_prereleases: false,
    }
    .validate()
    .unwrap();
    let grants = [
        Grant::new("acme", "acme/app", semver, None, None).unwrap(),
        Grant::new("acme", "acme/charts/app", TagSelector::exact(["0.1.0"]).unwrap(), None, None)
            .unwrap(),
    ];
    let input = LicenseInput {
        name: "Gold",
        starts_at: OffsetDateTime::now_utc() - time::Duration::days(1),
        expires_at: None,
        on_expiry: ExpiryPolicy::Revoke,
        suspended: false,
        notes: "",
        grants: &grants,
    };
    licenses::create(&pool, acme, globex.id, &input).await.unwrap().unwrap();
    let (_, customer) =
        insert_token(&pool, acme, TokenOwner::Customer { customer_id: globex.id }).await;

    // Same clients, now logged in as the customer.
    docker.login(&host, "globex", &customer);
    helm.login(&host, "globex", &customer);
    oras.login("globex", &customer);
    let podman = Podman::new(&dir.join("podman"));
    podman.login(&host, "globex", &customer);
    let skopeo = Skopeo::new(&dir.join("skopeo"));
    skopeo.login(&host, "globex", &customer);

    let entitled = format!("{app}:1.2.0");
    let digest = docker.pull(&entitled);
    assert_eq!(podman.pull(&entitled), digest, "podman");
    assert_eq!(skopeo.digest(&entitled), digest, "skopeo");
    assert_eq!(docker.pull(&format!("{app}@{digest}")), digest, "by digest");
    let chart = format!("oci://{host}/acme/charts/app");
    let archive = helm.pull(&chart, "0.1.0");
    assert!(std::fs::metadata(&archive).unwrap().len() > 0, "helm");
    assert_eq!(helm.tags(&chart), vec!["0.1.0".to_owned()], "helm lists only what it may pull");
    let pulled = oras.pull("acme/app:1.4.0");
    assert_eq!(std::fs::read_to_string(&pulled.files[0]).unwrap(), "one four", "oras");

    let refused = [
        (format!("{app}:2.0.0"), format!("{app}:9.9.9")),
        (format!("{app}:1.3.0-rc.1"), format!("{app}:9.9.9")),
        (format!("{host}/acme/other:1.0.0"), format!("{host}/acme/nothing:1.0.0")),
        (format!("{host}/rival/app:1.0.0"), format!("{host}/rival/nothing:1.0.0")),
    ];
    for (hidden, absent) in &refused {
        assert_alike(
            "docker",
            (hidden, docker.try_pull(hidden)),
            (absent, docker.try_pull(absent)),
            dir,
        );
        assert_alike(
            "podman",
            (hidden, podman.try_pull(hidden)),
            (absent, podman.try_pull(absent)),
            dir,
        );
        assert_alike(
            "skopeo",
            (hidden, skopeo.try_raw_manifest(hidden)),
            (absent, skopeo.try_raw_manifest(absent)),
            dir,
        );
    }
    assert_alike(
        "helm",
        ("0.2.0", helm.try_pull(&chart, "0.2.0")),
        ("9.9.9", helm.try_pull(&chart, "9.9.9")),
        dir,
    );
    assert_alike(
        "oras",
        ("acme/app:2.1.0", oras.try_pull("acme/app:2.1.0")),
        ("acme/app:9.9.9", oras.try_pull("acme/app:9.9.9")),
        dir,
    );
    assert_alike(
        "oras (another vendor)",
        ("rival/app:1.0.0", oras.try_pull("rival/app:1.0.0")),
        ("rival/nothing:1.0.0", oras.try_pull("rival/nothing:1.0.0")),
        dir,
    );
}
