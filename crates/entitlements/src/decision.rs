//! Decision values: allowed or denied, each with a reason for the audit log and for the
//! customer's "why can't I pull this" view.
//!
//! Owns the vocabulary only; [`crate::decide`] and [`crate::entitled_set`] produce the values.
//! The HTTP layer must answer a denial exactly like a missing object (uniform denial): reasons
//! are for logs and for views the customer is entitled to, never for the protocol response.

use std::{fmt, sync::Arc};

use time::OffsetDateTime;

use crate::{facts::Digest, license::LicenseId};

/// Which grant of which license matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrantRef {
    /// The license.
    pub license: LicenseId,
    /// Index into [`crate::License::grants`].
    pub grant: usize,
    /// The license has expired with `keep_released`: only what was pushed before expiry.
    pub kept_release: bool,
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    /// Allowed, and why.
    Allowed(AllowReason),
    /// Denied, and why.
    Denied(DenyReason),
}

impl Decision {
    /// Whether the decision allows.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed(_))
    }

    /// The reason, when allowed.
    #[must_use]
    pub fn allow_reason(&self) -> Option<&AllowReason> {
        match self {
            Self::Allowed(reason) => Some(reason),
            Self::Denied(_) => None,
        }
    }

    /// The reason, when denied.
    #[must_use]
    pub fn deny_reason(&self) -> Option<&DenyReason> {
        match self {
            Self::Allowed(_) => None,
            Self::Denied(reason) => Some(reason),
        }
    }
}

/// Why something is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowReason {
    /// The repository is public.
    Public,
    /// A vendor member of the owning organization (see [`crate::EntitledSet::vendor`]).
    Vendor,
    /// A grant covers it: the tag's name and push time match (tags), or the pattern matches
    /// (repository access).
    Granted {
        /// The grant.
        grant: GrantRef,
    },
    /// The manifest is the current digest of an entitled tag.
    Tagged {
        /// The tag.
        tag: Arc<str>,
        /// The grant that entitles the tag.
        grant: GrantRef,
    },
    /// The manifest was an entitled tag's digest until `until`, within the re-tag grace window.
    RecentlyTagged {
        /// The tag.
        tag: Arc<str>,
        /// The grant that entitled the tag's assignment.
        grant: GrantRef,
        /// When the tag moved away.
        until: OffsetDateTime,
    },
    /// The manifest is a child of an allowed index.
    IndexChild {
        /// The index.
        index: Digest,
    },
    /// The manifest is a referrer of an allowed subject.
    Referrer {
        /// The subject.
        subject: Digest,
    },
    /// The blob is referenced (config or layer) by an allowed manifest.
    ReferencedBy {
        /// The manifest.
        manifest: Digest,
    },
}

impl AllowReason {
    /// A stable machine-readable code, for the audit log.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Vendor => "vendor",
            Self::Granted { .. } => "granted",
            Self::Tagged { .. } => "tagged",
            Self::RecentlyTagged { .. } => "recently_tagged",
            Self::IndexChild { .. } => "index_child",
            Self::Referrer { .. } => "referrer",
            Self::ReferencedBy { .. } => "referenced_by",
        }
    }
}

impl fmt::Display for AllowReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Public => f.write_str("the repository is public"),
            Self::Vendor => f.write_str("vendor member of the owning organization"),
            Self::Granted { grant } => write!(f, "{grant}"),
            Self::Tagged { tag, grant } => write!(f, "current digest of tag `{tag}` ({grant})"),
            Self::RecentlyTagged { tag, grant, until } => write!(
                f,
                "digest of tag `{tag}` until {until}, within the re-tag grace window ({grant})"
            ),
            Self::IndexChild { index } => write!(f, "child of the allowed index {index}"),
            Self::Referrer { subject } => write!(f, "referrer of the allowed manifest {subject}"),
            Self::ReferencedBy { manifest } => {
                write!(f, "referenced by the allowed manifest {manifest}")
            }
        }
    }
}

impl fmt::Display for GrantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "grant #{} of license {}", self.grant, self.license)?;
        if self.kept_release {
            f.write_str(", kept after expiry")?;
        }
        Ok(())
    }
}

/// Why something is denied. For tags the most specific reason over all grants is reported
/// (see [`DenyReason::rank`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// No grant of any license covers the repository.
    NoGrantForRepository,
    /// Grants cover the repository, but no selector matches the tag name.
    TagNotSelected,
    /// A selector matches, but the tag's push time is outside the grant's publish bounds.
    PublishedOutsideWindow,
    /// The only matching grants belong to a suspended license.
    LicenseSuspended {
        /// The license.
        license: LicenseId,
    },
    /// The only matching grants belong to a license that has not started.
    LicenseNotStarted {
        /// The license.
        license: LicenseId,
    },
    /// The only matching grants belong to a license that expired with `revoke`.
    LicenseExpired {
        /// The license.
        license: LicenseId,
    },
    /// The license expired with `keep_released`, and the tag was pushed at or after expiry.
    PushedAfterExpiry {
        /// The license.
        license: LicenseId,
    },
    /// The repository has no such tag.
    UnknownTag,
    /// The manifest is not reachable from any entitled tag (or does not exist).
    ManifestNotEntitled,
    /// No allowed manifest references the blob (or it does not exist).
    BlobNotEntitled,
}

impl DenyReason {
    /// A stable machine-readable code, for the audit log.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoGrantForRepository => "no_grant_for_repository",
            Self::TagNotSelected => "tag_not_selected",
            Self::PublishedOutsideWindow => "published_outside_window",
            Self::LicenseSuspended { .. } => "license_suspended",
            Self::LicenseNotStarted { .. } => "license_not_started",
            Self::LicenseExpired { .. } => "license_expired",
            Self::PushedAfterExpiry { .. } => "pushed_after_expiry",
            Self::UnknownTag => "unknown_tag",
            Self::ManifestNotEntitled => "manifest_not_entitled",
            Self::BlobNotEntitled => "blob_not_entitled",
        }
    }

    /// How close to allowed a denial is: when several grants deny, the highest rank is
    /// reported (first one wins a tie). A grant is checked in order: repository pattern, tag
    /// selector, publish bounds, then the license's state.
    #[must_use]
    pub fn rank(&self) -> u8 {
        match self {
            Self::UnknownTag | Self::ManifestNotEntitled | Self::BlobNotEntitled => 0,
            Self::NoGrantForRepository => 1,
            Self::TagNotSelected => 2,
            Self::PublishedOutsideWindow => 3,
            Self::LicenseSuspended { .. } => 4,
            Self::LicenseNotStarted { .. } => 5,
            Self::LicenseExpired { .. } => 6,
            Self::PushedAfterExpiry { .. } => 7,
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoGrantForRepository => f.write_str("no license grants this repository"),
            Self::TagNotSelected => f.write_str("no grant selects this tag"),
            Self::PublishedOutsideWindow => {
                f.write_str("the tag was published outside the grant's publish dates")
            }
            Self::LicenseSuspended { license } => write!(f, "license {license} is suspended"),
            Self::LicenseNotStarted { license } => {
                write!(f, "license {license} has not started yet")
            }
            Self::LicenseExpired { license } => write!(f, "license {license} has expired"),
            Self::PushedAfterExpiry { license } => write!(
                f,
                "license {license} has expired; only versions published before expiry remain"
            ),
            Self::UnknownTag => f.write_str("no such tag"),
            Self::ManifestNotEntitled => {
                f.write_str("the manifest is not part of any entitled tag")
            }
            Self::BlobNotEntitled => f.write_str("the blob is not part of any entitled manifest"),
        }
    }
}
