//! The registry's metadata: one module per aggregate.
//!
//! - [`repositories`]: repositories of an organization, created on first push.
//! - [`blobs`]: what the blob store holds and which repository sees which blob.
//! - [`manifests`]: manifests as pushed, their graph (config, layers, children, subject) and
//!   the one transaction that makes a pushed manifest and its tag visible.
//! - [`tags`]: tags and their history.
//! - [`uploads`]: upload sessions, continued by any instance.
//! - [`gc`]: what garbage collection may reclaim, re-checked under locks.
//!
//! Digests are passed and returned as their canonical text (`sha256:<hex>`): the registry
//! validates them before they get here. Nothing here knows HTTP or the blob store.

pub mod blobs;
pub mod facts;
pub mod gc;
pub mod manifests;
pub mod repositories;
pub mod tags;
pub mod uploads;

/// A transaction-scoped advisory lock on a digest, taken by whoever writes a blob's bytes
/// and its row (upload completion) and by garbage collection before it deletes them, so the
/// two never interleave for the same digest.
pub(crate) async fn lock_digest(
    tx: &mut sqlx::PgConnection,
    digest: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!("select pg_advisory_xact_lock(hashtextextended('blob:' || $1, 0))", digest)
        .execute(tx)
        .await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fixtures shared by this module's tests.
    use uuid::Uuid;

    use crate::PgPool;

    /// Creates an organization with `slug` (and its owner) and returns its id.
    pub async fn organization(pool: &PgPool, slug: &str) -> Uuid {
        crate::testing::org(pool, slug).await.id
    }

    /// A sha256-shaped digest made of one repeated hex character.
    pub fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }
}
