//! Repository names and their path components.
//!
//! Owns the OCI repository-name grammar (distribution spec, "Pulling manifests"):
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most
//! [`MAX_NAME_LEN`] bytes, and Wharf's rules on top of it: a [`RepositoryName`] has at least
//! two components, the first being the vendor organization's slug (`acme/app`), and a slug is
//! one component of at most [`MAX_ORG_SLUG_LEN`] bytes. Hand-written checks, no regex.
//!
//! It must not decide who may see a name (entitlements), nor know what a scope or a grant
//! pattern adds around a name (`wharf-auth`, `wharf-entitlements` build those on
//! [`check_repository_name`] and [`is_valid_component`]).

use crate::truncate;

/// Longest repository name accepted, in bytes (all valid names are ASCII).
pub const MAX_NAME_LEN: usize = 255;

/// Longest organization slug accepted, in bytes (the database's CHECK says the same).
pub const MAX_ORG_SLUG_LEN: usize = 63;

/// Why one path component breaks `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
///
/// The messages speak of "a path component"; callers checking a single component (a slug)
/// may reword them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ComponentError {
    /// The component is empty (`acme//app`, a leading or trailing `/`).
    #[error("it has an empty path component")]
    Empty,
    /// The first or last character is not a lower-case letter or digit.
    #[error("a path component must start and end with a lower-case letter or digit")]
    Edge,
    /// Between letters and digits there is something other than `.`, `_`, `__` or dashes.
    #[error("only lower-case letters, digits and the separators `.`, `_`, `__` or `-` are allowed")]
    Separator,
}

impl ComponentError {
    /// The message, as a static string.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Empty => "it has an empty path component",
            Self::Edge => "a path component must start and end with a lower-case letter or digit",
            Self::Separator => {
                "only lower-case letters, digits and the separators `.`, `_`, `__` or `-` are allowed"
            }
        }
    }
}

/// Checks one path component against `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn check_component(component: &str) -> Result<(), ComponentError> {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if alnum(first) && alnum(last) => {}
        (None, _) | (_, None) => return Err(ComponentError::Empty),
        _ => return Err(ComponentError::Edge),
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        let run = rest.iter().take_while(|b| alnum(b)).count();
        rest = &rest[run..];
        let sep = rest.iter().take_while(|b| !alnum(b)).count();
        let (separator, tail) = rest.split_at(sep);
        let valid = match separator {
            [] | [b'.'] | [b'_'] | [b'_', b'_'] => true,
            dashes => dashes.iter().all(|&b| b == b'-'),
        };
        if !valid {
            return Err(ComponentError::Separator);
        }
        rest = tail;
    }
    Ok(())
}

/// Whether `component` matches `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
#[must_use]
pub fn is_valid_component(component: &str) -> bool {
    check_component(component).is_ok()
}

/// Whether `slug` is a valid organization slug: one path component of at most
/// [`MAX_ORG_SLUG_LEN`] bytes.
#[must_use]
pub fn is_valid_org_slug(slug: &str) -> bool {
    slug.len() <= MAX_ORG_SLUG_LEN && is_valid_component(slug)
}

/// Why a string is not a repository name under the OCI grammar (one or more components).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// The name is empty.
    #[error("it is empty")]
    Empty,
    /// Longer than [`MAX_NAME_LEN`] bytes.
    #[error("it is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    /// A component breaks the grammar.
    #[error("{problem}")]
    InvalidComponent {
        /// The offending component, shortened to 64 characters.
        component: String,
        /// What is wrong with it.
        problem: ComponentError,
    },
}

impl SyntaxError {
    /// The message, as a static string (the offending component is not in it).
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "it is empty",
            Self::TooLong => "it is longer than 255 characters",
            Self::InvalidComponent { problem, .. } => problem.reason(),
        }
    }
}

/// Checks `name` against the OCI repository-name grammar: one or more valid components
/// separated by `/`, at most [`MAX_NAME_LEN`] bytes. Wharf's own rule (an organization and a
/// path) is [`RepositoryName`]'s.
pub fn check_repository_name(name: &str) -> Result<(), SyntaxError> {
    if name.is_empty() {
        return Err(SyntaxError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(SyntaxError::TooLong);
    }
    for component in name.split('/') {
        check_component(component).map_err(|problem| SyntaxError::InvalidComponent {
            component: truncate(component),
            problem,
        })?;
    }
    Ok(())
}

/// Whether `name` is a repository name under the OCI grammar (see [`check_repository_name`];
/// a single component such as `app` counts, no organization check).
#[must_use]
pub fn is_valid_repository_name(name: &str) -> bool {
    check_repository_name(name).is_ok()
}

/// Why a repository name was rejected. Answered with `NAME_INVALID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Longer than [`MAX_NAME_LEN`].
    #[error("repository name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    /// Only one path component: there must be an organization and a path (`acme/app`).
    #[error("repository name must be <organization>/<path>")]
    MissingOrganization,
    /// A component does not match `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` (empty for an empty
    /// name or an empty component).
    #[error("invalid repository name component {0:?}")]
    InvalidComponent(String),
}

/// A validated repository name: `<org-slug>/<path>`, for example `acme/tools/cli`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    /// Parses and validates a repository name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        match check_repository_name(s) {
            Ok(()) if s.contains('/') => Ok(Self(s.to_owned())),
            Ok(()) => Err(NameError::MissingOrganization),
            Err(SyntaxError::Empty) => Err(NameError::InvalidComponent(String::new())),
            Err(SyntaxError::TooLong) => Err(NameError::TooLong),
            Err(SyntaxError::InvalidComponent { component, .. }) => {
                Err(NameError::InvalidComponent(component))
            }
        }
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The organization slug: the first component (`acme` in `acme/tools/cli`).
    pub fn org_slug(&self) -> &str {
        self.split().0
    }

    /// The path within the organization: everything after the first `/` (`tools/cli`).
    pub fn path(&self) -> &str {
        self.split().1
    }

    fn split(&self) -> (&str, &str) {
        // Validation guarantees a '/'; fall back to an empty path rather than panic.
        self.0.split_once('/').unwrap_or((&self.0, ""))
    }
}

crate::validated_str!(RepositoryName, NameError);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_names() {
        for name in [
            "acme/app",
            "acme/tools/cli",
            "a/b",
            "a0/1",
            "acme/my.app",
            "acme/my_app",
            "acme/my__app",
            "acme/my-app",
            "acme/my---app",
            "acme-corp/app.v2_x__y-z",
            "acme/blobs/manifests/x",
            "acme/tags/list/x",
            "acme/manifests",
            "acme/blobs",
            "acme/referrers",
        ] {
            let parsed = RepositoryName::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parsed.as_str(), name);
        }
    }

    #[test]
    fn invalid_names() {
        let too_long = format!("acme/{}", "a".repeat(251));
        let cases: &[(&str, NameError)] = &[
            ("", NameError::InvalidComponent(String::new())),
            ("acme", NameError::MissingOrganization),
            ("Acme/app", NameError::InvalidComponent("Acme".into())),
            ("acme/App", NameError::InvalidComponent("App".into())),
            ("acme/", NameError::InvalidComponent(String::new())),
            ("/acme/app", NameError::InvalidComponent(String::new())),
            ("acme//app", NameError::InvalidComponent(String::new())),
            ("acme/app/", NameError::InvalidComponent(String::new())),
            ("acme/.app", NameError::InvalidComponent(".app".into())),
            ("acme/app.", NameError::InvalidComponent("app.".into())),
            ("acme/a..b", NameError::InvalidComponent("a..b".into())),
            ("acme/a___b", NameError::InvalidComponent("a___b".into())),
            ("acme/a._b", NameError::InvalidComponent("a._b".into())),
            ("acme/a-_b", NameError::InvalidComponent("a-_b".into())),
            ("acme/-a", NameError::InvalidComponent("-a".into())),
            ("acme/a b", NameError::InvalidComponent("a b".into())),
            ("acme/a:b", NameError::InvalidComponent("a:b".into())),
            ("acme/é", NameError::InvalidComponent("é".into())),
            (&too_long, NameError::TooLong),
        ];
        for (name, want) in cases {
            assert_eq!(RepositoryName::parse(name).as_ref(), Err(want), "{name:?}");
        }
        let max = format!("acme/{}", "a".repeat(250));
        assert_eq!(max.len(), 255);
        assert!(RepositoryName::parse(&max).is_ok());
    }

    #[test]
    fn org_slug_and_path() {
        let n = RepositoryName::parse("acme/tools/cli").unwrap();
        assert_eq!(n.org_slug(), "acme");
        assert_eq!(n.path(), "tools/cli");
    }

    #[test]
    fn serde() {
        let n: RepositoryName = serde_json::from_str("\"acme/app\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"acme/app\"");
        assert!(serde_json::from_str::<RepositoryName>("\"app\"").is_err());
    }

    #[test]
    fn component_problems() {
        for (component, want) in [
            ("", Err(ComponentError::Empty)),
            ("a", Ok(())),
            ("a.b_c__d---e", Ok(())),
            ("Acme", Err(ComponentError::Edge)),
            ("-a", Err(ComponentError::Edge)),
            ("a-", Err(ComponentError::Edge)),
            ("äpp", Err(ComponentError::Edge)),
            ("a..b", Err(ComponentError::Separator)),
            ("a___b", Err(ComponentError::Separator)),
            ("a._b", Err(ComponentError::Separator)),
            ("a b", Err(ComponentError::Separator)),
            ("aBc", Err(ComponentError::Separator)),
        ] {
            assert_eq!(check_component(component), want, "{component:?}");
        }
        for problem in [ComponentError::Empty, ComponentError::Edge, ComponentError::Separator] {
            assert_eq!(problem.to_string(), problem.reason());
        }
    }

    #[test]
    fn oci_grammar_without_the_organization_rule() {
        assert!(is_valid_repository_name("app"));
        assert!(is_valid_repository_name("acme/app"));
        assert!(!is_valid_repository_name("acme/app/*"));
        assert_eq!(check_repository_name(""), Err(SyntaxError::Empty));
        assert_eq!(check_repository_name(&"a".repeat(256)), Err(SyntaxError::TooLong));
        assert!(is_valid_repository_name(&"a".repeat(255)));
        for err in [
            SyntaxError::Empty,
            SyntaxError::TooLong,
            SyntaxError::InvalidComponent { component: "-".into(), problem: ComponentError::Edge },
        ] {
            assert_eq!(err.to_string(), err.reason());
        }
    }

    #[test]
    fn org_slugs() {
        for good in ["acme", "a", "acme-inc", "a__b", "0x1", &"a".repeat(63)] {
            assert!(is_valid_org_slug(good), "{good}");
        }
        for bad in ["", "Acme", "acme/app", "-acme", "a___b", &"a".repeat(64)] {
            assert!(!is_valid_org_slug(bad), "{bad}");
        }
    }

    const COMPONENT: &str = "[a-z0-9]{1,5}((\\.|_|__|-{1,3})[a-z0-9]{1,5}){0,3}";

    fn valid_name() -> impl Strategy<Value = String> {
        proptest::collection::vec(COMPONENT, 2..6).prop_map(|c| c.join("/"))
    }

    proptest! {
        #[test]
        fn generated_names_parse(name in valid_name()) {
            let parsed = RepositoryName::parse(&name).unwrap();
            prop_assert_eq!(parsed.as_str(), name.as_str());
            prop_assert_eq!(format!("{}/{}", parsed.org_slug(), parsed.path()), name);
        }

        #[test]
        fn mutated_names_do_not_panic(
            name in valid_name(),
            pos in any::<prop::sample::Index>(),
            ch in any::<char>(),
        ) {
            let mut chars: Vec<char> = name.chars().collect();
            let i = pos.index(chars.len());
            chars[i] = ch;
            let mutated: String = chars.into_iter().collect();
            if let Ok(parsed) = RepositoryName::parse(&mutated) {
                // Whatever parses is still within the grammar's alphabet.
                prop_assert!(parsed.as_str().bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit() || b"._-/".contains(&b)));
            }
        }
    }
}
