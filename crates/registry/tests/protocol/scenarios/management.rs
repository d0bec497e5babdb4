//! Content management: delete manifests by digest, tags, blobs.

use wharf_registry::digest::Algorithm;

use crate::harness::*;
use crate::scenarios;

scenarios!(delete_tag_manifest_and_blob);

async fn delete_tag_manifest_and_blob(app: TestApp) {
    let (bytes, digest) = app.push_image("acme/app", "1.0", "a").await;
    app.put_manifest("acme/app", "latest", OCI_MANIFEST, &bytes).await.assert_status(201);

    // Deleting a tag keeps the manifest and the other tags.
    app.delete("/v2/acme/app/manifests/latest").await.assert_status(202);
    app.get("/v2/acme/app/manifests/latest").await.assert_error(404, "MANIFEST_UNKNOWN");
    app.delete("/v2/acme/app/manifests/latest").await.assert_error(404, "MANIFEST_UNKNOWN");
    app.get("/v2/acme/app/manifests/1.0").await.assert_status(200);
    app.get(&format!("/v2/acme/app/manifests/{digest}")).await.assert_status(200);

    // Deleting the manifest by digest removes the tags pointing at it.
    app.delete(&format!("/v2/acme/app/manifests/{digest}")).await.assert_status(202);
    app.get(&format!("/v2/acme/app/manifests/{digest}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    app.get("/v2/acme/app/manifests/1.0").await.assert_error(404, "MANIFEST_UNKNOWN");
    app.delete(&format!("/v2/acme/app/manifests/{digest}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    let r = app.get("/v2/acme/app/tags/list").await;
    assert_eq!(r.json()["tags"], serde_json::json!([]));

    // Blobs: unlinked from this repository only.
    let blob = app.push_blob("acme/app", b"delete me").await;
    app.push_blob("acme/keep", b"delete me").await;
    app.delete(&format!("/v2/acme/app/blobs/{blob}")).await.assert_status(202);
    app.get(&format!("/v2/acme/app/blobs/{blob}")).await.assert_error(404, "BLOB_UNKNOWN");
    app.delete(&format!("/v2/acme/app/blobs/{blob}")).await.assert_error(404, "BLOB_UNKNOWN");
    app.get(&format!("/v2/acme/keep/blobs/{blob}")).await.assert_status(200);
    let unknown = Algorithm::Sha256.digest(b"never");
    app.delete(&format!("/v2/acme/app/blobs/{unknown}")).await.assert_error(404, "BLOB_UNKNOWN");
    app.delete("/v2/acme/nothing/manifests/1.0").await.assert_error(404, "MANIFEST_UNKNOWN");
}
