//! Repository patterns of grants.
//!
//! Owns the syntax of a grant's repository pattern: an exact repository name, or a prefix
//! ending in `/*` that matches every repository strictly below it. A pattern always starts
//! with the organization's slug. The grammar of names and tags themselves is `wharf-oci`'s,
//! re-exported here under the names this crate has always used; this module must not define
//! another, nor know about licenses or decisions.

use std::fmt;

use wharf_oci::name::is_valid_component;
// The longest repository name or pattern accepted is `wharf_oci::name::MAX_NAME_LEN`.
pub use wharf_oci::name::{MAX_NAME_LEN as MAX_REPOSITORY_LEN, is_valid_repository_name};
// Tags: `wharf_oci::tag::check_tag` is this crate's `validate_tag`.
pub use wharf_oci::tag::{MAX_TAG_LEN, TagNameError, check_tag as validate_tag, is_tag_char};

/// Why a repository pattern was rejected. The message names no field; [`crate::GrantError`]
/// adds `repository:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    /// The pattern is empty.
    #[error("must not be empty")]
    Empty,
    /// The pattern is longer than [`MAX_REPOSITORY_LEN`].
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A path component breaks the OCI repository name syntax.
    #[error(
        "`{component}` is not a valid path component (lower-case letters and digits, \
         separated by `.`, `_`, `__` or dashes; `*` only as a whole last component after `/`)"
    )]
    InvalidComponent {
        /// The offending component.
        component: String,
    },
    /// The first component is not the organization's slug.
    #[error("must start with the organization `{org}/`")]
    OutsideOrganization {
        /// The organization slug the pattern must start with.
        org: String,
    },
    /// The pattern names the organization itself rather than a repository.
    #[error("must name a repository below `{org}/`, or `{org}/*` for all of them")]
    OrganizationOnly {
        /// The organization slug.
        org: String,
    },
    /// The organization slug given for validation is not a valid path component.
    #[error("the organization slug `{org}` is not a valid repository path component")]
    InvalidOrganization {
        /// The slug.
        org: String,
    },
}

/// A validated repository pattern: `acme/app` (exactly that repository) or `acme/charts/*`
/// (every repository strictly below `acme/charts/`, at any depth, but not `acme/charts`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RepositoryPattern {
    /// The repository name, or the prefix without the trailing `/*`.
    name: String,
    /// Whether the pattern ended in `/*`.
    prefix: bool,
}

impl RepositoryPattern {
    /// Validates `pattern` for the organization `org`.
    ///
    /// The pattern must follow the OCI repository name syntax
    /// (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`), optionally
    /// followed by `/*`, be at most [`MAX_REPOSITORY_LEN`] bytes, and start with `org/`.
    pub fn parse(org: &str, pattern: &str) -> Result<Self, RepositoryError> {
        if !is_valid_component(org) {
            return Err(RepositoryError::InvalidOrganization { org: org.to_owned() });
        }
        if pattern.is_empty() {
            return Err(RepositoryError::Empty);
        }
        if pattern.len() > MAX_REPOSITORY_LEN {
            return Err(RepositoryError::TooLong { max: MAX_REPOSITORY_LEN });
        }
        let (name, prefix) = match pattern.strip_suffix("/*") {
            Some(name) => (name, true),
            None => (pattern, false),
        };
        for component in name.split('/') {
            if !is_valid_component(component) {
                return Err(RepositoryError::InvalidComponent { component: component.to_owned() });
            }
        }
        let mut components = name.split('/');
        if components.next() != Some(org) {
            return Err(RepositoryError::OutsideOrganization { org: org.to_owned() });
        }
        if components.next().is_none() && !prefix {
            return Err(RepositoryError::OrganizationOnly { org: org.to_owned() });
        }
        Ok(Self { name: name.to_owned(), prefix })
    }

    /// Whether `repository` is covered: equal to an exact pattern, or strictly below a prefix.
    #[must_use]
    pub fn matches(&self, repository: &str) -> bool {
        if self.prefix {
            repository
                .strip_prefix(self.name.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| !rest.is_empty())
        } else {
            repository == self.name
        }
    }

    /// Whether the pattern ends in `/*`.
    #[must_use]
    pub fn is_prefix(&self) -> bool {
        self.prefix
    }

    /// The repository name, or for a prefix pattern the part before `/*`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for RepositoryPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix { write!(f, "{}/*", self.name) } else { f.write_str(&self.name) }
    }
}

impl fmt::Debug for RepositoryPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepositoryPattern({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input, and the expected (name, is prefix) or error.
    type Case = (&'static str, Result<(&'static str, bool), RepositoryError>);

    #[test]
    fn patterns() {
        let cases: &[Case] = &[
            ("acme/app", Ok(("acme/app", false))),
            ("acme/charts/*", Ok(("acme/charts", true))),
            ("acme/*", Ok(("acme", true))),
            ("acme/a.b_c__d---e/f", Ok(("acme/a.b_c__d---e/f", false))),
            ("", Err(RepositoryError::Empty)),
            ("acme", Err(RepositoryError::OrganizationOnly { org: "acme".into() })),
            ("other/app", Err(RepositoryError::OutsideOrganization { org: "acme".into() })),
            ("acme-evil/app", Err(RepositoryError::OutsideOrganization { org: "acme".into() })),
            ("acme/App", Err(RepositoryError::InvalidComponent { component: "App".into() })),
            ("acme/a*", Err(RepositoryError::InvalidComponent { component: "a*".into() })),
            ("acme/*/x", Err(RepositoryError::InvalidComponent { component: "*".into() })),
            ("acme/app/", Err(RepositoryError::InvalidComponent { component: String::new() })),
            ("acme/a..b", Err(RepositoryError::InvalidComponent { component: "a..b".into() })),
            ("acme/a___b", Err(RepositoryError::InvalidComponent { component: "a___b".into() })),
            ("acme/-a", Err(RepositoryError::InvalidComponent { component: "-a".into() })),
            ("acme/a.", Err(RepositoryError::InvalidComponent { component: "a.".into() })),
            ("acme/a._b", Err(RepositoryError::InvalidComponent { component: "a._b".into() })),
            ("acme//*", Err(RepositoryError::InvalidComponent { component: String::new() })),
        ];
        for (input, expected) in cases {
            let got = RepositoryPattern::parse("acme", input).map(|p| (p.name.clone(), p.prefix));
            let expected = expected.clone().map(|(n, p)| (n.to_owned(), p));
            assert_eq!(got, expected, "{input}");
        }
        let long = format!("acme/{}", "a".repeat(MAX_REPOSITORY_LEN));
        assert_eq!(
            RepositoryPattern::parse("acme", &long),
            Err(RepositoryError::TooLong { max: MAX_REPOSITORY_LEN })
        );
        assert_eq!(
            RepositoryPattern::parse("Acme", "Acme/app"),
            Err(RepositoryError::InvalidOrganization { org: "Acme".into() })
        );
    }

    #[test]
    fn prefix_matching() {
        let prefix = RepositoryPattern::parse("acme", "acme/charts/*").unwrap();
        for (repo, expected) in [
            ("acme/charts/app", true),
            ("acme/charts/a/b", true),
            ("acme/charts", false),
            ("acme/charts/", false),
            ("acme/chartsx/app", false),
            ("acme/app", false),
        ] {
            assert_eq!(prefix.matches(repo), expected, "{repo}");
        }
        let exact = RepositoryPattern::parse("acme", "acme/app").unwrap();
        assert!(exact.matches("acme/app"));
        assert!(!exact.matches("acme/app/sub"));
        assert!(!exact.matches("acme/ap"));
        let whole_org = RepositoryPattern::parse("acme", "acme/*").unwrap();
        assert!(whole_org.matches("acme/app"));
        assert!(!whole_org.matches("acme"));
        assert!(!whole_org.matches("acmex/app"));
        assert_eq!(prefix.to_string(), "acme/charts/*");
        assert_eq!(exact.to_string(), "acme/app");
    }
}
