//! wharf-registry: the OCI Distribution API v1.1.
//!
//! Owns the `/v2/` routes and handlers, manifest parsing and validation, upload sessions,
//! references and digests as validated types, and the OCI error envelope. It defines the
//! trait it needs from the outside (authorization, [`access::AccessControl`]) and knows
//! nothing of HTML or sessions. Metadata goes through `wharf-db` (one implementation,
//! Postgres), blob bytes through `wharf-storage`'s `BlobStore`.
//!
//! The server's entry points:
//!
//! - [`router`] with a [`Registry`] (pool, `Arc<dyn BlobStore>`, `Arc<dyn AccessControl>`,
//!   [`RegistryConfig`]): the `/v2` routes (module `handlers`).
//! - [`access`]: the [`access::AccessControl`] trait, [`access::Access`] and
//!   [`access::DenyAll`]; test implementations behind the `test-support` feature.
//! - [`usage`]: the [`usage::UsageSink`] the registry reports served manifests and blob
//!   bytes to ([`Registry::with_usage`]).
//! - [`audit`]: the [`audit::AuditSink`] pushes, deletes and denied pulls are reported to
//!   ([`Registry::with_audit`]).
//! - [`gc::collect_garbage`]: online garbage collection of blobs and upload sessions.
//!
//! The protocol vocabulary, pure and synchronous, that the handlers are written in:
//!
//! - [`route`]: the `/v2/…` path parsed once into a [`route::Route`] (and back, for `Location`).
//! - [`name`]: [`name::RepositoryName`] (`<org-slug>/<path>`), [`name::Tag`], [`name::Reference`],
//!   and [`digest`]: [`digest::Digest`] (sha256, sha512) and the resumable [`digest::Hasher`]:
//!   `wharf-oci`'s, re-exported under the paths the handlers and other crates use.
//! - [`manifest`]: [`manifest::parse_manifest`] for pushed manifests (4 MiB limit).
//! - [`referrers`]: [`referrers::build_referrers`], the referrers image index.
//! - [`paging`]: `n`/`last`/`Link` for listings; `Content-Range` and `Range`.
//! - [`error`]: [`error::OciError`], the OCI error envelope every handler returns.
//! - [`headers`]: header names of the protocol.

pub mod access;
pub mod audit;
pub mod cache;
pub mod error;
pub mod gc;
mod handlers;
pub mod headers;
pub mod manifest;
pub mod paging;
pub mod referrers;
pub mod route;
pub mod usage;

pub use handlers::{Registry, RegistryConfig, router};
pub use wharf_oci::digest;

/// Repository names, tags and manifest references: `wharf-oci`'s grammar, re-exported.
pub mod name {
    pub use wharf_oci::name::{MAX_NAME_LEN, NameError, RepositoryName};
    pub use wharf_oci::reference::{Reference, ReferenceError};
    pub use wharf_oci::tag::{MAX_TAG_LEN, Tag, TagError};
}
