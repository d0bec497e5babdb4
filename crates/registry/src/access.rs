//! Who may do what: the [`AccessControl`] trait the registry calls on every request, and the
//! [`Access`] it answers with.
//!
//! The registry defines the trait; the server implements it (bearer JWTs from the token
//! service, customers' entitlements). Handlers ask once per request, before touching any
//! data, and then filter what they show through [`Access`]'s `can_see_*` methods, so that
//! entitlement filtering plugs in through [`Visibility`] without touching a handler.
//!
//! This module decides nothing itself except in [`DenyAll`] (the default-deny stand-in the
//! binary may mount until the real implementation is wired) and, behind the `test-support`
//! feature, the permissive implementations in [`testing`].

use std::{net::IpAddr, sync::Arc};

use async_trait::async_trait;
use http::{HeaderMap, HeaderValue};
use uuid::Uuid;

use crate::digest::Digest;
use crate::error::OciError;
use crate::name::{RepositoryName, Tag};

/// What a request needs to do on a repository, spelled as the actions of the token scope
/// `repository:<name>:<actions>` (the scope grammar itself is `wharf_auth::scope`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Read manifests, blobs, tags, referrers (and, with no repository, the catalog).
    Pull,
    /// Upload blobs, push manifests and tags.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
}

impl Operation {
    /// The scope spelling: `pull`, `push`, `delete`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Delete => "delete",
        }
    }
}

/// What an authorized caller may see inside the repository it was authorized for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Visibility {
    /// Everything: vendor members, public repositories.
    All,
    /// What the filter allows (customers: their entitlements). Anything it hides is answered
    /// exactly like something that does not exist.
    Filtered(Arc<dyn ContentFilter>),
}

/// Decides, without I/O, what a caller may see: the registry asks it for every tag, manifest,
/// blob and repository it would show. The server implements it over a customer's
/// precomputed entitlements, so each answer is a hash lookup.
pub trait ContentFilter: Send + Sync + std::fmt::Debug {
    /// Whether the repository exists for the caller: listed in `_catalog`, and answering
    /// `tags/list` rather than `NAME_UNKNOWN`.
    fn repository(&self, name: &RepositoryName) -> bool;
    /// Whether `tags/list` shows the tag and a manifest may be fetched through it.
    fn tag(&self, tag: &Tag) -> bool;
    /// Whether the manifest may be fetched or listed as a referrer (and its referrers listed).
    fn manifest(&self, digest: &Digest) -> bool;
    /// Whether the blob may be fetched or mounted from.
    fn blob(&self, digest: &Digest) -> bool;
}

/// The answer to a successful [`AccessControl::authorize`].
#[derive(Debug, Clone)]
pub struct Access {
    /// Who is calling: a stable principal id (user, vendor token, customer token). Upload
    /// sessions are bound to it and usage is recorded against it.
    pub principal: String,
    /// The vendor organization the caller acts in: the only one it can push into (when
    /// `authorize` granted `Push`; customers are never granted it), delete in, continue
    /// uploads in, and whose repositories `_catalog` lists (through
    /// [`Access::can_see_repository`]). A customer's is the vendor it is a customer of.
    /// `None` for anonymous callers: they never write and get an empty catalog.
    pub organization_id: Option<Uuid>,
    /// What the caller may see.
    pub visibility: Visibility,
    /// Whom usage is attributed to (`None`: not counted, e.g. anonymous callers).
    pub attribution: Option<crate::usage::Attribution>,
}

impl Access {
    /// Full access inside `organization_id` for `principal`.
    pub fn member(principal: impl Into<String>, organization_id: Uuid) -> Self {
        Self {
            principal: principal.into(),
            organization_id: Some(organization_id),
            visibility: Visibility::All,
            attribution: None,
        }
    }

    /// Read access to what the authorizer allowed, for an anonymous caller.
    pub fn anonymous() -> Self {
        Self {
            principal: "anonymous".into(),
            organization_id: None,
            visibility: Visibility::All,
            attribution: None,
        }
    }

    /// Whether the catalog lists this repository.
    pub fn can_see_repository(&self, name: &RepositoryName) -> bool {
        match &self.visibility {
            Visibility::All => true,
            Visibility::Filtered(filter) => filter.repository(name),
        }
    }

    /// Whether `tags/list` shows this tag and a manifest may be fetched through it.
    pub fn can_see_tag(&self, tag: &Tag) -> bool {
        match &self.visibility {
            Visibility::All => true,
            Visibility::Filtered(filter) => filter.tag(tag),
        }
    }

    /// Whether this manifest may be fetched (by digest, or after tag resolution) or listed
    /// as a referrer.
    pub fn can_see_manifest(&self, digest: &Digest) -> bool {
        match &self.visibility {
            Visibility::All => true,
            Visibility::Filtered(filter) => filter.manifest(digest),
        }
    }

    /// Whether this blob may be fetched or mounted from.
    pub fn can_see_blob(&self, digest: &Digest) -> bool {
        match &self.visibility {
            Visibility::All => true,
            Visibility::Filtered(filter) => filter.blob(digest),
        }
    }
}

/// Decides whether a request may go ahead.
///
/// `repository: None` means the catalog (`actions` is then `[Pull]`) or, with no actions,
/// the `/v2/` base check, which only needs valid credentials. Missing or invalid credentials
/// answer `401 UNAUTHORIZED` with a `WWW-Authenticate` challenge built by the implementor
/// ([`OciError::unauthorized`]); insufficient rights answer `403 DENIED`, or whatever the
/// uniform-denial rules ask for (a caller must not learn whether another organization or a
/// repository it may not see exists). A failing dependency answers `503 UNAVAILABLE`.
#[async_trait]
pub trait AccessControl: Send + Sync + std::fmt::Debug + 'static {
    /// Authorizes `actions` on `repository` for the caller identified by `headers`, connecting
    /// from `client` (for throttling failed attempts; `None` when unknown).
    ///
    /// `mount_from` is the source of a cross-repository mount: not required here (a mount the
    /// caller may not make falls back to an upload), but a challenge must ask for its `pull`
    /// too, so that a client taking its scopes from the challenge can mount at all.
    async fn authorize(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        repository: Option<&RepositoryName>,
        actions: &[Operation],
        mount_from: Option<&RepositoryName>,
    ) -> Result<Access, OciError>;

    /// A change to `repository` committed on this instance (a manifest pushed or deleted, a
    /// tag deleted): forget whatever was derived from its content, e.g. which of its tags
    /// a customer is entitled to, at once rather than when the database's notification comes
    /// back. Must return at once. The default keeps nothing, so forgets nothing.
    fn repository_changed(&self, _repository: &RepositoryName) {}
}

/// Denies everything with `401 UNAUTHORIZED` and the configured challenge: the default-deny
/// stand-in for the binary while no real authorizer is wired.
#[derive(Debug, Clone)]
pub struct DenyAll {
    challenge: HeaderValue,
}

impl DenyAll {
    /// Answers every request with this `WWW-Authenticate` challenge, e.g.
    /// `Bearer realm="https://wharf.example/token",service="wharf.example"`.
    pub fn new(challenge: HeaderValue) -> Self {
        Self { challenge }
    }
}

#[async_trait]
impl AccessControl for DenyAll {
    async fn authorize(
        &self,
        _headers: &HeaderMap,
        _client: Option<IpAddr>,
        _repository: Option<&RepositoryName>,
        _actions: &[Operation],
        _mount_from: Option<&RepositoryName>,
    ) -> Result<Access, OciError> {
        Err(OciError::unauthorized(self.challenge.clone()))
    }
}

/// Permissive [`AccessControl`] implementations for tests (`test-support` feature only).
#[cfg(feature = "test-support")]
pub mod testing {
    use super::*;

    /// Header a test sets to act as another principal (default [`DEFAULT_PRINCIPAL`]).
    pub const PRINCIPAL_HEADER: &str = "x-wharf-test-principal";

    /// The principal when the test sets no [`PRINCIPAL_HEADER`].
    pub const DEFAULT_PRINCIPAL: &str = "tester";

    const CHALLENGE: &str = r#"Bearer realm="http://wharf.test/token",service="wharf.test""#;

    /// Allows every action on every repository, as a member of one organization. The handlers
    /// still refuse writes outside that organization.
    #[derive(Debug, Clone)]
    pub struct AllowOrganization {
        organization_id: Uuid,
    }

    impl AllowOrganization {
        /// Acts as a member of `organization_id`.
        pub fn new(organization_id: Uuid) -> Self {
            Self { organization_id }
        }
    }

    #[async_trait]
    impl AccessControl for AllowOrganization {
        async fn authorize(
            &self,
            headers: &HeaderMap,
            _client: Option<IpAddr>,
            _repository: Option<&RepositoryName>,
            _actions: &[Operation],
            _mount_from: Option<&RepositoryName>,
        ) -> Result<Access, OciError> {
            let principal = headers
                .get(PRINCIPAL_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(DEFAULT_PRINCIPAL);
            Ok(Access::member(principal, self.organization_id))
        }
    }

    /// Allows anonymous pulls of every repository; anything else is `401` with a challenge,
    /// and the catalog is empty (no organization).
    #[derive(Debug, Clone, Default)]
    pub struct AnonymousPullOnly;

    #[async_trait]
    impl AccessControl for AnonymousPullOnly {
        async fn authorize(
            &self,
            _headers: &HeaderMap,
            _client: Option<IpAddr>,
            _repository: Option<&RepositoryName>,
            actions: &[Operation],
            _mount_from: Option<&RepositoryName>,
        ) -> Result<Access, OciError> {
            if actions.iter().all(|a| *a == Operation::Pull) {
                Ok(Access::anonymous())
            } else {
                Err(OciError::unauthorized(HeaderValue::from_static(CHALLENGE)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[tokio::test]
    async fn deny_all_answers_401_with_the_challenge() {
        let challenge =
            HeaderValue::from_static(r#"Bearer realm="https://w.example/token",service="w""#);
        let deny = DenyAll::new(challenge.clone());
        let name = RepositoryName::parse("acme/app").unwrap();
        for (repo, actions) in [
            (None, &[][..]),
            (None, &[Operation::Pull][..]),
            (Some(&name), &[Operation::Pull][..]),
            (Some(&name), &[Operation::Push, Operation::Delete][..]),
        ] {
            let err =
                deny.authorize(&HeaderMap::new(), None, repo, actions, None).await.unwrap_err();
            assert_eq!(err.code(), ErrorCode::Unauthorized);
            assert_eq!(err.headers()[http::header::WWW_AUTHENTICATE], challenge);
        }
    }

    #[test]
    fn visibility_all_sees_everything() {
        let access = Access::member("p", Uuid::nil());
        let digest = crate::digest::Algorithm::Sha256.digest(b"x");
        assert!(access.can_see_repository(&RepositoryName::parse("acme/app").unwrap()));
        assert!(access.can_see_tag(&Tag::parse("latest").unwrap()));
        assert!(access.can_see_manifest(&digest));
        assert!(access.can_see_blob(&digest));
        assert_eq!(Access::anonymous().organization_id, None);
        assert_eq!(Operation::Delete.as_str(), "delete");
    }
}
