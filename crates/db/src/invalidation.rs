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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{customers, tokens};

    async fn token(pool: &PgPool, org: Uuid, customer: Uuid, byte: u8) -> Uuid {
        let new = tokens::NewToken {
            organization_id: org,
            owner: tokens::TokenOwner::Customer { customer_id: customer },
            created_by: None,
            name: "t",
            hash: &[byte; 32],
            display_prefix: "wharf_cst_x",
            expires_at: None,
        };
        tokens::insert(pool, &new).await.unwrap().id
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn snapshot_holds_recent_revocations_deletions_and_disabled_customers(pool: PgPool) {
        let org = crate::testing::org(&pool, "acme").await;
        let globex = customers::create(&pool, org.id, "Globex").await.unwrap();
        let initech = customers::create(&pool, org.id, "Initech").await.unwrap();
        let revoked = token(&pool, org.id, globex.id, 1).await;
        let old = token(&pool, org.id, globex.id, 2).await;
        let active = token(&pool, org.id, globex.id, 3).await;
        let deleted = token(&pool, org.id, initech.id, 4).await;
        let horizon = Duration::minutes(6);
        assert_eq!(snapshot(&pool, horizon).await.unwrap(), Snapshot::default());

        assert!(
            tokens::revoke(&pool, org.id, tokens::RevokeScope::AnyCustomer, revoked)
                .await
                .unwrap()
                .is_some()
        );
        sqlx::query(
            "update access_tokens set revoked_at = now() - interval '1 hour' where id = $1",
        )
        .bind(old)
        .execute(&pool)
        .await
        .unwrap();
        // Deleting a customer deletes its tokens: they are invalidated like revoked ones.
        assert!(customers::delete(&pool, org.id, initech.id).await.unwrap());
        assert!(
            customers::update(&pool, org.id, globex.id, None, Some(true)).await.unwrap().is_some()
        );

        let got = snapshot(&pool, horizon).await.unwrap();
        let mut ids: Vec<Uuid> = got.tokens.iter().map(|(id, _)| *id).collect();
        ids.sort();
        let mut want = vec![revoked, deleted];
        want.sort();
        assert_eq!(ids, want, "recent revocations and deletions, not older ones nor {active}");
        assert_eq!(got.customers.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![globex.id]);
    }
}
