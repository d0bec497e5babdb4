//! wharf-storage: content-addressed blob storage.
//!
//! Owns the `BlobStore` trait and its filesystem and S3 backends, with one shared test suite
//! run against both. Knows nothing of repositories, tenants or HTTP.
