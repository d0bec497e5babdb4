//! The registry token signing key: loaded from the database, or generated at first start.
//!
//! Every instance signs with the one active key and verifies with the active key and those
//! retired within the token lifetime, so a rotation never fails a pull in flight.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use wharf_auth::jwt::{JwtError, SigningKey, VerificationKey, generate_signing_key};
use wharf_db::{DbError, PgPool, signing_keys};

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error("{0}")]
    Database(#[from] DbError),
    /// A key could not be generated.
    #[error("cannot generate a signing key: {0}")]
    Generate(JwtError),
    /// The stored signing key is unreadable.
    #[error("the stored signing key is unreadable: {0}")]
    Unreadable(JwtError),
    /// A stored public key is unreadable.
    #[error("stored public key {kid} is unreadable: {error}")]
    UnreadablePublic {
        /// The key's id.
        kid: String,
        /// Why.
        error: JwtError,
    },
}

/// The active signing key and every key a valid token may carry.
#[derive(Debug)]
pub struct Keys {
    /// Signs new tokens.
    pub signing: SigningKey,
    /// Verify tokens (active first).
    pub verification: Vec<VerificationKey>,
}

/// Loads the keys, generating and storing the first one if the database has none.
pub async fn load_or_create(pool: &PgPool, token_lifetime: Duration) -> Result<Keys, KeyError> {
    let active = match signing_keys::active(pool).await? {
        Some(key) => key,
        None => {
            let pem = generate_signing_key().map_err(KeyError::Generate)?;
            let key = SigningKey::from_pkcs8_pem(&pem).map_err(KeyError::Generate)?;
            let candidate = signing_keys::StoredKey {
                kid: key.kid().to_owned(),
                private_key_pem: pem.expose_secret().to_owned(),
                public_key_pem: key.verification_key().to_spki_pem(),
                created_at: OffsetDateTime::now_utc(),
                retired_at: None,
            };
            let stored = signing_keys::activate_or_get(pool, &candidate).await?;
            if stored.kid == candidate.kid {
                tracing::info!(kid = %stored.kid, "generated the registry token signing key");
            }
            stored
        }
    };
    let signing = SigningKey::from_pkcs8_pem(&SecretString::from(active.private_key_pem))
        .map_err(KeyError::Unreadable)?;
    let lifetime = time::Duration::try_from(token_lifetime).unwrap_or(time::Duration::HOUR);
    let since = OffsetDateTime::now_utc() - lifetime - time::Duration::minutes(1);
    let mut verification = vec![signing.verification_key().clone()];
    for key in signing_keys::verification_keys(pool, since).await? {
        if key.kid != signing.kid() {
            verification.push(
                VerificationKey::from_spki_pem(&key.public_key_pem)
                    .map_err(|error| KeyError::UnreadablePublic { kid: key.kid.clone(), error })?,
            );
        }
    }
    Ok(Keys { signing, verification })
}
