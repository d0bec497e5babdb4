//! What instances must forget at once: revoked tokens and disabled customers.
//!
//! Owns the snapshot query behind the in-memory revocation view; the NOTIFY side is done by
//! triggers (migration `invalidation`), so every code path that revokes or disables is
//! covered without remembering to notify.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{DbError, PgPool};

/// Invalidations still relevant to bearer tokens issued within the horizon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Tokens revoked or deleted within the horizon, with the database time of that.
    pub tokens: Vec<(Uuid, OffsetDateTime)>,
    /// Customers disabled now, with the database's current time: every bearer token issued
    /// before now is refused for them.
    pub customers: Vec<(Uuid, OffsetDateTime)>,
}

/// Reads the invalidations of the last `horizon`, on one consistent snapshot.
pub async fn snapshot(pool: &PgPool, horizon: Duration) -> Result<Snapshot, DbError> {
    let mut tx = pool.begin().await?;
    let now = sqlx::query_scalar!(r#"select now() as "now!""#).fetch_one(&mut *tx).await?;
    let tokens = sqlx::query!(
        r#"select id as "id!", at as "at!" from (
               select id, revoked_at as at from access_tokens
               where revoked_at is not null and revoked_at > $1
               union all
               select id, deleted_at as at from deleted_access_tokens where deleted_at > $1
           ) invalidated"#,
        now - horizon,
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.id, r.at))
    .collect();
    let customers = sqlx::query_scalar!("select id from customers where disabled")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|id| (id, now))
        .collect();
    tx.commit().await?;
    Ok(Snapshot { tokens, customers })
}
