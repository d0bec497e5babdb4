//! The one Postgres LISTEN connection per instance that keeps its in-memory views current:
//! the revocation view ([`Revocations`]), the entitlement view ([`EntitlementView`]), the
//! registry token keys ([`KeyRing`], payload `signing_keys`) and the caches of the front
//! doors that register as [`Invalidated`] (the registry's content cache, wired in by the
//! binary).
//!
//! Triggers in the database (migrations `invalidation` and `licenses`) send every change on
//! the channel [`CHANNEL`] at commit, whichever code path made it. The listener subscribes
//! first and loads second, so nothing that happens in between is missed; after a lost
//! connection all three fail closed until it is back and they are reloaded.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;
use wharf_db::{PgPool, sqlx::postgres::PgListener};

use super::{entitlement_view::EntitlementView, keys::KeyRing, revocations::Revocations};

/// A cache kept in step with the database by the listener: told when notifications start
/// and stop arriving (it must not serve what it holds while they do not), and of every
/// repository that changed.
pub trait Invalidated: Send + Sync + std::fmt::Debug {
    /// Notifications arrive again: caching may resume (from nothing).
    fn synced(&self);
    /// Notifications may be lost: cache nothing, serve nothing cached.
    fn unsynced(&self);
    /// Repository `name` changed (tags, manifests, blob links, the repository itself).
    fn repository_changed(&self, name: &str);
}

/// The notification channel.
pub const CHANNEL: &str = "wharf_invalidate";
/// Full resynchronisation of the revocation view, in case a notification was lost some other
/// way. (The entitlement view is rebuilt from nothing after every reconnection; on a live
/// connection Postgres delivers every notification.)
pub const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// Feeds notifications to the views.
#[derive(Debug, Clone)]
pub struct Listener {
    revocations: Arc<Revocations>,
    entitlements: Arc<EntitlementView>,
    keys: Arc<KeyRing>,
    others: Vec<Arc<dyn Invalidated>>,
}

impl Listener {
    /// A listener for these views.
    pub fn new(
        revocations: Arc<Revocations>,
        entitlements: Arc<EntitlementView>,
        keys: Arc<KeyRing>,
        others: Vec<Arc<dyn Invalidated>>,
    ) -> Self {
        Self { revocations, entitlements, keys, others }
    }

    /// Reloads the signing keys; a failure keeps the current ones (and is logged).
    async fn reload_keys(&self, pool: &PgPool) {
        if let Err(err) = self.keys.reload(pool).await {
            tracing::warn!("invalidation listener: reloading the signing keys failed: {err}");
        }
    }

    fn mark_unsynced(&self) {
        self.revocations.mark_unsynced();
        self.entitlements.mark_unsynced();
        self.others.iter().for_each(|cache| cache.unsynced());
    }

    /// Keeps the views current until the process ends: listens for notifications, and
    /// resynchronises at start, after reconnecting and periodically.
    pub async fn maintain(self, pool: PgPool) {
        loop {
            let result = self.listen_until_lost(&pool).await;
            self.mark_unsynced();
            if pool.is_closed() {
                // Shutting down: nothing more to refuse or to log.
                return;
            }
            if let Err(err) = result {
                tracing::warn!(
                    "invalidation listener: {err}; refusing bearer tokens and reading \
                     entitlements from the database until resynchronised"
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn listen_until_lost(&self, pool: &PgPool) -> Result<(), wharf_db::DbError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.ignore_pool_close_event(false);
        listener.listen(CHANNEL).await?;
        // Listening first, then loading: nothing that happens in between is missed.
        self.entitlements.mark_synced();
        self.others.iter().for_each(|cache| cache.synced());
        self.revocations.resync(pool).await?;
        self.reload_keys(pool).await;
        let mut resync = tokio::time::interval(RESYNC_EVERY);
        resync.tick().await;
        loop {
            tokio::select! {
                received = listener.try_recv() => match received? {
                    Some(notification) => {
                        let payload = notification.payload();
                        self.revocations.apply(payload, OffsetDateTime::now_utc());
                        self.entitlements.apply(payload);
                        if let Some(repository) = payload.strip_prefix("repository:") {
                            self.others.iter().for_each(|c| c.repository_changed(repository));
                        }
                        if payload == "signing_keys" {
                            self.reload_keys(pool).await;
                        }
                    }
                    None => return Err(wharf_db::DbError::Sqlx(wharf_db::sqlx::Error::PoolClosed)),
                },
                _ = resync.tick() => {
                    self.revocations.resync(pool).await?;
                    self.revocations.prune(OffsetDateTime::now_utc());
                    self.reload_keys(pool).await;
                }
            }
        }
    }
}
