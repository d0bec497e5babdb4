//! Repository names, tags and manifest references as validated types.
//!
//! Owns the OCI grammars (distribution spec "Pulling manifests"; tag grammar of the spec's
//! `end-3` note) and Wharf's own rule that a repository name has at least two components, the
//! first being the vendor organization's slug (`acme/app`). Hand-written validators, no regex.
//!
//! It must not decide who may see a name: that is the entitlements crate's job.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// Longest repository name accepted, in bytes (all valid names are ASCII).
pub const MAX_NAME_LEN: usize = 255;

/// Longest tag accepted, in bytes.
pub const MAX_TAG_LEN: usize = 128;

/// Why a repository name was rejected. Answered with `NAME_INVALID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Longer than [`MAX_NAME_LEN`].
    #[error("repository name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    /// Only one path component: there must be an organization and a path (`acme/app`).
    #[error("repository name must be <organization>/<path>")]
    MissingOrganization,
    /// A component does not match `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
    #[error("invalid repository name component {0:?}")]
    InvalidComponent(String),
}

/// A validated repository name: `<org-slug>/<path>`, for example `acme/tools/cli`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    /// Parses and validates a repository name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        let mut components = 0;
        for component in s.split('/') {
            if !is_valid_component(component) {
                return Err(NameError::InvalidComponent(truncate(component)));
            }
            components += 1;
        }
        if components < 2 {
            return Err(NameError::MissingOrganization);
        }
        Ok(Self(s.to_owned()))
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

/// Keeps error messages bounded when the input is huge.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        // A run of one or more alphanumerics.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // A separator: '.', '_', '__' or one or more '-'.
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[sep_start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepositoryName({})", self.0)
    }
}

impl FromStr for RepositoryName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for RepositoryName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Why a tag was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tag {0:?}: must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
pub struct TagError(pub String);

/// A validated tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
///
/// Tags are case-sensitive and compared byte for byte.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Parses and validates a tag.
    pub fn parse(s: &str) -> Result<Self, TagError> {
        let bytes = s.as_bytes();
        let valid = match bytes.split_first() {
            None => false,
            Some((first, rest)) => {
                bytes.len() <= MAX_TAG_LEN
                    && (first.is_ascii_alphanumeric() || *first == b'_')
                    && rest
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            }
        };
        if valid { Ok(Self(s.to_owned())) } else { Err(TagError(truncate(s))) }
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

impl FromStr for Tag {
    type Err = TagError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

macro_rules! string_serde {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_serde!(RepositoryName);
string_serde!(Tag);

/// The `<reference>` of `/v2/<name>/manifests/<reference>`: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A tag such as `1.2.0`.
    Tag(Tag),
    /// A digest such as `sha256:…`.
    Digest(Digest),
}

/// Why a reference was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Contains no `:` and is not a valid tag.
    #[error(transparent)]
    Tag(#[from] TagError),
    /// Contains a `:` (tags cannot) and is not a usable digest.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl Reference {
    /// Parses a path segment: with a `:` it is a digest, otherwise a tag.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        if s.contains(':') {
            Ok(Self::Digest(Digest::parse(s)?))
        } else {
            Ok(Self::Tag(Tag::parse(s)?))
        }
    }

    /// The tag, if this is one.
    pub fn as_tag(&self) -> Option<&Tag> {
        match self {
            Self::Tag(t) => Some(t),
            Self::Digest(_) => None,
        }
    }

    /// The digest, if this is one.
    pub fn as_digest(&self) -> Option<&Digest> {
        match self {
            Self::Digest(d) => Some(d),
            Self::Tag(_) => None,
        }
    }

    /// The reference as written in a URL.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Tag(t) => t.as_str(),
            Self::Digest(d) => d.as_str(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

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
    fn tags() {
        let max = "a".repeat(128);
        for tag in ["latest", "1.2.0", "v1.2.0-rc.1", "_x", "1.0.0_build.5", "A-Z.a_z", &max] {
            assert_eq!(Tag::parse(tag).unwrap().as_str(), tag);
        }
        let over = "a".repeat(129);
        for tag in ["", ".x", "-x", "a+b", "a:b", "a/b", "a b", "ü", &over] {
            assert!(Tag::parse(tag).is_err(), "{tag:?}");
        }
    }

    #[test]
    fn references() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            Reference::parse(&digest).unwrap(),
            Reference::Digest(Digest::parse(&digest).unwrap())
        );
        assert_eq!(Reference::parse("1.0").unwrap().as_tag().map(Tag::as_str), Some("1.0"));
        assert!(matches!(
            Reference::parse("sha256:abc"),
            Err(ReferenceError::Digest(DigestError::Invalid(_)))
        ));
        assert!(matches!(Reference::parse("bad+tag"), Err(ReferenceError::Tag(_))));
    }

    #[test]
    fn serde() {
        let n: RepositoryName = serde_json::from_str("\"acme/app\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"acme/app\"");
        assert!(serde_json::from_str::<RepositoryName>("\"app\"").is_err());
        assert!(serde_json::from_str::<Tag>("\"-x\"").is_err());
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

        #[test]
        fn arbitrary_strings_do_not_panic(s in ".{0,300}") {
            let _ = RepositoryName::parse(&s);
            let _ = Tag::parse(&s);
            let _ = Reference::parse(&s);
        }

        #[test]
        fn generated_tags_parse(tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}") {
            prop_assert!(Tag::parse(&tag).is_ok());
        }
    }
}
