//! Grants: a repository pattern, a tag selector and optional publish-date bounds.
//!
//! This is the one place that decides what a valid grant is: [`Grant::new`] and
//! [`GrantSpec::validate`] (the JSON shape) both end in the same checks, and every error names
//! the JSON field it is about, for the API and the portals. Grants know nothing of licenses'
//! validity windows or of the repository's contents.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    repository::{RepositoryError, RepositoryPattern, TagNameError},
    selector::{GlobError, TagSelector, TagSelectorSpec},
    semver_range::RangeError,
};

/// A validated grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    repository: RepositoryPattern,
    tags: TagSelector,
    published_after: Option<OffsetDateTime>,
    published_before: Option<OffsetDateTime>,
}

/// Why a grant was rejected. [`GrantError::field`] names the JSON field; `Display` is
/// `"<field>: <message>"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// `repository` is not a valid pattern for the organization.
    #[error("repository: {0}")]
    Repository(RepositoryError),
    /// `tags.values` is empty.
    #[error("tags.values: must list at least one tag")]
    EmptyTagList,
    /// `tags.values[index]` is not a valid tag.
    #[error("tags.values[{index}]: {problem}")]
    Tag {
        /// Position in the list as given.
        index: usize,
        /// What is wrong with it.
        problem: TagNameError,
    },
    /// `tags.pattern` is not a valid glob.
    #[error("tags.pattern: {0}")]
    Glob(GlobError),
    /// `tags.range` is not a valid semver range.
    #[error("tags.range: {0}")]
    Range(RangeError),
    /// `published_before` is not after `published_after`.
    #[error("published_before: must be later than published_after")]
    EmptyPublishedWindow,
}

impl GrantError {
    /// The JSON field the error is about: `repository`, `tags.values`, `tags.values[2]`,
    /// `tags.pattern`, `tags.range` or `published_before`.
    #[must_use]
    pub fn field(&self) -> String {
        match self {
            Self::Repository(_) => "repository".to_owned(),
            Self::EmptyTagList => "tags.values".to_owned(),
            Self::Tag { index, .. } => format!("tags.values[{index}]"),
            Self::Glob(_) => "tags.pattern".to_owned(),
            Self::Range(_) => "tags.range".to_owned(),
            Self::EmptyPublishedWindow => "published_before".to_owned(),
        }
    }
}

impl Grant {
    /// Validates a grant for the organization `org` (the first path component of every
    /// repository it owns). `published_after` is inclusive, `published_before` exclusive; when
    /// both are given, `published_before` must be later.
    pub fn new(
        org: &str,
        repository: &str,
        tags: TagSelector,
        published_after: Option<OffsetDateTime>,
        published_before: Option<OffsetDateTime>,
    ) -> Result<Self, GrantError> {
        let repository =
            RepositoryPattern::parse(org, repository).map_err(GrantError::Repository)?;
        if let (Some(after), Some(before)) = (published_after, published_before)
            && before <= after
        {
            return Err(GrantError::EmptyPublishedWindow);
        }
        Ok(Self { repository, tags, published_after, published_before })
    }

    /// The repository pattern.
    #[must_use]
    pub fn repository(&self) -> &RepositoryPattern {
        &self.repository
    }

    /// The tag selector.
    #[must_use]
    pub fn tags(&self) -> &TagSelector {
        &self.tags
    }

    /// Inclusive lower bound on the tag's push time.
    #[must_use]
    pub fn published_after(&self) -> Option<OffsetDateTime> {
        self.published_after
    }

    /// Exclusive upper bound on the tag's push time.
    #[must_use]
    pub fn published_before(&self) -> Option<OffsetDateTime> {
        self.published_before
    }

    /// Whether the grant's pattern covers `repository`.
    #[must_use]
    pub fn covers_repository(&self, repository: &str) -> bool {
        self.repository.matches(repository)
    }

    /// Whether a tag pushed at `pushed_at` is inside the publish bounds
    /// (`published_after <= pushed_at < published_before`).
    #[must_use]
    pub fn published_in_window(&self, pushed_at: OffsetDateTime) -> bool {
        self.published_after.is_none_or(|after| after <= pushed_at)
            && self.published_before.is_none_or(|before| pushed_at < before)
    }

    /// The JSON shape of this grant.
    #[must_use]
    pub fn to_spec(&self) -> GrantSpec {
        GrantSpec {
            repository: self.repository.to_string(),
            tags: self.tags.to_spec(),
            published_after: self.published_after,
            published_before: self.published_before,
        }
    }
}

impl Serialize for Grant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_spec().serialize(serializer)
    }
}

/// The JSON shape of a grant, before validation:
/// `{"repository":"acme/app","tags":{"kind":"all"},"published_after":null,
/// "published_before":"2026-01-01T00:00:00Z"}`. Dates are RFC 3339; both may be omitted.
/// Unknown fields are rejected (a misspelt bound must not silently widen a grant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// `acme/app` or `acme/charts/*`.
    pub repository: String,
    /// The tag selector.
    pub tags: TagSelectorSpec,
    /// Inclusive lower bound on the tag's push time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub published_after: Option<OffsetDateTime>,
    /// Exclusive upper bound on the tag's push time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub published_before: Option<OffsetDateTime>,
}

impl GrantSpec {
    /// Validates into a [`Grant`] for the organization `org`.
    pub fn validate(&self, org: &str) -> Result<Grant, GrantError> {
        Grant::new(
            org,
            &self.repository,
            self.tags.validate()?,
            self.published_after,
            self.published_before,
        )
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn json_round_trip() {
        let json = r#"{"repository":"acme/charts/*","tags":{"kind":"semver","range":">=1.0.0 <2.0.0","allow_v_prefix":false,"include_prereleases":false},"published_after":"2026-01-01T00:00:00Z","published_before":null}"#;
        let spec: GrantSpec = serde_json::from_str(json).unwrap();
        let grant = spec.validate("acme").unwrap();
        assert!(grant.covers_repository("acme/charts/app"));
        assert_eq!(grant.published_after(), Some(datetime!(2026-01-01 0:00 UTC)));
        assert_eq!(serde_json::to_string(&grant).unwrap(), json);
        let minimal: GrantSpec =
            serde_json::from_str(r#"{"repository":"acme/app","tags":{"kind":"all"}}"#).unwrap();
        assert_eq!(minimal.published_after, None);
        assert!(minimal.validate("acme").is_ok());
    }

    #[test]
    fn json_rejects_unknown_fields_and_bad_dates() {
        for bad in [
            r#"{"repository":"acme/app","tags":{"kind":"all"},"published_befor":null}"#,
            r#"{"repository":"acme/app","tags":{"kind":"all"},"published_after":"yesterday"}"#,
            r#"{"repository":"acme/app"}"#,
        ] {
            assert!(serde_json::from_str::<GrantSpec>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_fields() {
        let cases: Vec<(GrantSpec, &str)> = vec![
            (
                GrantSpec {
                    repository: "other/app".into(),
                    tags: TagSelectorSpec::All,
                    published_after: None,
                    published_before: None,
                },
                "repository",
            ),
            (
                GrantSpec {
                    repository: "acme/app".into(),
                    tags: TagSelectorSpec::Glob { pattern: "1.*?".into() },
                    published_after: None,
                    published_before: None,
                },
                "tags.pattern",
            ),
            (
                GrantSpec {
                    repository: "acme/app".into(),
                    tags: TagSelectorSpec::Semver {
                        range: ">=1 <".into(),
                        allow_v_prefix: false,
                        include_prereleases: false,
                    },
                    published_after: None,
                    published_before: None,
                },
                "tags.range",
            ),
            (
                GrantSpec {
                    repository: "acme/app".into(),
                    tags: TagSelectorSpec::Exact { values: vec![] },
                    published_after: None,
                    published_before: None,
                },
                "tags.values",
            ),
            (
                GrantSpec {
                    repository: "acme/app".into(),
                    tags: TagSelectorSpec::All,
                    published_after: Some(datetime!(2026-01-01 0:00 UTC)),
                    published_before: Some(datetime!(2026-01-01 0:00 UTC)),
                },
                "published_before",
            ),
        ];
        for (spec, field) in cases {
            let err = spec.validate("acme").unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().starts_with(&format!("{field}: ")), "{err}");
        }
    }

    #[test]
    fn accessors() {
        let after = datetime!(2026-01-01 0:00 UTC);
        let before = datetime!(2026-02-01 0:00 UTC);
        let glob = TagSelector::glob("1.*").unwrap();
        let grant =
            Grant::new("acme", "acme/app", glob.clone(), Some(after), Some(before)).unwrap();
        assert_eq!(grant.repository().to_string(), "acme/app");
        assert_eq!(grant.tags(), &glob);
        assert_eq!(
            (grant.published_after(), grant.published_before()),
            (Some(after), Some(before))
        );
        let open = Grant::new("acme", "acme/*", TagSelector::All, None, None).unwrap();
        assert_eq!((open.published_after(), open.published_before()), (None, None));
        assert!(open.covers_repository("acme/x") && !open.covers_repository("other/x"));
    }

    #[test]
    fn published_bounds_after_inclusive_before_exclusive() {
        let after = datetime!(2026-01-01 0:00 UTC);
        let before = datetime!(2026-02-01 0:00 UTC);
        let grant =
            Grant::new("acme", "acme/app", TagSelector::All, Some(after), Some(before)).unwrap();
        for (t, expected) in [
            (datetime!(2025-12-31 23:59:59.999 UTC), false),
            (after, true),
            (datetime!(2026-01-15 0:00 UTC), true),
            (datetime!(2026-01-31 23:59:59.999 UTC), true),
            (before, false),
        ] {
            assert_eq!(grant.published_in_window(t), expected, "{t}");
        }
        let open = Grant::new("acme", "acme/app", TagSelector::All, None, None).unwrap();
        assert!(open.published_in_window(datetime!(1970-01-01 0:00 UTC)));
    }
}
