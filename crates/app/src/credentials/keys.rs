//! The registry token signing key: loaded from the database, or generated at first start,
//! and rotated by `wharf signing-key rotate` ([`rotate`]).
//!
//! Every instance signs with the one active key and verifies with the active key and those
//! retired within the token lifetime (plus a minute), so a rotation never fails a pull in
//! flight. A change of the keys reaches every instance at once: the table's trigger notifies
//! the invalidation listener, which reloads the [`KeyRing`] (and again every
//! [`super::invalidation::RESYNC_EVERY`], so a key past its overlap stops verifying).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use wharf_auth::jwt::{JwtError, SigningKey, VerificationKey, Verifier, generate_signing_key};
use wharf_db::{DbError, PgPool, signing_keys};

use super::verified::VerifiedTokens;

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

/// A new key pair, as stored.
fn new_key() -> Result<signing_keys::StoredKey, KeyError> {
    let pem = generate_signing_key().map_err(KeyError::Generate)?;
    let key = SigningKey::from_pkcs8_pem(&pem).map_err(KeyError::Generate)?;
    Ok(signing_keys::StoredKey {
        kid: key.kid().to_owned(),
        private_key_pem: pem.expose_secret().to_owned(),
        public_key_pem: key.verification_key().to_spki_pem(),
        created_at: OffsetDateTime::now_utc(),
        retired_at: None,
    })
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The new active key's id.
    pub kid: String,
    /// The key it replaced, if there was one.
    pub retired: Option<String>,
}

/// Makes a new key the signer and retires the active one, in one transaction; every
/// instance switches at once and keeps verifying with the retired key for the token
/// lifetime plus a minute.
pub async fn rotate(pool: &PgPool) -> Result<Rotated, KeyError> {
    let key = new_key()?;
    let retired = signing_keys::rotate(pool, &key).await?;
    Ok(Rotated { kid: key.kid, retired })
}

/// How long after its retirement a key still verifies: the token lifetime plus a minute.
pub fn overlap(token_lifetime: Duration) -> time::Duration {
    time::Duration::try_from(token_lifetime).unwrap_or(time::Duration::HOUR)
        + time::Duration::minutes(1)
}

/// Loads the keys, generating and storing the first one if the database has none.
pub async fn load_or_create(pool: &PgPool, token_lifetime: Duration) -> Result<Keys, KeyError> {
    let active = match signing_keys::active(pool).await? {
        Some(key) => key,
        None => {
            let candidate = new_key()?;
            let stored = signing_keys::activate_or_get(pool, &candidate).await?;
            if stored.kid == candidate.kid {
                tracing::info!(kid = %stored.kid, "generated the registry token signing key");
            }
            stored
        }
    };
    let signing = SigningKey::from_pkcs8_pem(&SecretString::from(active.private_key_pem))
        .map_err(KeyError::Unreadable)?;
    let since = OffsetDateTime::now_utc() - overlap(token_lifetime);
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

/// The keys in use: the signer and a verifier over every key a valid token may carry.
#[derive(Debug)]
pub struct CurrentKeys {
    /// Signs new tokens.
    pub signing: SigningKey,
    /// Verifies presented tokens.
    pub verifier: Verifier,
}

/// This instance's keys, swapped as a whole when they change in the database, and the
/// bearer tokens already verified with them.
#[derive(Debug)]
pub struct KeyRing {
    issuer: String,
    audience: String,
    token_lifetime: Duration,
    current: RwLock<Arc<CurrentKeys>>,
    /// Tokens verified with the current keys; emptied when the keys change, so a token of a
    /// key no longer trusted is verified (and refused) again.
    pub verified: VerifiedTokens,
}

impl KeyRing {
    /// Loads (or, at first start, creates) the keys.
    pub async fn load(
        pool: &PgPool,
        issuer: &str,
        audience: &str,
        token_lifetime: Duration,
    ) -> Result<Self, KeyError> {
        let current = Self::read(pool, issuer, audience, token_lifetime).await?;
        Ok(Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            token_lifetime,
            current: RwLock::new(Arc::new(current)),
            verified: VerifiedTokens::default(),
        })
    }

    async fn read(
        pool: &PgPool,
        issuer: &str,
        audience: &str,
        token_lifetime: Duration,
    ) -> Result<CurrentKeys, KeyError> {
        let keys = load_or_create(pool, token_lifetime).await?;
        let verifier =
            Verifier::new(issuer, audience, keys.verification).map_err(KeyError::Unreadable)?;
        Ok(CurrentKeys { signing: keys.signing, verifier })
    }

    /// The keys to sign and verify with now.
    pub fn current(&self) -> Arc<CurrentKeys> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Reads the keys again; on failure the current ones stay.
    pub async fn reload(&self, pool: &PgPool) -> Result<(), KeyError> {
        let fresh = Self::read(pool, &self.issuer, &self.audience, self.token_lifetime).await?;
        let current = self.current();
        let verifying = |keys: &CurrentKeys| {
            let mut kids: Vec<String> = keys.verifier.kids().map(str::to_owned).collect();
            kids.sort();
            kids
        };
        let changed = current.signing.kid() != fresh.signing.kid()
            || verifying(&current) != verifying(&fresh);
        if changed {
            tracing::info!(
                kid = %fresh.signing.kid(),
                verifying = ?verifying(&fresh),
                "registry token signing keys changed"
            );
            *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
            self.verified.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kids(ring: &KeyRing) -> Vec<String> {
        let mut kids: Vec<String> = ring.current().verifier.kids().map(str::to_owned).collect();
        kids.sort();
        kids
    }

    #[sqlx::test(migrator = "wharf_db::MIGRATOR")]
    async fn a_rotation_changes_the_signer_and_keeps_the_old_key_for_the_overlap(pool: PgPool) {
        let ring =
            KeyRing::load(&pool, "issuer", "audience", Duration::from_secs(300)).await.unwrap();
        let old = ring.current().signing.kid().to_owned();
        let rotated = rotate(&pool).await.unwrap();
        assert_eq!(rotated.retired.as_deref(), Some(old.as_str()));
        assert_eq!(ring.current().signing.kid(), old, "until reloaded");

        ring.reload(&pool).await.unwrap();
        assert_eq!(ring.current().signing.kid(), rotated.kid);
        let mut both = vec![old.clone(), rotated.kid.clone()];
        both.sort();
        assert_eq!(kids(&ring), both, "the retired key verifies within the overlap");

        sqlx::query(
            "update signing_keys set retired_at = now() - interval '1 hour' where kid = $1",
        )
        .bind(&old)
        .execute(&pool)
        .await
        .unwrap();
        ring.reload(&pool).await.unwrap();
        assert_eq!(kids(&ring), [rotated.kid], "past the overlap it is dropped");
    }
}
