//! wharf-registry: the OCI Distribution API v1.1.
//!
//! Owns the `/v2/` routes and handlers, manifest parsing and validation, upload sessions,
//! references and digests as validated types, and the OCI error envelope. It defines the
//! traits it needs from the outside (authorization, metadata) and knows nothing of HTML,
//! sessions or SQL.
//!
//! This part is the protocol vocabulary, pure and synchronous, that the handlers are written in:
//!
//! - [`route`]: the `/v2/…` path parsed once into a [`route::Route`] (and back, for `Location`).
//! - [`name`]: [`name::RepositoryName`] (`<org-slug>/<path>`), [`name::Tag`], [`name::Reference`].
//! - [`digest`]: [`digest::Digest`] (sha256, sha512) and the resumable [`digest::Hasher`].
//! - [`manifest`]: [`manifest::parse_manifest`] for pushed manifests (4 MiB limit).
//! - [`referrers`]: [`referrers::build_referrers`], the referrers image index.
//! - [`paging`]: `n`/`last`/`Link` for listings; `Content-Range` and `Range`.
//! - [`error`]: [`error::OciError`], the OCI error envelope every handler returns.
//! - [`headers`]: header names of the protocol.

pub mod digest;
pub mod error;
pub mod headers;
pub mod manifest;
pub mod name;
pub mod paging;
pub mod referrers;
pub mod route;
