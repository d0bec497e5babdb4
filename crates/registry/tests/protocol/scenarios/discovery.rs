//! Content discovery: tags/list with n/last and Link, the catalog, referrers with and without
//! the artifactType filter.

use axum::body::Body;
use http::Method;
use serde_json::json;
use wharf_registry::digest::Algorithm;

use crate::harness::*;
use crate::scenarios;

scenarios!(tags_sorted_and_paged, catalog_of_the_organization, referrers);

async fn tags_sorted_and_paged(app: TestApp) {
    let (_, digest) = app.push_image("acme/app", "1.0", "a").await;
    let manifest = app.get(&format!("/v2/acme/app/manifests/{digest}")).await.body;
    for tag in ["b", "A", "a", "1.1", "latest", "Z_9"] {
        app.put_manifest("acme/app", tag, OCI_MANIFEST, &manifest).await.assert_status(201);
    }
    let all = json!(["1.0", "1.1", "A", "Z_9", "a", "b", "latest"]);
    let r = app.get("/v2/acme/app/tags/list").await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), json!({"name": "acme/app", "tags": all}));
    assert_eq!(r.header("link"), None);

    let r = app.get("/v2/acme/app/tags/list?n=3").await;
    assert_eq!(r.json()["tags"], json!(["1.0", "1.1", "A"]));
    assert_eq!(r.header("link"), Some(r#"</v2/acme/app/tags/list?n=3&last=A>; rel="next""#));
    let r = app.get("/v2/acme/app/tags/list?n=3&last=A").await;
    assert_eq!(r.json()["tags"], json!(["Z_9", "a", "b"]));
    let r = app.get("/v2/acme/app/tags/list?n=3&last=b").await;
    assert_eq!(r.json()["tags"], json!(["latest"]));
    assert_eq!(r.header("link"), None);
    let r = app.get("/v2/acme/app/tags/list?last=a").await;
    assert_eq!(r.json()["tags"], json!(["b", "latest"]));
    let r = app.get("/v2/acme/app/tags/list?n=0").await;
    assert_eq!(r.json()["tags"], json!([]));
    app.get("/v2/acme/app/tags/list?n=-1").await.assert_error(400, "PAGINATION_NUMBER_INVALID");
    // `n` is capped.
    let capped = app.with_page_cap(2);
    let r = send(&capped, Method::GET, "/v2/acme/app/tags/list?n=100", &[], Body::empty()).await;
    assert_eq!(r.json()["tags"], json!(["1.0", "1.1"]));
    assert_eq!(r.header("link"), Some(r#"</v2/acme/app/tags/list?n=2&last=1.1>; rel="next""#));

    app.get("/v2/acme/none/tags/list").await.assert_error(404, "NAME_UNKNOWN");
}

async fn catalog_of_the_organization(app: TestApp) {
    for repo in ["acme/b", "acme/a", "acme/team/c"] {
        app.push_blob(repo, repo.as_bytes()).await;
    }
    let r = app.get("/v2/_catalog").await;
    r.assert_status(200);
    // Only acme's repositories: other/app exists but is not listed.
    assert_eq!(r.json(), json!({"repositories": ["acme/a", "acme/b", "acme/team/c"]}));
    let r = app.get("/v2/_catalog?n=2").await;
    assert_eq!(r.json()["repositories"], json!(["acme/a", "acme/b"]));
    assert_eq!(r.header("link"), Some(r#"</v2/_catalog?n=2&last=acme%2Fb>; rel="next""#));
    let r = app.get("/v2/_catalog?n=2&last=acme%2Fb").await;
    assert_eq!(r.json()["repositories"], json!(["acme/team/c"]));
    assert_eq!(r.header("link"), None);
}

async fn referrers(app: TestApp) {
    let (image, image_digest) = app.push_image("acme/app", "1.0", "a").await;
    let empty = app.push_blob("acme/app", b"{}").await;
    let signature = app.push_blob("acme/app", b"signature bytes").await;
    let sbom = app.push_blob("acme/app", b"sbom bytes").await;

    let sig = artifact_manifest(
        "application/vnd.example.signature.v1",
        &empty,
        (&signature, 15),
        (&image_digest, image.len()),
        "sig",
    );
    let r = app
        .put_manifest("acme/app", Algorithm::Sha256.digest(&sig).as_str(), OCI_MANIFEST, &sig)
        .await;
    r.assert_status(201);
    assert_eq!(r.header("oci-subject"), Some(image_digest.as_str()));
    let sbom_manifest = artifact_manifest(
        "application/vnd.example.sbom.v1",
        &empty,
        (&sbom, 10),
        (&image_digest, image.len()),
        "sbom",
    );
    app.put_manifest("acme/app", "sbom", OCI_MANIFEST, &sbom_manifest).await.assert_status(201);
    // An image manifest with a subject (no artifactType: the config media type is reported).
    let (config, layer) =
        (app.push_blob("acme/app", b"{\"c\":1}").await, app.push_blob("acme/app", b"l").await);
    let attached =
        image_manifest((&config, 7), &[(&layer, 1, OCI_LAYER)], Some((&image_digest, image.len())));
    let r = app.put_manifest("acme/app", "attached", OCI_MANIFEST, &attached).await;
    r.assert_status(201);
    assert_eq!(r.header("oci-subject"), Some(image_digest.as_str()));
    // No subject, no header.
    let (_, _) = app.push_image("acme/app", "plain", "p").await;

    let r = app.get(&format!("/v2/acme/app/referrers/{image_digest}")).await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    assert_eq!(r.header("oci-filters-applied"), None);
    let index = r.json();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 3);
    let sig_entry = manifests
        .iter()
        .find(|m| m["artifactType"] == "application/vnd.example.signature.v1")
        .unwrap();
    assert_eq!(sig_entry["digest"], Algorithm::Sha256.digest(&sig).as_str());
    assert_eq!(sig_entry["size"], sig.len());
    assert_eq!(sig_entry["mediaType"], OCI_MANIFEST);
    assert_eq!(sig_entry["annotations"], json!({"org.example.note": "sig"}));
    assert!(manifests.iter().any(|m| m["artifactType"] == OCI_CONFIG));

    let r = app
        .get(&format!(
            "/v2/acme/app/referrers/{image_digest}?artifactType=application/vnd.example.sbom.v1"
        ))
        .await;
    r.assert_status(200);
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let manifests = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["digest"], Algorithm::Sha256.digest(&sbom_manifest).as_str());

    // Unknown digest, unknown repository: an empty index, never 404.
    let unknown = Algorithm::Sha256.digest(b"unknown");
    for path in [
        format!("/v2/acme/app/referrers/{unknown}"),
        format!("/v2/acme/none/referrers/{image_digest}"),
    ] {
        let r = app.get(&path).await;
        r.assert_status(200);
        assert_eq!(r.json(), json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}));
    }
    // A subject that does not exist (yet) is fine.
    let dangling = artifact_manifest(
        "application/vnd.example.signature.v1",
        &empty,
        (&signature, 15),
        (&unknown, 10),
        "x",
    );
    app.put_manifest("acme/app", "dangling", OCI_MANIFEST, &dangling).await.assert_status(201);
    let r = app.get(&format!("/v2/acme/app/referrers/{unknown}")).await;
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);
}
