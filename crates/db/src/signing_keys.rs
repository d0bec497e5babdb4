//! Registry token signing keys: one active key, and recently retired ones for verification.
//!
//! Owns the SQL for `signing_keys`. Key generation and parsing belong to `wharf-auth`; these
//! functions only move PEM text.

use time::OffsetDateTime;

use crate::{DbError, PgPool};

/// A stored key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id (`kid` header of the tokens it signs).
    pub kid: String,
    /// PKCS#8 PEM of the private key.
    pub private_key_pem: String,
    /// SPKI PEM of the public key.
    pub public_key_pem: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it stopped signing, if it did.
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("private_key_pem", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// Stores `candidate` as the active key unless one is active already, and returns the active
/// key: the candidate, or the one another instance stored first.
pub async fn activate_or_get(pool: &PgPool, candidate: &StoredKey) -> Result<StoredKey, DbError> {
    sqlx::query!(
        "insert into signing_keys (kid, algorithm, private_key_pem, public_key_pem)
         values ($1, 'ES256', $2, $3)
         on conflict do nothing",
        candidate.kid,
        candidate.private_key_pem,
        candidate.public_key_pem,
    )
    .execute(pool)
    .await?;
    active(pool).await?.ok_or_else(|| DbError::Sqlx(sqlx::Error::RowNotFound))
}

/// The active key, if there is one.
pub async fn active(pool: &PgPool) -> Result<Option<StoredKey>, DbError> {
    Ok(sqlx::query_as!(
        StoredKey,
        "select kid, private_key_pem, public_key_pem, created_at, retired_at
         from signing_keys where retired_at is null"
    )
    .fetch_optional(pool)
    .await?)
}

/// Keys that may have signed a token still valid: the active one and those retired after
/// `retired_since`.
pub async fn verification_keys(
    pool: &PgPool,
    retired_since: OffsetDateTime,
) -> Result<Vec<StoredKey>, DbError> {
    Ok(sqlx::query_as!(
        StoredKey,
        "select kid, private_key_pem, public_key_pem, created_at, retired_at
         from signing_keys where retired_at is null or retired_at > $1
         order by created_at",
        retired_since,
    )
    .fetch_all(pool)
    .await?)
}

/// Retires the active key and makes `new` the active one, in one transaction (instances
/// hear of it through the table's notification). Returns the retired key's id, if one was
/// active.
pub async fn rotate(pool: &PgPool, new: &StoredKey) -> Result<Option<String>, DbError> {
    let mut tx = pool.begin().await?;
    let retired = sqlx::query_scalar!(
        "update signing_keys set retired_at = now() where retired_at is null returning kid"
    )
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into signing_keys (kid, algorithm, private_key_pem, public_key_pem)
         values ($1, 'ES256', $2, $3)",
        new.kid,
        new.private_key_pem,
        new.public_key_pem,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(retired)
}

/// Retires the active key (the next start, or [`activate_or_get`], makes a new one active).
pub async fn retire_active(pool: &PgPool) -> Result<bool, DbError> {
    let done = sqlx::query!("update signing_keys set retired_at = now() where retired_at is null")
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            private_key_pem: format!("private {kid}"),
            public_key_pem: format!("public {kid}"),
            created_at: OffsetDateTime::now_utc(),
            retired_at: None,
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_first_key_wins_and_rotation_keeps_the_old_one_for_verification(pool: PgPool) {
        assert_eq!(active(&pool).await.unwrap(), None);
        let a = activate_or_get(&pool, &key("a")).await.unwrap();
        assert_eq!(a.kid, "a");
        let again = activate_or_get(&pool, &key("b")).await.unwrap();
        assert_eq!(again.kid, "a", "a second instance adopts the active key");

        let before = OffsetDateTime::now_utc() - time::Duration::minutes(5);
        assert!(retire_active(&pool).await.unwrap());
        let c = activate_or_get(&pool, &key("c")).await.unwrap();
        assert_eq!(c.kid, "c");
        let kids: Vec<String> =
            verification_keys(&pool, before).await.unwrap().into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, ["a", "c"]);
        let later = OffsetDateTime::now_utc() + time::Duration::minutes(1);
        let kids: Vec<String> =
            verification_keys(&pool, later).await.unwrap().into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, ["c"], "long-retired keys no longer verify");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn rotation_retires_the_active_key_and_activates_the_new_one(pool: PgPool) {
        assert_eq!(rotate(&pool, &key("a")).await.unwrap(), None, "nothing to retire");
        assert_eq!(rotate(&pool, &key("b")).await.unwrap().as_deref(), Some("a"));
        assert_eq!(active(&pool).await.unwrap().unwrap().kid, "b");
        let before = OffsetDateTime::now_utc() - time::Duration::minutes(5);
        let kids: Vec<String> =
            verification_keys(&pool, before).await.unwrap().into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, ["a", "b"]);
    }

    #[test]
    fn debug_hides_the_private_key() {
        assert!(!format!("{:?}", key("a")).contains("private a"));
    }
}
