//! wharf-storage: content-addressed blob storage.
//!
//! Owns the `BlobStore` trait and its filesystem and S3 backends, with one shared test suite
//! run against both. Knows nothing of repositories, tenants or HTTP.
//!
//! Entry points: [`open`] turns a [`StorageConfig`] into an `Arc<dyn BlobStore>`; blobs are
//! addressed by [`BlobKey`]; uploads carry their progress in an [`UploadState`] that the
//! caller persists between requests. With the `test-support` feature, `testing` starts a
//! real S3-compatible server for tests.

#![warn(missing_docs)]

mod error;
mod fs;
mod hash_ahead;
mod key;
mod s3;
mod store;
#[cfg(feature = "test-support")]
pub mod testing;

use std::sync::Arc;

pub use error::{BoxError, Result, StorageError};
pub use fs::{FsConfig, FsStore};
pub use key::{BlobKey, DigestAlgorithm};
pub use s3::{DEFAULT_PART_SIZE, MAX_PART_SIZE, MIN_PART_SIZE, S3Config, S3Store};
pub use store::{
    AppendOutcome, BlobInfo, BlobRead, BlobStore, BlobStream, ChunkStream, UploadInfo, UploadState,
};

/// Which backend to use, with its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageConfig {
    /// Blobs in a local directory.
    Fs(FsConfig),
    /// Blobs in an S3 bucket.
    S3(S3Config),
}

/// Opens the configured backend. The filesystem backend creates its directories; the S3
/// backend only validates the configuration (call [`BlobStore::check`] to reach it).
pub async fn open(config: StorageConfig) -> Result<Arc<dyn BlobStore>> {
    Ok(match config {
        StorageConfig::Fs(config) => Arc::new(FsStore::new(config).await?),
        StorageConfig::S3(config) => Arc::new(S3Store::new(&config)?),
    })
}
