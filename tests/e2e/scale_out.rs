//! Two `wharf serve` processes on one Postgres and one blob store, as behind a load balancer
//! (they share `WHARF_PUBLIC_URL`): nothing a client relies on lives in one process. Run on a
//! shared filesystem directory and on S3 (s3s-fs). Revocation across instances is also in
//! `registry_auth.rs`, tag and blob changes across instances in `content_cache.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use wharf_e2e::{
    ServeOptions, Wharf, fresh_database, house::form_token, raw::RawRegistry, raw::digest_of,
    scratch_dir, vendor_token,
};
use wharf_storage::testing::S3TestServer;

const PUBLIC_URL: &str = "http://registry.test";

/// The two instances, a vendor token, and the first admin's credentials.
struct Pair {
    a: Wharf,
    b: Wharf,
    token: String,
    admin: (String, String),
    _scratch: tempfile::TempDir,
}

async fn pair(storage: HashMap<String, String>) -> Pair {
    let scratch = scratch_dir();
    let database_url = fresh_database().await;
    let mut env = storage;
    env.insert("WHARF_PUBLIC_URL".into(), PUBLIC_URL.into());
    let options = ServeOptions { database_url: Some(database_url.clone()), env };
    // A first, alone: it runs the first start (migrations, first organization, signing key).
    let a = Wharf::start(&scratch.path().join("a"), &options).await;
    let b = Wharf::start(&scratch.path().join("b"), &options).await;
    let admin = a.first_admin();
    let token = vendor_token(&database_url, "scale-out");
    Pair { a, b, token, admin, _scratch: scratch }
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
    let Pair { mut a, b, token, admin, .. } = pair;
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

#[tokio::test]
async fn two_instances_on_a_shared_directory_are_one_registry() {
    let blobs = scratch_dir();
    let env = HashMap::from([
        ("WHARF_STORAGE".to_owned(), "fs".to_owned()),
        ("WHARF_BLOB_DIR".to_owned(), blobs.path().display().to_string()),
    ]);
    scenario(pair(env).await).await;
}

#[tokio::test]
async fn two_instances_on_one_bucket_are_one_registry() {
    let s3 = S3TestServer::start().await.expect("an S3-compatible test server (s3s-fs)");
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
    scenario(pair(env).await).await;
}
