//! Blob keys: the content address (algorithm + lower-case hex) under which a blob is stored.
//!
//! Owns validation of keys and their storage path layout (`blobs/<alg>/<first two hex>/<hex>`).
//! The grammar of algorithms and their hex is `wharf-oci`'s ([`wharf_oci::digest`]); this module
//! adds only the path layout. It does not hash anything; the registry verifies digests and
//! hands storage an already valid key.

use std::fmt;
use std::str::FromStr;

use wharf_oci::digest::{Algorithm, Digest};

use crate::error::StorageError;

/// Hash algorithm of a content address: `wharf-oci`'s [`Algorithm`] (`sha256`, `sha512`).
/// [`Algorithm::ALL`] is the storage listing order.
pub type DigestAlgorithm = Algorithm;

/// A validated content address: algorithm plus lower-case hex of the exact length.
///
/// Display and [`BlobKey::parse`] use the OCI digest form `sha256:<hex>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobKey {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl BlobKey {
    /// Builds a key, checking that `hex` is lower-case hex of the algorithm's length.
    pub fn new(algorithm: DigestAlgorithm, hex: impl Into<String>) -> Result<Self, StorageError> {
        let hex = hex.into();
        if !algorithm.is_valid_encoded(&hex) {
            return Err(StorageError::InvalidKey(format!(
                "expected {} lower-case hex characters for {algorithm}",
                algorithm.encoded_len()
            )));
        }
        Ok(Self { algorithm, hex })
    }

    /// Parses the digest form `<algorithm>:<hex>` (an OCI digest of a supported algorithm).
    pub fn parse(digest: &str) -> Result<Self, StorageError> {
        let digest = Digest::parse(digest).map_err(|e| StorageError::InvalidKey(e.to_string()))?;
        Ok(Self::from(&digest))
    }

    /// The key's hash algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The key's lower-case hex.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The key's path relative to the store root: `blobs/<alg>/<first two hex>/<hex>`.
    pub fn path(&self) -> String {
        format!("blobs/{}/{}/{}", self.algorithm, &self.hex[..2], self.hex)
    }

    /// Parses a relative path produced by [`BlobKey::path`]; `None` for anything else
    /// (temporary files, foreign objects, wrong fan-out directory).
    pub fn from_path(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("blobs/")?;
        let mut parts = rest.split('/');
        let (alg, fan, hex) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let key = Self::new(Algorithm::from_name(alg)?, hex).ok()?;
        (fan == &key.hex[..2]).then_some(key)
    }
}

impl From<&Digest> for BlobKey {
    /// The key of a digest: both spell `<algorithm>:<hex>`.
    fn from(digest: &Digest) -> Self {
        Self { algorithm: digest.algorithm(), hex: digest.encoded().to_owned() }
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for BlobKey {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn valid_keys_round_trip_through_paths() {
        let key = BlobKey::new(DigestAlgorithm::Sha256, HEX64).unwrap();
        assert_eq!(key.path(), format!("blobs/sha256/e3/{HEX64}"));
        assert_eq!(BlobKey::from_path(&key.path()), Some(key.clone()));
        assert_eq!(key.to_string(), format!("sha256:{HEX64}"));
        assert_eq!(BlobKey::parse(&key.to_string()).unwrap(), key);
        let long = "ab".repeat(64);
        assert!(BlobKey::new(DigestAlgorithm::Sha512, long).is_ok());
    }

    #[test]
    fn invalid_keys_are_rejected() {
        for (alg, hex) in [
            (DigestAlgorithm::Sha256, &HEX64[..63]),
            (DigestAlgorithm::Sha512, HEX64),
            (DigestAlgorithm::Sha256, &HEX64.to_uppercase()),
            (DigestAlgorithm::Sha256, &format!("../{}", &HEX64[3..])),
        ] {
            assert!(BlobKey::new(alg, hex).is_err(), "{hex}");
        }
        assert!(BlobKey::parse("md5:abc").is_err());
        assert!(BlobKey::parse(HEX64).is_err());
    }

    #[test]
    fn foreign_paths_are_not_keys() {
        assert_eq!(BlobKey::from_path(&format!("blobs/sha256/ff/{HEX64}")), None);
        assert_eq!(BlobKey::from_path(&format!("blobs/sha256/e3/{HEX64}/x")), None);
        assert_eq!(BlobKey::from_path(&format!("_uploads/sha256/e3/{HEX64}")), None);
        assert_eq!(BlobKey::from_path("blobs/sha256/e3"), None);
    }
}
