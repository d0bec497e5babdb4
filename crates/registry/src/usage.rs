//! What the registry reports about usage: the [`UsageSink`] trait it calls when it served a
//! manifest or sent blob bytes, and the [`Attribution`] an [`crate::access::AccessControl`]
//! puts into [`crate::access::Access`] so that usage can be attributed.
//!
//! The registry decides only *when* something counts (a manifest GET that answered 200 is a
//! pull; a manifest HEAD that answered 200 is a version check; the bytes of a blob body actually handed to the connection, ranges included) and
//! never waits for the sink: implementations must return at once (the server's buffers the
//! event and writes it off the request path). Who the ids belong to, names, client kinds and
//! storage are the implementor's business.

use std::net::IpAddr;

use http::HeaderMap;
use uuid::Uuid;

use crate::digest::Digest;
use crate::name::{Reference, RepositoryName};

/// Whom usage is attributed to: opaque ids the authorizer knows (the access token, and the
/// account it belongs to, e.g. a customer). Anonymous callers have none and are not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribution {
    /// The access token that authenticated the request.
    pub token_id: Uuid,
    /// The customer the token belongs to, if it is a customer's.
    pub customer_id: Option<Uuid>,
}

/// A manifest served to an attributed caller: by a GET ([`UsageSink::manifest_served`]) or
/// by a HEAD ([`UsageSink::manifest_checked`]), headers only.
#[derive(Debug)]
pub struct ManifestServed<'a> {
    /// The organization owning the repository (the caller's, or its vendor's).
    pub organization_id: Uuid,
    /// Who pulled.
    pub attribution: Attribution,
    /// Repository.
    pub repository: &'a RepositoryName,
    /// The reference as requested.
    pub reference: &'a Reference,
    /// The digest served.
    pub digest: &'a Digest,
    /// Its media type.
    pub media_type: &'a str,
    /// The request's headers (`User-Agent`, `X-Forwarded-For`, `X-Request-Id`).
    pub headers: &'a HeaderMap,
    /// The connection's peer address, when known.
    pub peer: Option<IpAddr>,
}

/// Bytes of one blob body sent to an attributed caller: reported once per GET, when the body
/// ended (fully sent, or cut off by the client), with the bytes handed to the connection.
#[derive(Debug, Clone)]
pub struct BlobServed {
    /// The organization owning the repository.
    pub organization_id: Uuid,
    /// Who pulled.
    pub attribution: Attribution,
    /// Repository name.
    pub repository: String,
    /// Blob digest.
    pub digest: String,
    /// Bytes sent.
    pub bytes: u64,
}

/// Receives usage from the registry's handlers. Called on the request path: must not block
/// or wait on I/O.
pub trait UsageSink: Send + Sync + std::fmt::Debug + 'static {
    /// A manifest was served.
    fn manifest_served(&self, served: ManifestServed<'_>);
    /// A manifest HEAD answered 200 (a version check). Records nothing unless implemented.
    fn manifest_checked(&self, _checked: ManifestServed<'_>) {}
    /// A blob body ended after sending `served.bytes` bytes.
    fn blob_served(&self, served: BlobServed);
}

/// Records nothing: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUsage;

impl UsageSink for NoUsage {
    fn manifest_served(&self, _served: ManifestServed<'_>) {}
    fn blob_served(&self, _served: BlobServed) {}
}
