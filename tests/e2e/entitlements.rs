//! Entitlements enforced by the real binary on every path of the protocol, over raw HTTP so
//! every answer can be compared byte for byte: a customer sees exactly what its licenses
//! grant, anything else answers exactly like something that does not exist, and every change
//! (license edited, suspended, expired; token revoked; repository made public) changes the
//! very next answer.
//!
//! The world: vendor `acme` pushes `acme/app` (1.0.0, 1.2.0, 2.0.0, 1.3.0-rc.1, `latest`, a
//! two-platform index 1.5.0, an SBOM referring to 1.2.0 and one referring to 2.0.0),
//! `acme/other:1.0.0` and `acme/charts/app` (0.1.0, 0.2.0); vendor `rival` pushes
//! `rival/app:1.0.0`. Customer Globex of acme holds one license: `>=1.0.0 <2.0.0` on
//! `acme/app` and exactly `0.1.0` on `acme/charts/*`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use uuid::Uuid;
use wharf_db::{
    PgPool, customers,
    licenses::{self, LicenseInput},
    tokens::{self, TokenOwner},
};
use wharf_e2e::{
    ServeOptions, Wharf, fresh_database, insert_token,
    raw::{Answer, Image, RawRegistry},
    scratch_dir,
};
use wharf_entitlements::{ExpiryPolicy, Grant, TagSelector};

struct Content {
    v1_0_0: Image,
    v1_2_0: Image,
    v2_0_0: Image,
    rc: Image,
    index: String,
    children: [Image; 2],
    sbom: Image,
    sbom_hidden: Image,
    other: Image,
    chart_0_1_0: Image,
    chart_0_2_0: Image,
    rival: Image,
}

struct World {
    _scratch: tempfile::TempDir,
    wharf: Wharf,
    database_url: String,
    vendor_token: String,
    pool: PgPool,
    acme: Uuid,
    customer: Uuid,
    token_id: Uuid,
    token: String,
    license: Uuid,
    content: Content,
}

fn semver(range: &str) -> TagSelector {
    wharf_entitlements::TagSelectorSpec::Semver {
        range: range.into(),
        allow_v_prefix: false,
        include_prereleases: false,
    }
    .validate()
    .unwrap()
}

fn standard_grants() -> Vec<Grant> {
    vec![
        Grant::new("acme", "acme/app", semver(">=1.0.0 <2.0.0"), None, None).unwrap(),
        Grant::new("acme", "acme/charts/*", TagSelector::exact(["0.1.0"]).unwrap(), None, None)
            .unwrap(),
    ]
}

fn license_input(grants: &[Grant]) -> LicenseInput<'_> {
    LicenseInput {
        name: "Gold",
        starts_at: OffsetDateTime::now_utc() - time::Duration::days(1),
        expires_at: None,
        on_expiry: ExpiryPolicy::Revoke,
        suspended: false,
        notes: "",
        grants,
    }
}

async fn world() -> World {
    let scratch = scratch_dir();
    let url = fresh_database().await;
    let out = wharf_e2e::run_wharf(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", out.stderr);
    let pool = PgPool::connect(&url).await.unwrap();
    let (acme, acme_owner) = wharf_e2e::organization_with_owner(&pool, "acme").await;
    let (rival, rival_owner) = wharf_e2e::organization_with_owner(&pool, "rival").await;
    let options = ServeOptions { database_url: Some(url.clone()), ..Default::default() };
    let wharf = Wharf::start(&scratch.path().join("data"), &options).await;

    let vendor_owner = TokenOwner::Vendor { user_id: acme_owner, read_only: false };
    let (_, acme_token) = insert_token(&pool, acme, vendor_owner).await;
    let vendor = RawRegistry::with_token(&wharf.url, &acme_token);
    let rival_owner = TokenOwner::Vendor { user_id: rival_owner, read_only: false };
    let (_, rival_token) = insert_token(&pool, rival, rival_owner).await;
    let rival_vendor = RawRegistry::with_token(&wharf.url, &rival_token);

    let app = "acme/app";
    let v1_0_0 = vendor.push_image(app, Some("1.0.0"), None).await;
    let v1_2_0 = vendor.push_image(app, Some("1.2.0"), None).await;
    let v2_0_0 = vendor.push_image(app, Some("2.0.0"), None).await;
    let rc = vendor.push_image(app, Some("1.3.0-rc.1"), None).await;
    let bytes = vendor.get(&format!("/v2/{app}/manifests/1.2.0")).await.body;
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    let latest = vendor.push_manifest(app, "latest", media_type, &bytes).await;
    assert_eq!(latest, v1_2_0.manifest, "latest is 1.2.0 by digest");
    let children =
        [vendor.push_image(app, None, None).await, vendor.push_image(app, None, None).await];
    let index = vendor.push_index(app, "1.5.0", &[&children[0], &children[1]]).await;
    let sbom_type = Some((v1_2_0.manifest.as_str(), "application/spdx+json"));
    let sbom = vendor.push_image(app, None, sbom_type).await;
    let hidden_type = Some((v2_0_0.manifest.as_str(), "application/spdx+json"));
    let sbom_hidden = vendor.push_image(app, None, hidden_type).await;
    let other = vendor.push_image("acme/other", Some("1.0.0"), None).await;
    let chart_0_1_0 = vendor.push_image("acme/charts/app", Some("0.1.0"), None).await;
    let chart_0_2_0 = vendor.push_image("acme/charts/app", Some("0.2.0"), None).await;
    let rival_image = rival_vendor.push_image("rival/app", Some("1.0.0"), None).await;

    let globex = customers::create(&pool, acme, "Globex").await.unwrap();
    let grants = standard_grants();
    let license =
        licenses::create(&pool, acme, globex.id, &license_input(&grants)).await.unwrap().unwrap();
    let owner = TokenOwner::Customer { customer_id: globex.id };
    let (token_id, token) = insert_token(&pool, acme, owner).await;
    World {
        _scratch: scratch,
        wharf,
        database_url: url,
        vendor_token: acme_token,
        pool,
        acme,
        customer: globex.id,
        token_id,
        token,
        license: license.id,
        content: Content {
            v1_0_0,
            v1_2_0,
            v2_0_0,
            rc,
            index,
            children,
            sbom,
            sbom_hidden,
            other,
            chart_0_1_0,
            chart_0_2_0,
            rival: rival_image,
        },
    }
}

impl World {
    fn vendor(&self) -> RawRegistry {
        RawRegistry::with_token(&self.wharf.url, &self.vendor_token)
    }

    fn customer(&self) -> RawRegistry {
        RawRegistry::with_token(&self.wharf.url, &self.token)
    }

    /// A registry client holding a bearer token for `scope`, obtained like clients do.
    async fn bearer(&self, scope: &str) -> RawRegistry {
        let jwt = wharf_e2e::bearer_token(&self.wharf, &self.token, scope).await;
        RawRegistry::with_authorization(&self.wharf.url, Some(format!("Bearer {jwt}")))
    }

    async fn access_granted(&self, token: Option<&str>, scope: &str) -> serde_json::Value {
        let mut request =
            reqwest::Client::new().get(format!("{}/token?scope={scope}", self.wharf.url));
        if let Some(token) = token {
            request = request.basic_auth("ci", Some(token));
        }
        let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
        let jwt = body["token"].as_str().expect("a token");
        let payload = jwt.split('.').nth(1).unwrap();
        use base64::Engine;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
        serde_json::from_slice::<serde_json::Value>(&claims).unwrap()["access"].clone()
    }

    async fn set_license(&self, input: &LicenseInput<'_>) {
        licenses::replace(&self.pool, self.acme, self.license, input).await.unwrap().unwrap();
    }
}

/// Waits up to a second for `check` to hold; returns how long it took.
async fn within_a_second<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(1), "{what}: not within a second");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

fn manifest(repo: &str, reference: &str) -> String {
    format!("/v2/{repo}/manifests/{reference}")
}

fn blob(repo: &str, digest: &str) -> String {
    format!("/v2/{repo}/blobs/{digest}")
}

const UNKNOWN_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[tokio::test]
async fn a_customer_sees_exactly_what_its_license_grants_and_hidden_looks_absent() {
    let w = world().await;
    let c = &w.content;
    let app = "acme/app";
    for customer in [w.customer(), w.bearer("repository:acme/app:pull").await] {
        // Entitled: by tag, by digest, index children, referrers of entitled manifests.
        for reference in ["1.0.0", "1.2.0", "1.5.0"] {
            let got = customer.get(&manifest(app, reference)).await;
            assert_eq!(got.status, 200, "{reference}");
        }
        for digest in [&c.v1_2_0.manifest, &c.index, &c.children[0].manifest, &c.sbom.manifest] {
            assert_eq!(customer.get(&manifest(app, digest)).await.status, 200, "{digest}");
            assert_eq!(customer.head(&manifest(app, digest)).await.status, 200, "{digest}");
        }
        for digest in [&c.v1_2_0.layer, &c.v1_2_0.config, &c.children[1].layer] {
            assert_eq!(customer.get(&blob(app, digest)).await.status, 200, "{digest}");
        }
        let ranged = customer.get_range(&blob(app, &c.v1_2_0.layer), "bytes=0-4").await;
        assert_eq!((ranged.status, ranged.body.as_slice()), (206, &b"layer"[..]));

        // Hidden tags answer exactly like a tag that does not exist.
        let absent = customer.get(&manifest(app, "9.9.9")).await;
        assert_eq!((absent.status, absent.code().as_deref()), (404, Some("MANIFEST_UNKNOWN")));
        for hidden in ["2.0.0", "1.3.0-rc.1", "latest"] {
            assert_eq!(customer.get(&manifest(app, hidden)).await, absent, "{hidden}");
            let head = customer.head(&manifest(app, hidden)).await;
            assert_eq!(head, customer.head(&manifest(app, "9.9.9")).await, "HEAD {hidden}");
        }
        // Hidden manifests and blobs, by digest: exactly like unknown digests.
        let absent = customer.get(&manifest(app, UNKNOWN_DIGEST)).await;
        for digest in [&c.v2_0_0.manifest, &c.rc.manifest, &c.sbom_hidden.manifest] {
            assert_eq!(customer.get(&manifest(app, digest)).await, absent, "{digest}");
        }
        let absent = customer.get(&blob(app, UNKNOWN_DIGEST)).await;
        assert_eq!((absent.status, absent.code().as_deref()), (404, Some("BLOB_UNKNOWN")));
        for digest in [&c.v2_0_0.layer, &c.v2_0_0.config, &c.rc.layer] {
            assert_eq!(customer.get(&blob(app, digest)).await, absent, "{digest}");
            let ranged = customer.get_range(&blob(app, digest), "bytes=0-4").await;
            assert_eq!(ranged, customer.get_range(&blob(app, UNKNOWN_DIGEST), "bytes=0-4").await);
        }

        // Listings are filtered before paging.
        let tags = customer.get(&format!("/v2/{app}/tags/list")).await;
        assert_eq!(tags.json()["tags"], serde_json::json!(["1.0.0", "1.2.0", "1.5.0"]));
        let page = customer.get(&format!("/v2/{app}/tags/list?n=2")).await;
        assert_eq!(page.json()["tags"], serde_json::json!(["1.0.0", "1.2.0"]));
        let link = page.link.expect("a Link to the next page");
        assert!(link.contains("last=1.2.0"), "{link}");
        let next = customer.get(&format!("/v2/{app}/tags/list?n=2&last=1.2.0")).await;
        assert_eq!(next.json()["tags"], serde_json::json!(["1.5.0"]));
        assert_eq!(next.link, None, "no page reveals a hidden tag");

        let referrers = customer.get(&format!("/v2/{app}/referrers/{}", c.v1_2_0.manifest)).await;
        let listed: Vec<String> = referrers.json()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, vec![c.sbom.manifest.clone()], "the SBOM of 1.2.0, nothing else");
        let empty = customer.get(&format!("/v2/{app}/referrers/{UNKNOWN_DIGEST}")).await;
        assert_eq!(empty.status, 200);
        let hidden = customer.get(&format!("/v2/{app}/referrers/{}", c.v2_0_0.manifest)).await;
        assert_eq!(hidden.body, empty.body, "a hidden subject's referrers: an empty index");
    }

    // Charts: only the exact version granted.
    let customer = w.customer();
    // A blob is visible only in the repository whose entitled manifest uses it.
    let elsewhere = customer.get(&blob("acme/charts/app", &c.v1_2_0.layer)).await;
    assert_eq!(elsewhere.code().as_deref(), Some("BLOB_UNKNOWN"));
    let chart = "acme/charts/app";
    assert_eq!(customer.get(&manifest(chart, "0.1.0")).await.status, 200);
    assert_eq!(customer.get(&manifest(chart, &c.chart_0_1_0.manifest)).await.status, 200);
    let absent = customer.get(&manifest(chart, "9.9.9")).await;
    assert_eq!(customer.get(&manifest(chart, "0.2.0")).await, absent);
    let absent = customer.get(&manifest(chart, UNKNOWN_DIGEST)).await;
    assert_eq!(customer.get(&manifest(chart, &c.chart_0_2_0.manifest)).await, absent);

    // The catalog lists the repositories with something to pull, nothing else.
    let catalog = customer.get("/v2/_catalog").await;
    assert_eq!(catalog.json()["repositories"], serde_json::json!(["acme/app", "acme/charts/app"]));
    let bearer = w.bearer("registry:catalog:*").await;
    assert_eq!(bearer.get("/v2/_catalog").await.json(), catalog.json());
}

#[tokio::test]
async fn other_repositories_and_vendors_answer_like_names_that_do_not_exist() {
    let w = world().await;
    let c = &w.content;
    // The token service grants nothing on them, exactly as for a name that does not exist.
    let none = w.access_granted(Some(&w.token), "repository:acme/nothing:pull").await;
    assert_eq!(none, serde_json::json!([]));
    for scope in
        ["repository:acme/other:pull", "repository:rival/app:pull", "repository:rival/nothing:pull"]
    {
        assert_eq!(w.access_granted(Some(&w.token), scope).await, none, "{scope}");
    }
    let granted = w.access_granted(Some(&w.token), "repository:acme/app:pull,push").await;
    assert_eq!(
        granted,
        serde_json::json!([{"type": "repository", "name": "acme/app", "actions": ["pull"]}])
    );

    // With Basic credentials straight on /v2, the same: every request is refused alike.
    let customer = w.customer();
    for (repo, reference, digest) in
        [("acme/other", "1.0.0", &c.other.manifest), ("rival/app", "1.0.0", &c.rival.manifest)]
    {
        let nowhere = repo.replace("other", "nothing").replace("rival/app", "rival/nothing");
        for (path, absent) in [
            (manifest(repo, reference), manifest(&nowhere, reference)),
            (manifest(repo, digest), manifest(&nowhere, digest)),
            (format!("/v2/{repo}/tags/list"), format!("/v2/{nowhere}/tags/list")),
        ] {
            let got = customer.get(&path).await;
            let want = customer.get(&absent).await;
            assert_eq!((got.status, got.code()), (want.status, want.code()), "{path}");
            assert_eq!(got.status, 401, "{path}");
        }
    }
}

#[tokio::test]
async fn license_changes_take_effect_on_the_next_request() {
    let w = world().await;
    let c = &w.content;
    let customer = w.bearer("repository:acme/app:pull").await;
    let tag = manifest("acme/app", "1.2.0");
    let layer = blob("acme/app", &c.v1_2_0.layer);
    assert_eq!(customer.get(&tag).await.status, 200);

    // Suspended: nothing, even with the bearer token issued before.
    let grants = standard_grants();
    let mut input = license_input(&grants);
    input.suspended = true;
    w.set_license(&input).await;
    let took =
        within_a_second("suspension", || async { customer.get(&tag).await.status == 404 }).await;
    assert_eq!(customer.get(&layer).await.status, 404);
    assert_eq!(
        w.access_granted(Some(&w.token), "repository:acme/app:pull").await,
        serde_json::json!([])
    );
    println!("suspension took effect after {took:?}");

    // Resumed, with the range widened to 2.x.
    let wider = vec![Grant::new("acme", "acme/app", semver(">=1.0.0 <3.0.0"), None, None).unwrap()];
    w.set_license(&license_input(&wider)).await;
    within_a_second("widening", || async {
        customer.get(&manifest("acme/app", "2.0.0")).await.status == 200
    })
    .await;
    assert_eq!(customer.get(&tag).await.status, 200);

    // Expired with `revoke`: nothing. (It expires now, after everything above was pushed.)
    let mut expired = license_input(&wider);
    expired.expires_at = Some(OffsetDateTime::now_utc());
    w.set_license(&expired).await;
    within_a_second("expiry (revoke)", || async { customer.get(&tag).await.status == 404 }).await;

    // Expired with `keep_released`: what was pushed before expiry, nothing pushed later.
    expired.on_expiry = ExpiryPolicy::KeepReleased;
    w.set_license(&expired).await;
    within_a_second("expiry (keep_released)", || async { customer.get(&tag).await.status == 200 })
        .await;
    let vendor = w.vendor();
    let late = vendor.push_image("acme/app", Some("1.9.0"), None).await;
    // The re-tag of 1.0.0 after expiry hides 1.0.0 (its push time is now after expiry).
    vendor.push_image("acme/app", Some("1.0.0"), None).await;
    within_a_second("a push after expiry is not released", || async {
        customer.get(&manifest("acme/app", "1.0.0")).await.status == 404
    })
    .await;
    assert_eq!(customer.get(&manifest("acme/app", "1.9.0")).await.status, 404);
    assert_eq!(customer.get(&manifest("acme/app", &late.manifest)).await.status, 404);
    assert_eq!(customer.get(&tag).await.status, 200, "released before expiry");
    assert_eq!(customer.get(&manifest("acme/app", "2.0.0")).await.status, 200);
    let tags = customer.get("/v2/acme/app/tags/list").await.json();
    assert_eq!(tags["tags"], serde_json::json!(["1.2.0", "1.5.0", "2.0.0"]));
    // The old 1.0.0 digest stays pullable for the re-tag grace window (in-flight pulls).
    assert_eq!(customer.get(&manifest("acme/app", &c.v1_0_0.manifest)).await.status, 200);

    // Deleted: nothing.
    assert!(licenses::delete(&w.pool, w.acme, w.license).await.unwrap());
    within_a_second("deletion", || async { customer.get(&tag).await.status == 404 }).await;
    assert_eq!(
        customer.get("/v2/acme/app/tags/list").await.code().as_deref(),
        Some("NAME_UNKNOWN")
    );
}

#[tokio::test]
async fn a_license_that_starts_later_or_expires_soon_changes_with_the_clock() {
    let w = world().await;
    let customer = w.bearer("repository:acme/app:pull").await;
    let tag = manifest("acme/app", "1.2.0");
    let grants = standard_grants();
    let mut input = license_input(&grants);
    let now = OffsetDateTime::now_utc();
    input.starts_at = now + time::Duration::seconds(2);
    w.set_license(&input).await;
    within_a_second("not started", || async { customer.get(&tag).await.status == 404 }).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // The bearer token was issued before the license started: it was granted nothing.
    let fresh = w.bearer("repository:acme/app:pull").await;
    assert_eq!(fresh.get(&tag).await.status, 200, "started");

    input.starts_at = now - time::Duration::days(1);
    input.expires_at = Some(OffsetDateTime::now_utc() + time::Duration::seconds(2));
    w.set_license(&input).await;
    within_a_second("still active", || async { fresh.get(&tag).await.status == 200 }).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(fresh.get(&tag).await.status, 404, "expired on the clock, no change needed");
}

#[tokio::test]
async fn revoking_the_token_or_disabling_the_customer_stops_the_next_pull() {
    let w = world().await;
    let customer = w.bearer("repository:acme/app:pull").await;
    let basic = w.customer();
    let tag = manifest("acme/app", "1.2.0");
    assert_eq!(customer.get(&tag).await.status, 200);
    assert!(
        customers::update(&w.pool, w.acme, w.customer, None, Some(true)).await.unwrap().is_some()
    );
    within_a_second("disabled", || async { customer.get(&tag).await.status == 401 }).await;
    assert_eq!(basic.get(&tag).await.status, 401);
    assert!(
        customers::update(&w.pool, w.acme, w.customer, None, Some(false)).await.unwrap().is_some()
    );
    assert_eq!(basic.get(&tag).await.status, 200, "enabled again");

    let customer = w.bearer("repository:acme/app:pull").await;
    assert!(
        tokens::revoke(&w.pool, w.acme, tokens::RevokeScope::AnyCustomer, w.token_id)
            .await
            .unwrap()
            .is_some()
    );
    within_a_second("revoked", || async { customer.get(&tag).await.status == 401 }).await;
    assert_eq!(basic.get(&tag).await.status, 401);
}

#[tokio::test]
async fn a_public_repository_is_pullable_by_anyone_and_only_it() {
    let w = world().await;
    let c = &w.content;
    let anonymous = RawRegistry::with_authorization(&w.wharf.url, None);
    let path = manifest("acme/other", "1.0.0");
    assert_eq!(anonymous.get(&path).await.status, 401);
    assert_eq!(w.access_granted(None, "repository:acme/other:pull").await, serde_json::json!([]));

    let visibility = |repository: &str, visibility: &str| {
        let args =
            ["admin", "set-visibility", "--repository", repository, "--visibility", visibility];
        wharf_e2e::run_wharf(&args, &[("DATABASE_URL", &w.database_url)])
    };
    let unknown = visibility("acme/nothing", "public");
    assert!(!unknown.status.success());
    assert!(unknown.stderr.contains("no repository acme/nothing"), "{}", unknown.stderr);
    let done = visibility("acme/other", "public");
    assert!(done.status.success(), "{}", done.stderr);
    let granted = w.access_granted(None, "repository:acme/other:pull,push").await;
    assert_eq!(
        granted,
        serde_json::json!([{"type": "repository", "name": "acme/other", "actions": ["pull"]}])
    );
    let body: serde_json::Value =
        reqwest::get(format!("{}/token?scope=repository:acme/other:pull", w.wharf.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let anonymous = RawRegistry::with_authorization(
        &w.wharf.url,
        Some(format!("Bearer {}", body["token"].as_str().unwrap())),
    );
    assert_eq!(anonymous.get(&path).await.status, 200);
    assert_eq!(anonymous.get(&blob("acme/other", &c.other.layer)).await.status, 200);
    assert_eq!(
        anonymous.get("/v2/acme/other/tags/list").await.json()["tags"],
        serde_json::json!(["1.0.0"])
    );
    // Only that repository: nothing else is granted, and the customer now sees it too.
    assert_eq!(w.access_granted(None, "repository:acme/app:pull").await, serde_json::json!([]));
    assert_eq!(w.customer().get(&path).await.status, 200);

    // Made private again: the anonymous bearer token stops working at once.
    assert!(visibility("acme/other", "private").status.success());
    within_a_second("private again", || async { anonymous.get(&path).await.status == 404 }).await;

    // Both changes are in the audit log, with the settings before and after.
    let changes: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "select target, detail from audit_log where action = 'repository.visibility' order by id",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    let public = serde_json::json!({"before": "private", "after": "public"});
    let private = serde_json::json!({"before": "public", "after": "private"});
    assert_eq!(changes, [("acme/other".to_owned(), public), ("acme/other".to_owned(), private)]);
}

#[tokio::test]
async fn a_re_tagged_digest_stays_pullable_for_the_grace_window_only_if_it_was_entitled() {
    let w = world().await;
    let c = &w.content;
    let customer = w.bearer("repository:acme/app:pull").await;
    let vendor = w.vendor();
    let moved = vendor.push_image("acme/app", Some("1.2.0"), None).await;
    within_a_second("new 1.2.0", || async {
        customer.get(&manifest("acme/app", "1.2.0")).await.digest.as_deref()
            == Some(moved.manifest.as_str())
    })
    .await;
    // The old digest of an entitled tag: still there for in-flight pulls, with its blobs.
    assert_eq!(customer.get(&manifest("acme/app", &c.v1_2_0.manifest)).await.status, 200);
    assert_eq!(customer.get(&blob("acme/app", &c.v1_2_0.layer)).await.status, 200);
    // Re-tagging 2.0.0 gives nothing: it was never entitled.
    vendor.push_image("acme/app", Some("2.0.0"), None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(customer.get(&manifest("acme/app", &c.v2_0_0.manifest)).await.status, 404);
    let answer: Answer = customer.get(&manifest("acme/app", "2.0.0")).await;
    assert_eq!(answer.status, 404);
}
