//! wharf-entitlements: what a customer may pull, as pure functions.
//!
//! Owns licenses, grants, tag selectors (all, exact, glob, semver) and the decisions built on
//! them. No I/O: no tokio, sqlx or axum; the clock is a parameter and the database only
//! supplies facts (tags, tag history, manifest graph).
//!
//! Where to look: [`grant`] and [`selector`] validate what a vendor writes; [`license`] holds
//! validity windows; [`facts`] is what the database supplies; [`decide`] states each decision
//! directly; [`entitled_set`] precomputes them for the hot path. The rules are written out for
//! vendors in `docs/entitlements.md`.

pub mod decide;
pub mod decision;
pub mod entitled_set;
pub mod facts;
pub mod grant;
pub mod license;
pub mod repository;
pub mod selector;
pub mod semver_range;

pub use decide::Decider;
pub use decision::{AllowReason, Decision, DenyReason, GrantRef};
pub use entitled_set::EntitledSet;
pub use facts::{Digest, ManifestContent, ManifestFact, RepositoryFacts, TagFact, TagHistoryFact};
pub use grant::{Grant, GrantError, GrantSpec};
pub use license::{ExpiryPolicy, License, LicenseError, LicenseId, LicenseState};
pub use repository::{RepositoryError, RepositoryPattern, TagNameError};
pub use selector::{GlobError, TagSelector, TagSelectorSpec};
pub use semver_range::{RangeError, SemverRange};
