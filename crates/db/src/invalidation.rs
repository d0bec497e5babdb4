//! What instances must forget at once: revoked tokens and disabled customers; and the
//! [`RepositoryNotifier`], which tells them about manifest pushes that only added.
//!
//! Owns the snapshot query behind the in-memory revocation view; the NOTIFY side is done by
//! triggers (migration `invalidation`), so every code path that revokes or disables is
//! covered without remembering to notify. The one exception is a manifest push that only
//! added (see [`RepositoryNotifier`]).

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{DbError, PgPool};

/// How long the notifier waits after the first name before it sends (see
/// [`RepositoryNotifier`]): what an addition's notification may take longer to reach the
/// other instances, for one statement per burst of pushes instead of one per push.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// Sends `repository:<name>` for manifest pushes that committed without notifying (they only
/// added a manifest or a tag; see `registry::manifests::put_by_name`), off the push's path:
/// the names wait in a set, and one background task sends every name waiting in one
/// statement, [`LINGER`] after the first came in, then the names that came in meanwhile in
/// the next. A push so costs its
/// client one statement and one commit, and a burst of pushes into one repository costs one
/// notification.
///
/// Its own transactions, committed without waiting for the WAL flush: they record nothing,
/// and a notification is delivered once it commits. A failed send is retried once and then
/// logged. What a lost notification costs (the process dies with names waiting, or Postgres
/// refuses twice): the other instances see the addition with the repository's next change,
/// and until then deny the new manifest or tag (fail closed), never serve a stale answer —
/// additions are never what makes a cache wrong (migration
/// `manifest_push_notify_after_commit`). The pushing instance does not wait for it: the
/// registry forgets the repository in its own caches when the push commits.
#[derive(Debug)]
pub struct RepositoryNotifier {
    pool: PgPool,
    waiting: Mutex<BTreeSet<String>>,
    wake: tokio::sync::Notify,
    /// The sending task, started by the first name (inside the runtime that serves pushes).
    task: OnceLock<()>,
}

impl RepositoryNotifier {
    /// A notifier sending through `pool`; its task starts with the first name.
    pub fn new(pool: PgPool) -> Arc<Self> {
        Arc::new(Self {
            pool,
            waiting: Mutex::new(BTreeSet::new()),
            wake: tokio::sync::Notify::new(),
            task: OnceLock::new(),
        })
    }

    /// Queues `repository:<name>`; returns at once. Must be called inside a Tokio runtime.
    pub fn changed(self: &Arc<Self>, name: &str) {
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            if !waiting.contains(name) {
                waiting.insert(name.to_owned());
            }
        }
        self.task.get_or_init(|| {
            tokio::spawn(Arc::clone(self).send_forever());
        });
        self.wake.notify_one();
    }

    async fn send_forever(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            // Whatever else changes meanwhile goes in the same statement: under a stream of
            // pushes, one notification per few milliseconds instead of one per push.
            tokio::time::sleep(LINGER).await;
            let names: Vec<String> =
                std::mem::take(&mut *self.waiting.lock().unwrap_or_else(PoisonError::into_inner))
                    .into_iter()
                    .collect();
            if !names.is_empty() {
                send_repository_changes(&self.pool, &names).await;
            }
        }
    }
}

/// Sends `repository:<name>` for each of `names` in one statement, its own transaction
/// committed without waiting for the WAL flush; retried once, then logged.
pub(crate) async fn send_repository_changes(pool: &PgPool, names: &[String]) {
    for attempt in 1..=2 {
        let sent = sqlx::query!(
            "select set_config('synchronous_commit', 'off', true),
                    pg_notify('wharf_invalidate', 'repository:' || name)
             from unnest($1::text[]) name",
            names,
        )
        .fetch_all(pool)
        .await;
        match sent {
            Ok(_) => return,
            Err(err) if attempt == 2 => {
                tracing::warn!(
                    repositories = ?names,
                    "pushed manifests were stored but their notification was not sent: {err}"
                );
            }
            Err(_) => {}
        }
    }
}

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

    /// Every name queued reaches the listeners, and a burst of changes to one repository
    /// is far fewer notifications than changes.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_notifier_delivers_every_name_and_coalesces_bursts(pool: PgPool) {
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.unwrap();
        listener.listen("wharf_invalidate").await.unwrap();
        let notifier = RepositoryNotifier::new(pool.clone());
        for _ in 0..100 {
            notifier.changed("acme/app");
        }
        notifier.changed("acme/web");
        let mut seen = Vec::new();
        while !(seen.iter().any(|p| p == "repository:acme/app")
            && seen.iter().any(|p| p == "repository:acme/web"))
        {
            seen.push(listener.recv().await.unwrap().payload().to_owned());
        }
        // Whatever was still on its way: a marker sent now arrives after it.
        sqlx::query("select pg_notify('wharf_invalidate', 'marker')").execute(&pool).await.unwrap();
        loop {
            let payload = listener.recv().await.unwrap().payload().to_owned();
            if payload == "marker" {
                break;
            }
            seen.push(payload);
        }
        assert!(seen.iter().all(|p| p.starts_with("repository:acme/")), "{seen:?}");
        assert!(seen.len() < 10, "100 changes coalesced into a few notifications: {seen:?}");
    }

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
