//! The storage error type shared by every backend.
//!
//! Owns the mapping of backend failures into a few variants the registry can act on
//! (`NotFound` → 404, `InvalidRange` → 416, the rest → 503). Messages never contain
//! credentials: S3 errors are rendered from the SDK's error context (code, message,
//! request id), never from request headers or config.

use std::error::Error as StdError;

/// Boxed error source kept for logging (`{:#}`/error chains).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong in a [`crate::BlobStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The blob (or the upload's temporary data) does not exist.
    #[error("not found")]
    NotFound,

    /// The requested range starts beyond the end of the blob (or is reversed).
    /// `size` is the blob's total size, for `Content-Range: bytes */<size>`.
    #[error("range not satisfiable for a blob of {size} bytes")]
    InvalidRange {
        /// Total size of the blob.
        size: u64,
    },

    /// A blob key (algorithm or hex) failed validation.
    #[error("invalid blob key: {0}")]
    InvalidKey(String),

    /// An upload state value could not be understood or does not match the stored data
    /// (wrong backend, corrupted).
    #[error("invalid upload state: {0}")]
    InvalidUploadState(String),

    /// The upload's temporary data is shorter than what was acknowledged: a crash lost
    /// appended bytes the file system had not written yet. The upload cannot go on; the
    /// client has to start it again.
    #[error("upload data lost: {0}")]
    UploadDataLost(String),

    /// The upload exceeds what the backend can hold (e.g. S3's 10,000 parts).
    #[error("upload too large: {0}")]
    TooLarge(String),

    /// Reading the caller's input stream failed (client went away, body error).
    #[error("reading the upload body failed")]
    Input(#[source] std::io::Error),

    /// A local file system operation failed.
    #[error("{operation} failed")]
    Io {
        /// What was being done, e.g. `rename upload into place`.
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A remote backend (S3) call failed.
    #[error("{operation} failed: {message}")]
    Backend {
        /// The S3 operation, e.g. `UploadPart`.
        operation: &'static str,
        /// A credential-free description (error code, message, request id).
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// The configuration cannot be used (e.g. part size below the S3 minimum).
    #[error("invalid storage configuration: {0}")]
    Config(String),
}

impl StorageError {
    /// Shorthand for an [`StorageError::Io`] with an operation name.
    pub(crate) fn io(operation: &'static str) -> impl Fn(std::io::Error) -> Self + Copy {
        move |source| Self::Io { operation, source }
    }

    /// An append that was to hash its bytes ended without its hasher (a batch still being
    /// hashed when the body ended): the append cannot be acknowledged.
    pub(crate) fn hasher_lost() -> Self {
        Self::Io {
            operation: "hash upload",
            source: std::io::Error::other("the append ended without its hasher"),
        }
    }

    /// True for errors that mean "the data is not there" rather than "the backend failed".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound)
    }
}

/// Result alias for storage operations.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
