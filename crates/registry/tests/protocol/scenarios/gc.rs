//! Garbage collection: unreferenced blobs and expired upload sessions, nothing younger than
//! the grace window.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use wharf_registry::gc::{GcConfig, collect_garbage};
use wharf_storage::BlobKey;

use crate::harness::*;
use crate::scenarios;

scenarios!(gc_reclaims_only_unreferenced_blobs);

async fn gc_reclaims_only_unreferenced_blobs(app: TestApp) {
    let (_, manifest) = app.push_image("acme/app", "1.0", "a").await;
    let kept = app.push_blob("acme/app", b"still linked").await;
    let dropped = app.push_blob("acme/app", b"unlinked").await;
    app.delete(&format!("/v2/acme/app/blobs/{dropped}")).await.assert_status(202);
    let location = app.start_upload("acme/app").await;
    app.send(Method::PATCH, &location, &[], Bytes::from_static(b"partial"))
        .await
        .assert_status(202);
    let key = |d: &wharf_registry::digest::Digest| BlobKey::parse(d.as_str()).unwrap();

    // Within the grace window nothing goes.
    let report =
        collect_garbage(&app.pool, app.store.as_ref(), &GcConfig::default()).await.unwrap();
    assert_eq!(report.blobs_deleted, 0);
    assert_eq!(report.orphan_uploads_discarded, 0);
    assert!(app.store.stat(&key(&dropped)).await.unwrap().is_some());

    // With no grace: the unlinked blob goes, the rest stays.
    sqlx::query("update upload_sessions set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let now = GcConfig { grace: Duration::ZERO, ..GcConfig::default() };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = collect_garbage(&app.pool, app.store.as_ref(), &now).await.unwrap();
    assert_eq!(report.blobs_deleted, 1, "{report:?}");
    assert_eq!(report.uploads_expired, 1, "{report:?}");
    assert_eq!(report.failures, 0, "{report:?}");
    assert_eq!(app.store.stat(&key(&dropped)).await.unwrap(), None);
    assert!(app.store.stat(&key(&kept)).await.unwrap().is_some());
    app.get(&format!("/v2/acme/app/blobs/{kept}")).await.assert_status(200);
    app.get(&format!("/v2/acme/app/manifests/{manifest}")).await.assert_status(200);
    app.get(&location).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    assert!(app.store.list_uploads().await.unwrap().is_empty());

    // A blob referenced by a manifest survives even when unlinked.
    let r = app.get(&format!("/v2/acme/app/manifests/{manifest}")).await;
    let layer = r.json()["layers"][0]["digest"].as_str().unwrap().to_owned();
    let layer = wharf_registry::digest::Digest::parse(&layer).unwrap();
    app.delete(&format!("/v2/acme/app/blobs/{layer}")).await.assert_status(202);
    let report = collect_garbage(&app.pool, app.store.as_ref(), &now).await.unwrap();
    assert_eq!(report.blobs_deleted, 0, "{report:?}");
    assert!(app.store.stat(&key(&layer)).await.unwrap().is_some());
    // Once the manifest is deleted too, it goes.
    app.delete(&format!("/v2/acme/app/manifests/{manifest}")).await.assert_status(202);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = collect_garbage(&app.pool, app.store.as_ref(), &now).await.unwrap();
    assert_eq!(report.blobs_deleted, 1, "{report:?}");
    assert_eq!(app.store.stat(&key(&layer)).await.unwrap(), None);
}
