//! Access-token format: vendor API tokens and customer access tokens.
//!
//! Owns how an access token looks, how it is generated and how a presented string is checked
//! *before* any database lookup. It does not store, look up, expire or revoke tokens (that is
//! `wharf-db` and the services above it); at rest only the [`TokenHash`] (SHA-256 of the full
//! token) is kept.
//!
//! # Format
//!
//! ```text
//! wharf_vnd_<32 base62 random chars><6 base62 checksum chars>   vendor API token
//! wharf_cst_<32 base62 random chars><6 base62 checksum chars>   customer access token
//! ```
//!
//! - **Product prefix** (10 chars, fixed forever, one per [`TokenKind`]):
//!   [`VENDOR_API_PREFIX`] = `wharf_vnd_`, [`CUSTOMER_ACCESS_PREFIX`] = `wharf_cst_`. The
//!   prefixes make leaked tokens recognisable by secret scanners and tell the two kinds apart.
//! - **Random part** ([`RANDOM_LEN`] = 32 chars of the alphabet `0-9A-Za-z`, each drawn
//!   uniformly from the thread-local CSPRNG): 32 × log2(62) ≈ 190 bits of entropy.
//! - **Checksum** ([`CHECKSUM_LEN`] = 6 chars): CRC32 (IEEE) of `prefix + random`, as a
//!   big-endian base62 number left-padded with `0` to 6 chars (62⁶ > 2³²). It is not a secret
//!   and not a MAC: it only lets [`parse`] reject typos, truncations and garbage without a
//!   database round trip. Any single-character change is detected.
//!
//! Total length: [`TOKEN_LEN`] = 48 ASCII characters.

use std::fmt;

use rand::RngExt as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

/// Prefix of every vendor API token (CI pushes, automation). Never change it.
pub const VENDOR_API_PREFIX: &str = "wharf_vnd_";
/// Prefix of every customer access token (`docker login` by a customer). Never change it.
pub const CUSTOMER_ACCESS_PREFIX: &str = "wharf_cst_";
/// Length of the product prefix (both kinds have the same length).
pub const PREFIX_LEN: usize = 10;
/// Number of random base62 characters.
pub const RANDOM_LEN: usize = 32;
/// Number of base62 checksum characters.
pub const CHECKSUM_LEN: usize = 6;
/// Total length of a token in characters (and bytes: tokens are ASCII).
pub const TOKEN_LEN: usize = PREFIX_LEN + RANDOM_LEN + CHECKSUM_LEN;
/// Number of random characters shown after the product prefix in a [`GeneratedToken::display_prefix`].
pub const DISPLAY_RANDOM_CHARS: usize = 8;

/// The base62 alphabet, in numeric order (`0` = 0, `Z` = 35, `z` = 61).
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// What a token is for; each kind has its own fixed product prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A vendor organization's API token (`wharf_vnd_`): push, pull and API calls within the
    /// vendor's organization, with the role of the member who created it.
    VendorApi,
    /// A customer's access token (`wharf_cst_`): pull of entitled artifacts only.
    CustomerAccess,
}

impl TokenKind {
    /// Every kind, for exhaustive tests and lookups.
    pub const ALL: [TokenKind; 2] = [TokenKind::VendorApi, TokenKind::CustomerAccess];

    /// The product prefix of this kind.
    pub const fn prefix(self) -> &'static str {
        match self {
            TokenKind::VendorApi => VENDOR_API_PREFIX,
            TokenKind::CustomerAccess => CUSTOMER_ACCESS_PREFIX,
        }
    }

    fn from_prefix(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| token.starts_with(kind.prefix()))
    }
}

/// A freshly generated token in clear text. Show it to its owner once, never store or log it.
///
/// `Debug` prints `PlaintextToken([REDACTED])`.
#[derive(Clone)]
pub struct PlaintextToken(SecretString);

impl PlaintextToken {
    pub(crate) fn new(text: String) -> Self {
        Self(SecretString::from(text))
    }

    /// The token text, for the one response that shows it to its owner.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// The token as a [`SecretString`], e.g. to hand it on without exposing it.
    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

impl fmt::Debug for PlaintextToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlaintextToken([REDACTED])")
    }
}

/// SHA-256 of the full token text (prefix, random part and checksum): the only form stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Wraps 32 bytes read back from the database.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 hash bytes, for storage (`bytea`) and lookups.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex form (64 chars), e.g. for logs or text columns.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl TryFrom<&[u8]> for TokenHash {
    type Error = TokenFormatError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        <[u8; 32]>::try_from(bytes).map(Self).map_err(|_| TokenFormatError::HashLength(bytes.len()))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

/// The result of [`generate`].
#[derive(Debug, Clone)]
pub struct GeneratedToken {
    /// What the token is for.
    pub kind: TokenKind,
    /// The clear text, shown once.
    pub plaintext: PlaintextToken,
    /// SHA-256 of the clear text, to store.
    pub hash: TokenHash,
    /// Product prefix plus the first [`DISPLAY_RANDOM_CHARS`] random characters
    /// (e.g. `wharf_cst_3hQ9xZ0a`), to store and show in token lists so that owners can
    /// recognise a token. Reveals about 48 of the 190 random bits.
    pub display_prefix: String,
}

/// A presented token that passed every format check (but was not looked up yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedToken {
    /// The kind, from the product prefix.
    pub kind: TokenKind,
    /// SHA-256 of the full token, to look up.
    pub hash: TokenHash,
}

/// Why a presented string is not a well-formed Wharf access token.
///
/// Messages never echo the token text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// The string is empty.
    #[error("access token is empty")]
    Empty,
    /// The string contains non-ASCII characters (tokens are plain ASCII).
    #[error("malformed access token: it contains non-ASCII characters")]
    NotAscii,
    /// The string does not start with a Wharf product prefix.
    #[error("not a Wharf access token: expected a `wharf_vnd_` or `wharf_cst_` prefix")]
    UnknownPrefix,
    /// The string has the wrong length.
    #[error("malformed access token: expected {TOKEN_LEN} characters, got {0}")]
    Length(usize),
    /// The string contains a character outside `0-9A-Za-z` after the prefix.
    #[error("malformed access token: only letters and digits may follow the prefix")]
    Charset,
    /// The checksum suffix does not match: a typo, a truncated copy, or not a token at all.
    #[error("malformed access token: checksum mismatch (was it copied completely?)")]
    Checksum,
    /// Bytes read back as a token hash were not 32 bytes long.
    #[error("a token hash has 32 bytes, got {0}")]
    HashLength(usize),
}

/// Generates a new token of `kind` from the thread-local CSPRNG.
pub fn generate(kind: TokenKind) -> GeneratedToken {
    let text = random_text(kind.prefix());
    let display_prefix = text[..PREFIX_LEN + DISPLAY_RANDOM_CHARS].to_owned();
    let hash = hash(&text);
    GeneratedToken { kind, plaintext: PlaintextToken::new(text), hash, display_prefix }
}

/// `prefix` (of [`PREFIX_LEN`] characters) + [`RANDOM_LEN`] random base62 characters + the
/// checksum: the text of every Wharf secret that has this format.
pub(crate) fn random_text(prefix: &str) -> String {
    let mut rng = rand::rng();
    let mut text = String::with_capacity(TOKEN_LEN);
    text.push_str(prefix);
    for _ in 0..RANDOM_LEN {
        let index: usize = rng.random_range(0..ALPHABET.len());
        text.push(char::from(ALPHABET[index]));
    }
    let checksum = checksum(&text);
    text.push_str(&checksum);
    text
}

/// Checks the format of a presented token (prefix, length, charset, checksum) and hashes it.
///
/// Call this before any database lookup: whatever fails here can be rejected at once.
pub fn parse(token: &str) -> Result<ParsedToken, TokenFormatError> {
    if token.is_empty() {
        return Err(TokenFormatError::Empty);
    }
    if !token.is_ascii() {
        return Err(TokenFormatError::NotAscii);
    }
    let kind = TokenKind::from_prefix(token).ok_or(TokenFormatError::UnknownPrefix)?;
    check_after_prefix(token)?;
    Ok(ParsedToken { kind, hash: hash(token) })
}

/// Length, charset and checksum of an ASCII `token` whose prefix was already recognised.
pub(crate) fn check_after_prefix(token: &str) -> Result<(), TokenFormatError> {
    if token.len() != TOKEN_LEN {
        return Err(TokenFormatError::Length(token.len()));
    }
    let rest = &token.as_bytes()[PREFIX_LEN..];
    if !rest.iter().all(u8::is_ascii_alphanumeric) {
        return Err(TokenFormatError::Charset);
    }
    let (body, suffix) = token.split_at(PREFIX_LEN + RANDOM_LEN);
    if checksum(body) != suffix {
        return Err(TokenFormatError::Checksum);
    }
    Ok(())
}

/// SHA-256 of the full token text. [`parse`] already returns it; use this directly only when
/// the format was checked elsewhere.
pub fn hash(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

/// CRC32 of `body`, as [`CHECKSUM_LEN`] base62 characters.
fn checksum(body: &str) -> String {
    let mut value = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        // `value % 62` is below 62, so the index is in range and the cast is lossless.
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// The longest token name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A token name that is empty (or only spaces), longer than [`MAX_NAME_CHARS`] characters, or
/// contains control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 100 characters, not only spaces, without control characters")]
pub struct InvalidTokenName;

/// Checks a token's name (chosen by its owner; not unique, so rotations can reuse it). The
/// one rule for every place that names tokens: operator commands, portals, the API.
pub fn check_name(name: &str) -> Result<(), InvalidTokenName> {
    let length = name.chars().count();
    if name.trim().is_empty() || length > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(InvalidTokenName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names() {
        for good in ["ci", "k8s pull secret", "Ünïcödé", &"x".repeat(MAX_NAME_CHARS)] {
            assert_eq!(check_name(good), Ok(()), "{good:?}");
        }
        for bad in ["", "   ", "a\nb", "tab\there", &"x".repeat(MAX_NAME_CHARS + 1)] {
            assert_eq!(check_name(bad), Err(InvalidTokenName), "{bad:?}");
        }
    }

    fn sample(kind: TokenKind) -> String {
        generate(kind).plaintext.expose_secret().to_owned()
    }

    #[test]
    fn round_trip_for_every_kind() {
        for kind in TokenKind::ALL {
            let generated = generate(kind);
            let text = generated.plaintext.expose_secret();
            assert_eq!(text.len(), TOKEN_LEN);
            assert!(text.starts_with(kind.prefix()));
            assert!(generated.display_prefix.starts_with(kind.prefix()));
            assert_eq!(generated.display_prefix.len(), PREFIX_LEN + DISPLAY_RANDOM_CHARS);
            assert!(text.starts_with(&generated.display_prefix));
            let parsed = parse(text).unwrap();
            assert_eq!(parsed.kind, kind);
            assert_eq!(parsed.hash, generated.hash);
            assert_eq!(parsed.hash, hash(text));
        }
    }

    #[test]
    fn prefixes_are_fixed() {
        // These strings are part of the product: secret scanners and customers rely on them.
        assert_eq!(TokenKind::VendorApi.prefix(), "wharf_vnd_");
        assert_eq!(TokenKind::CustomerAccess.prefix(), "wharf_cst_");
        assert_eq!(VENDOR_API_PREFIX.len(), PREFIX_LEN);
        assert_eq!(CUSTOMER_ACCESS_PREFIX.len(), PREFIX_LEN);
        assert_eq!(TOKEN_LEN, 48);
    }

    #[test]
    fn tokens_are_distinct() {
        let a = sample(TokenKind::VendorApi);
        let b = sample(TokenKind::VendorApi);
        assert_ne!(a, b);
    }

    #[test]
    fn hash_is_sha256_of_the_full_text() {
        let text = sample(TokenKind::CustomerAccess);
        let expected: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        assert_eq!(hash(&text).as_bytes(), &expected);
        assert_eq!(hash(&text).to_hex(), hex::encode(expected));
        assert_eq!(TokenHash::try_from(&expected[..]).unwrap(), hash(&text));
        assert_eq!(TokenHash::try_from(&expected[..31]), Err(TokenFormatError::HashLength(31)));
        assert_eq!(TokenHash::from_bytes(expected), hash(&text));
        assert_eq!(format!("{:?}", hash(&text)), format!("TokenHash({})", hex::encode(expected)));
    }

    #[test]
    fn into_secret_keeps_the_text() {
        let generated = generate(TokenKind::VendorApi);
        let text = generated.plaintext.expose_secret().to_owned();
        assert_eq!(generated.plaintext.into_secret().expose_secret(), text);
    }

    #[test]
    fn every_single_character_mutation_is_rejected() {
        let others = ['_', '-', '.', ' ', '!', 'é', '\0'];
        for kind in TokenKind::ALL {
            for _ in 0..5 {
                let text = sample(kind);
                let original: Vec<char> = text.chars().collect();
                for position in 0..original.len() {
                    let replacements = ALPHABET.iter().map(|&b| char::from(b)).chain(others);
                    for replacement in replacements {
                        if replacement == original[position] {
                            continue;
                        }
                        let mut mutated = original.clone();
                        mutated[position] = replacement;
                        let mutated: String = mutated.into_iter().collect();
                        assert!(
                            parse(&mutated).is_err(),
                            "mutation at {position} to {replacement:?} was accepted"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn swapping_the_kind_prefix_is_rejected() {
        let text = sample(TokenKind::VendorApi);
        let swapped = text.replacen(VENDOR_API_PREFIX, CUSTOMER_ACCESS_PREFIX, 1);
        assert_eq!(parse(&swapped), Err(TokenFormatError::Checksum));
    }

    #[test]
    fn wrong_prefix() {
        let text = sample(TokenKind::VendorApi);
        let foreign = text.replacen("wharf_", "ghp_xx", 1);
        assert_eq!(parse(&foreign), Err(TokenFormatError::UnknownPrefix));
        assert_eq!(parse("Bearer xyz"), Err(TokenFormatError::UnknownPrefix));
        assert_eq!(parse(&text.to_uppercase()), Err(TokenFormatError::UnknownPrefix));
    }

    #[test]
    fn wrong_length() {
        let text = sample(TokenKind::CustomerAccess);
        assert_eq!(parse(&text[..TOKEN_LEN - 1]), Err(TokenFormatError::Length(TOKEN_LEN - 1)));
        assert_eq!(parse(&format!("{text}0")), Err(TokenFormatError::Length(TOKEN_LEN + 1)));
        assert_eq!(parse(CUSTOMER_ACCESS_PREFIX), Err(TokenFormatError::Length(PREFIX_LEN)));
        assert_eq!(parse(&format!("{text}\n")), Err(TokenFormatError::Length(TOKEN_LEN + 1)));
    }

    #[test]
    fn non_ascii() {
        let text = sample(TokenKind::VendorApi);
        // Same number of characters, more bytes.
        let mut chars: Vec<char> = text.chars().collect();
        chars[20] = 'ß';
        let mutated: String = chars.into_iter().collect();
        assert_eq!(parse(&mutated), Err(TokenFormatError::NotAscii));
        // Same number of bytes, fewer characters.
        let mut mutated = text[..TOKEN_LEN - 2].to_owned();
        mutated.push('ß');
        assert_eq!(mutated.len(), TOKEN_LEN);
        assert_eq!(parse(&mutated), Err(TokenFormatError::NotAscii));
        assert_eq!(parse("wharf_vnd_\u{1F600}"), Err(TokenFormatError::NotAscii));
        assert_eq!(parse("ｗharf_vnd_"), Err(TokenFormatError::NotAscii));
    }

    #[test]
    fn empty() {
        assert_eq!(parse(""), Err(TokenFormatError::Empty));
    }

    #[test]
    fn bad_charset() {
        let text = sample(TokenKind::VendorApi);
        let mutated = format!("{}-{}", &text[..20], &text[21..]);
        assert_eq!(parse(&mutated), Err(TokenFormatError::Charset));
    }

    #[test]
    fn checksum_is_fixed_width_base62() {
        assert_eq!(checksum(""), "000000");
        // CRC32("123456789") = 0xCBF43926 = 3421780262 = 3*62^5 + 45*62^4 + 32*62^3 + 12*62^2 + 49*62 + 34... checked by decoding.
        let encoded = checksum("123456789");
        let decoded = encoded
            .bytes()
            .fold(0u64, |acc, b| acc * 62 + ALPHABET.iter().position(|&a| a == b).unwrap() as u64);
        assert_eq!(decoded, 0xCBF4_3926);
        assert_eq!(encoded.len(), CHECKSUM_LEN);
    }

    #[test]
    fn debug_is_redacted() {
        let generated = generate(TokenKind::CustomerAccess);
        let text = generated.plaintext.expose_secret().to_owned();
        let debug = format!("{generated:?}");
        assert!(!debug.contains(&text), "{debug}");
        assert!(!debug.contains(&text[PREFIX_LEN + DISPLAY_RANDOM_CHARS..]));
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn random_part_uses_the_whole_alphabet() {
        // A smoke test against an off-by-one in the alphabet index: 200 tokens draw 6400
        // characters, so each of the 62 characters appears with overwhelming probability.
        let mut seen = [false; 62];
        for _ in 0..200 {
            let text = sample(TokenKind::VendorApi);
            for b in text[PREFIX_LEN..PREFIX_LEN + RANDOM_LEN].bytes() {
                seen[ALPHABET.iter().position(|&a| a == b).unwrap()] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }
}
