//! The `<reference>` of `/v2/<name>/manifests/<reference>`: a tag or a digest.
//!
//! Owns the rule that tells them apart (a `:` makes it a digest; tags cannot contain one). It
//! must not know how a reference is resolved (that is the registry's, over the database).

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};
use crate::tag::{Tag, TagError};

/// A manifest reference: a tag or a digest.
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
    use crate::name::RepositoryName;
    use proptest::prelude::*;

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
    fn accessors_and_display() {
        let text = format!("sha256:{}", "a".repeat(64));
        let digest = Reference::parse(&text).unwrap();
        assert_eq!(digest.as_digest().map(Digest::as_str), Some(text.as_str()));
        assert_eq!(digest.as_tag(), None);
        assert_eq!(digest.as_str(), text);
        assert_eq!(digest.to_string(), text);
        let tag: Reference = "1.2.0".parse().unwrap();
        assert_eq!(tag.as_digest(), None);
        assert_eq!(tag.as_str(), "1.2.0");
        assert_eq!(tag.to_string(), "1.2.0");
    }

    proptest! {
        #[test]
        fn arbitrary_strings_do_not_panic(s in ".{0,300}") {
            let _ = RepositoryName::parse(&s);
            let _ = Tag::parse(&s);
            let _ = Reference::parse(&s);
        }
    }
}
