//! wharf-registry: the OCI Distribution API v1.1.
//!
//! Owns the `/v2/` routes and handlers, manifest parsing and validation, upload sessions,
//! references and digests as validated types, and the OCI error envelope. It defines the
//! traits it needs from the outside (authorization, metadata) and knows nothing of HTML,
//! sessions or SQL.

pub mod digest;
pub mod error;
pub mod manifest;
pub mod name;
pub mod paging;
pub mod referrers;
pub mod route;
