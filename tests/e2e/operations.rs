//! docs/operations.md, run: the backup and the restore exactly as the page describes them
//! (`pg_dump` first, then the blob copy; a restore into a fresh database and a fresh blob
//! directory), and a fresh `wharf serve` on the restored pair serving every pull, with the
//! access tokens and registry tokens issued before the backup still accepted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::process::Command;

use wharf_e2e::{
    ServeOptions, Wharf, bearer_token, fresh_database, raw::RawRegistry, raw::digest_of,
    scratch_dir, vendor_token,
};

const PUBLIC_URL: &str = "http://registry.test";

fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_backup_restores_into_a_fresh_database_and_store() {
    let scratch = scratch_dir();
    let blobs = scratch.path().join("blobs");
    let env = |dir: &std::path::Path| {
        HashMap::from([
            ("WHARF_PUBLIC_URL".to_owned(), PUBLIC_URL.to_owned()),
            ("WHARF_STORAGE".to_owned(), "fs".to_owned()),
            ("WHARF_BLOB_DIR".to_owned(), dir.display().to_string()),
        ])
    };
    let database_url = fresh_database().await;
    let options = ServeOptions { database_url: Some(database_url.clone()), env: env(&blobs) };
    let mut live = Wharf::start(&scratch.path().join("live"), &options).await;
    let token = vendor_token(&database_url, "before-backup");
    let registry = RawRegistry::with_token(&live.url, &token);
    let mut images = Vec::new();
    for tag in ["1.0", "1.1", "2.0"] {
        images.push((tag, registry.push_image("vendor/app", Some(tag), None).await));
    }
    let bearer = bearer_token(&live, &token, "repository:vendor/app:pull").await;

    // 1. Dump Postgres first. 2. Then copy the blobs; pushes go on in between.
    let dump = scratch.path().join("wharf.dump");
    let out = Command::new("pg_dump").args(["--format=custom", &database_url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&dump, &out.stdout).unwrap();
    let after_dump = registry.push_image("vendor/app", Some("3.0"), None).await;
    let copy = scratch.path().join("blobs-copy");
    run(Command::new("cp").arg("-a").arg(&blobs).arg(&copy));
    live.stop();

    // Restore: the blobs, then the dump into a fresh database; a fresh instance on the pair.
    let restored_blobs = scratch.path().join("restored-blobs");
    run(Command::new("cp").arg("-a").arg(&copy).arg(&restored_blobs));
    let restored_url = fresh_database().await;
    run(Command::new("pg_restore")
        .args(["--clean", "--if-exists", "-d", &restored_url])
        .arg(&dump));
    let options =
        ServeOptions { database_url: Some(restored_url.clone()), env: env(&restored_blobs) };
    let restored = Wharf::start(&scratch.path().join("restored"), &options).await;

    // Every pull of what the dump holds, byte for byte, with the token made before the backup.
    let registry = RawRegistry::with_token(&restored.url, &token);
    for (tag, image) in &images {
        let manifest = registry.get(&format!("/v2/vendor/app/manifests/{tag}")).await;
        assert_eq!(manifest.status, 200, "{tag}");
        assert_eq!(manifest.digest.as_deref(), Some(image.manifest.as_str()), "{tag}");
        for digest in [&image.config, &image.layer] {
            let blob = registry.get(&format!("/v2/vendor/app/blobs/{digest}")).await;
            assert_eq!((blob.status, digest_of(&blob.body)), (200, digest.clone()), "{tag}");
        }
    }
    // What was pushed after the dump is not in the restored registry (its blobs in the copy
    // are the harmless extras the page mentions).
    assert_eq!(registry.get("/v2/vendor/app/manifests/3.0").await.status, 404);
    assert!(copy.join(blob_path(&after_dump.layer)).is_file(), "the copy has the later blob");
    // A registry token issued by the old instance before the backup still verifies: the
    // signing key is in the dump.
    let old_bearer =
        RawRegistry::with_authorization(&restored.url, Some(format!("Bearer {bearer}")));
    assert_eq!(old_bearer.get("/v2/vendor/app/tags/list").await.status, 200);
    // And the restored instance issues tokens as before.
    let fresh = bearer_token(&restored, &token, "repository:vendor/app:pull").await;
    let fresh = RawRegistry::with_authorization(&restored.url, Some(format!("Bearer {fresh}")));
    assert_eq!(fresh.get("/v2/vendor/app/manifests/2.0").await.status, 200);
    // It is still one registry: a push after the restore pulls back.
    let pushed = registry.push_image("vendor/app", Some("4.0"), None).await;
    let manifest = registry.get("/v2/vendor/app/manifests/4.0").await;
    assert_eq!(manifest.digest.as_deref(), Some(pushed.manifest.as_str()));
}

/// Where the filesystem store keeps a blob, relative to its root.
fn blob_path(digest: &str) -> std::path::PathBuf {
    let key = wharf_storage::BlobKey::parse(digest).unwrap();
    std::path::PathBuf::from(key.path())
}
