//! Two `wharf serve` processes on one Postgres and one blob store, as behind a load balancer
//! (they share `WHARF_PUBLIC_URL`): nothing a client relies on lives in one process. Run on a
//! shared filesystem directory and on S3, on two independently written S3 servers (s3s-fs and
//! SeaweedFS). Revocation across instances is also in `registry_auth.rs`, tag and blob
//! changes across instances in `content_cache.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wharf_e2e::{
    ServeOptions, Wharf, fresh_database, house::form_token, raw::RawRegistry, raw::digest_of,
    scratch_dir, vendor_token,
};
use wharf_storage::testing::{S3Server, S3TestServer};
use wharf_storage::{BlobKey, FsConfig, StorageConfig};

const PUBLIC_URL: &str = "http://registry.test";

/// The two instances, a vendor token, the first admin's credentials, and what they run on.
struct Pair {
    a: Wharf,
    b: Wharf,
    token: String,
    admin: (String, String),
    database_url: String,
    /// The instances' environment (storage and public URL), for `wharf gc` beside them.
    env: HashMap<String, String>,
    /// The blob store they share, opened by the test to look at what is stored.
    store: StorageConfig,
    _scratch: tempfile::TempDir,
}

async fn pair(storage: HashMap<String, String>, store: StorageConfig) -> Pair {
    let scratch = scratch_dir();
    let database_url = fresh_database().await;
    let mut env = storage;
    env.insert("WHARF_PUBLIC_URL".into(), PUBLIC_URL.into());
    let options = ServeOptions { database_url: Some(database_url.clone()), env: env.clone() };
    // A first, alone: it runs the first start (migrations, first organization, signing key).
    let a = Wharf::start(&scratch.path().join("a"), &options).await;
    let b = Wharf::start(&scratch.path().join("b"), &options).await;
    let admin = a.first_admin();
    let token = vendor_token(&database_url, "scale-out");
    Pair { a, b, token, admin, database_url, env, store, _scratch: scratch }
}

/// Signs in through the sign-in form of `base`; returns the session cookie.
async fn sign_in(base: &str, email: &str, password: &str) -> String {
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = http.get(format!("{base}/sign-in")).send().await.unwrap();
    let csrf_cookie = cookie(&form, "wharf_csrf").unwrap();
    let token = form_token(&form.text().await.unwrap());
    let answer = http
        .post(format!("{base}/sign-in"))
        .header("cookie", format!("wharf_csrf={csrf_cookie}"))
        .header("origin", PUBLIC_URL)
        .form(&[("csrf", token.as_str()), ("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "signed in");
    cookie(&answer, "wharf_session").unwrap()
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all("set-cookie").iter().find_map(|v| {
        let text = v.to_str().ok()?;
        let (pair, _) = text.split_once(';').unwrap_or((text, ""));
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

async fn page(base: &str, path: &str, session: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}{path}"))
        .header("cookie", format!("wharf_session={session}"))
        .send()
        .await
        .unwrap()
}

async fn scenario(pair: Pair) {
    let Pair { mut a, b, token, admin, database_url, env, store, .. } = pair;
    let on_a = RawRegistry::with_token(&a.url, &token);
    let on_b = RawRegistry::with_token(&b.url, &token);

    // A push on A is pulled from B, byte for byte.
    let image = on_a.push_image("vendor/app", Some("1.0"), None).await;
    let manifest = on_b.get("/v2/vendor/app/manifests/1.0").await;
    assert_eq!(manifest.status, 200);
    assert_eq!(manifest.digest.as_deref(), Some(image.manifest.as_str()));
    let layer = on_b.get(&format!("/v2/vendor/app/blobs/{}", image.layer)).await;
    assert_eq!(layer.status, 200);
    assert_eq!(digest_of(&layer.body), image.layer);

    // A chunked upload started on A, continued and finished on B.
    let http = reqwest::Client::new();
    let basic = format!("ci:{token}");
    let auth = format!("Basic {}", base64_encode(&basic));
    let start = http
        .post(format!("{}/v2/vendor/app/blobs/uploads/", a.url))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 202);
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let path = location.strip_prefix(PUBLIC_URL).unwrap_or(&location).to_owned();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (first, second) = data.split_at(100_000);
    let patch = http
        .patch(format!("{}{path}", a.url))
        .header("authorization", &auth)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("0-{}", first.len() - 1))
        .body(first.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 202, "{:?}", patch.text().await);
    let patch = http
        .patch(format!("{}{path}", b.url))
        .header("authorization", &auth)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{}-{}", first.len(), data.len() - 1))
        .body(second.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 202, "B continues A's upload: {:?}", patch.text().await);
    let digest = digest_of(&data);
    let separator = if path.contains('?') { '&' } else { '?' };
    let put = http
        .put(format!("{}{path}{separator}digest={digest}", b.url))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "{:?}", put.text().await);
    let blob = on_a.get(&format!("/v2/vendor/app/blobs/{digest}")).await;
    assert_eq!(blob.body, data, "A serves what B finished");

    // A portal session made on A is valid on B; ended on B, it is dead on A.
    let session = sign_in(&a.url, &admin.0, &admin.1).await;
    let account = page(&b.url, "/account", &session).await;
    assert_eq!(account.status(), 200, "the session from A works on B");
    let csrf = form_token(&account.text().await.unwrap());
    let out = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/sign-out", b.url))
        .header("cookie", format!("wharf_session={session}"))
        .header("origin", PUBLIC_URL)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(page(&a.url, "/account", &session).await.status(), 303, "signed out on A too");

    // A license written on B is honoured by A, and so is its change, within a second.
    let api = |method: reqwest::Method, path: &str| {
        reqwest::Client::new().request(method, format!("{}{path}", b.url)).bearer_auth(&token)
    };
    let customer: serde_json::Value = api(reqwest::Method::POST, "/api/v1/customers")
        .json(&serde_json::json!({ "name": "Initech" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customer_id = customer["id"].as_str().unwrap().to_owned();
    let license = |tags: serde_json::Value| {
        serde_json::json!({
            "name": "Initech", "starts_at": "2020-01-01T00:00:00Z", "on_expiry": "revoke",
            "grants": [{ "repository": "vendor/app", "tags": tags }],
        })
    };
    let created: serde_json::Value =
        api(reqwest::Method::POST, &format!("/api/v1/customers/{customer_id}/licenses"))
            .json(&license(serde_json::json!({ "kind": "exact", "values": ["1.0"] })))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let license_id = created["id"].as_str().unwrap().to_owned();
    let issued: serde_json::Value =
        api(reqwest::Method::POST, &format!("/api/v1/customers/{customer_id}/tokens"))
            .json(&serde_json::json!({ "name": "ci" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let customer_on_a = RawRegistry::with_token(&a.url, issued["token"].as_str().unwrap());
    on_a.push_image("vendor/app", Some("1.1"), None).await;
    assert_eq!(customer_on_a.get("/v2/vendor/app/manifests/1.0").await.status, 200);
    assert_eq!(customer_on_a.get("/v2/vendor/app/manifests/1.1").await.status, 404, "not licensed");
    let changed = api(reqwest::Method::PUT, &format!("/api/v1/licenses/{license_id}"))
        .json(&license(serde_json::json!({ "kind": "all" })))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let since = std::time::Instant::now();
    while customer_on_a.get("/v2/vendor/app/manifests/1.1").await.status != 200 {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(1),
            "A still applies the old license"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    gc_on_both_under_traffic(&a, &b, &token, &database_url, &env, &store).await;

    // A dies mid-traffic (kill -9); B serves every later request.
    std::process::Command::new("kill").arg("-KILL").arg(a.pid().to_string()).status().unwrap();
    a.stop();
    for _ in 0..20 {
        let answer = on_b.get(&format!("/v2/vendor/app/blobs/{}", image.layer)).await;
        assert_eq!(answer.status, 200);
    }
    let after = on_b.push_image("vendor/app", Some("2.0"), None).await;
    assert_eq!(
        on_b.get("/v2/vendor/app/manifests/2.0").await.digest.as_deref(),
        Some(after.manifest.as_str())
    );
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Two instances on one directory (kept alive by the returned guard).
async fn pair_on_a_shared_directory() -> (Pair, tempfile::TempDir) {
    let blobs = scratch_dir();
    let env = HashMap::from([
        ("WHARF_STORAGE".to_owned(), "fs".to_owned()),
        ("WHARF_BLOB_DIR".to_owned(), blobs.path().display().to_string()),
    ]);
    let store = StorageConfig::Fs(FsConfig { root: blobs.path().to_path_buf() });
    (pair(env, store).await, blobs)
}

#[tokio::test]
async fn two_instances_on_a_shared_directory_are_one_registry() {
    let (pair, _blobs) = pair_on_a_shared_directory().await;
    scenario(pair).await;
}

#[tokio::test]
async fn two_instances_on_one_bucket_are_one_registry() {
    two_instances_on_one_bucket(S3Server::S3sFs).await;
}

#[tokio::test]
async fn two_instances_on_one_seaweedfs_bucket_are_one_registry() {
    two_instances_on_one_bucket(S3Server::SeaweedFs).await;
}

async fn two_instances_on_one_bucket(server: S3Server) {
    let s3 = S3TestServer::start_server(server)
        .await
        .unwrap_or_else(|e| panic!("an S3-compatible test server ({}): {e}", server.name()));
    let bucket = s3.new_bucket().await.unwrap();
    let env: HashMap<String, String> = [
        ("WHARF_STORAGE", "s3"),
        ("WHARF_S3_ENDPOINT", bucket.endpoint.as_deref().unwrap()),
        ("WHARF_S3_REGION", bucket.region.as_str()),
        ("WHARF_S3_BUCKET", bucket.bucket.as_str()),
        ("WHARF_S3_ACCESS_KEY_ID", bucket.access_key_id.as_str()),
        ("WHARF_S3_SECRET_ACCESS_KEY", bucket.secret_access_key.as_str()),
        ("WHARF_S3_PATH_STYLE", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    scenario(pair(env, StorageConfig::S3(bucket)).await).await;
}

/// An image whose bytes the test keeps, to push again and to compare pulls with.
#[derive(Clone)]
struct Content {
    config: Vec<u8>,
    layer: Vec<u8>,
}

impl Content {
    fn new(label: &str) -> Self {
        let unique = uuid::Uuid::new_v4();
        Self {
            config: format!("{{\"id\":\"{label} {unique}\"}}").into_bytes(),
            layer: format!("layer {label} {unique}").repeat(50).into_bytes(),
        }
    }

    fn digests(&self) -> [String; 2] {
        [digest_of(&self.config), digest_of(&self.layer)]
    }

    fn manifest(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(&self.config), "size": self.config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": digest_of(&self.layer), "size": self.layer.len(),
            }],
        }))
        .unwrap()
    }

    /// Pushes both blobs and the manifest under `tag`; returns the manifest's digest once
    /// the registry acknowledged it (the helpers assert 201 at every step).
    async fn push(&self, registry: &RawRegistry, repository: &str, tag: &str) -> String {
        registry.push_blob(repository, &self.config).await;
        registry.push_blob(repository, &self.layer).await;
        let manifest = self.manifest();
        let media_type = "application/vnd.oci.image.manifest.v1+json";
        registry.push_manifest(repository, tag, media_type, &manifest).await
    }

    /// Pulls `tag` and asserts manifest and blobs are these, byte for byte.
    async fn assert_pulls(&self, registry: &RawRegistry, repository: &str, tag: &str) {
        let manifest = registry.get(&format!("/v2/{repository}/manifests/{tag}")).await;
        assert_eq!(manifest.status, 200, "{repository}:{tag} on {}", registry.base());
        assert_eq!(manifest.body, self.manifest(), "{repository}:{tag}");
        for (digest, bytes) in self.digests().iter().zip([&self.config, &self.layer]) {
            let blob = registry.get(&format!("/v2/{repository}/blobs/{digest}")).await;
            assert_eq!(blob.status, 200, "{repository}:{tag} blob {digest}");
            assert_eq!(&blob.body, bytes, "{repository}:{tag} blob {digest}");
        }
    }
}

/// Two `wharf gc` passes at once, one beside each instance (their environment), while
/// pushes and pulls go on at both instances. Every blob row is first made older than the
/// grace window (10 minutes, the smallest allowed), so only references keep blobs: what was
/// unreferenced goes, row and bytes; what a tag references stays; content pushed again
/// during the passes (racing GC's delete of the same digest) and new content stay; every
/// tag acknowledged before, during and after the passes pulls byte for byte from both.
async fn gc_on_both_under_traffic(
    a: &Wharf,
    b: &Wharf,
    token: &str,
    database_url: &str,
    env: &HashMap<String, String>,
    store: &StorageConfig,
) {
    let repository = "vendor/gc";
    let registries =
        [RawRegistry::with_token(&a.url, token), RawRegistry::with_token(&b.url, token)];
    // Kept: tagged images. Garbage: images pushed, then their manifests and blob links
    // deleted. Half the garbage is pushed again (new tags) while GC runs.
    let mut acknowledged: Vec<(String, Content)> = Vec::new();
    for i in 0..4 {
        let content = Content::new("kept");
        let tag = format!("kept-{i}");
        content.push(&registries[i % 2], repository, &tag).await;
        acknowledged.push((tag, content));
    }
    let garbage: Vec<Content> = (0..6).map(|i| Content::new(&format!("garbage {i}"))).collect();
    for (i, content) in garbage.iter().enumerate() {
        let on = &registries[i % 2];
        let manifest = content.push(on, repository, &format!("garbage-{i}")).await;
        let deleted = on.delete(&format!("/v2/{repository}/manifests/{manifest}")).await;
        assert_eq!(deleted.status, 202, "manifest delete");
        for digest in content.digests() {
            let deleted = on.delete(&format!("/v2/{repository}/blobs/{digest}")).await;
            assert_eq!(deleted.status, 202, "blob unlink");
        }
    }
    let (pushed_again, collectable) = garbage.split_at(3);
    let db = sqlx::PgPool::connect(database_url).await.unwrap();
    sqlx::query("update blobs set created_at = now() - interval '1 hour'")
        .execute(&db)
        .await
        .unwrap();

    // Traffic at both instances until the passes end: new images and garbage pushed again
    // (tagged), and pulls of the kept tags.
    let running = Arc::new(AtomicBool::new(true));
    let mut traffic = Vec::new();
    for (side, registry) in registries.iter().enumerate() {
        let registry = RawRegistry::with_token(registry.base(), token);
        let running = running.clone();
        let again: Vec<Content> = pushed_again.to_vec();
        let kept: Vec<(String, Content)> = acknowledged.clone();
        traffic.push(tokio::spawn(async move {
            let mut pushed = Vec::new();
            let mut again = again.into_iter();
            let mut round = 0;
            // A's side pushes old garbage again every third round, so some of it races the
            // passes (they start once their processes are up, a few rounds in).
            while running.load(Ordering::Relaxed) || (side == 0 && again.len() > 0) {
                let content = match (side, round % 3) {
                    (0, 2) => again.next().unwrap_or_else(|| Content::new("during gc")),
                    _ => Content::new("during gc"),
                };
                let tag = format!("during-{side}-{round}");
                content.push(&registry, repository, &tag).await;
                pushed.push((tag, content));
                let (tag, content) = &kept[round % kept.len()];
                content.assert_pulls(&registry, repository, tag).await;
                round += 1;
            }
            pushed
        }));
    }
    let gc = |name: &'static str| {
        let mut env: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        env.push(("DATABASE_URL".into(), database_url.to_owned()));
        env.push(("WHARF_GC_GRACE_MINUTES".into(), "10".into()));
        env.push(("RUST_LOG".into(), "warn".into()));
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let run = wharf_e2e::run_wharf(&["gc"], &env);
            assert!(run.status.success(), "wharf gc beside {name}: {}{}", run.stdout, run.stderr);
            run.stdout
        })
    };
    // Let the traffic start, then two passes at once, twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut deleted = 0;
    let passes = std::time::Instant::now();
    for _ in 0..2 {
        let (on_a, on_b) = tokio::join!(gc("A"), gc("B"));
        for report in [on_a.unwrap(), on_b.unwrap()] {
            deleted += blobs_deleted(&report);
        }
    }
    eprintln!("gc under traffic: four passes, two at a time, in {:?}", passes.elapsed());
    running.store(false, Ordering::Relaxed);
    let before = acknowledged.len();
    for task in traffic {
        acknowledged.extend(task.await.unwrap());
    }
    eprintln!(
        "gc under traffic: {} pushes acknowledged around the passes, {deleted} blobs deleted",
        acknowledged.len() - before
    );

    // Unreferenced and old: gone, row and bytes (each deleted once over the four passes).
    let blob_store = wharf_storage::open(store.clone()).await.unwrap();
    let gone: Vec<String> = collectable.iter().flat_map(Content::digests).collect();
    for digest in &gone {
        let key = BlobKey::parse(digest).unwrap();
        assert!(blob_store.stat(&key).await.unwrap().is_none(), "{digest} still stored");
    }
    let rows: i64 = sqlx::query_scalar("select count(*) from blobs where digest = any($1)")
        .bind(&gone)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(rows, 0, "rows of unreferenced blobs");
    assert!(deleted >= gone.len() as u64, "{deleted} blobs deleted, {} collectable", gone.len());
    // Referenced or pushed again: stored, and every acknowledged tag pulls from both.
    for (tag, content) in &acknowledged {
        for registry in &registries {
            content.assert_pulls(registry, repository, tag).await;
        }
        for digest in content.digests() {
            let key = BlobKey::parse(&digest).unwrap();
            assert!(blob_store.stat(&key).await.unwrap().is_some(), "{tag}: {digest} stored");
        }
    }
    db.close().await;
}

/// The count of `blobs deleted: N` in what `wharf gc` printed.
fn blobs_deleted(report: &str) -> u64 {
    report
        .split(", ")
        .find_map(|part| part.trim().strip_prefix("blobs deleted: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no blob count in {report:?}"))
}

/// `wharf signing-key rotate` beside two running instances: both sign with the new key
/// within a second, a token signed before the rotation still works on either (the overlap),
/// one signed after works on both, and once the old key's overlap is over (its retirement
/// moved an hour back) its tokens are refused everywhere at once. The rotation is audited.
#[tokio::test]
async fn a_signing_key_rotation_reaches_both_instances() {
    let (Pair { a, b, token, database_url, .. }, _blobs) = pair_on_a_shared_directory().await;
    RawRegistry::with_token(&a.url, &token).push_image("vendor/app", Some("1.0"), None).await;
    let scope = "repository:vendor/app:pull";
    let pulls = |wharf: &Wharf, bearer: &str| {
        let registry =
            RawRegistry::with_authorization(&wharf.url, Some(format!("Bearer {bearer}")));
        async move { registry.get("/v2/vendor/app/manifests/1.0").await.status }
    };
    let before = wharf_e2e::bearer_token(&a, &token, scope).await;
    let old_kid = kid(&before);
    assert_eq!((pulls(&a, &before).await, pulls(&b, &before).await), (200, 200));

    let rotated = wharf_e2e::run_wharf(
        &["signing-key", "rotate"],
        &[("DATABASE_URL", database_url.as_str()), ("RUST_LOG", "warn")],
    );
    assert!(rotated.status.success(), "{}{}", rotated.stdout, rotated.stderr);
    let new_kid = rotated
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("signing key: "))
        .unwrap_or_else(|| panic!("no new key id in {}", rotated.stdout))
        .to_owned();
    assert!(rotated.stdout.contains(&format!("retired: {old_kid}")), "{}", rotated.stdout);
    assert_ne!(new_kid, old_kid);

    // Both instances sign with the new key within a second.
    let since = std::time::Instant::now();
    for wharf in [&a, &b] {
        loop {
            let after = wharf_e2e::bearer_token(wharf, &token, scope).await;
            if kid(&after) == new_kid {
                break;
            }
            assert!(
                since.elapsed() < Duration::from_secs(1),
                "{} still signs with the old key",
                wharf.url
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let after = wharf_e2e::bearer_token(&b, &token, scope).await;
    assert_eq!((pulls(&a, &after).await, pulls(&b, &after).await), (200, 200));
    assert_eq!(
        (pulls(&a, &before).await, pulls(&b, &before).await),
        (200, 200),
        "a token of the retired key works within the overlap"
    );

    // The overlap ends: the old key's tokens are refused at once, the new key's still work.
    let db = sqlx::PgPool::connect(&database_url).await.unwrap();
    sqlx::query("update signing_keys set retired_at = now() - interval '1 hour' where kid = $1")
        .bind(&old_kid)
        .execute(&db)
        .await
        .unwrap();
    let since = std::time::Instant::now();
    for wharf in [&a, &b] {
        while pulls(wharf, &before).await != 401 {
            assert!(
                since.elapsed() < Duration::from_secs(1),
                "{} still takes the old key",
                wharf.url
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!((pulls(&a, &after).await, pulls(&b, &after).await), (200, 200));

    let audited: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "select actor_kind, target, detail from audit_log where action = 'signing_key.rotate'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [(
            "operator".to_owned(),
            format!("signing_key:{new_kid}"),
            serde_json::json!({ "retired": old_kid })
        )]
    );
    db.close().await;
}

/// The `kid` in a JWT's header.
fn kid(jwt: &str) -> String {
    use base64::Engine as _;
    let header = jwt.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}
