//! The shared storage test suite, run against every backend.
//!
//! `suite` holds the tests as async functions over `&dyn BlobStore`; `backend_tests!` turns
//! each into one `#[tokio::test]` per backend. The S3 tests need a real S3-compatible server
//! (`s3s-fs`, see `wharf_storage::testing`) and fail when there is none.

mod suite;

use std::sync::Arc;

use wharf_storage::testing::S3TestServer;
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
    let config = StorageConfig::Fs(FsConfig {
        root: dir.path().join("store"),
    });
    Backend {
        store: open(config.clone()).await.unwrap(),
        config,
        _dir: Some(dir),
        _server: None,
    }
}

async fn s3_backend() -> Backend {
    let server = S3TestServer::start()
        .await
        .unwrap_or_else(|message| panic!("{message}"));
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
    };
}

backend_tests!(
    round_trip,
    zero_byte_blob,
    small_appends_cross_part_boundaries,
    upload_continues_on_another_instance,
    failed_append_can_be_retried,
    range_reads,
    stat_and_delete_are_idempotent,
    commit_of_existing_key_succeeds,
    abort_cleans_temporary_data,
    list_blobs_and_uploads,
    large_blob_is_streamed,
    presigned_urls,
    readiness_check,
    foreign_state_is_refused,
);
