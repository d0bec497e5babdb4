//! `wharf serve` with S3 storage (a real S3-compatible server, s3s-fs): readiness, a real
//! client's push and pull, and presigned-URL redirects for blob downloads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use wharf_e2e::{
    bearer_token,
    clients::{OrasAuth, Target, client_scratch, scenarios},
    wharf_with_vendor_token,
};
use wharf_storage::testing::S3TestServer;

#[tokio::test]
async fn serves_from_s3_with_presigned_redirects() {
    let s3 = S3TestServer::start().await.expect("an S3-compatible test server (s3s-fs)");
    let bucket = s3.new_bucket().await.unwrap();
    let scratch = client_scratch();
    let env: HashMap<String, String> = [
        ("WHARF_STORAGE", "s3"),
        ("WHARF_S3_ENDPOINT", bucket.endpoint.as_deref().unwrap()),
        ("WHARF_S3_REGION", bucket.region.as_str()),
        ("WHARF_S3_BUCKET", bucket.bucket.as_str()),
        ("WHARF_S3_ACCESS_KEY_ID", bucket.access_key_id.as_str()),
        ("WHARF_S3_SECRET_ACCESS_KEY", bucket.secret_access_key.as_str()),
        ("WHARF_S3_PATH_STYLE", "true"),
        ("WHARF_S3_PRESIGNED_REDIRECT_SECONDS", "300"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let (wharf, token) = wharf_with_vendor_token(&scratch.path().join("wharf"), env).await;
    assert!(!scratch.path().join("wharf/blobs").exists(), "no filesystem blobs with S3");

    let ready: Value =
        reqwest::get(format!("{}/readyz", wharf.url)).await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"]["storage"], "ok", "{ready}");

    // A real client round trip (its blob downloads follow the redirects).
    let target = Target {
        host: wharf.url.trim_start_matches("http://").to_owned(),
        user: "ci".into(),
        password: token.clone(),
        namespace: "vendor".into(),
        oras_auth: OrasAuth::Token,
        referrers_api: true,
    };
    scenarios::docker_single_layer(&target, scratch.path());

    // The protocol view: whole-blob GET redirects, HEAD and Range stay with Wharf.
    let jwt = bearer_token(&wharf, &token, "repository:vendor/raw:pull,push").await;
    let jwt = jwt.as_str();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let no_redirects =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let pushed = no_redirects
        .post(format!("{}/v2/vendor/raw/blobs/uploads/?digest={digest}", wharf.url))
        .bearer_auth(jwt)
        .header("content-type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status().as_u16(), 201);

    let blob = format!("{}/v2/vendor/raw/blobs/{digest}", wharf.url);
    let redirect = no_redirects.get(&blob).bearer_auth(jwt).send().await.unwrap();
    assert_eq!(redirect.status().as_u16(), 307);
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(s3.endpoint()), "{location}");
    assert!(!location.contains(jwt), "the bearer token never goes to the store");
    let fetched = reqwest::get(&location).await.unwrap().bytes().await.unwrap();
    assert!(fetched == data, "the presigned URL serves the blob");

    let head = no_redirects.head(&blob).bearer_auth(jwt).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    let ranged = no_redirects
        .get(&blob)
        .bearer_auth(jwt)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status().as_u16(), 206);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &data[10..20]);

    // No credentials: no redirect either.
    assert_eq!(no_redirects.get(&blob).send().await.unwrap().status().as_u16(), 401);
}
