//! What the registry reports to the audit log: the [`AuditSink`] trait it calls after a push
//! (with the tag's previous digest when the push moved it), a delete of a manifest, tag or
//! blob, and a pull its caller's visibility refused.
//!
//! Like [`crate::usage::UsageSink`], the sink is called on the request path and must not
//! wait; the server's buffers the entry (and rate-limits denied pulls per token).

use std::net::IpAddr;

use http::HeaderMap;
use uuid::Uuid;

use crate::name::RepositoryName;
use crate::usage::Attribution;

/// How an audited request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused by the caller's visibility (answered as if it did not exist).
    Denied,
}

/// An audited registry action.
#[derive(Debug)]
pub struct Audited<'a> {
    /// The organization of the repository (the caller's).
    pub organization_id: Uuid,
    /// The caller's principal (as [`crate::access::Access::principal`]).
    pub principal: &'a str,
    /// The caller's token, when usage can be attributed.
    pub attribution: Option<Attribution>,
    /// `manifest.push`, `manifest.delete`, `tag.delete`, `blob.delete` or `pull.denied`.
    pub action: &'static str,
    /// Repository.
    pub repository: &'a RepositoryName,
    /// The reference as requested (tag or digest).
    pub reference: &'a str,
    /// The digest concerned, when known.
    pub digest: Option<&'a str>,
    /// For a push that moved a tag: the digest it pointed at before.
    pub moved_from: Option<&'a str>,
    /// How it ended.
    pub outcome: Outcome,
    /// The request's headers (`User-Agent`, `X-Forwarded-For`, `X-Request-Id`).
    pub headers: &'a HeaderMap,
    /// The connection's peer address.
    pub peer: Option<IpAddr>,
}

/// Receives audited registry actions. Must not block.
pub trait AuditSink: Send + Sync + std::fmt::Debug + 'static {
    /// Records one action.
    fn record(&self, event: Audited<'_>);
}

/// Records nothing: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _event: Audited<'_>) {}
}
