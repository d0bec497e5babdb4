//! Registry bearer tokens: short-lived ES256 JWTs issued by `/token`, checked on `/v2/`.
//!
//! Owns the signing keys (generation, PKCS#8 / SPKI loading, key ids), the claims, signing and
//! verification. It does not decide what goes into `access` (that is [`crate::scope::intersect`]
//! fed by [`crate::principal::repository_rights`]) and does no revocation lookups: the private
//! `wharf` claim carries the principal so the registry can check revocation against its cache.
//!
//! Verification is strict:
//! - the algorithm is pinned to ES256 (P-256, SHA-256); `none`, HMAC and anything else fail
//!   before any key is touched;
//! - the key is chosen **only** by `kid` among the configured verification keys (several, for
//!   rotation); a header carrying key material or a key reference (`jwk`, `jku`, `x5c`, `x5u`,
//!   `x5t`, `x5t#S256`) or critical extensions (`crit`) is rejected outright;
//! - `iss`, `aud`, `sub`, `exp`, `nbf` and `iat` are required; `iss` and `aud` must match;
//!   `exp`/`nbf`/`iat` are checked against a caller-supplied clock with a leeway of at most
//!   [`MAX_LEEWAY`].
//!
//! Key id (`kid`): the first 16 bytes of SHA-256 over the public key's DER
//! `SubjectPublicKeyInfo`, as 32 lower-case hex characters. Any instance holding the same key
//! derives the same id.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::principal::Principal;
use crate::scope::{Action, ResourceKind, ResourceScope};

/// The only algorithm Wharf signs and accepts.
pub const ALGORITHM: Algorithm = Algorithm::ES256;
/// Default clock-skew leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(10);
/// Largest leeway a [`Verifier`] accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(30);
/// Longest token [`Verifier::verify`] looks at, in bytes (a token with hundreds of scopes
/// fits; anything longer is garbage or an attack).
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Header parameters that carry or point to key material. The key comes from configuration,
/// never from the token.
const FORBIDDEN_HEADER_PARAMS: [&str; 7] = ["jwk", "jku", "x5c", "x5u", "x5t", "x5t#S256", "crit"];

const PRIVATE_KEY_LABEL: &str = "PRIVATE KEY";
const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

/// Generates a new P-256 signing key, as an unencrypted PKCS#8 PEM document
/// (`-----BEGIN PRIVATE KEY-----`), for first-start key creation. Store it with mode 0600.
pub fn generate_signing_key() -> Result<SecretString, JwtError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let document = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| JwtError::KeyGeneration)?;
    Ok(SecretString::from(pem_encode(PRIVATE_KEY_LABEL, document.as_ref())))
}

/// The key id of a public key: hex of the first 16 bytes of SHA-256 over its DER
/// `SubjectPublicKeyInfo`.
pub fn key_id(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    hex::encode(&digest[..16])
}

/// A P-256 private key that signs registry tokens. `Debug` shows only the key id.
#[derive(Clone)]
pub struct SigningKey {
    /// Parsed once: parsing a PKCS#8 key costs about as much as a signature, so signing
    /// through `jsonwebtoken::encode` (which parses the key on every call) would double the
    /// cost of every token.
    pair: std::sync::Arc<EcdsaKeyPair>,
    verification: VerificationKey,
}

impl SigningKey {
    /// Loads an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) P-256 key, as written
    /// by [`generate_signing_key`] or `openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256`.
    pub fn from_pkcs8_pem(pem: &SecretString) -> Result<Self, JwtError> {
        let der = pem_decode(PRIVATE_KEY_LABEL, pem.expose_secret())?;
        Self::from_pkcs8_der(&der)
    }

    /// Loads an unencrypted PKCS#8 DER P-256 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, JwtError> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(|_| {
                JwtError::InvalidKey("not an unencrypted PKCS#8 ECDSA P-256 private key")
            })?;
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| JwtError::InvalidKey("cannot encode the public key"))?;
        let verification = VerificationKey::from_spki_der(spki.as_ref())?;
        Ok(Self { pair: std::sync::Arc::new(pair), verification })
    }

    /// A compact JWS (`header.claims.signature`, ES256 with the fixed-size signature), as
    /// `jsonwebtoken::encode` writes it.
    fn sign_jws(&self, header: &Header, claims: &impl Serialize) -> Result<String, JwtError> {
        fn part(value: &impl Serialize) -> Result<String, JwtError> {
            Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).map_err(|_| JwtError::Signing)?))
        }
        let mut message = part(header)?;
        message.push('.');
        message.push_str(&part(claims)?);
        let signature = self
            .pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), message.as_bytes())
            .map_err(|_| JwtError::Signing)?;
        message.push('.');
        message.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
        Ok(message)
    }

    /// The key id put in the `kid` header of every token this key signs.
    pub fn kid(&self) -> &str {
        self.verification.kid()
    }

    /// The matching public key, for the [`Verifier`] (and to publish during rotation).
    pub fn verification_key(&self) -> &VerificationKey {
        &self.verification
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid()).finish_non_exhaustive()
    }
}

/// A P-256 public key that verifies registry tokens, with its key id.
#[derive(Clone)]
pub struct VerificationKey {
    kid: String,
    spki_der: Vec<u8>,
    decoding: DecodingKey,
}

impl VerificationKey {
    /// Loads a PEM public key (`-----BEGIN PUBLIC KEY-----`, X.509 `SubjectPublicKeyInfo`).
    pub fn from_spki_pem(pem: &str) -> Result<Self, JwtError> {
        let der = pem_decode(PUBLIC_KEY_LABEL, pem)?;
        Self::from_spki_der(&der)
    }

    /// Loads a DER `SubjectPublicKeyInfo` of a P-256 key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, JwtError> {
        let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, der)
            .map_err(|_| JwtError::InvalidKey("not an ECDSA P-256 public key"))?;
        // Canonical encoding, so that the key id does not depend on how the key was written.
        let spki_der = parsed
            .as_der()
            .map_err(|_| JwtError::InvalidKey("cannot encode the public key"))?
            .as_ref()
            .to_vec();
        Ok(Self { kid: key_id(&spki_der), decoding: DecodingKey::from_ec_der(&spki_der), spki_der })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The PEM form (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_spki_pem(&self) -> String {
        pem_encode(PUBLIC_KEY_LABEL, &self.spki_der)
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// Coarse kind of principal, in the private claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A vendor member or vendor API token.
    Vendor,
    /// A customer access token.
    Customer,
    /// No credentials (public repositories).
    Anonymous,
}

/// The private `wharf` claim: who the token was issued to, so that the registry can check
/// revocation (token, customer, organization) without a database call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalClaim {
    /// Vendor, customer or anonymous.
    pub kind: PrincipalKind,
    /// The vendor organization (the principal's own, or the one a customer buys from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Uuid>,
    /// The customer, for customer tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Uuid>,
    /// The access token that authenticated the request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<Uuid>,
    /// The vendor user, for a signed-in vendor member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
}

impl From<&Principal> for PrincipalClaim {
    fn from(principal: &Principal) -> Self {
        let empty = |kind| PrincipalClaim {
            kind,
            org_id: None,
            customer_id: None,
            token_id: None,
            user_id: None,
        };
        match principal {
            Principal::VendorMember { user_id, org_id, .. } => PrincipalClaim {
                org_id: Some(*org_id),
                user_id: Some(*user_id),
                ..empty(PrincipalKind::Vendor)
            },
            Principal::VendorApiToken { token_id, org_id, .. } => PrincipalClaim {
                org_id: Some(*org_id),
                token_id: Some(*token_id),
                ..empty(PrincipalKind::Vendor)
            },
            Principal::CustomerToken { token_id, org_id, customer_id } => PrincipalClaim {
                org_id: Some(*org_id),
                customer_id: Some(*customer_id),
                token_id: Some(*token_id),
                ..empty(PrincipalKind::Customer)
            },
            Principal::Anonymous => empty(PrincipalKind::Anonymous),
        }
    }
}

/// The claims of a registry token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryClaims {
    /// Issuer: the token service (configured, e.g. the public URL).
    pub iss: String,
    /// Audience: the registry `service` name from the `WWW-Authenticate` challenge.
    pub aud: String,
    /// Subject: the account name the client authenticated as.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Not before, seconds since the Unix epoch.
    pub nbf: i64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// What the bearer may do: the intersection of what was asked and what is held.
    pub access: Vec<ResourceScope>,
    /// Wharf's private claim: the principal.
    pub wharf: PrincipalClaim,
}

impl RegistryClaims {
    /// Whether `access` allows `action` on the repository `name`.
    pub fn allows(&self, name: &str, action: Action) -> bool {
        self.access.iter().any(|scope| {
            scope.kind == ResourceKind::Repository && scope.name == name && scope.allows(action)
        })
    }
}

/// A signed token and what the `/token` response needs.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT (redacted in `Debug`).
    pub token: SecretString,
    /// Lifetime in seconds (`expires_in`).
    pub expires_in: u64,
    /// Issue time (`issued_at`, RFC 3339 in the response).
    pub issued_at: OffsetDateTime,
    /// The claims that were signed.
    pub claims: RegistryClaims,
}

/// Signs registry tokens with one key for one issuer and audience.
#[derive(Debug, Clone)]
pub struct Signer {
    key: SigningKey,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl Signer {
    /// A signer issuing tokens as `issuer` for the registry service `audience`, valid for
    /// `ttl` (5 minutes is usual: clients fetch a new one when it expires).
    pub fn new(
        key: SigningKey,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self { key, issuer: issuer.into(), audience: audience.into(), ttl }
    }

    /// The signing key's id.
    pub fn kid(&self) -> &str {
        self.key.kid()
    }

    /// Signs a token for `principal`, authenticated as `subject`, allowing `access`, issued at
    /// `now`.
    pub fn sign(
        &self,
        subject: &str,
        principal: &Principal,
        access: Vec<ResourceScope>,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, JwtError> {
        let issued = now.unix_timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).map_err(|_| JwtError::Signing)?;
        let claims = RegistryClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.to_owned(),
            exp: issued.saturating_add(ttl),
            nbf: issued,
            iat: issued,
            jti: Uuid::new_v4(),
            access,
            wharf: PrincipalClaim::from(principal),
        };
        let mut header = Header::new(ALGORITHM);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(self.key.kid().to_owned());
        let token = self.key.sign_jws(&header, &claims)?;
        Ok(IssuedToken {
            token: SecretString::from(token),
            expires_in: self.ttl.as_secs(),
            issued_at: now,
            claims,
        })
    }
}

/// Verifies registry tokens against a set of public keys chosen by `kid`.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: HashMap<String, VerificationKey>,
    issuer: String,
    audience: String,
    leeway_secs: i64,
}

impl Verifier {
    /// A verifier accepting tokens from `issuer` for `audience`, signed by any of `keys`
    /// (current and previous keys during a rotation), with [`DEFAULT_LEEWAY`].
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        keys: impl IntoIterator<Item = VerificationKey>,
    ) -> Result<Self, JwtError> {
        let mut map = HashMap::new();
        for key in keys {
            if let Some(previous) = map.insert(key.kid.clone(), key) {
                return Err(JwtError::DuplicateKeyId(previous.kid));
            }
        }
        if map.is_empty() {
            return Err(JwtError::NoVerificationKeys);
        }
        Ok(Self {
            keys: map,
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: secs(DEFAULT_LEEWAY),
        })
    }

    /// Sets the clock-skew leeway (at most [`MAX_LEEWAY`]).
    pub fn with_leeway(mut self, leeway: Duration) -> Result<Self, JwtError> {
        if leeway > MAX_LEEWAY {
            return Err(JwtError::LeewayTooLarge);
        }
        self.leeway_secs = secs(leeway);
        Ok(self)
    }

    /// The key ids this verifier accepts.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Verifies `token` at time `now` and returns its claims.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<RegistryClaims, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed("token too long"));
        }
        let kid = check_header(token)?;
        let key = self.keys.get(&kid).ok_or(JwtError::UnknownKeyId)?;

        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp", "nbf"]);
        // Time is checked below against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<RegistryClaims>(token, &key.decoding, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => JwtError::BadSignature,
                ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
                ErrorKind::InvalidAudience => JwtError::WrongAudience,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::MissingAlgorithm
                | ErrorKind::UnsupportedAlgorithm => JwtError::UnsupportedAlgorithm,
                _ => JwtError::Malformed("invalid token structure or claims"),
            })?
            .claims;

        let now = now.unix_timestamp();
        if now >= claims.exp.saturating_add(self.leeway_secs) {
            return Err(JwtError::Expired);
        }
        if claims.nbf > now.saturating_add(self.leeway_secs)
            || claims.iat > now.saturating_add(self.leeway_secs)
        {
            return Err(JwtError::NotYetValid);
        }
        Ok(claims)
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Checks the raw JOSE header (before jsonwebtoken sees it) and returns the `kid`.
fn check_header(token: &str) -> Result<String, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("expected three dot-separated parts"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Malformed("header is not base64url"))?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|_| JwtError::Malformed("header is not a JSON object"))?;
    match header.get("alg") {
        Some(serde_json::Value::String(alg)) if alg == "ES256" => {}
        _ => return Err(JwtError::UnsupportedAlgorithm),
    }
    if let Some(param) = FORBIDDEN_HEADER_PARAMS.iter().find(|param| header.contains_key(**param)) {
        return Err(JwtError::ForbiddenHeader(param));
    }
    match header.get("kid") {
        Some(serde_json::Value::String(kid)) => Ok(kid.clone()),
        _ => Err(JwtError::MissingKeyId),
    }
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(label: &str, pem: &str) -> Result<Vec<u8>, JwtError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(start) = pem.find(&begin) else {
        return Err(if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
            JwtError::InvalidKey(
                "SEC1 `EC PRIVATE KEY` found; convert it with `openssl pkcs8 -topk8 -nocrypt`",
            )
        } else if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            JwtError::InvalidKey("encrypted private keys are not supported")
        } else {
            JwtError::InvalidKey("no PEM block with the expected label")
        });
    };
    let body = &pem[start + begin.len()..];
    let stop = body.find(&end).ok_or(JwtError::InvalidKey("PEM block is not terminated"))?;
    let base64: String = body[..stop].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(base64).map_err(|_| JwtError::InvalidKey("PEM body is not valid base64"))
}

/// Why a key could not be loaded, a token signed, or a token verified.
///
/// For the registry every verification failure means 401 UNAUTHORIZED; the variants exist for
/// logs and tests. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// A key could not be read.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// Key generation failed in the crypto library.
    #[error("could not generate a signing key")]
    KeyGeneration,
    /// Two verification keys have the same id.
    #[error("duplicate verification key id {0}")]
    DuplicateKeyId(String),
    /// A verifier needs at least one key.
    #[error("no verification keys configured")]
    NoVerificationKeys,
    /// Leeway above [`MAX_LEEWAY`].
    #[error("leeway must be at most 30 seconds")]
    LeewayTooLarge,
    /// Signing failed.
    #[error("could not sign the token")]
    Signing,
    /// Not a well-formed JWT with the expected claims.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg` is not ES256 (e.g. `none` or `HS256`).
    #[error("unsupported token algorithm: only ES256 is accepted")]
    UnsupportedAlgorithm,
    /// The header carries key material, a key reference or critical extensions.
    #[error("token header parameter `{0}` is not accepted")]
    ForbiddenHeader(&'static str),
    /// The header has no `kid`.
    #[error("token header has no key id")]
    MissingKeyId,
    /// The `kid` is not among the verification keys.
    #[error("token signed with an unknown key")]
    UnknownKeyId,
    /// The signature does not verify.
    #[error("invalid token signature")]
    BadSignature,
    /// `iss` does not match.
    #[error("token issued by another issuer")]
    WrongIssuer,
    /// `aud` does not match.
    #[error("token issued for another service")]
    WrongAudience,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future.
    #[error("token not valid yet")]
    NotYetValid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Role;
    use aws_lc_rs::rand::SystemRandom;
    use std::sync::LazyLock;

    const ISSUER: &str = "https://wharf.example.com";
    const SERVICE: &str = "wharf.example.com";
    const TTL: Duration = Duration::from_secs(300);

    // Key generation is cheap, but sharing keys keeps the tests focused.
    static KEY_A: LazyLock<SecretString> = LazyLock::new(|| generate_signing_key().unwrap());
    static KEY_B: LazyLock<SecretString> = LazyLock::new(|| generate_signing_key().unwrap());

    fn signing_key(pem: &SecretString) -> SigningKey {
        SigningKey::from_pkcs8_pem(pem).unwrap()
    }

    fn signer(pem: &SecretString) -> Signer {
        Signer::new(signing_key(pem), ISSUER, SERVICE, TTL)
    }

    fn verifier(pems: &[&SecretString]) -> Verifier {
        Verifier::new(
            ISSUER,
            SERVICE,
            pems.iter().map(|pem| signing_key(pem).verification_key().clone()),
        )
        .unwrap()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn customer() -> Principal {
        Principal::CustomerToken {
            token_id: Uuid::from_u128(7),
            org_id: Uuid::from_u128(1),
            customer_id: Uuid::from_u128(3),
        }
    }

    fn access() -> Vec<ResourceScope> {
        vec!["repository:acme/app:pull".parse().unwrap()]
    }

    fn issue(pem: &SecretString) -> String {
        signer(pem)
            .sign("customer-bot", &customer(), access(), now())
            .unwrap()
            .token
            .expose_secret()
            .to_owned()
    }

    fn b64(json: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
    }

    fn payload_of(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    /// Builds an ES256 token by hand with any header, signed by `pem`.
    fn forge(
        header: &serde_json::Value,
        payload: &serde_json::Value,
        pem: &SecretString,
    ) -> String {
        let der = pem_decode(PRIVATE_KEY_LABEL, pem.expose_secret()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap();
        let message = format!("{}.{}", b64(header), b64(payload));
        let signature = pair.sign(&SystemRandom::new(), message.as_bytes()).unwrap();
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    #[test]
    fn round_trip() {
        let signer = signer(&KEY_A);
        let issued = signer.sign("customer-bot", &customer(), access(), now()).unwrap();
        assert_eq!(issued.expires_in, 300);
        let claims = verifier(&[&KEY_A]).verify(issued.token.expose_secret(), now()).unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.aud, SERVICE);
        assert_eq!(claims.sub, "customer-bot");
        assert_eq!(claims.iat, now().unix_timestamp());
        assert_eq!(claims.nbf, now().unix_timestamp());
        assert_eq!(claims.exp, now().unix_timestamp() + 300);
        assert_eq!(claims.access, access());
        assert!(claims.allows("acme/app", Action::Pull));
        assert!(!claims.allows("acme/app", Action::Push));
        assert!(!claims.allows("acme/other", Action::Pull));
        assert_eq!(
            claims.wharf,
            PrincipalClaim {
                kind: PrincipalKind::Customer,
                org_id: Some(Uuid::from_u128(1)),
                customer_id: Some(Uuid::from_u128(3)),
                token_id: Some(Uuid::from_u128(7)),
                user_id: None,
            }
        );
    }

    #[test]
    fn header_and_wire_shape() {
        let token = issue(&KEY_A);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(signing_key(&KEY_A).kid()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let payload = payload_of(&token);
        assert_eq!(
            payload["access"],
            serde_json::json!([{"type": "repository", "name": "acme/app", "actions": ["pull"]}])
        );
        assert_eq!(payload["wharf"]["kind"], "customer");
        assert!(payload["wharf"].get("user_id").is_none());
    }

    #[test]
    fn vendor_and_anonymous_claims() {
        let vendor = Principal::VendorApiToken {
            token_id: Uuid::from_u128(9),
            org_id: Uuid::from_u128(1),
            role: Role::Developer,
            read_only: false,
        };
        let claim = PrincipalClaim::from(&vendor);
        assert_eq!(claim.kind, PrincipalKind::Vendor);
        assert_eq!(claim.token_id, Some(Uuid::from_u128(9)));
        assert_eq!(claim.customer_id, None);
        let anonymous = PrincipalClaim::from(&Principal::Anonymous);
        assert_eq!(anonymous.kind, PrincipalKind::Anonymous);
        assert_eq!(anonymous.org_id, None);
        let issued = signer(&KEY_A).sign("", &Principal::Anonymous, vec![], now()).unwrap();
        let claims = verifier(&[&KEY_A]).verify(issued.token.expose_secret(), now()).unwrap();
        assert_eq!(claims.wharf, anonymous);
        assert!(claims.access.is_empty());
    }

    #[test]
    fn expiry_and_leeway() {
        let token = issue(&KEY_A);
        let verifier = verifier(&[&KEY_A]);
        let leeway = DEFAULT_LEEWAY.as_secs() as i64;
        let at = |offset: i64| now() + time::Duration::seconds(offset);
        assert!(verifier.verify(&token, at(299)).is_ok());
        assert!(verifier.verify(&token, at(300 + leeway - 1)).is_ok());
        assert_eq!(verifier.verify(&token, at(300 + leeway)), Err(JwtError::Expired));
        assert_eq!(verifier.verify(&token, at(86_400)), Err(JwtError::Expired));
        let strict = verifier.clone().with_leeway(Duration::ZERO).unwrap();
        assert_eq!(strict.verify(&token, at(300)), Err(JwtError::Expired));
    }

    #[test]
    fn not_yet_valid() {
        let token = issue(&KEY_A);
        let verifier = verifier(&[&KEY_A]);
        let leeway = DEFAULT_LEEWAY.as_secs() as i64;
        let at = |offset: i64| now() + time::Duration::seconds(offset);
        assert!(verifier.verify(&token, at(-leeway)).is_ok());
        assert_eq!(verifier.verify(&token, at(-leeway - 1)), Err(JwtError::NotYetValid));
    }

    #[test]
    fn leeway_is_capped() {
        let verifier = verifier(&[&KEY_A]);
        assert!(verifier.clone().with_leeway(MAX_LEEWAY).is_ok());
        assert_eq!(
            verifier.with_leeway(MAX_LEEWAY + Duration::from_secs(1)).unwrap_err(),
            JwtError::LeewayTooLarge
        );
    }

    #[test]
    fn wrong_audience() {
        let token = Signer::new(signing_key(&KEY_A), ISSUER, "other-registry", TTL)
            .sign("x", &customer(), access(), now())
            .unwrap();
        assert_eq!(
            verifier(&[&KEY_A]).verify(token.token.expose_secret(), now()),
            Err(JwtError::WrongAudience)
        );
    }

    #[test]
    fn wrong_issuer() {
        let token = Signer::new(signing_key(&KEY_A), "https://evil.example", SERVICE, TTL)
            .sign("x", &customer(), access(), now())
            .unwrap();
        assert_eq!(
            verifier(&[&KEY_A]).verify(token.token.expose_secret(), now()),
            Err(JwtError::WrongIssuer)
        );
    }

    #[test]
    fn hmac_with_the_public_key_as_secret_is_rejected() {
        // The classic algorithm-confusion attack: sign HS256 with the public key, which the
        // attacker knows, hoping the verifier uses it as an HMAC secret.
        let key = signing_key(&KEY_A);
        let claims = payload_of(&issue(&KEY_A));
        for secret in [
            key.verification_key().to_spki_pem().into_bytes(),
            key.verification_key().spki_der().to_vec(),
        ] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(key.kid().to_owned());
            let token = jsonwebtoken::encode(
                &header,
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(&secret),
            )
            .unwrap();
            assert_eq!(
                verifier(&[&KEY_A]).verify(&token, now()),
                Err(JwtError::UnsupportedAlgorithm)
            );
        }
    }

    #[test]
    fn alg_none_is_rejected() {
        let kid = signing_key(&KEY_A).kid().to_owned();
        let claims = payload_of(&issue(&KEY_A));
        for alg in ["none", "None", "NONE", "", "ES384", "RS256", "EdDSA"] {
            let header = serde_json::json!({"alg": alg, "typ": "JWT", "kid": kid});
            for signature in ["", "AAAA"] {
                let token = format!("{}.{}.{signature}", b64(&header), b64(&claims));
                assert_eq!(
                    verifier(&[&KEY_A]).verify(&token, now()),
                    Err(JwtError::UnsupportedAlgorithm),
                    "{alg}"
                );
            }
        }
        let no_alg = serde_json::json!({"typ": "JWT", "kid": kid});
        let token = format!("{}.{}.", b64(&no_alg), b64(&claims));
        assert_eq!(verifier(&[&KEY_A]).verify(&token, now()), Err(JwtError::UnsupportedAlgorithm));
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let token = issue(&KEY_A);
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = payload_of(&token);
        claims["access"][0]["actions"] = serde_json::json!(["pull", "push", "delete"]);
        let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert_eq!(verifier(&[&KEY_A]).verify(&tampered, now()), Err(JwtError::BadSignature));
        // A flipped signature byte fails too.
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[10] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(signature));
        assert_eq!(verifier(&[&KEY_A]).verify(&flipped, now()), Err(JwtError::BadSignature));
    }

    #[test]
    fn embedded_key_material_is_rejected() {
        // An attacker signs with their own key and ships it in the header.
        let legit_kid = signing_key(&KEY_A).kid().to_owned();
        let attacker = signing_key(&KEY_B);
        let claims = payload_of(&issue(&KEY_A));
        let spki = URL_SAFE_NO_PAD.encode(attacker.verification_key().spki_der());
        let cases = [
            ("jwk", serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"})),
            ("jku", serde_json::json!("https://evil.example/jwks.json")),
            ("x5c", serde_json::json!([spki])),
            ("x5u", serde_json::json!("https://evil.example/cert.pem")),
            ("x5t", serde_json::json!("AAAA")),
            ("x5t#S256", serde_json::json!("AAAA")),
            ("crit", serde_json::json!(["exp"])),
        ];
        for (param, value) in cases {
            for kid in [legit_kid.as_str(), attacker.kid()] {
                let mut header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid});
                header[param] = value.clone();
                let token = forge(&header, &claims, &KEY_B);
                assert_eq!(
                    verifier(&[&KEY_A]).verify(&token, now()),
                    Err(JwtError::ForbiddenHeader(
                        FORBIDDEN_HEADER_PARAMS.iter().find(|p| **p == param).unwrap()
                    )),
                    "{param}"
                );
            }
        }
    }

    #[test]
    fn forged_token_with_valid_header_verifies() {
        // Sanity check of the `forge` helper, so the rejections above are meaningful.
        let kid = signing_key(&KEY_A).kid().to_owned();
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid});
        let token = forge(&header, &payload_of(&issue(&KEY_A)), &KEY_A);
        assert!(verifier(&[&KEY_A]).verify(&token, now()).is_ok());
    }

    #[test]
    fn unknown_kid_is_rejected() {
        let token = issue(&KEY_B);
        assert_eq!(verifier(&[&KEY_A]).verify(&token, now()), Err(JwtError::UnknownKeyId));
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT"});
        let token = forge(&header, &payload_of(&issue(&KEY_A)), &KEY_A);
        assert_eq!(verifier(&[&KEY_A]).verify(&token, now()), Err(JwtError::MissingKeyId));
    }

    #[test]
    fn other_key_with_the_same_kid_is_rejected() {
        let kid = signing_key(&KEY_A).kid().to_owned();
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid});
        let token = forge(&header, &payload_of(&issue(&KEY_A)), &KEY_B);
        assert_eq!(verifier(&[&KEY_A]).verify(&token, now()), Err(JwtError::BadSignature));
    }

    #[test]
    fn rotation_accepts_every_configured_key() {
        let verifier = verifier(&[&KEY_A, &KEY_B]);
        assert!(verifier.verify(&issue(&KEY_A), now()).is_ok());
        assert!(verifier.verify(&issue(&KEY_B), now()).is_ok());
        assert_eq!(verifier.kids().count(), 2);
    }

    #[test]
    fn verifier_construction() {
        let key = signing_key(&KEY_A).verification_key().clone();
        assert_eq!(
            Verifier::new(ISSUER, SERVICE, [key.clone(), key.clone()]).unwrap_err(),
            JwtError::DuplicateKeyId(key.kid().to_owned())
        );
        assert_eq!(Verifier::new(ISSUER, SERVICE, []).unwrap_err(), JwtError::NoVerificationKeys);
    }

    #[test]
    fn malformed_tokens() {
        let verifier = verifier(&[&KEY_A]);
        for token in ["", "a", "a.b", "a.b.c.d", "!!!.b.c", "e30.e30.", "bnVsbA.e30."] {
            assert!(
                matches!(
                    verifier.verify(token, now()),
                    Err(JwtError::Malformed(_) | JwtError::UnsupportedAlgorithm)
                ),
                "{token:?}"
            );
        }
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(verifier.verify(&long, now()), Err(JwtError::Malformed("token too long")));
        // Valid signature over a payload missing `nbf`.
        let kid = signing_key(&KEY_A).kid().to_owned();
        let header = serde_json::json!({"alg": "ES256", "kid": kid});
        let mut claims = payload_of(&issue(&KEY_A));
        claims.as_object_mut().unwrap().remove("nbf");
        let token = forge(&header, &claims, &KEY_A);
        assert!(matches!(verifier.verify(&token, now()), Err(JwtError::Malformed(_))));
    }

    #[test]
    fn key_loading() {
        let key = signing_key(&KEY_A);
        assert_eq!(key.kid().len(), 32);
        assert_eq!(key.kid(), key_id(key.verification_key().spki_der()));
        // The public PEM round-trips to the same kid.
        let public = VerificationKey::from_spki_pem(&key.verification_key().to_spki_pem()).unwrap();
        assert_eq!(public.kid(), key.kid());
        // Loading the same private key twice gives the same kid; another key another one.
        assert_eq!(signing_key(&KEY_A).kid(), key.kid());
        assert_ne!(signing_key(&KEY_B).kid(), key.kid());
        assert!(KEY_A.expose_secret().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(KEY_A.expose_secret().ends_with("-----END PRIVATE KEY-----\n"));
    }

    #[test]
    fn bad_keys_are_rejected_clearly() {
        let sec1 = SecretString::from(
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n".to_owned(),
        );
        let err = SigningKey::from_pkcs8_pem(&sec1).unwrap_err();
        assert!(err.to_string().contains("openssl pkcs8"), "{err}");
        let garbage = SecretString::from(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_owned(),
        );
        assert!(matches!(SigningKey::from_pkcs8_pem(&garbage), Err(JwtError::InvalidKey(_))));
        // A P-384 key is not accepted.
        let p384 = EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .unwrap();
        assert!(matches!(SigningKey::from_pkcs8_der(p384.as_ref()), Err(JwtError::InvalidKey(_))));
        assert!(matches!(
            VerificationKey::from_spki_pem(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
            ),
            Err(JwtError::InvalidKey(_))
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let key = signing_key(&KEY_A);
        let debug = format!("{key:?}");
        assert!(debug.contains(key.kid()));
        let issued = signer(&KEY_A).sign("x", &customer(), access(), now()).unwrap();
        let debug = format!("{issued:?}");
        assert!(!debug.contains(issued.token.expose_secret()), "{debug}");
        let debug = format!("{:?}", signer(&KEY_A));
        assert!(!debug.contains("BEGIN"));
        assert!(!format!("{:?}", *KEY_A).contains("BEGIN"));
    }
}
