//! Crash safety of the filesystem backend: a writer killed with SIGKILL at arbitrary points
//! leaves only whole blobs visible (every listed blob has exactly its expected content),
//! and its leftover temporary files are found by `list_uploads` and swept by `abort`.
//!
//! The test re-runs its own binary as the writer (selected by an environment variable).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use wharf_storage::{BlobKey, BlobStore, DigestAlgorithm, FsConfig, FsStore};

const CHILD_ENV: &str = "WHARF_STORAGE_CRASH_WRITER_ROOT";
const TEST_NAME: &str = "killed_writer_leaves_only_whole_blobs";

/// Blob number `i`: 1–3 MiB, cheap to generate, starting with `i`.
fn blob_data(i: u64) -> Vec<u8> {
    let len = 1024 * 1024 + (i as usize * 7919 * 131) % (2 * 1024 * 1024);
    let mut data = vec![(i % 251) as u8; len];
    data[..8].copy_from_slice(&i.to_le_bytes());
    data
}

/// The key blob `i` is stored under. Not its digest: hashing megabytes in a debug build
/// would leave the writer little time inside `append`/`commit`, where kills matter. The
/// check compares content with `blob_data(i)` instead.
fn blob_key(i: u64) -> BlobKey {
    BlobKey::new(
        DigestAlgorithm::Sha256,
        hex::encode(Sha256::digest(i.to_le_bytes())),
    )
    .unwrap()
}

/// The writer: uploads blob after blob in 64 KiB chunks, forever.
async fn writer(root: std::path::PathBuf) {
    let store = FsStore::new(FsConfig { root }).await.unwrap();
    for i in 0u64.. {
        let data = blob_data(i);
        let id = Uuid::new_v4();
        let state = store.start_upload(id).await.unwrap();
        let chunks: Vec<std::io::Result<Bytes>> = data
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let out = store
            .append(id, &state, futures_util::stream::iter(chunks).boxed())
            .await
            .unwrap();
        store.commit(id, &out.state, &blob_key(i)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writer_leaves_only_whole_blobs() {
    if let Some(root) = std::env::var_os(CHILD_ENV) {
        writer(root.into()).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    for round in 0..6u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture"])
            .env(CHILD_ENV, &root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500 + round * 241)).await;
        assert!(child.try_wait().unwrap().is_none(), "writer exited early");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    let store = FsStore::new(FsConfig { root }).await.unwrap();
    let blobs: Vec<_> = store.list_blobs().try_collect().await.unwrap();
    assert!(!blobs.is_empty(), "the writer committed nothing");
    for info in &blobs {
        let read = store.get(&info.key, None).await.unwrap();
        assert_eq!(read.size, info.size);
        let content: Vec<u8> = read
            .stream
            .map_ok(|b| b.to_vec())
            .try_concat()
            .await
            .unwrap();
        let i = u64::from_le_bytes(content[..8].try_into().unwrap());
        assert_eq!(info.key, blob_key(i));
        assert!(content == blob_data(i), "blob {i} is partial or damaged");
    }
    let leftovers = store.list_uploads().await.unwrap();
    eprintln!(
        "{} whole blobs, {} interrupted uploads",
        blobs.len(),
        leftovers.len()
    );
    for upload in leftovers {
        store.abort(upload.upload_id, None).await.unwrap();
    }
    assert!(store.list_uploads().await.unwrap().is_empty());
}
