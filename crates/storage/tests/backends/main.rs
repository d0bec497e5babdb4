//! The shared storage test suite, run against every backend.
//!
//! `suite` holds the tests as async functions over `&dyn BlobStore`; `backend_tests!` turns
//! each into one `#[tokio::test]` per backend: the filesystem, S3 on `s3s-fs` (module `s3`)
//! and S3 on SeaweedFS (module `seaweedfs`), two independently written S3 servers (see
//! `wharf_storage::testing`). The S3 tests fail when a server is missing.

// clippy.toml allows these in `#[test]` functions only; the suite's helpers are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use std::sync::Arc;

use wharf_storage::testing::{S3Server, S3TestServer};
use wharf_storage::{BlobStore, FsConfig, MIN_PART_SIZE, StorageConfig, open};

/// A store plus whatever keeps it alive (temp dir, server), and a way to open a second
/// instance on the same data.
#[derive(Debug)]
pub struct Backend {
    pub store: Arc<dyn BlobStore>,
    config: StorageConfig,
    _dir: Option<tempfile::TempDir>,
    _server: Option<S3TestServer>,
}

impl Backend {
    /// A second, independent store instance over the same data ("another instance").
    pub async fn reopen(&self) -> Arc<dyn BlobStore> {
        open(self.config.clone()).await.unwrap()
    }

    /// The S3 endpoint when the backend is S3.
    pub fn is_s3(&self) -> bool {
        matches!(self.config, StorageConfig::S3(_))
    }
}

async fn fs_backend() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig::Fs(FsConfig { root: dir.path().join("store") });
    Backend { store: open(config.clone()).await.unwrap(), config, _dir: Some(dir), _server: None }
}

async fn s3_backend() -> Backend {
    s3_backend_on(S3Server::S3sFs).await
}

async fn seaweedfs_backend() -> Backend {
    s3_backend_on(S3Server::SeaweedFs).await
}

async fn s3_backend_on(kind: S3Server) -> Backend {
    let server =
        S3TestServer::start_server(kind).await.unwrap_or_else(|message| panic!("{message}"));
    let mut s3 = server.new_bucket().await.unwrap();
    // Small parts so the tests cross part boundaries; copies above 16 MiB use UploadPartCopy.
    s3.part_size = MIN_PART_SIZE;
    s3.copy_part_size = 16 * 1024 * 1024;
    s3.prefix = Some("wharf".to_owned());
    let config = StorageConfig::S3(s3);
    Backend {
        store: open(config.clone()).await.unwrap(),
        config,
        _dir: None,
        _server: Some(server),
    }
}

macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod fs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::fs_backend().await;
                    super::suite::$name(&backend).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::s3_backend().await;
                    super::suite::$name(&backend).await;
                }
            )*
        }
        mod seaweedfs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::seaweedfs_backend().await;
                    super::suite::$name(&backend).await;
                }
            )*
        }
    };
}

backend_tests!(
    round_trip,
    zero_byte_blob,
    sha512_blob,
    small_appends_cross_part_boundaries,
    upload_continues_on_another_instance,
    failed_append_can_be_retried,
    appends_hashed,
    range_reads,
    range_reads_across_chunks,
    partial_reads_and_dropped_streams,
    put_stores_small_blobs,
    stat_and_delete_are_idempotent,
    commit_of_existing_key_succeeds,
    abort_cleans_temporary_data,
    list_blobs_and_uploads,
    large_blob_is_streamed,
    presigned_urls,
    readiness_check,
    foreign_state_is_refused,
);

/// S3-only checks of what the backend leaves in the bucket, read from s3s-fs's data
/// directory (it stores objects as files and multipart parts as `.upload_id-*` files).
mod s3_layout {
    use std::path::{Path, PathBuf};

    use bytes::Bytes;
    use futures_util::StreamExt;
    use sha2::{Digest, Sha256};
    use uuid::Uuid;
    use wharf_storage::{BlobKey, DigestAlgorithm, StorageConfig};

    fn files(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push(path.strip_prefix(dir).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }

    fn parts_in_flight(data: &Path) -> usize {
        files(data).iter().filter(|f| f.starts_with(".upload_id-") && f.contains(".part-")).count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tails_multipart_uploads_and_temporary_objects_are_cleaned_up() {
        let backend = super::s3_backend().await;
        let Some(data) = backend._server.as_ref().and_then(|s| s.data_dir()) else {
            eprintln!("external S3 server: s3s-fs layout checks do not apply");
            return;
        };
        let StorageConfig::S3(config) = &backend.config else { unreachable!() };
        let uploads: PathBuf = data.join(&config.bucket).join("wharf/_uploads");
        let store = &*backend.store;
        let mib = 1024 * 1024;
        let mut all = Vec::new();
        let id = Uuid::new_v4();
        let mut state = store.start_upload(id).await.unwrap();
        for (i, len) in [6 * mib + 3, 1, 1].into_iter().enumerate() {
            let chunk = vec![i as u8; len];
            all.extend_from_slice(&chunk);
            let body = futures_util::stream::iter([Ok(Bytes::from(chunk))]).boxed();
            state = store.append(id, &state, body).await.unwrap().state;
            let here = files(&uploads.join(id.to_string()));
            let want: &[&str] = match i {
                0 => &["multipart-id", "tail.1"],
                1 => &["multipart-id", "tail.1", "tail.2"],
                _ => &["multipart-id", "tail.2", "tail.3"],
            };
            assert_eq!(here, want, "after append {i}");
        }
        assert_eq!(
            std::fs::metadata(uploads.join(id.to_string()).join("tail.3")).unwrap().len(),
            mib as u64 + 5
        );
        assert_eq!(parts_in_flight(&data), 1);

        let key = BlobKey::new(DigestAlgorithm::Sha256, hex::encode(Sha256::digest(&all))).unwrap();
        store.commit(id, &state, &key).await.unwrap();
        assert_eq!(files(&uploads), Vec::<String>::new());
        assert_eq!(parts_in_flight(&data), 0);
        let blob = data.join(&config.bucket).join("wharf").join(key.path());
        assert_eq!(std::fs::metadata(blob).unwrap().len(), all.len() as u64);

        // Abort removes the multipart upload's parts too.
        let id = Uuid::new_v4();
        let state = store.start_upload(id).await.unwrap();
        let body = futures_util::stream::iter([Ok(Bytes::from(vec![7u8; 11 * mib]))]).boxed();
        store.append(id, &state, body).await.unwrap();
        assert_eq!(parts_in_flight(&data), 2);
        store.abort(id, None).await.unwrap();
        assert_eq!(parts_in_flight(&data), 0);
        assert_eq!(files(&uploads), Vec::<String>::new());
    }
}

/// Filesystem-only: what is left when a crash loses the tail of an upload's temporary file.
mod fs_crash {
    use bytes::Bytes;
    use uuid::Uuid;
    use wharf_storage::{BlobKey, StorageConfig, StorageError};

    #[tokio::test]
    async fn an_upload_shorter_than_acknowledged_is_lost_not_broken() {
        let backend = super::fs_backend().await;
        let StorageConfig::Fs(config) = &backend.config else { unreachable!() };
        let store = &backend.store;
        let id = Uuid::new_v4();
        let state = store.start_upload(id).await.unwrap();
        let chunk = || {
            let bytes = Bytes::from(vec![7u8; 4096]);
            futures_util::StreamExt::boxed(futures_util::stream::iter([Ok(bytes)]))
        };
        let state = store.append(id, &state, chunk()).await.unwrap().state;
        // The acknowledged bytes did not reach the disk before a crash.
        let temp = config.root.join("_uploads").join(id.to_string());
        std::fs::OpenOptions::new().write(true).open(&temp).unwrap().set_len(100).unwrap();

        let appended = store.append(id, &state, chunk()).await;
        assert!(matches!(appended, Err(StorageError::UploadDataLost(_))), "{appended:?}");
        let key = BlobKey::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
        let committed = store.commit(id, &state, &key).await;
        assert!(matches!(committed, Err(StorageError::UploadDataLost(_))), "{committed:?}");
        assert!(matches!(store.stat(&key).await, Ok(None)), "nothing committed");
        store.abort(id, Some(&state)).await.unwrap();
    }
}

/// Readiness reports an unusable backend, without printing credentials.
mod unusable {
    use wharf_storage::{StorageConfig, StorageError, open};

    #[tokio::test]
    async fn fs_check_fails_without_root() {
        let backend = super::fs_backend().await;
        let StorageConfig::Fs(config) = &backend.config else { unreachable!() };
        std::fs::remove_dir_all(&config.root).unwrap();
        assert!(backend.store.check().await.is_err());
    }

    #[tokio::test]
    async fn s3_check_fails_without_bucket() {
        check_fails_without_bucket(super::s3_backend().await).await;
    }

    #[tokio::test]
    async fn seaweedfs_check_fails_without_bucket() {
        check_fails_without_bucket(super::seaweedfs_backend().await).await;
    }

    async fn check_fails_without_bucket(backend: super::Backend) {
        let StorageConfig::S3(config) = &backend.config else { unreachable!() };
        let mut config = config.clone();
        config.bucket = "wt-missing".to_owned();
        let store = open(StorageConfig::S3(config)).await.unwrap();
        assert!(matches!(store.check().await, Err(StorageError::Backend { .. })));
        // A wrong secret is refused (both servers verify SigV4) and never shows in the error.
        let StorageConfig::S3(config) = &backend.config else { unreachable!() };
        let mut config = config.clone();
        config.secret_access_key = "wrong-secret-do-not-print".to_owned();
        let store = open(StorageConfig::S3(config)).await.unwrap();
        let err = store.check().await.unwrap_err();
        assert!(!format!("{err} {err:?} {store:?}").contains("wrong-secret-do-not-print"));
        // `get` maps NoSuchBucket to a backend error too, but s3s-fs answers GetObject in a
        // missing bucket with NoSuchKey, so only `check` can be asserted here.
    }
}
