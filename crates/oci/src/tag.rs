//! Tags.
//!
//! Owns the OCI tag grammar (distribution spec, "Pulling manifests"):
//! `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, as the validated [`Tag`] and as [`check_tag`], which
//! says what is wrong for people typing tags into a grant. Tags are case-sensitive and
//! compared byte for byte.
//!
//! It must not know about tag selectors, globs or semver ranges (`wharf-entitlements` builds
//! those on [`is_tag_char`] and [`check_tag`]).

use crate::truncate;

/// Longest tag accepted, in bytes.
pub const MAX_TAG_LEN: usize = 128;

/// What is wrong with a tag. The message names no field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagNameError {
    /// The tag is empty.
    #[error("must not be empty")]
    Empty,
    /// The tag is longer than [`MAX_TAG_LEN`].
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A character outside `[A-Za-z0-9_.-]`, or `.`/`-` in first place.
    #[error("`{0}` is not allowed here (tags are `[A-Za-z0-9_][A-Za-z0-9_.-]*`)")]
    InvalidChar(char),
}

/// Checks a tag against `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`: empty first, then the length,
/// then the first offending character.
pub fn check_tag(tag: &str) -> Result<(), TagNameError> {
    let mut chars = tag.chars();
    let Some(first) = chars.next() else {
        return Err(TagNameError::Empty);
    };
    if tag.len() > MAX_TAG_LEN {
        return Err(TagNameError::TooLong { max: MAX_TAG_LEN });
    }
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return Err(TagNameError::InvalidChar(first));
    }
    match chars.find(|c| !is_tag_char(*c)) {
        Some(c) => Err(TagNameError::InvalidChar(c)),
        None => Ok(()),
    }
}

/// Whether `c` may stand in a tag after the first character: `[A-Za-z0-9_.-]`.
#[must_use]
pub fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Why a tag was rejected, naming the tag.
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
        match check_tag(s) {
            Ok(()) => Ok(Self(s.to_owned())),
            Err(_) => Err(TagError(truncate(s))),
        }
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

crate::validated_str!(Tag, TagError);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn tag_problems() {
        for ok in ["latest", "1.2.3", "_x", "A-b.c_D", &"a".repeat(128)] {
            assert_eq!(check_tag(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_tag(""), Err(TagNameError::Empty));
        assert_eq!(check_tag(".a"), Err(TagNameError::InvalidChar('.')));
        assert_eq!(check_tag("-a"), Err(TagNameError::InvalidChar('-')));
        assert_eq!(check_tag("a+b"), Err(TagNameError::InvalidChar('+')));
        assert_eq!(check_tag("a*"), Err(TagNameError::InvalidChar('*')));
        assert_eq!(check_tag(&"a".repeat(129)), Err(TagNameError::TooLong { max: 128 }));
    }

    #[test]
    fn serde() {
        assert_eq!(serde_json::to_string(&Tag::parse("v1").unwrap()).unwrap(), "\"v1\"");
        assert!(serde_json::from_str::<Tag>("\"-x\"").is_err());
    }

    proptest! {
        #[test]
        fn generated_tags_parse(tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}") {
            prop_assert!(Tag::parse(&tag).is_ok());
        }
    }
}
