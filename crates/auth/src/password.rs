//! Password hashing for portal accounts: argon2id, PHC strings, rehash detection, a dummy
//! verification for unknown accounts, and the password policy.
//!
//! Owns how passwords are checked and stored; it does not know about users, sessions or
//! login throttling. Hashing is deliberately slow (tens of milliseconds, 19 MiB of memory):
//! call it from `tokio::task::spawn_blocking`, never directly on an async worker.
//!
//! Login flow, so that timing does not reveal which accounts exist:
//!
//! ```text
//! match stored_hash_for(email) {
//!     Some(hash) => hasher.verify(&password, &hash)?   // then needs_rehash → store a new hash
//!     None       => hasher.verify_dummy(&password)     // same cost, always false
//! }
//! ```

use std::fmt;

use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use rand::RngExt as _;
use secrecy::{ExposeSecret as _, SecretString};

/// Minimum password length, in characters (Unicode scalar values).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Maximum password length, in bytes of UTF-8.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

impl PasswordParams {
    /// The floor Wharf accepts (OWASP's argon2id recommendation): m = 19456 KiB, t = 2, p = 1.
    pub const MINIMUM: Self = Self { memory_kib: 19_456, iterations: 2, parallelism: 1 };

    fn is_at_least(&self, floor: &Self) -> bool {
        self.memory_kib >= floor.memory_kib
            && self.iterations >= floor.iterations
            && self.parallelism >= floor.parallelism
    }
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self::MINIMUM
    }
}

/// Output length of new hashes, in bytes.
const OUTPUT_LEN: usize = 32;

/// Hashes and verifies passwords with one set of argon2id parameters.
///
/// Build it once at start-up (it computes one hash for [`Self::verify_dummy`]) and share it.
#[derive(Clone)]
pub struct PasswordHasher {
    params: PasswordParams,
    argon2: Argon2<'static>,
    dummy_hash: SecretString,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher").field("params", &self.params).finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with `params`, which must be at least [`PasswordParams::MINIMUM`].
    pub fn new(params: PasswordParams) -> Result<Self, PasswordError> {
        if !params.is_at_least(&PasswordParams::MINIMUM) {
            return Err(PasswordError::ParamsTooWeak(params));
        }
        Self::build(params)
    }

    /// A hasher with [`PasswordParams::MINIMUM`].
    pub fn recommended() -> Result<Self, PasswordError> {
        Self::new(PasswordParams::MINIMUM)
    }

    fn build(params: PasswordParams) -> Result<Self, PasswordError> {
        let argon2_params =
            Params::new(params.memory_kib, params.iterations, params.parallelism, Some(OUTPUT_LEN))
                .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params);
        let mut hasher = Self { params, argon2, dummy_hash: SecretString::from(String::new()) };
        // A hash of a random password nobody knows, with exactly these parameters.
        let mut rng = rand::rng();
        let random: String = (0..32).map(|_| char::from(rng.random_range(b'!'..=b'~'))).collect();
        hasher.dummy_hash = hasher.hash(&SecretString::from(random))?;
        Ok(hasher)
    }

    /// The parameters of new hashes.
    pub fn params(&self) -> PasswordParams {
        self.params
    }

    /// Hashes `password` with a fresh random salt; returns a PHC string
    /// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
    ///
    /// Does not apply the policy: call [`check_policy`] first when a password is chosen.
    pub fn hash(&self, password: &SecretString) -> Result<SecretString, PasswordError> {
        let hash = self
            .argon2
            .hash_password(password.expose_secret().as_bytes())
            .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        Ok(SecretString::from(hash.to_string()))
    }

    /// Whether `password` matches the stored PHC string (with the parameters stored in it).
    ///
    /// `Ok(false)` on a wrong password; `Err` only if the stored hash is not a readable
    /// argon2 PHC string.
    pub fn verify(
        &self,
        password: &SecretString,
        stored: &SecretString,
    ) -> Result<bool, PasswordError> {
        let parsed =
            PhcHash::new(stored.expose_secret()).map_err(|_| PasswordError::MalformedHash)?;
        if password.expose_secret().len() > MAX_PASSWORD_BYTES {
            // No stored password is that long (the policy forbids it); do not spend time
            // pre-hashing megabytes of input, but keep the usual cost.
            self.verify_dummy(&SecretString::from(String::new()));
            return Ok(false);
        }
        match self.argon2.verify_password(password.expose_secret().as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(_) => Err(PasswordError::MalformedHash),
        }
    }

    /// Runs a verification of `password` against a hash nobody knows the password of, at the
    /// same cost as [`Self::verify`] on a current hash. Always returns false. Use it when the
    /// account does not exist so that the response time does not tell.
    pub fn verify_dummy(&self, password: &SecretString) -> bool {
        // The result is ignored on purpose: the password is random and unknown.
        let _ = self.verify(password, &self.dummy_hash);
        false
    }

    /// Whether a stored hash should be replaced (after a successful login) because it is not
    /// argon2id v19 or its parameters are weaker than this hasher's. A hash that cannot be
    /// read also needs replacing.
    pub fn needs_rehash(&self, stored: &SecretString) -> bool {
        let Ok(parsed) = PhcHash::new(stored.expose_secret()) else {
            return true;
        };
        if parsed.algorithm.as_str() != argon2::ARGON2ID_IDENT.as_str()
            || parsed.version != Some(Version::V0x13.into())
        {
            return true;
        }
        let Ok(params) = Params::try_from(&parsed) else {
            return true;
        };
        let stored_params = PasswordParams {
            memory_kib: params.m_cost(),
            iterations: params.t_cost(),
            parallelism: params.p_cost(),
        };
        let output_len = parsed.hash.as_ref().map_or(0, |output| output.len());
        !stored_params.is_at_least(&self.params) || output_len < OUTPUT_LEN
    }
}

/// Checks a newly chosen password against the policy: at least [`MIN_PASSWORD_CHARS`]
/// characters and at most [`MAX_PASSWORD_BYTES`] bytes.
pub fn check_policy(password: &SecretString) -> Result<(), PasswordPolicyError> {
    let text = password.expose_secret();
    if text.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordPolicyError::TooLong);
    }
    if text.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort);
    }
    if text.trim().is_empty() {
        return Err(PasswordPolicyError::Blank);
    }
    Ok(())
}

/// A password that does not meet the policy. Messages are meant for the person choosing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters long")]
    TooShort,
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes long")]
    TooLong,
    /// Only white space.
    #[error("the password must not consist of spaces only")]
    Blank,
}

/// Failures of hashing and verification (never "wrong password": that is `Ok(false)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Parameters below [`PasswordParams::MINIMUM`].
    #[error("argon2id parameters {0:?} are weaker than the minimum m=19456 KiB, t=2, p=1")]
    ParamsTooWeak(PasswordParams),
    /// The stored hash is not a readable argon2 PHC string.
    #[error("the stored password hash is malformed or uses an unsupported algorithm")]
    MalformedHash,
    /// argon2 failed (invalid parameters, out of memory, RNG failure).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap parameters so that unoptimised test builds stay fast; one test uses the real ones.
    const CHEAP: PasswordParams = PasswordParams { memory_kib: 64, iterations: 1, parallelism: 1 };

    fn cheap() -> PasswordHasher {
        PasswordHasher::build(CHEAP).unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn recommended_params_round_trip() {
        let hasher = PasswordHasher::recommended().unwrap();
        let hash = hasher.hash(&secret("correct horse battery staple")).unwrap();
        assert!(
            hash.expose_secret().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.expose_secret()
        );
        assert!(hasher.verify(&secret("correct horse battery staple"), &hash).unwrap());
        assert!(!hasher.verify(&secret("correct horse battery stapler"), &hash).unwrap());
        assert!(!hasher.needs_rehash(&hash));
        assert!(!hasher.verify_dummy(&secret("correct horse battery staple")));
    }

    #[test]
    fn overlong_passwords_never_match() {
        let hasher = cheap();
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        // Even if such a hash existed, the password is refused.
        let hash = hasher.hash(&secret(&long)).unwrap();
        assert!(!hasher.verify(&secret(&long), &hash).unwrap());
        let max = "x".repeat(MAX_PASSWORD_BYTES);
        let hash = hasher.hash(&secret(&max)).unwrap();
        assert!(hasher.verify(&secret(&max), &hash).unwrap());
    }

    #[test]
    fn weak_params_are_refused() {
        let err = PasswordHasher::new(CHEAP).unwrap_err();
        assert!(matches!(err, PasswordError::ParamsTooWeak(_)));
        assert!(err.to_string().contains("weaker than the minimum"));
    }

    #[test]
    fn salts_differ() {
        let hasher = cheap();
        let a = hasher.hash(&secret("same password!")).unwrap();
        let b = hasher.hash(&secret("same password!")).unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(hasher.verify(&secret("same password!"), &a).unwrap());
        assert!(hasher.verify(&secret("same password!"), &b).unwrap());
    }

    #[test]
    fn malformed_hash_is_an_error_not_a_match() {
        let hasher = cheap();
        for stored in
            ["", "plaintext", "$argon2id$v=19$m=64,t=1,p=1$", "$2b$12$abcdefghijklmnopqrstuv"]
        {
            assert_eq!(
                hasher.verify(&secret("whatever password"), &secret(stored)),
                Err(PasswordError::MalformedHash),
                "{stored}"
            );
            assert!(hasher.needs_rehash(&secret(stored)));
        }
    }

    #[test]
    fn needs_rehash_when_weaker() {
        let weak = cheap().hash(&secret("a password here")).unwrap();
        let strong = PasswordHasher::build(PasswordParams {
            memory_kib: 128,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        assert!(strong.needs_rehash(&weak));
        // A hash made with stronger parameters than current ones is fine.
        let stronger = strong.hash(&secret("a password here")).unwrap();
        assert!(!cheap().needs_rehash(&stronger));
        assert!(!strong.needs_rehash(&stronger));
        // Old hashes still verify, whatever their parameters.
        assert!(strong.verify(&secret("a password here"), &weak).unwrap());
    }

    #[test]
    fn needs_rehash_for_other_variants() {
        let hasher = cheap();
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(64, 1, 1, Some(32)).unwrap(),
        )
        .hash_password(b"a password here")
        .unwrap()
        .to_string();
        assert!(argon2i.starts_with("$argon2i$"));
        assert!(hasher.needs_rehash(&secret(&argon2i)));
        // It still verifies, so that the login that triggers the rehash succeeds.
        assert!(hasher.verify(&secret("a password here"), &secret(&argon2i)).unwrap());
        let short_output = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 1, 1, Some(16)).unwrap(),
        )
        .hash_password(b"a password here")
        .unwrap()
        .to_string();
        assert!(hasher.needs_rehash(&secret(&short_output)));
    }

    #[test]
    fn dummy_has_the_same_parameters() {
        let hasher = cheap();
        assert!(!hasher.needs_rehash(&hasher.dummy_hash));
        assert!(hasher.dummy_hash.expose_secret().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(!hasher.verify_dummy(&secret("")));
    }

    #[test]
    fn policy() {
        assert_eq!(check_policy(&secret("")), Err(PasswordPolicyError::TooShort));
        assert_eq!(check_policy(&secret("elevenchars")), Err(PasswordPolicyError::TooShort));
        assert_eq!(check_policy(&secret("twelve chars")), Ok(()));
        // Characters, not bytes: 12 non-ASCII characters are enough.
        assert_eq!(check_policy(&secret("ääääääääääää")), Ok(()));
        assert_eq!(check_policy(&secret("äääääääääää")), Err(PasswordPolicyError::TooShort));
        assert_eq!(check_policy(&secret(&"x".repeat(1024))), Ok(()));
        assert_eq!(check_policy(&secret(&"x".repeat(1025))), Err(PasswordPolicyError::TooLong));
        // 600 × 2 bytes: few enough characters, too many bytes.
        assert_eq!(check_policy(&secret(&"é".repeat(600))), Err(PasswordPolicyError::TooLong));
        assert_eq!(check_policy(&secret(&" ".repeat(20))), Err(PasswordPolicyError::Blank));
        assert_eq!(
            PasswordPolicyError::TooShort.to_string(),
            "the password must be at least 12 characters long"
        );
    }

    #[test]
    fn debug_is_redacted() {
        let hasher = cheap();
        let debug = format!("{hasher:?}");
        assert!(!debug.contains("argon2id$"), "{debug}");
        let hash = hasher.hash(&secret("a password here")).unwrap();
        assert!(!format!("{hash:?}").contains("argon2"));
    }
}
