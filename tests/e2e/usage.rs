//! Usage analytics against the real binary and Postgres: pull events (one per manifest GET,
//! never HEAD; index and child rolled up; client kind and address), version checks (manifest
//! HEADs no GET followed, daily counters), bytes served, history after the customer is gone,
//! and pulls unaffected by a stalled database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant},
};

use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_db::{
    PgPool, accounts, customers,
    licenses::{self, LicenseInput},
    tokens::TokenOwner,
};
use wharf_e2e::{
    Wharf,
    clients::{
        client_scratch,
        docker::Docker,
        fixtures,
        oras::{ArtifactFile, Oras, OrasAuth},
        skopeo::Skopeo,
    },
    insert_token,
    raw::RawRegistry,
    scratch_dir, wharf_with_vendor_token,
};
use wharf_entitlements::{ExpiryPolicy, Grant, TagSelector};

/// Version checks counted: (repository, reference, client kind) → checks, for `org`.
async fn version_checks(pool: &PgPool, org: Uuid) -> HashMap<(String, String, String), i64> {
    sqlx::query(
        "select repository, reference, client_kind, checks from version_checks_daily
         where organization_id = $1",
    )
    .bind(org)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
    .collect()
}

/// Waits (at most 10 s) until the version checks of `org` add up to `total`, and returns them.
async fn wait_for_checks(
    pool: &PgPool,
    org: Uuid,
    total: i64,
) -> HashMap<(String, String, String), i64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = version_checks(pool, org).await;
        if found.values().sum::<i64>() >= total {
            return found;
        }
        assert!(Instant::now() < deadline, "version checks: {found:?}, expected {total}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A running Wharf with a customer licensed for every repository of `vendor`.
struct Setup {
    wharf: Wharf,
    pool: PgPool,
    org: Uuid,
    vendor_token: String,
    customer_id: Uuid,
    customer_token: String,
}

async fn setup(dir: &Path, env: &[(&str, &str)]) -> Setup {
    let env: HashMap<String, String> =
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let (wharf, vendor_token) = wharf_with_vendor_token(dir, env).await;
    let url = wharf.options().database_url.clone().unwrap();
    let pool = PgPool::connect(&url).await.unwrap();
    let org = accounts::find_organization(&pool, "vendor").await.unwrap().unwrap().id;
    let customer = customers::create(&pool, org, "Initech").await.unwrap();
    let grants = [Grant::new("vendor", "vendor/*", TagSelector::all(), None, None).unwrap()];
    let input = LicenseInput {
        name: "All",
        starts_at: OffsetDateTime::now_utc() - time::Duration::days(1),
        expires_at: None,
        on_expiry: ExpiryPolicy::Revoke,
        suspended: false,
        notes: "",
        grants: &grants,
    };
    licenses::create(&pool, org, customer.id, &input).await.unwrap().unwrap();
    let (_, customer_token) =
        insert_token(&pool, org, TokenOwner::Customer { customer_id: customer.id }).await;
    Setup { wharf, pool, org, vendor_token, customer_id: customer.id, customer_token }
}

/// A pull event as stored.
#[derive(Debug, Clone)]
struct Event {
    id: Uuid,
    customer_id: Option<Uuid>,
    customer_name: Option<String>,
    token_name: Option<String>,
    reference: String,
    digest: String,
    tags: Vec<String>,
    media_type: String,
    platform: Option<String>,
    parent_id: Option<Uuid>,
    client_addr: Option<String>,
    user_agent: Option<String>,
    client_kind: String,
    requests: i32,
}

/// The GETs the events stand for (identical GETs in one second are one event).
fn gets<'a>(events: impl IntoIterator<Item = &'a Event>) -> usize {
    events.into_iter().map(|e| e.requests as usize).sum()
}

async fn events(pool: &PgPool, org: Uuid) -> Vec<Event> {
    sqlx::query(
        "select id, customer_id, customer_name, token_name, reference, digest, tags, media_type,
                platform_os || '/' || platform_arch as platform, parent_id,
                host(client_addr) as client_addr, user_agent, client_kind, requests
         from pull_events where organization_id = $1 order by at, id",
    )
    .bind(org)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| Event {
        id: r.get("id"),
        customer_id: r.get("customer_id"),
        customer_name: r.get("customer_name"),
        token_name: r.get("token_name"),
        reference: r.get("reference"),
        digest: r.get("digest"),
        tags: r.get("tags"),
        media_type: r.get("media_type"),
        platform: r.get("platform"),
        parent_id: r.get("parent_id"),
        client_addr: r.get("client_addr"),
        user_agent: r.get("user_agent"),
        client_kind: r.get("client_kind"),
        requests: r.get("requests"),
    })
    .collect()
}

/// Waits until `done` holds for the events (the recorder writes at least every second).
async fn wait_for_events(pool: &PgPool, org: Uuid, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = events(pool, org).await;
        if done(&found) {
            return found;
        }
        assert!(Instant::now() < deadline, "events never matched: {found:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Bytes served per digest for the customer's token.
async fn bytes_served(pool: &PgPool, org: Uuid) -> HashMap<String, (i64, i64)> {
    sqlx::query("select digest, bytes, requests from blob_bytes_daily where organization_id = $1")
        .bind(org)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get("digest"), (r.get("bytes"), r.get("requests"))))
        .collect()
}

#[tokio::test]
async fn docker_pull_of_a_multi_platform_image_is_one_pull_with_its_platform() {
    let scratch = client_scratch();
    let dir = scratch.path();
    let s = setup(&dir.join("wharf"), &[]).await;
    let host = s.wharf.url.trim_start_matches("http://").to_owned();
    let layout = fixtures::multi_platform_layout(&dir.join("layout"), "multi");
    let skopeo = Skopeo::new(&dir.join("skopeo"));
    skopeo.login(&host, "ci", &s.vendor_token);
    let reference = format!("{host}/vendor/multi:1.0");
    let pushed = skopeo.push_layout(&layout.dir, &layout.tag, &reference);
    assert_eq!(pushed, layout.index_digest);
    // The vendor's own pulls through skopeo's push are HEADs and blob checks: no events yet
    // beyond what skopeo GETs; start counting from the customer's pull.
    let before = events(&s.pool, s.org).await.len();

    let docker = Docker::start(&dir.join("docker"));
    docker.login(&host, "initech", &s.customer_token);
    let pulled = docker.pull(&reference);
    assert_eq!(pulled, layout.index_digest);

    let amd64 = layout.manifests.iter().find(|(p, _)| p == "linux/amd64").unwrap().1.clone();
    wait_for_events(&s.pool, s.org, |e| {
        e.iter().filter(|e| e.customer_id == Some(s.customer_id)).count() >= 2
    })
    .await;
    // Let a late event arrive if there were one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all: Vec<Event> = events(&s.pool, s.org).await.into_iter().skip(before).collect();
    let customer: Vec<&Event> =
        all.iter().filter(|e| e.customer_id == Some(s.customer_id)).collect();
    assert_eq!(customer.len(), 2, "index and platform manifest: {customer:#?}");
    assert_eq!(gets(customer.iter().copied()), 2, "one GET each: {customer:#?}");
    let index = customer.iter().find(|e| e.digest == layout.index_digest).expect("index GET");
    let child = customer.iter().find(|e| e.digest == amd64).expect("amd64 manifest GET");
    let pulls: Vec<_> = customer.iter().filter(|e| e.parent_id.is_none()).collect();
    assert_eq!(pulls.len(), 1, "one pull in reports: {customer:#?}");
    assert_eq!(pulls[0].id, index.id);
    assert_eq!(child.parent_id, Some(index.id), "the child rolls up into the index pull");
    assert_eq!(child.platform.as_deref(), Some("linux/amd64"));
    // dockerd resolves the tag with a HEAD and GETs the index by digest: the event still
    // names the tag pointing at it.
    assert!(index.reference == "1.0" || index.reference == layout.index_digest);
    assert_eq!(index.tags, vec!["1.0".to_owned()]);
    assert_eq!(index.media_type, "application/vnd.oci.image.index.v1+json");
    assert_eq!(child.reference, amd64);
    for e in &customer {
        assert_eq!(e.client_kind, "docker", "{:?}", e.user_agent);
        assert!(e.user_agent.as_deref().unwrap_or("").starts_with("docker/"));
        assert_eq!(e.customer_name.as_deref(), Some("Initech"));
        assert_eq!(e.token_name.as_deref(), Some("e2e"));
        assert_eq!(e.client_addr.as_deref(), Some("127.0.0.1"));
    }

    // dockerd resolved the tag with a HEAD and then GOT the index: a pull, not a check.
    assert!(version_checks(&s.pool, s.org).await.is_empty(), "the pull's HEAD is no check");
    // Pulled again, up to date: dockerd sends the HEAD only. A version check, no pull.
    assert_eq!(docker.pull(&reference), layout.index_digest);
    let checks = wait_for_checks(&s.pool, s.org, 1).await;
    assert_eq!(
        checks,
        HashMap::from([(("vendor/multi".into(), "1.0".into(), "docker".into()), 1)]),
        "one version check of the tag by docker"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again: Vec<Event> = events(&s.pool, s.org).await.into_iter().skip(before).collect();
    assert_eq!(
        again.iter().filter(|e| e.customer_id == Some(s.customer_id)).count(),
        2,
        "no new pull: {again:#?}"
    );

    // Bytes served: docker fetched the amd64 config and layer, each whole.
    let manifest: serde_json::Value =
        serde_json::from_slice(&fixtures::layout_blob(&layout.dir, &amd64)).unwrap();
    let bytes = bytes_served(&s.pool, s.org).await;
    for blob in [&manifest["config"], &manifest["layers"][0]] {
        let digest = blob["digest"].as_str().unwrap();
        let (sent, _) = bytes.get(digest).copied().unwrap_or_default();
        assert_eq!(sent, blob["size"].as_i64().unwrap(), "{digest}: {bytes:?}");
    }
}

#[tokio::test]
async fn head_is_no_pull_ranges_count_what_was_sent_and_history_outlives_the_customer() {
    let dir = scratch_dir();
    let s = setup(dir.path(), &[("WHARF_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let vendor = RawRegistry::with_token(&s.wharf.url, &s.vendor_token);
    let image = vendor.push_image("vendor/app", Some("1.0.0"), None).await;
    let customer = RawRegistry::with_token(&s.wharf.url, &s.customer_token);

    // HEAD: no event, a version check (a flood of them: one counter).
    for _ in 0..50 {
        assert_eq!(customer.head("/v2/vendor/app/manifests/1.0.0").await.status, 200);
    }
    let by_digest = format!("/v2/vendor/app/manifests/{}", image.manifest);
    assert_eq!(customer.head(&by_digest).await.status, 200);
    assert_eq!(customer.head(&format!("/v2/vendor/app/blobs/{}", image.layer)).await.status, 200);
    let checks = wait_for_checks(&s.pool, s.org, 51).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(events(&s.pool, s.org).await.is_empty(), "a HEAD is not a pull");
    assert!(bytes_served(&s.pool, s.org).await.is_empty(), "a HEAD sends no bytes");
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert_eq!(checks[&("vendor/app".into(), "1.0.0".into(), "other".into())], 50);
    assert_eq!(checks[&("vendor/app".into(), image.manifest.clone(), "other".into())], 1);
    let rows: i64 = sqlx::query_scalar("select count(*) from version_checks_daily")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(rows, 2, "a flood of HEADs is a counter row per group, not a row each");

    // GET by tag through a trusted proxy (the test's own address), then by digest.
    let http = reqwest::Client::new();
    let answer = http
        .get(format!("{}/v2/vendor/app/manifests/1.0.0", s.wharf.url))
        .basic_auth("initech", Some(&s.customer_token))
        .header("user-agent", "Helm/3.14.0")
        .header("x-forwarded-for", "198.51.100.23, 127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        customer.get(&format!("/v2/vendor/app/manifests/{}", image.manifest)).await.status,
        200
    );
    // Blob: a range of 4 bytes, then the whole layer.
    let layer = format!("/v2/vendor/app/blobs/{}", image.layer);
    assert_eq!(customer.get_range(&layer, "bytes=2-5").await.body.len(), 4);
    let whole = customer.get(&layer).await.body.len() as i64;

    let found = wait_for_events(&s.pool, s.org, |e| e.len() >= 2).await;
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].reference, "1.0.0");
    assert_eq!(found[0].client_kind, "helm");
    assert_eq!(found[0].client_addr.as_deref(), Some("198.51.100.23"));
    assert_eq!(found[1].reference, image.manifest);
    assert_eq!(found[1].tags, vec!["1.0.0".to_owned()], "tags pointing at the digest");
    assert_eq!(found[1].client_kind, "other", "{:?}", found[1].user_agent);
    assert_eq!(found[1].client_addr.as_deref(), Some("127.0.0.1"));
    assert!(found.iter().all(|e| e.parent_id.is_none()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let bytes = bytes_served(&s.pool, s.org).await;
        if bytes.get(&image.layer) == Some(&(whole + 4, 2)) {
            break;
        }
        assert!(Instant::now() < deadline, "bytes: {bytes:?}, layer {whole} + 4 in 2 GETs");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The customer goes (its tokens and licenses with it); its history stays, names included.
    assert!(customers::delete(&s.pool, s.org, s.customer_id).await.unwrap());
    let after = events(&s.pool, s.org).await;
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|e| e.customer_id == Some(s.customer_id)
        && e.customer_name.as_deref() == Some("Initech")
        && e.token_name.as_deref() == Some("e2e")));
    assert_eq!(bytes_served(&s.pool, s.org).await.len(), 1);

    // The bytes report, through the API, still names the deleted customer.
    use wharf_e2e::api::{Api, OpenApi};
    let api = Api::new(&s.wharf, Some(&s.vendor_token));
    let doc = OpenApi::fetch(&s.wharf).await;
    let today = time::OffsetDateTime::now_utc().date();
    for group in ["customer", "day", "repository"] {
        let reply = api.get(&format!("/bytes/summary?group={group}&repository=vendor/app")).await;
        doc.check("get", "/api/v1/bytes/summary", &reply);
        let items = reply.expect(200)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1, "{group}: {items:?}");
        // The manifest GETs send no blob bytes; the layer was sent whole once, 4 bytes once.
        assert_eq!(items[0]["bytes"], whole + 4, "{group}: {items:?}");
        assert_eq!(items[0]["requests"], 2);
        assert_eq!(items[0]["customers"], 1);
        let (key, label) = match group {
            "customer" => (s.customer_id.to_string(), "Initech".to_owned()),
            "day" => (today.to_string(), today.to_string()),
            _ => ("vendor/app".to_owned(), "vendor/app".to_owned()),
        };
        assert_eq!(
            (items[0]["key"].as_str(), items[0]["label"].as_str()),
            (Some(&*key), Some(&*label))
        );
    }
    // Version checks through the API, the customer's name kept after its deletion too.
    for (group, key, checks) in [
        ("day", today.to_string(), 51),
        ("customer", s.customer_id.to_string(), 51),
        ("repository", "vendor/app".to_owned(), 51),
        ("reference", "vendor/app:1.0.0".to_owned(), 50),
        ("client", "other".to_owned(), 51),
    ] {
        let reply = api.get(&format!("/checks/summary?group={group}")).await;
        doc.check("get", "/api/v1/checks/summary", &reply);
        let body = reply.expect(200);
        assert_eq!(body["group"], group);
        let item = body["items"][0].clone();
        assert_eq!((item["key"].as_str(), item["checks"].as_i64()), (Some(&*key), Some(checks)));
        assert_eq!(item["customers"], 1);
        if group == "customer" {
            assert_eq!(item["label"], "Initech");
        }
    }
    for (query, field) in [("group=week", "group"), ("", "group"), ("group=day&tag=1", "tag")] {
        let reply = api.get(&format!("/checks/summary?{query}")).await;
        doc.check("get", "/api/v1/checks/summary", &reply);
        reply.problem(400, Some(field));
    }
    let tomorrow = today.next_day().unwrap();
    let later = api.get(&format!("/bytes/summary?group=day&since={tomorrow}")).await;
    assert_eq!(later.expect(200)["items"], serde_json::json!([]));
    for (query, field) in [
        ("group=week", "group"),
        ("group=day&since=2026-13-01", "since"),
        ("group=day&until=2026-11-24T00:00:00Z", "until"),
        ("group=day&customer=initech", "customer"),
        ("group=day&tag=1.0.0", "tag"),
        ("", "group"),
    ] {
        let reply = api.get(&format!("/bytes/summary?{query}")).await;
        doc.check("get", "/api/v1/bytes/summary", &reply);
        reply.problem(400, Some(field));
    }
}

#[tokio::test]
async fn an_oras_pull_is_classified_as_oras() {
    let scratch = client_scratch();
    let dir = scratch.path();
    let s = setup(&dir.join("wharf"), &[]).await;
    let host = s.wharf.url.trim_start_matches("http://").to_owned();
    let vendor = Oras::new(&dir.join("oras-vendor"), &host, OrasAuth::Token);
    vendor.login("ci", &s.vendor_token);
    let file = ArtifactFile {
        name: "notes.txt".into(),
        contents: b"release notes".to_vec(),
        media_type: "text/plain".into(),
    };
    vendor.push("vendor/notes:1.0", &[file], None, None, None);
    let before = events(&s.pool, s.org).await.len();

    let oras = Oras::new(&dir.join("oras"), &host, OrasAuth::Token);
    oras.login("initech", &s.customer_token);
    let pulled = oras.pull("vendor/notes:1.0");
    assert_eq!(std::fs::read(&pulled.files[0]).unwrap(), b"release notes");
    let found =
        wait_for_events(&s.pool, s.org, |e| e.iter().any(|e| e.customer_id == Some(s.customer_id)))
            .await;
    let mine: Vec<_> =
        found.iter().skip(before).filter(|e| e.customer_id == Some(s.customer_id)).collect();
    // oras-py GETs the manifest twice in one pull (each GET counts; the two are one event
    // when they fall in the same second).
    assert!((1..=2).contains(&gets(mine.iter().copied())), "{mine:#?}");
    for e in mine {
        assert_eq!(e.client_kind, "oras", "user agent {:?}", e.user_agent);
        assert_eq!(e.reference, "1.0");
    }
}

/// Whatever the metrics listener says `name` is.
async fn metric(url: &str, name: &str) -> u64 {
    let text = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_stalled_database_drops_events_and_never_slows_pulls() {
    let dir = scratch_dir();
    let metrics_port = wharf_e2e::free_port();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}");
    let s = setup(
        dir.path(),
        &[
            ("WHARF_USAGE_BUFFER", "5"),
            ("WHARF_METRICS_LISTEN", &format!("127.0.0.1:{metrics_port}")),
        ],
    )
    .await;
    let vendor = RawRegistry::with_token(&s.wharf.url, &s.vendor_token);
    vendor.push_image("vendor/app", Some("1.0.0"), None).await;
    // Bearer token for the customer, so each pull costs no token lookup.
    let bearer =
        wharf_e2e::bearer_token(&s.wharf, &s.customer_token, "repository:vendor/app:pull").await;
    // Every pull with a user agent of its own, so no two are coalesced into one event.
    let http = reqwest::Client::new();
    let url = format!("{}/v2/vendor/app/manifests/1.0.0", s.wharf.url);
    let mut pulled = 0;
    let mut pull = || {
        pulled += 1;
        let request =
            http.get(&url).bearer_auth(&bearer).header("user-agent", format!("e2e/{pulled}"));
        async move { request.send().await.unwrap().status() }
    };

    // Baseline: pulls with a healthy database, in groups that fit the buffer (a loaded
    // machine may take longer to write a batch than to serve five pulls); only the pulls are
    // timed.
    let mut healthy = Duration::ZERO;
    for group in 1..=4 {
        let started = Instant::now();
        for _ in 0..5 {
            assert_eq!(pull().await, 200);
        }
        healthy += started.elapsed();
        wait_for_events(&s.pool, s.org, |e| gets(e) == group * 5).await;
    }
    assert_eq!(metric(&metrics_url, "wharf_usage_events_dropped_total").await, 0);

    // Stall the events table: the writer's next INSERT waits on the lock.
    let mut lock = s.pool.begin().await.unwrap();
    sqlx::query("lock table pull_events in access exclusive mode")
        .execute(&mut *lock)
        .await
        .unwrap();
    let started = Instant::now();
    for _ in 0..200 {
        assert_eq!(pull().await, 200);
    }
    let stalled = started.elapsed();
    let dropped = metric(&metrics_url, "wharf_usage_events_dropped_total").await;
    assert!(dropped >= 150, "with a buffer of 5, most of 200 events are dropped: {dropped}");
    assert!(
        stalled < healthy * 10 + Duration::from_secs(2),
        "200 pulls during the stall took {stalled:?}, 20 before it {healthy:?}"
    );
    assert!(s.wharf.stderr().contains("dropped a record"), "the drop is logged");
    lock.rollback().await.unwrap();

    // The writer recovers: what it held is written, and new pulls are recorded again.
    let held = gets(&wait_for_events(&s.pool, s.org, |e| gets(e) > 20).await);
    assert!(held <= 20 + 200 - dropped as usize + 1, "held {held}, dropped {dropped}");
    assert_eq!(pull().await, 200);
    wait_for_events(&s.pool, s.org, |e| gets(e) > held).await;
}

#[tokio::test]
async fn a_clean_shutdown_writes_buffered_events() {
    let dir = scratch_dir();
    let mut s = setup(dir.path(), &[]).await;
    let vendor = RawRegistry::with_token(&s.wharf.url, &s.vendor_token);
    vendor.push_image("vendor/app", Some("1.0.0"), None).await;
    let customer = RawRegistry::with_token(&s.wharf.url, &s.customer_token);
    for _ in 0..5 {
        assert_eq!(customer.get("/v2/vendor/app/manifests/1.0.0").await.status, 200);
    }
    assert!(s.wharf.stop().success());
    assert_eq!(gets(&events(&s.pool, s.org).await), 5);
}

#[tokio::test]
async fn reports_filter_page_summarize_and_export() {
    use wharf_e2e::api::{Api, OpenApi};
    let dir = scratch_dir();
    let s = setup(dir.path(), &[]).await;
    let vendor = RawRegistry::with_token(&s.wharf.url, &s.vendor_token);
    vendor.push_image("vendor/app", Some("1.0.0"), None).await;
    vendor.push_image("vendor/app", Some("2.0.0"), None).await;
    let customer = RawRegistry::with_token(&s.wharf.url, &s.customer_token);
    for tag in ["1.0.0", "1.0.0", "1.0.0", "2.0.0"] {
        assert_eq!(customer.get(&format!("/v2/vendor/app/manifests/{tag}")).await.status, 200);
    }
    assert_eq!(vendor.get("/v2/vendor/app/manifests/2.0.0").await.status, 200);
    wait_for_events(&s.pool, s.org, |e| gets(e) == 5).await;

    let api = Api::new(&s.wharf, Some(&s.vendor_token));
    let doc = OpenApi::fetch(&s.wharf).await;
    let get = |path: String| {
        let api = &api;
        async move { api.get(&path).await }
    };

    // Paging: newest first, two at a time, every pull exactly once. The three GETs of 1.0.0
    // are one to three events (identical GETs in one second are one), 5 GETs in all.
    let mut seen = Vec::new();
    let mut requests = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/pulls?limit=2&cursor={c}"),
            None => "/pulls?limit=2".to_owned(),
        };
        let reply = get(path).await;
        doc.check("get", "/api/v1/pulls", &reply);
        let body = reply.expect(200);
        for item in body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
            requests += item["requests"].as_u64().unwrap();
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(requests, 5);
    let events_in_all = seen.len();
    assert!((3..=5).contains(&events_in_all), "{seen:?}");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), events_in_all);

    // Filters.
    let count = |reply: &wharf_e2e::api::Reply| -> u64 {
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["requests"].as_u64().unwrap())
            .sum()
    };
    let mine = get(format!("/pulls?customer={}", s.customer_id)).await;
    assert_eq!(count(&mine), 4);
    assert_eq!(mine.body["items"][0]["customer_name"], "Initech");
    assert_eq!(mine.body["items"][0]["client"], "other");
    assert_eq!(count(&get("/pulls?tag=2.0.0".to_owned()).await), 2);
    assert_eq!(count(&get("/pulls?repository=vendor/app&client=helm".to_owned()).await), 0);
    assert_eq!(count(&get("/pulls?until=2000-01-01T00:00:00Z".to_owned()).await), 0);
    for (query, field) in [
        ("since=yesterday", "since"),
        ("customer=initech", "customer"),
        ("client=curl", "client"),
        ("limit=500", "limit"),
        ("cursor=nonsense", "cursor"),
        ("custmer=x", "custmer"),
    ] {
        let reply = get(format!("/pulls?{query}")).await;
        doc.check("get", "/api/v1/pulls", &reply);
        reply.problem(400, Some(field));
    }

    // Summaries.
    let by_version = get("/pulls/summary?group=version".to_owned()).await;
    doc.check("get", "/api/v1/pulls/summary", &by_version);
    let items = by_version.expect(200)["items"].as_array().unwrap().clone();
    let version = |key: &str| items.iter().find(|i| i["key"] == key).unwrap().clone();
    assert_eq!(version("vendor/app:1.0.0")["pulls"], 3);
    assert_eq!(version("vendor/app:1.0.0")["customers"], 1);
    assert_eq!(version("vendor/app:2.0.0")["pulls"], 2);
    let by_customer = get("/pulls/summary?group=customer".to_owned()).await;
    doc.check("get", "/api/v1/pulls/summary", &by_customer);
    assert_eq!(by_customer.body["items"][0]["label"], "Initech");
    assert_eq!(by_customer.body["items"][0]["pulls"], 4);
    let by_day = get("/pulls/summary?group=day".to_owned()).await;
    doc.check("get", "/api/v1/pulls/summary", &by_day);
    assert_eq!(by_day.body["items"][0]["pulls"], 5);
    get("/pulls/summary".to_owned()).await.problem(400, Some("group"));

    // CSV exports, streamed.
    let http = reqwest::Client::new();
    let csv = |path: &str| {
        http.get(format!("{}/api/v1{path}", s.wharf.url)).bearer_auth(&s.vendor_token).send()
    };
    let pulls = csv(&format!("/pulls.csv?customer={}", s.customer_id)).await.unwrap();
    assert_eq!(pulls.status(), 200);
    assert!(pulls.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = pulls.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("id,at,customer_id,customer_name"));
    assert!(lines[0].ends_with(",client,requests"));
    let in_csv: u64 =
        lines[1..].iter().map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(in_csv, 4, "{text}");
    assert!(lines[1].contains("Initech") && lines[1].contains("vendor/app"));
    assert_eq!(csv("/pulls.csv?limit=1").await.unwrap().status(), 400, "no paging on exports");

    let audit = get("/audit?action=manifest".to_owned()).await;
    doc.check("get", "/api/v1/audit", &audit);
    let entries = audit.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries.iter().all(|e| e["action"] == "manifest.push"));
    let first_page = get("/audit?limit=1".to_owned()).await;
    doc.check("get", "/api/v1/audit", &first_page);
    let next = first_page.body["next_cursor"].as_str().unwrap().to_owned();
    let second = get(format!("/audit?limit=1&cursor={next}")).await;
    assert!(second.body["items"][0]["id"].as_i64() < first_page.body["items"][0]["id"].as_i64());
    get("/audit?since=never".to_owned()).await.problem(400, Some("since"));
    let audit_csv = csv("/audit.csv?action=manifest.push").await.unwrap().text().await.unwrap();
    assert_eq!(audit_csv.lines().count(), 3, "{audit_csv}");
}

/// A layer of many read chunks, streamed by the filesystem store with read-ahead: ranges
/// inside and across chunks answer exactly their bytes, a whole GET its digest, and a client
/// that hangs up mid-stream is counted for what was sent, not for the whole layer, while
/// the server goes on serving.
#[tokio::test]
async fn large_layer_ranges_and_a_client_that_hangs_up_mid_stream() {
    use sha2::Digest as _;
    let dir = scratch_dir();
    let s = setup(dir.path(), &[]).await;
    let vendor = RawRegistry::with_token(&s.wharf.url, &s.vendor_token);
    let len = 48 * 1024 * 1024 + 3;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let layer: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let config_bytes = br#"{"architecture":"amd64","os":"linux"}"#;
    let config = vendor.push_blob("vendor/big", config_bytes).await;
    let digest = vendor.push_blob("vendor/big", &layer).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config, "size": config_bytes.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest, "size": len}],
    });
    vendor
        .push_manifest(
            "vendor/big",
            "1.0.0",
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
        )
        .await;
    let customer = RawRegistry::with_token(&s.wharf.url, &s.customer_token);
    let path = format!("/v2/vendor/big/blobs/{digest}");

    let mib = 1024 * 1024;
    let mut ranged = 0i64;
    for (start, end) in [(0, 0), (mib - 1, mib), (256 * 1024 - 5, 5 * mib + 5), (len - 2, len + 9)]
    {
        let answer = customer.get_range(&path, &format!("bytes={start}-{end}")).await;
        assert_eq!(answer.status, 206, "{start}-{end}");
        let want = &layer[start..=end.min(len - 1)];
        assert!(answer.body == want, "{start}-{end}: {} bytes", answer.body.len());
        ranged += want.len() as i64;
    }
    let whole = customer.get(&path).await;
    assert_eq!(whole.status, 200);
    assert_eq!(format!("sha256:{}", hex::encode(sha2::Sha256::digest(&whole.body))), digest);

    // Hang up after the first MiB or so.
    let http = reqwest::Client::new();
    let mut response = http
        .get(format!("{}{path}", s.wharf.url))
        .basic_auth("ci", Some(&s.customer_token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut read = 0;
    while read < mib {
        read += response.chunk().await.unwrap().expect("more body").len();
    }
    drop(response);
    drop(http);

    let counted = ranged + len as i64;
    let deadline = Instant::now() + Duration::from_secs(15);
    let sent = loop {
        let bytes = bytes_served(&s.pool, s.org).await;
        if let Some(&(sent, requests)) = bytes.get(&digest)
            && requests == 6
        {
            break sent - counted;
        }
        assert!(Instant::now() < deadline, "bytes: {bytes:?}, want 6 GETs of {digest}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        sent >= read as i64 && sent < len as i64 / 2,
        "the hung-up GET counted {sent} bytes; the client read {read} of {len}"
    );
    // The server goes on: the whole layer again.
    assert!(customer.get(&path).await.body == layer);
}
