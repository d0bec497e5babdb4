//! Malformed input: names, digests, references, methods.

use axum::body::Body;
use bytes::Bytes;
use http::Method;
use wharf_registry::digest::Algorithm;

use crate::harness::*;
use crate::scenarios;

scenarios!(
    invalid_names_and_digests,
    unsupported_methods,
    failures_answer_503,
    ambiguous_manifests_are_refused_and_not_stored
);

async fn invalid_names_and_digests(app: TestApp) {
    let d = Algorithm::Sha256.digest(b"x");
    for path in [
        "/v2/Acme/App/tags/list".to_owned(),
        "/v2/acme/tags/list".to_owned(),
        format!("/v2/acme/-app/blobs/{d}"),
        "/v2/acme//app/manifests/latest".to_owned(),
        "/v2/acme/app_/blobs/uploads/".to_owned(),
    ] {
        let method = if path.ends_with("uploads/") { Method::POST } else { Method::GET };
        app.send(method, &path, &[], Body::empty()).await.assert_error(400, "NAME_INVALID");
    }
    for path in [
        "/v2/acme/app/blobs/sha256:abc",
        "/v2/acme/app/blobs/sha256:ZZZ",
        "/v2/acme/app/manifests/sha256:0123",
        "/v2/acme/app/referrers/sha256:xyz",
    ] {
        app.get(path).await.assert_error(400, "DIGEST_INVALID");
    }
    let blake3 = format!("blake3:{}", "a".repeat(64));
    app.get(&format!("/v2/acme/app/blobs/{blake3}")).await.assert_error(400, "UNSUPPORTED");
    let r = app
        .send(
            Method::POST,
            "/v2/acme/app/blobs/uploads/?digest=sha256:nothex",
            &[],
            Bytes::from_static(b"x"),
        )
        .await;
    r.assert_error(400, "DIGEST_INVALID");
    let r = app
        .send(
            Method::POST,
            &format!("/v2/acme/app/blobs/uploads/?digest={blake3}"),
            &[],
            Bytes::from_static(b"x"),
        )
        .await;
    r.assert_error(400, "UNSUPPORTED");
    // A reference that cannot be a tag names nothing: a GET or HEAD answers as for any name
    // that does not exist (the ginkgo conformance suite's `.INVALID_MANIFEST_NAME`), after
    // the caller was authorized like any other pull; a PUT of it is refused as invalid.
    for reference in ["bad~tag", ".INVALID_MANIFEST_NAME"] {
        let path = format!("/v2/acme/app/manifests/{reference}");
        app.get(&path).await.assert_error(404, "MANIFEST_UNKNOWN");
        app.head(&path).await.assert_status(404);
        let put = app.put_manifest("acme/app", reference, OCI_MANIFEST, b"{}").await;
        put.assert_error(400, "MANIFEST_INVALID");
        // Through the access control like any pull: an anonymous caller of a registry that
        // lets anyone pull gets the same answer.
        let anonymous = app.anonymous();
        let r = crate::harness::send(&anonymous, Method::GET, &path, &[], Body::empty()).await;
        r.assert_error(404, "MANIFEST_UNKNOWN");
    }
    app.get("/v2/acme/app/nothing/here").await.assert_error(404, "NOT_FOUND");
}

async fn unsupported_methods(app: TestApp) {
    let d = Algorithm::Sha256.digest(b"x");
    for (method, path) in [
        (Method::POST, "/v2/".to_owned()),
        (Method::PUT, format!("/v2/acme/app/blobs/{d}")),
        (Method::POST, "/v2/acme/app/tags/list".to_owned()),
        (Method::DELETE, "/v2/_catalog".to_owned()),
        (Method::PATCH, "/v2/acme/app/blobs/uploads/".to_owned()),
    ] {
        let r = app.send(method.clone(), &path, &[], Body::empty()).await;
        r.assert_error(405, "UNSUPPORTED");
    }
}

/// A failing blob store or database answers 503 UNAVAILABLE, never a partial success.
async fn failures_answer_503(app: TestApp) {
    let (_, manifest) = app.push_image("acme/app", "1.0", "a").await;
    let digest = app.push_blob("acme/app", b"bytes that vanish").await;
    app.store.delete(&wharf_storage::BlobKey::parse(digest.as_str()).unwrap()).await.unwrap();
    let r = app.get(&format!("/v2/acme/app/blobs/{digest}")).await;
    r.assert_error(503, "UNAVAILABLE");
    assert_eq!(r.header("retry-after"), Some("5"), "every 503 says when to retry");

    app.pool.close().await;
    app.get(&format!("/v2/acme/app/manifests/{manifest}")).await.assert_error(503, "UNAVAILABLE");
    app.get("/v2/acme/app/tags/list").await.assert_error(503, "UNAVAILABLE");
    let r = app.send(Method::POST, "/v2/acme/app/blobs/uploads/", &[], Body::empty()).await;
    r.assert_error(503, "UNAVAILABLE");
    let d = Algorithm::Sha256.digest(b"monolithic");
    let r = app
        .send(
            Method::POST,
            &format!("/v2/acme/app/blobs/uploads/?digest={d}"),
            &[],
            Bytes::from_static(b"monolithic"),
        )
        .await;
    r.assert_error(503, "UNAVAILABLE");
    app.put_manifest("acme/app", "2.0", OCI_MANIFEST, b"{}")
        .await
        .assert_error(400, "MANIFEST_INVALID");
}

/// CVE-2021-41190: a document with both `layers` and `manifests` is refused whether pushed as
/// an image manifest or as an index, and nothing is stored under its tag or digest.
async fn ambiguous_manifests_are_refused_and_not_stored(app: TestApp) {
    let (image, image_digest) = app.push_image("acme/app", "1.0", "ambiguous").await;
    let mut doc: serde_json::Value = serde_json::from_slice(&image).unwrap();
    doc["manifests"] = serde_json::json!([
        {"mediaType": OCI_MANIFEST, "digest": image_digest, "size": image.len()}
    ]);
    for media_type in [OCI_MANIFEST, OCI_INDEX] {
        doc["mediaType"] = serde_json::json!(media_type);
        let bytes = serde_json::to_vec(&doc).unwrap();
        let r = app.put_manifest("acme/app", "both", media_type, &bytes).await;
        r.assert_error(400, "MANIFEST_INVALID");
        app.get("/v2/acme/app/manifests/both").await.assert_error(404, "MANIFEST_UNKNOWN");
        let digest = Algorithm::Sha256.digest(&bytes);
        let path = format!("/v2/acme/app/manifests/{digest}");
        app.get(&path).await.assert_error(404, "MANIFEST_UNKNOWN");
    }
}
