//! Push: monolithic, POST+PUT, chunked (with and without Content-Range, out of order),
//! status, cancel, mount, empty blob, sha512, manifests of every kind.

use axum::body::Body;
use bytes::Bytes;
use http::Method;
use serde_json::json;
use wharf_registry::RegistryConfig;
use wharf_registry::access::testing::PRINCIPAL_HEADER;
use wharf_registry::digest::{Algorithm, Digest};

use crate::harness::*;
use crate::scenarios;

scenarios!(
    monolithic_and_post_put,
    chunked_upload,
    large_chunked_upload,
    out_of_order_chunk,
    concurrent_chunks_one_wins,
    upload_status_and_cancel,
    upload_sessions_are_bound,
    wrong_digest_changes_nothing,
    empty_blob,
    sha512_blobs,
    cross_repository_mount,
    manifest_kinds,
    manifest_blob_unknown_changes_nothing,
    oversize_manifest,
    invalid_manifests,
    push_outside_the_organization,
    open_uploads_are_capped,
);

async fn monolithic_and_post_put(app: TestApp) {
    let digest = app.push_blob("acme/app", b"monolithic").await;
    let r = app.get(&format!("/v2/acme/app/blobs/{digest}")).await;
    assert_eq!(r.body.as_ref(), b"monolithic");

    // POST, then PUT with the whole blob.
    let location = app.start_upload("acme/app").await;
    let data = b"post then put";
    let digest = Algorithm::Sha256.digest(data);
    let r = app
        .send(
            Method::PUT,
            &format!("{location}?digest={digest}"),
            &[("content-type", "application/octet-stream"), ("content-length", "13")],
            Bytes::from_static(data),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.header("location"), Some(format!("/v2/acme/app/blobs/{digest}").as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let r = app.get(&format!("/v2/acme/app/blobs/{digest}")).await;
    assert_eq!(r.body.as_ref(), data);
    // The session is gone once finished.
    app.get(&location).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

async fn chunked_upload(app: TestApp) {
    let location = app.start_upload("acme/app").await;
    let data = b"0123456789abcdefghij";
    // With Content-Range.
    let r = app
        .send(
            Method::PATCH,
            &location,
            &[
                ("content-range", "0-9"),
                ("content-length", "10"),
                ("content-type", "application/octet-stream"),
            ],
            Bytes::from_static(&data[..10]),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.header("range"), Some("0-9"));
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert!(r.header("docker-upload-uuid").is_some());
    // Without Content-Range (docker streams that way).
    let r = app.send(Method::PATCH, &location, &[], Bytes::from_static(&data[10..15])).await;
    r.assert_status(202);
    assert_eq!(r.header("range"), Some("0-14"));
    // The last chunk with the PUT.
    let digest = Algorithm::Sha256.digest(data);
    let r = app
        .send(
            Method::PUT,
            &format!("{location}?digest={digest}"),
            &[("content-range", "15-19"), ("content-length", "5")],
            Bytes::from_static(&data[15..]),
        )
        .await;
    r.assert_status(201);
    let r = app.get(&format!("/v2/acme/app/blobs/{digest}")).await;
    assert_eq!(r.body.as_ref(), data);
}

/// Filesystem store: appended bytes are not synced before the 202, so a crash may leave the
/// temporary file shorter than the session says. The upload then answers
/// BLOB_UPLOAD_UNKNOWN (clients start it again), not a 503 until it expires.
#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn fs_upload_shorter_than_acknowledged_is_unknown(pool: wharf_db::PgPool) {
    let app = TestApp::new(pool, Backend::Fs).await;
    let location = app.start_upload("acme/app").await;
    let r = app.send(Method::PATCH, &location, &[], Bytes::from(vec![1u8; 4096])).await;
    r.assert_status(202);
    let id = r.header("docker-upload-uuid").unwrap().to_owned();
    let temp = app.fs_root().unwrap().join("_uploads").join(id);
    std::fs::OpenOptions::new().write(true).open(&temp).unwrap().set_len(10).unwrap();

    let more = app.send(Method::PATCH, &location, &[], Bytes::from(vec![1u8; 10])).await;
    more.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    let digest = Algorithm::Sha256.digest(&[1u8; 4096]);
    let put =
        app.send(Method::PUT, &format!("{location}?digest={digest}"), &[], Bytes::new()).await;
    put.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    app.head(&format!("/v2/acme/app/blobs/{digest}")).await.assert_status(404);
}

/// Larger than one S3 part, so the multipart path is exercised.
async fn large_chunked_upload(app: TestApp) {
    let data: Vec<u8> = (0..(10 * 1024 * 1024 + 17) as u64).map(|i| (i * 7 % 253) as u8).collect();
    let location = app.start_upload("acme/big").await;
    let mut offset = 0;
    for chunk in data.chunks(3 * 1024 * 1024 + 5) {
        let range = format!("{}-{}", offset, offset + chunk.len() - 1);
        let r = app
            .send(
                Method::PATCH,
                &location,
                &[("content-range", &range)],
                Bytes::copy_from_slice(chunk),
            )
            .await;
        r.assert_status(202);
        assert_eq!(
            r.header("range"),
            Some(range.replacen(&format!("{offset}-"), "0-", 1).as_str())
        );
        offset += chunk.len();
    }
    let digest = Algorithm::Sha256.digest(&data);
    let r = app.send(Method::PUT, &format!("{location}?digest={digest}"), &[], Body::empty()).await;
    r.assert_status(201);
    let r = app.get(&format!("/v2/acme/big/blobs/{digest}")).await;
    r.assert_status(200);
    assert!(r.body.as_ref() == data.as_slice(), "large blob round-trips");
    let r = app
        .send(
            Method::GET,
            &format!("/v2/acme/big/blobs/{digest}"),
            &[("range", "bytes=9437180-9437199")],
            Body::empty(),
        )
        .await;
    r.assert_status(206);
    assert_eq!(r.body.as_ref(), &data[9_437_180..9_437_200]);
}

async fn out_of_order_chunk(app: TestApp) {
    let location = app.start_upload("acme/app").await;
    let r = app
        .send(Method::PATCH, &location, &[("content-range", "0-4")], Bytes::from_static(b"hello"))
        .await;
    r.assert_status(202);
    // A gap, a repeat, and a malformed range: 416, and the upload stays where it was.
    for range in ["10-14", "0-4", "5-4", "bogus"] {
        let r = app
            .send(
                Method::PATCH,
                &location,
                &[("content-range", range)],
                Bytes::from_static(b"world"),
            )
            .await;
        r.assert_error(416, "BLOB_UPLOAD_INVALID");
        assert_eq!(r.header("range"), Some("0-4"), "{range}");
        assert_eq!(r.header("location"), Some(location.as_str()));
    }
    // Content-Range and the body disagree.
    let r = app
        .send(
            Method::PATCH,
            &location,
            &[("content-range", "5-14"), ("content-length", "5")],
            Bytes::from_static(b"world"),
        )
        .await;
    r.assert_error(416, "BLOB_UPLOAD_INVALID");
    let r = app.get(&location).await;
    r.assert_status(204);
    assert_eq!(r.header("range"), Some("0-4"));
    let r = app
        .send(Method::PATCH, &location, &[("content-range", "5-9")], Bytes::from_static(b"world"))
        .await;
    r.assert_status(202);
    let digest = Algorithm::Sha256.digest(b"helloworld");
    app.send(Method::PUT, &format!("{location}?digest={digest}"), &[], Body::empty())
        .await
        .assert_status(201);
}

/// Two chunks for the same offset at once (a confused client, or two instances): exactly one
/// is accepted, and the stored bytes are the ones the saved hash describes.
async fn concurrent_chunks_one_wins(app: TestApp) {
    let location = app.start_upload("acme/app").await;
    app.send(Method::PATCH, &location, &[], Bytes::from_static(b"start-")).await.assert_status(202);
    let (a, b) = (vec![b'a'; 300_000], vec![b'b'; 300_000]);
    let (ra, rb) = tokio::join!(
        app.send(
            Method::PATCH,
            &location,
            &[("content-range", "6-300005")],
            Bytes::from(a.clone())
        ),
        app.send(
            Method::PATCH,
            &location,
            &[("content-range", "6-300005")],
            Bytes::from(b.clone())
        ),
    );
    let statuses = [ra.status.as_u16(), rb.status.as_u16()];
    assert!(statuses.contains(&202) && statuses.contains(&416), "{statuses:?}");
    let loser = if ra.status == 416 { &ra } else { &rb };
    loser.assert_error(416, "BLOB_UPLOAD_INVALID");
    let winner = if ra.status == 202 { a } else { b };
    let mut data = b"start-".to_vec();
    data.extend_from_slice(&winner);
    let digest = Algorithm::Sha256.digest(&data);
    app.send(Method::PUT, &format!("{location}?digest={digest}"), &[], Body::empty())
        .await
        .assert_status(201);
    let r = app.get(&format!("/v2/acme/app/blobs/{digest}")).await;
    assert!(r.body.as_ref() == data.as_slice(), "stored bytes match the digest");
}

async fn upload_status_and_cancel(app: TestApp) {
    let location = app.start_upload("acme/app").await;
    let r = app.get(&location).await;
    r.assert_status(204);
    assert_eq!(r.header("range"), Some("0-0"));
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert!(r.header("docker-upload-uuid").is_some());
    app.send(Method::PATCH, &location, &[], Bytes::from_static(b"abc")).await.assert_status(202);
    let r = app.get(&location).await;
    r.assert_status(204);
    assert_eq!(r.header("range"), Some("0-2"));

    app.delete(&location).await.assert_status(204);
    app.get(&location).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    app.send(Method::PATCH, &location, &[], Bytes::from_static(b"d"))
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    app.delete(&location).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    let digest = Algorithm::Sha256.digest(b"abc");
    app.send(Method::PUT, &format!("{location}?digest={digest}"), &[], Body::empty())
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    app.head(&format!("/v2/acme/app/blobs/{digest}")).await.assert_status(404);
}

async fn upload_sessions_are_bound(app: TestApp) {
    let location = app.start_upload("acme/app").await;
    let id = location.rsplit('/').next().unwrap();
    // Unknown ids, malformed ids.
    for bad in [
        "/v2/acme/app/blobs/uploads/0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b",
        "/v2/acme/app/blobs/uploads/nope",
    ] {
        app.get(bad).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
        app.send(Method::PATCH, bad, &[], Bytes::from_static(b"x"))
            .await
            .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    }
    // The id in another repository.
    app.get(&format!("/v2/acme/other/blobs/uploads/{id}"))
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    app.send(
        Method::PATCH,
        &format!("/v2/acme/other/blobs/uploads/{id}"),
        &[],
        Bytes::from_static(b"x"),
    )
    .await
    .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    // The id used by another principal.
    let r = app
        .send(Method::PATCH, &location, &[(PRINCIPAL_HEADER, "mallory")], Bytes::from_static(b"x"))
        .await;
    r.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    app.send(Method::DELETE, &location, &[(PRINCIPAL_HEADER, "mallory")], Body::empty())
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    // None of that touched it.
    let r = app.get(&location).await;
    r.assert_status(204);
    assert_eq!(r.header("range"), Some("0-0"));
}

async fn wrong_digest_changes_nothing(app: TestApp) {
    let data = b"the real content";
    let wrong = Algorithm::Sha256.digest(b"something else");
    let r = app
        .send(
            Method::POST,
            &format!("/v2/acme/app/blobs/uploads/?digest={wrong}"),
            &[],
            Bytes::from_static(data),
        )
        .await;
    r.assert_error(400, "DIGEST_INVALID");
    app.head(&format!("/v2/acme/app/blobs/{wrong}")).await.assert_status(404);

    let location = app.start_upload("acme/app").await;
    app.send(Method::PATCH, &location, &[], Bytes::from_static(data)).await.assert_status(202);
    let r = app.send(Method::PUT, &format!("{location}?digest={wrong}"), &[], Body::empty()).await;
    r.assert_error(400, "DIGEST_INVALID");
    app.head(&format!("/v2/acme/app/blobs/{wrong}")).await.assert_status(404);
    let right = Algorithm::Sha256.digest(data);
    app.head(&format!("/v2/acme/app/blobs/{right}")).await.assert_status(404);
    // The session is still usable with the right digest.
    app.send(Method::PUT, &format!("{location}?digest={right}"), &[], Body::empty())
        .await
        .assert_status(201);

    // A missing or malformed digest on PUT.
    let location = app.start_upload("acme/app").await;
    app.send(Method::PUT, &location, &[], Body::empty()).await.assert_error(400, "DIGEST_INVALID");
    app.send(Method::PUT, &format!("{location}?digest=sha256:abc"), &[], Body::empty())
        .await
        .assert_error(400, "DIGEST_INVALID");
}

async fn empty_blob(app: TestApp) {
    let digest = app.push_blob("acme/app", b"").await;
    assert_eq!(
        digest.as_str(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let r = app.get(&format!("/v2/acme/app/blobs/{digest}")).await;
    r.assert_status(200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("0"));
    let r = app
        .send(
            Method::GET,
            &format!("/v2/acme/app/blobs/{digest}"),
            &[("range", "bytes=0-0")],
            Body::empty(),
        )
        .await;
    r.assert_error(416, "RANGE_INVALID");
    assert_eq!(r.header("content-range"), Some("bytes */0"));
    // POST + PUT with nothing at all.
    let location = app.start_upload("acme/other").await;
    app.send(Method::PUT, &format!("{location}?digest={digest}"), &[], Body::empty())
        .await
        .assert_status(201);
}

async fn sha512_blobs(app: TestApp) {
    // Monolithic: the session hashes sha512 from the start.
    let data = b"sha512 monolithic";
    let digest = Algorithm::Sha512.digest(data);
    let r = app
        .send(
            Method::POST,
            &format!("/v2/acme/app/blobs/uploads/?digest={digest}"),
            &[],
            Bytes::from_static(data),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let r = app.get(&format!("/v2/acme/app/blobs/{digest}")).await;
    assert_eq!(r.body.as_ref(), data);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));

    // Chunked, digest known only at PUT: re-read and re-hashed from storage.
    let data = b"sha512 chunked upload";
    let digest = Algorithm::Sha512.digest(data);
    let location = app.start_upload("acme/app").await;
    app.send(Method::PATCH, &location, &[], Bytes::from_static(&data[..7]))
        .await
        .assert_status(202);
    app.send(
        Method::PUT,
        &format!("{location}?digest={digest}"),
        &[],
        Bytes::from_static(&data[7..]),
    )
    .await
    .assert_status(201);
    let r = app.get(&format!("/v2/acme/app/blobs/{digest}")).await;
    assert_eq!(r.body.as_ref(), data);

    // The same content again into another repository: storage has the key already.
    let location = app.start_upload("acme/other").await;
    app.send(Method::PUT, &format!("{location}?digest={digest}"), &[], Bytes::from_static(data))
        .await
        .assert_status(201);
    // Different content claiming that digest is refused and changes nothing.
    let location = app.start_upload("acme/third").await;
    let r = app
        .send(
            Method::PUT,
            &format!("{location}?digest={digest}"),
            &[],
            Bytes::from_static(b"forged"),
        )
        .await;
    r.assert_error(400, "DIGEST_INVALID");
    app.head(&format!("/v2/acme/third/blobs/{digest}")).await.assert_status(404);
    let r = app.get(&format!("/v2/acme/app/blobs/{digest}")).await;
    assert_eq!(r.body.as_ref(), data, "the stored blob is untouched");
    // A fresh key with forged content is not left behind either.
    let fresh = Algorithm::Sha512.digest(b"never uploaded");
    let location = app.start_upload("acme/app").await;
    let r = app
        .send(
            Method::PUT,
            &format!("{location}?digest={fresh}"),
            &[],
            Bytes::from_static(b"forged"),
        )
        .await;
    r.assert_error(400, "DIGEST_INVALID");
    app.head(&format!("/v2/acme/app/blobs/{fresh}")).await.assert_status(404);
    let key = wharf_storage::BlobKey::parse(fresh.as_str()).unwrap();
    assert_eq!(app.store.stat(&key).await.unwrap(), None);

    // A sha512 manifest, pushed by digest.
    let config = app.push_blob("acme/app", b"{}").await;
    let manifest = image_manifest((&config, 2), &[(&digest, data.len(), OCI_LAYER)], None);
    let manifest_digest = Algorithm::Sha512.digest(&manifest);
    let r = app.put_manifest("acme/app", manifest_digest.as_str(), OCI_MANIFEST, &manifest).await;
    r.assert_status(201);
    assert_eq!(r.header("docker-content-digest"), Some(manifest_digest.as_str()));
    let r = app.get(&format!("/v2/acme/app/manifests/{manifest_digest}")).await;
    r.assert_status(200);
    assert_eq!(r.body.as_ref(), manifest.as_slice());
}

async fn cross_repository_mount(app: TestApp) {
    let digest = app.push_blob("acme/source", b"mount me").await;
    let r = app
        .send(
            Method::POST,
            &format!("/v2/acme/target/blobs/uploads/?mount={digest}&from=acme/source"),
            &[],
            Body::empty(),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.header("location"), Some(format!("/v2/acme/target/blobs/{digest}").as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let r = app.get(&format!("/v2/acme/target/blobs/{digest}")).await;
    assert_eq!(r.body.as_ref(), b"mount me");

    // Every reason not to mount falls back to a fresh upload session (202), never an error.
    let unknown = Algorithm::Sha256.digest(b"not there");
    let other_blob = Algorithm::Sha256.digest(b"other org's blob");
    for query in [
        format!("mount={unknown}&from=acme/source"),
        format!("mount={digest}&from=acme/nothing"),
        format!("mount={digest}&from=Not..A..Name"),
        format!("mount={digest}"),
        format!("mount={other_blob}&from=other/app"),
    ] {
        let r = app
            .send(
                Method::POST,
                &format!("/v2/acme/fallback/blobs/uploads/?{query}"),
                &[],
                Body::empty(),
            )
            .await;
        r.assert_status(202);
        let location = r.header("location").unwrap();
        assert!(location.starts_with("/v2/acme/fallback/blobs/uploads/"), "{query}: {location}");
        app.get(location).await.assert_status(204);
    }
    app.head(&format!("/v2/acme/fallback/blobs/{other_blob}")).await.assert_status(404);
}

async fn manifest_kinds(app: TestApp) {
    let (amd64, amd64_digest) = app.push_image("acme/multi", "amd64", "amd64").await;
    let (arm64, arm64_digest) = app.push_image("acme/multi", "arm64", "arm64").await;

    // An OCI index, then an index of that index (nested).
    let index = index_manifest(&[
        (&amd64_digest, amd64.len(), OCI_MANIFEST, "amd64"),
        (&arm64_digest, arm64.len(), OCI_MANIFEST, "arm64"),
    ]);
    let r = app.put_manifest("acme/multi", "latest", OCI_INDEX, &index).await;
    r.assert_status(201);
    let index_digest = Algorithm::Sha256.digest(&index);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/acme/multi/manifests/{index_digest}").as_str())
    );
    let nested = index_manifest(&[(&index_digest, index.len(), OCI_INDEX, "amd64")]);
    app.put_manifest("acme/multi", "nested", OCI_INDEX, &nested).await.assert_status(201);
    let r = app.get("/v2/acme/multi/manifests/nested").await;
    assert_eq!(r.body.as_ref(), nested.as_slice());
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));

    // Docker schema 2 manifest and manifest list.
    let config = app.push_blob("acme/docker", b"{\"docker\":true}").await;
    let layer = app.push_blob("acme/docker", b"docker layer").await;
    let docker = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 15},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer, "size": 12}],
    }))
    .unwrap();
    let r = app
        .put_manifest(
            "acme/docker",
            "v2",
            "application/vnd.docker.distribution.manifest.v2+json",
            &docker,
        )
        .await;
    r.assert_status(201);
    let docker_digest = Algorithm::Sha256.digest(&docker);
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": docker_digest, "size": docker.len(), "platform": {"os": "linux", "architecture": "amd64"}}],
    }))
    .unwrap();
    let r = app
        .put_manifest(
            "acme/docker",
            "list",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            &list,
        )
        .await;
    r.assert_status(201);
    let r = app.get("/v2/acme/docker/manifests/list").await;
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.docker.distribution.manifest.list.v2+json")
    );

    // Non-distributable layers need not exist in the registry.
    let foreign = Algorithm::Sha256.digest(b"windows base layer");
    let external = image_manifest(
        (&config, 15),
        &[
            (&foreign, 1000, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
            (&layer, 12, OCI_LAYER),
        ],
        None,
    );
    app.put_manifest("acme/docker", "foreign", OCI_MANIFEST, &external).await.assert_status(201);
    let docker_foreign = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 15},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": foreign, "size": 1000, "urls": ["https://example.com/layer"]}],
    }))
    .unwrap();
    app.put_manifest(
        "acme/docker",
        "foreign2",
        "application/vnd.docker.distribution.manifest.v2+json",
        &docker_foreign,
    )
    .await
    .assert_status(201);

    // Re-pushing the same manifest under the same tag is fine.
    app.put_manifest(
        "acme/docker",
        "v2",
        "application/vnd.docker.distribution.manifest.v2+json",
        &docker,
    )
    .await
    .assert_status(201);
}

async fn manifest_blob_unknown_changes_nothing(app: TestApp) {
    let config = app.push_blob("acme/app", b"{}").await;
    let missing = Algorithm::Sha256.digest(b"missing layer");
    let manifest = image_manifest((&config, 2), &[(&missing, 13, OCI_LAYER)], None);
    let r = app.put_manifest("acme/app", "1.0", OCI_MANIFEST, &manifest).await;
    r.assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], missing.as_str());
    app.get("/v2/acme/app/manifests/1.0").await.assert_error(404, "MANIFEST_UNKNOWN");
    let digest = Algorithm::Sha256.digest(&manifest);
    app.get(&format!("/v2/acme/app/manifests/{digest}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    let r = app.get("/v2/acme/app/tags/list").await;
    assert_eq!(r.json()["tags"], json!([]));

    // A blob of another repository does not count.
    let elsewhere = app.push_blob("acme/elsewhere", b"layer elsewhere").await;
    let manifest = image_manifest((&config, 2), &[(&elsewhere, 15, OCI_LAYER)], None);
    app.put_manifest("acme/app", "1.0", OCI_MANIFEST, &manifest)
        .await
        .assert_error(400, "MANIFEST_BLOB_UNKNOWN");

    // An index whose child is missing.
    let child = Algorithm::Sha256.digest(b"no such manifest");
    let index = index_manifest(&[(&child, 100, OCI_MANIFEST, "amd64")]);
    app.put_manifest("acme/app", "multi", OCI_INDEX, &index)
        .await
        .assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    app.get("/v2/acme/app/manifests/multi").await.assert_error(404, "MANIFEST_UNKNOWN");
}

async fn oversize_manifest(app: TestApp) {
    let config = app.push_blob("acme/app", b"{}").await;
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&image_manifest((&config, 2), &[], None)).unwrap();
    manifest["annotations"] = json!({"padding": "x".repeat(4 * 1024 * 1024)});
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let length = bytes.len().to_string();
    let r = app
        .send(
            Method::PUT,
            "/v2/acme/app/manifests/big",
            &[("content-type", OCI_MANIFEST), ("content-length", &length)],
            Bytes::from(bytes.clone()),
        )
        .await;
    r.assert_error(413, "MANIFEST_INVALID");
    // Without a Content-Length the cap holds while reading.
    let stream = futures_util::stream::iter(
        bytes
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let r = app
        .send(
            Method::PUT,
            "/v2/acme/app/manifests/big",
            &[("content-type", OCI_MANIFEST)],
            Body::from_stream(stream),
        )
        .await;
    r.assert_error(413, "MANIFEST_INVALID");
    app.get("/v2/acme/app/manifests/big").await.assert_error(404, "MANIFEST_UNKNOWN");
}

async fn invalid_manifests(app: TestApp) {
    let config = app.push_blob("acme/app", b"{}").await;
    let manifest = image_manifest((&config, 2), &[], None);
    // Pushed by a digest that is not its own.
    let wrong = Algorithm::Sha256.digest(b"another manifest");
    app.put_manifest("acme/app", wrong.as_str(), OCI_MANIFEST, &manifest)
        .await
        .assert_error(400, "DIGEST_INVALID");
    app.put_manifest("acme/app", "1.0", OCI_MANIFEST, b"not json")
        .await
        .assert_error(400, "MANIFEST_INVALID");
    app.put_manifest("acme/app", "1.0", OCI_MANIFEST, br#"{"schemaVersion":1}"#)
        .await
        .assert_error(400, "MANIFEST_INVALID");
    app.put_manifest("acme/app", "1.0", "application/x-unknown", &manifest)
        .await
        .assert_error(415, "UNSUPPORTED");
    // Invalid tag.
    app.put_manifest("acme/app", "-bad", OCI_MANIFEST, &manifest)
        .await
        .assert_error(400, "MANIFEST_INVALID");
    assert_eq!(app.get("/v2/acme/app/tags/list").await.json()["tags"], json!([]));
    let digest: Digest = Algorithm::Sha256.digest(&manifest);
    app.put_manifest("acme/app", digest.as_str(), OCI_MANIFEST, &manifest).await.assert_status(201);
}

async fn push_outside_the_organization(app: TestApp) {
    // Another organization's repository and an organization that does not exist answer alike.
    let config = app.push_blob("acme/app", b"{}").await;
    let manifest = image_manifest((&config, 2), &[], None);
    for repo in ["other/app", "nosuchorg/app"] {
        let r =
            app.send(Method::POST, &format!("/v2/{repo}/blobs/uploads/"), &[], Body::empty()).await;
        r.assert_error(403, "DENIED");
        let r = app.put_manifest(repo, "1.0", OCI_MANIFEST, &manifest).await;
        r.assert_error(403, "DENIED");
    }
    // Deleting in another organization looks like deleting something that does not exist.
    let other_blob = Algorithm::Sha256.digest(b"other org's blob");
    app.delete(&format!("/v2/other/app/blobs/{other_blob}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    app.delete(&format!("/v2/nosuchorg/app/blobs/{other_blob}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
}

/// Open upload sessions are capped per principal and per repository: one more answers
/// `429 TOOMANYREQUESTS` with `Retry-After` and creates nothing (no session, no repository);
/// finishing, cancelling or expiring a session frees its place, and a mount that needs no
/// session still works at the cap.
async fn open_uploads_are_capped(app: TestApp) {
    let capped = app.with_config(RegistryConfig {
        max_open_uploads_per_principal: 3,
        max_open_uploads_per_repository: 4,
        ..RegistryConfig::default()
    });
    let as_who = |who: &'static str| [(PRINCIPAL_HEADER, who)];
    let post = async |path: &str, who: &'static str| {
        send(&capped, Method::POST, path, &as_who(who), Body::empty()).await
    };
    let sessions = async || {
        sqlx::query_scalar::<_, i64>("select count(*) from upload_sessions")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let mounted = app.push_blob("acme/app", b"mount me").await;
    let mut alice = Vec::new();
    for repo in ["acme/app", "acme/app", "acme/other"] {
        let r = post(&format!("/v2/{repo}/blobs/uploads/"), "alice").await;
        r.assert_status(202);
        alice.push(r.header("location").unwrap().to_owned());
    }
    assert_eq!(sessions().await, 3);

    // Alice is at her cap: a new session, a monolithic push, a mount that falls back to a
    // session, and a first push into a new repository are refused alike.
    let small = Algorithm::Sha256.digest(b"small");
    for path in [
        "/v2/acme/app/blobs/uploads/".to_owned(),
        format!("/v2/acme/app/blobs/uploads/?digest={small}"),
        format!("/v2/acme/third/blobs/uploads/?mount={small}&from=acme/app"),
        "/v2/acme/brand-new/blobs/uploads/".to_owned(),
    ] {
        let r =
            send(&capped, Method::POST, &path, &as_who("alice"), Body::from(&b"small"[..])).await;
        r.assert_error(429, "TOOMANYREQUESTS");
        assert_eq!(r.header("retry-after"), Some("60"), "{path}");
    }
    assert_eq!(sessions().await, 3, "nothing created");
    let r = send(&capped, Method::GET, "/v2/_catalog", &[], Body::empty()).await;
    assert!(!r.json().to_string().contains("brand-new"), "no repository created: {:?}", r.json());
    // A mount that succeeds needs no session.
    let r = post(&format!("/v2/acme/third/blobs/uploads/?mount={mounted}&from=acme/app"), "alice")
        .await;
    r.assert_status(201);

    // Bob has his own cap, but the repository's is shared: acme/app holds 4 at most.
    for _ in 0..2 {
        post("/v2/acme/app/blobs/uploads/", "bob").await.assert_status(202);
    }
    let r = post("/v2/acme/app/blobs/uploads/", "bob").await;
    r.assert_error(429, "TOOMANYREQUESTS");
    assert_eq!(r.header("retry-after"), Some("60"));
    post("/v2/acme/other/blobs/uploads/", "bob").await.assert_status(202);
    assert_eq!(sessions().await, 6);

    // Cancelling, finishing or expiring a session frees its place.
    let r = send(&capped, Method::DELETE, &alice[0], &as_who("alice"), Body::empty()).await;
    r.assert_status(204);
    post("/v2/acme/other/blobs/uploads/", "alice").await.assert_status(202);
    post("/v2/acme/other/blobs/uploads/", "alice").await.assert_error(429, "TOOMANYREQUESTS");
    let empty = Algorithm::Sha256.digest(b"");
    let r = send(
        &capped,
        Method::PUT,
        &format!("{}?digest={empty}", alice[2]),
        &as_who("alice"),
        Body::empty(),
    )
    .await;
    r.assert_status(201);
    let digest = Algorithm::Sha256.digest(b"small");
    let r = send(
        &capped,
        Method::POST,
        &format!("/v2/acme/app/blobs/uploads/?digest={digest}"),
        &as_who("alice"),
        Body::from(&b"small"[..]),
    )
    .await;
    r.assert_status(201);
    sqlx::query("update upload_sessions set expires_at = now() - interval '1 second' where created_by = 'bob'")
        .execute(&app.pool)
        .await
        .unwrap();
    for _ in 0..3 {
        post("/v2/acme/app/blobs/uploads/", "bob").await.assert_status(202);
    }
}
