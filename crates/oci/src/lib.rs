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

/// Serde for a validated string type: serialises as the string, deserialises through `parse`.
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
pub(crate) use string_serde;
