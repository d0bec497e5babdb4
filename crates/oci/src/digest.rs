//! Content digests: the validated [`Digest`] type and the streaming [`Hasher`].
//!
//! Owns the `algorithm:encoded` grammar of the OCI image spec (descriptor.md, "Digests"), the
//! set of algorithms Wharf accepts (`sha256`, `sha512`) with the exact form of their encoded
//! part, and hashing whose state can be saved between requests so that any instance can
//! continue a chunked upload.
//!
//! It must not know about HTTP, storage or the database: the registry turns a [`DigestError`]
//! into an OCI error, and blob storage builds its keys from [`Algorithm`] and
//! [`Algorithm::is_valid_encoded`].

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;
use sha2::digest::common::hazmat::{SerializableState, SerializedState};

/// A digest algorithm Wharf supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// `sha256`: 64 lowercase hex characters. The canonical algorithm.
    Sha256,
    /// `sha512`: 128 lowercase hex characters.
    Sha512,
}

impl Algorithm {
    /// Every supported algorithm, `sha256` first.
    pub const ALL: [Algorithm; 2] = [Self::Sha256, Self::Sha512];

    /// The algorithm's name as it appears before the colon.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded part.
    pub const fn encoded_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }

    /// Whether `encoded` is this algorithm's encoded form: lower-case hex of exactly
    /// [`Self::encoded_len`] characters.
    #[must_use]
    pub fn is_valid_encoded(self, encoded: &str) -> bool {
        encoded.len() == self.encoded_len() && is_lower_hex(encoded)
    }

    /// Parses a supported algorithm name (`sha256`, `sha512`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Hashes `bytes` in one go.
    pub fn digest(self, bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(self);
        hasher.update(bytes);
        hasher.finalize()
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;

    /// Parses a supported algorithm name; anything else is
    /// [`DigestError::UnsupportedAlgorithm`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s)
            .ok_or_else(|| DigestError::UnsupportedAlgorithm(s.chars().take(64).collect()))
    }
}

/// `[0-9a-f]*`.
fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Why a string is not a usable digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not `algorithm:encoded` per the grammar, or the encoded part does not fit a known
    /// algorithm (wrong length, upper-case hex, ...). The registry answers `DIGEST_INVALID`.
    #[error("invalid digest: {0}")]
    Invalid(&'static str),
    /// Well-formed, but the algorithm is one Wharf does not implement (for example the
    /// registered `blake3`, or an unregistered name). The registry answers `UNSUPPORTED`.
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
}

/// A validated content digest such as `sha256:e3b0c442…`.
///
/// The string form is canonical (lowercase hex), so equality, hashing and ordering of the
/// string are those of the digest. Serialises as that string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    text: String,
    algorithm: Algorithm,
}

impl Digest {
    /// Parses and validates a digest string.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let (alg, encoded) = s
            .split_once(':')
            .ok_or(DigestError::Invalid("missing ':' between algorithm and encoded part"))?;
        if !is_valid_algorithm_grammar(alg) {
            return Err(DigestError::Invalid("malformed algorithm"));
        }
        if encoded.is_empty()
            || !encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
        {
            return Err(DigestError::Invalid("malformed encoded part"));
        }
        // Bounded: an unsupported name is echoed back in error details.
        let algorithm: Algorithm = alg.parse()?;
        if encoded.len() != algorithm.encoded_len() {
            return Err(DigestError::Invalid("encoded part has the wrong length"));
        }
        if !is_lower_hex(encoded) {
            return Err(DigestError::Invalid("encoded part must be lowercase hex"));
        }
        Ok(Self { text: s.to_owned(), algorithm })
    }

    /// Builds a digest from raw hash output.
    fn from_raw(algorithm: Algorithm, raw: &[u8]) -> Self {
        Self { text: format!("{}:{}", algorithm.as_str(), hex::encode(raw)), algorithm }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex-encoded part after the colon.
    pub fn encoded(&self) -> &str {
        &self.text[self.algorithm.as_str().len() + 1..]
    }

    /// The whole digest string, `algorithm:encoded`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `algorithm ::= component (separator component)*`, `component ::= [a-z0-9]+`,
/// `separator ::= [+._-]`.
fn is_valid_algorithm_grammar(alg: &str) -> bool {
    !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|component| {
            !component.is_empty()
                && component.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

crate::validated_str!(Digest, DigestError);

/// The saved state did not come from [`Hasher::save`] for this algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("saved {0} hasher state is corrupt or of the wrong length")]
pub struct StateError(pub Algorithm);

/// A streaming hasher for one of the supported algorithms.
///
/// Its state can be saved after any number of bytes with [`Hasher::save`] and restored on
/// another instance with [`Hasher::restore`] (upload sessions keep it in Postgres). The saved
/// bytes are stable across `sha2` 0.11.x releases, not across major versions.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-512.
    Sha512(sha2::Sha512),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hasher({})", self.algorithm())
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Self::Sha512(sha2::Sha512::new()),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Sha256(_) => Algorithm::Sha256,
            Self::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    /// Finishes and returns the digest.
    pub fn finalize(self) -> Digest {
        match self {
            Self::Sha256(h) => Digest::from_raw(Algorithm::Sha256, &h.finalize()),
            Self::Sha512(h) => Digest::from_raw(Algorithm::Sha512, &h.finalize()),
        }
    }

    /// Saves the internal state (block state, length and unprocessed buffer: 104 bytes for
    /// SHA-256, 208 for SHA-512). Restore it with [`Hasher::restore`] and the same
    /// algorithm.
    pub fn save(&self) -> Vec<u8> {
        match self {
            Self::Sha256(h) => h.serialize().to_vec(),
            Self::Sha512(h) => h.serialize().to_vec(),
        }
    }

    /// Restores a hasher saved with [`Hasher::save`].
    pub fn restore(algorithm: Algorithm, state: &[u8]) -> Result<Self, StateError> {
        fn load<H: SerializableState>(state: &[u8]) -> Option<H> {
            let state: &SerializedState<H> = state.try_into().ok()?;
            H::deserialize(state).ok()
        }
        match algorithm {
            Algorithm::Sha256 => load(state).map(Self::Sha256),
            Algorithm::Sha512 => load(state).map(Self::Sha512),
        }
        .ok_or(StateError(algorithm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const EMPTY_SHA512: &str = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

    #[test]
    fn parses_valid_digests() {
        let d = Digest::parse(EMPTY_SHA256).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.encoded().len(), 64);
        assert_eq!(d.to_string(), EMPTY_SHA256);
        let d: Digest = EMPTY_SHA512.parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha512);
        assert_eq!(d.as_str(), EMPTY_SHA512);
    }

    #[test]
    fn rejects_invalid_digests() {
        let upper = EMPTY_SHA256.replace('e', "E");
        let short = &EMPTY_SHA256[..EMPTY_SHA256.len() - 1];
        let long = format!("{EMPTY_SHA256}0");
        let sha512_short = format!("sha512:{}", &EMPTY_SHA256[7..]);
        let not_hex = format!("sha256:{}", "g".repeat(64));
        let cases: &[&str] = &[
            "",
            ":",
            "sha256",
            "sha256:",
            ":abc",
            "SHA256:abc",
            "sha256::abc",
            "sha-:abc",
            "-sha:abc",
            "sha256:abc def",
            "sha256:abc/def",
            &upper,
            short,
            &long,
            &sha512_short,
            &not_hex,
            // The grammar is checked before the algorithm: these are invalid, not unsupported.
            "blake3:",
            "blake3:abc def",
            "blake3:../abc",
        ];
        for case in cases {
            assert!(
                matches!(Digest::parse(case), Err(DigestError::Invalid(_))),
                "{case:?} should be invalid, got {:?}",
                Digest::parse(case)
            );
        }
    }

    #[test]
    fn unknown_algorithms_are_unsupported_not_invalid() {
        let blake3 = format!("blake3:{}", "a".repeat(64));
        for case in [
            blake3.as_str(),
            "sha384:abc",
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
            "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        ] {
            assert_eq!(
                Digest::parse(case),
                Err(DigestError::UnsupportedAlgorithm(case.split(':').next().unwrap().to_owned())),
                "{case}"
            );
        }
    }

    #[test]
    fn algorithms_and_encoded_parts() {
        assert_eq!(Algorithm::ALL.map(Algorithm::as_str), ["sha256", "sha512"]);
        assert_eq!(Algorithm::ALL.map(|a| a.to_string()), ["sha256", "sha512"]);
        assert_eq!("sha512".parse::<Algorithm>(), Ok(Algorithm::Sha512));
        assert_eq!(
            "md5".parse::<Algorithm>(),
            Err(DigestError::UnsupportedAlgorithm("md5".into()))
        );
        let hex64 = &EMPTY_SHA256[7..];
        assert!(Algorithm::Sha256.is_valid_encoded(hex64));
        assert!(!Algorithm::Sha512.is_valid_encoded(hex64));
        assert!(!Algorithm::Sha256.is_valid_encoded(&hex64.to_uppercase()));
        assert!(!Algorithm::Sha256.is_valid_encoded(&format!("../{}", &hex64[3..])));
    }

    #[test]
    fn one_shot_matches_known_values() {
        assert_eq!(Algorithm::Sha256.digest(b"").as_str(), EMPTY_SHA256);
        assert_eq!(Algorithm::Sha512.digest(b"").as_str(), EMPTY_SHA512);
        assert_eq!(
            Algorithm::Sha256.digest(b"abc").as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let d = Digest::parse(EMPTY_SHA256).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{EMPTY_SHA256}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:nope\"").is_err());
    }

    #[test]
    fn save_and_restore_continues_the_hash() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let whole = alg.digest(&data);
            // Split points at, around and away from block boundaries.
            for split in [0, 1, 63, 64, 65, 127, 128, 129, 1000, 9999, 10_000] {
                let mut first = Hasher::new(alg);
                first.update(&data[..split]);
                let saved = first.save();
                drop(first);
                let mut second = Hasher::restore(alg, &saved).unwrap();
                second.update(&data[split..]);
                assert_eq!(second.finalize(), whole, "{alg} split at {split}");
            }
        }
    }

    #[test]
    fn restore_rejects_wrong_state() {
        let saved = Hasher::new(Algorithm::Sha256).save();
        assert_eq!(
            Hasher::restore(Algorithm::Sha512, &saved).unwrap_err(),
            StateError(Algorithm::Sha512)
        );
        assert!(Hasher::restore(Algorithm::Sha256, &saved[1..]).is_err());
        assert!(Hasher::restore(Algorithm::Sha256, &[]).is_err());
    }

    #[test]
    fn saved_state_sizes() {
        assert_eq!(format!("{:?}", Hasher::new(Algorithm::Sha512)), "Hasher(sha512)");
        assert_eq!(Hasher::new(Algorithm::Sha256).save().len(), 104);
        assert_eq!(Hasher::new(Algorithm::Sha512).save().len(), 208);
    }

    proptest! {
        #[test]
        fn chunked_with_saves_equals_one_shot(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
            sha512 in any::<bool>(),
        ) {
            let alg = if sha512 { Algorithm::Sha512 } else { Algorithm::Sha256 };
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
            points.push(0);
            points.push(data.len());
            points.sort_unstable();
            let mut state = Hasher::new(alg).save();
            for w in points.windows(2) {
                let mut h = Hasher::restore(alg, &state).unwrap();
                h.update(&data[w[0]..w[1]]);
                state = h.save();
            }
            let digest = Hasher::restore(alg, &state).unwrap().finalize();
            prop_assert_eq!(digest, alg.digest(&data));
        }

        #[test]
        fn parse_never_panics_and_round_trips(s in ".{0,200}") {
            if let Ok(d) = Digest::parse(&s) {
                prop_assert_eq!(d.as_str(), s.as_str());
            }
        }

        #[test]
        fn restore_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Hasher::restore(Algorithm::Sha256, &bytes);
            let _ = Hasher::restore(Algorithm::Sha512, &bytes);
        }
    }
}
