//! wharf-oci: Wharf's OCI vocabulary, one grammar for every crate.
//!
//! Owns the syntax of the names the OCI distribution and image specs define, as validated
//! types and checks: repository names and their path components ([`name`]), tags ([`tag`]),
//! digests and the streaming hasher that produces them ([`digest`]), and the `<reference>` of
//! a manifest URL ([`reference`]). It also owns Wharf's two rules on top of the spec: a
//! repository name is `<org-slug>/<path>`, and an organization slug is one name component of
//! at most [`name::MAX_ORG_SLUG_LEN`] characters.
//!
//! It must not decide who may see or push a name (that is `wharf-entitlements` and
//! `wharf-auth`), do I/O, or depend on another Wharf crate: the registry, auth scopes,
//! entitlement patterns, blob keys and the database's CHECK constraints all agree because they
//! all use this crate (the database's agreement is tested in `wharf-db`).

pub mod digest;
pub mod name;
pub mod reference;
pub mod tag;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use name::{NameError, RepositoryName};
pub use reference::{Reference, ReferenceError};
pub use tag::{Tag, TagError};

/// Keeps error messages bounded when the input is huge: the first 64 characters.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The impls every validated string type shares, given its `parse` and `as_str`: `Display`
/// and `AsRef<str>` (the string), `Debug` (`Type(string)`), `FromStr` (through `parse`), and
/// serde (serialises as the string, deserialises through `parse`).
macro_rules! validated_str {
    ($ty:ident, $err:ty) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

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
pub(crate) use validated_str;
