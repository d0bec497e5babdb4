//! Pull: base check, manifests and blobs by tag and digest, HEAD, Range.

use axum::body::Body;
use http::Method;

use crate::harness::*;
use crate::scenarios;
use wharf_registry::digest::Algorithm;

scenarios!(base_check, manifests_by_tag_and_digest, blobs_with_head_and_range, anonymous_pull_only);

async fn base_check(app: TestApp) {
    for path in ["/v2/", "/v2"] {
        let r = app.get(path).await;
        r.assert_status(200);
        assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
    }
    let r = app.get("/v3/").await;
    assert_eq!(r.status, 404, "routes outside /v2 are not the registry's");
}

async fn manifests_by_tag_and_digest(app: TestApp) {
    let (bytes, digest) = app.push_image("acme/app", "1.0", "a").await;
    for reference in ["1.0".to_owned(), digest.to_string()] {
        let r = app.get(&format!("/v2/acme/app/manifests/{reference}")).await;
        r.assert_status(200);
        assert_eq!(r.body.as_ref(), bytes.as_slice(), "served byte for byte");
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        assert_eq!(r.header("content-length"), Some(bytes.len().to_string().as_str()));

        let r = app.head(&format!("/v2/acme/app/manifests/{reference}")).await;
        r.assert_status(200);
        assert!(r.body.is_empty());
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        assert_eq!(r.header("content-length"), Some(bytes.len().to_string().as_str()));
    }
    app.get("/v2/acme/app/manifests/2.0").await.assert_error(404, "MANIFEST_UNKNOWN");
    let r = app.head("/v2/acme/app/manifests/2.0").await;
    assert_eq!(r.status, 404);
    let unknown = Algorithm::Sha256.digest(b"nothing");
    app.get(&format!("/v2/acme/app/manifests/{unknown}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    // Another repository does not see it.
    app.get(&format!("/v2/acme/other/manifests/{digest}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
}

async fn blobs_with_head_and_range(app: TestApp) {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let digest = app.push_blob("acme/app", &data).await;
    let path = format!("/v2/acme/app/blobs/{digest}");

    let r = app.get(&path).await;
    r.assert_status(200);
    assert_eq!(r.body.as_ref(), data.as_slice());
    assert_eq!(r.header("content-length"), Some("100000"));
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));

    let r = app.head(&path).await;
    r.assert_status(200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("100000"));
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));

    let ranged = |range: &'static str| {
        let app = &app;
        let path = path.clone();
        async move { app.send(Method::GET, &path, &[("range", range)], Body::empty()).await }
    };
    let r = ranged("bytes=10-19").await;
    r.assert_status(206);
    assert_eq!(r.body.as_ref(), &data[10..20]);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/100000"));
    assert_eq!(r.header("content-length"), Some("10"));
    let r = ranged("bytes=99990-").await;
    r.assert_status(206);
    assert_eq!(r.body.as_ref(), &data[99_990..]);
    let r = ranged("bytes=-5").await;
    r.assert_status(206);
    assert_eq!(r.body.as_ref(), &data[99_995..]);
    assert_eq!(r.header("content-range"), Some("bytes 99995-99999/100000"));
    let r = ranged("bytes=99999-200000").await;
    r.assert_status(206);
    assert_eq!(r.header("content-range"), Some("bytes 99999-99999/100000"));
    let r = ranged("bytes=100000-").await;
    r.assert_error(416, "RANGE_INVALID");
    assert_eq!(r.header("content-range"), Some("bytes */100000"));
    let r = ranged("bytes=50-10").await;
    r.assert_error(416, "RANGE_INVALID");

    let unknown = Algorithm::Sha256.digest(b"nothing");
    app.get(&format!("/v2/acme/app/blobs/{unknown}")).await.assert_error(404, "BLOB_UNKNOWN");
    let r = app.head(&format!("/v2/acme/app/blobs/{unknown}")).await;
    assert_eq!(r.status, 404);
    // Blobs are visible per repository.
    app.get(&format!("/v2/acme/other/blobs/{digest}")).await.assert_error(404, "BLOB_UNKNOWN");
}

async fn anonymous_pull_only(app: TestApp) {
    let (bytes, _) = app.push_image("acme/app", "1.0", "a").await;
    let anonymous = app.anonymous();
    let r = send(&anonymous, Method::GET, "/v2/acme/app/manifests/1.0", &[], Body::empty()).await;
    r.assert_status(200);
    assert_eq!(r.body.as_ref(), bytes.as_slice());
    let r = send(&anonymous, Method::POST, "/v2/acme/app/blobs/uploads/", &[], Body::empty()).await;
    r.assert_error(401, "UNAUTHORIZED");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer realm="));
    let r =
        send(&anonymous, Method::DELETE, "/v2/acme/app/manifests/1.0", &[], Body::empty()).await;
    r.assert_error(401, "UNAUTHORIZED");
    let r = send(&anonymous, Method::GET, "/v2/_catalog", &[], Body::empty()).await;
    r.assert_status(200);
    assert_eq!(r.json()["repositories"], serde_json::json!([]), "no organization, no catalog");
}
