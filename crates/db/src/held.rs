//! Connections a hot path keeps checked out of the pool between its statements, so that
//! each statement costs one round trip.
//!
//! sqlx tests every connection given back to its pool: dropping a `PoolConnection` spawns a
//! task that sends `Sync` and waits for Postgres's answer before the connection is idle
//! again (`test_before_acquire(false)` does not turn that off). For the manifest push, whose
//! whole database work is one statement, that was a second round trip per push, a task, and
//! a wake-up of the backend and of the server for it (docs/performance.md, "Manifest PUT,
//! sequential"). [`HeldConnections`] keeps a few connections that finished their statement
//! cleanly and hands them to the next caller without that test.
//!
//! What it must not do: keep a connection whose statement failed or was cancelled (the
//! future dropped mid-statement leaves unread answers on it). Only [`Held::release`], called
//! after a statement completed, keeps one; a [`Held`] dropped otherwise goes back to the
//! pool the ordinary way, tested, and is closed there if broken. A connection held idle
//! for [`PING_WHEN_IDLE_FOR`] is pinged before reuse, as the pool does with its own. Held
//! connections count against the pool's size, so at most a quarter of it is held; and
//! `PgPool::close` waits for them, so they are given back as soon as it is called.

use std::{
    ops::{Deref, DerefMut},
    sync::{Arc, Mutex, OnceLock, PoisonError, Weak},
    time::Instant,
};

use sqlx::{Connection, PgConnection, PgPool, Postgres, pool::PoolConnection};

use crate::PING_WHEN_IDLE_FOR;

/// Up to a few connections checked out of `pool` and kept for reuse (see the module).
#[derive(Debug)]
pub struct HeldConnections {
    pool: PgPool,
    idle: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    capacity: usize,
    /// Gives the held connections back when the pool closes (`PgPool::close` waits for
    /// every connection checked out), started with the first one held.
    on_close: OnceLock<()>,
}

impl HeldConnections {
    /// Holds at most `capacity` connections of `pool`, and never more than a quarter of its
    /// size (none for a pool of fewer than four).
    pub fn new(pool: PgPool, capacity: usize) -> Arc<Self> {
        let quarter = pool.options().get_max_connections() as usize / 4;
        Arc::new(Self {
            pool,
            idle: Mutex::new(Vec::new()),
            capacity: capacity.min(quarter),
            on_close: OnceLock::new(),
        })
    }

    /// Must be called inside a Tokio runtime (the first time).
    fn give_back_on_close(self: &Arc<Self>) {
        self.on_close.get_or_init(|| {
            let closed = self.pool.close_event();
            let this: Weak<Self> = Arc::downgrade(self);
            tokio::spawn(async move {
                closed.await;
                if let Some(this) = this.upgrade() {
                    this.idle.lock().unwrap_or_else(PoisonError::into_inner).clear();
                }
            });
        });
    }

    /// A held connection if one is idle, else one from the pool.
    pub async fn acquire(self: &Arc<Self>) -> Result<Held, sqlx::Error> {
        let reused = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match reused {
            Some((mut conn, since)) => {
                if since.elapsed() >= PING_WHEN_IDLE_FOR {
                    // Broken while it sat here: the pool closes it; take a fresh one.
                    if conn.ping().await.is_err() {
                        drop(conn);
                        self.pool.acquire().await?
                    } else {
                        conn
                    }
                } else {
                    conn
                }
            }
            None => self.pool.acquire().await?,
        };
        Ok(Held { conn, home: Arc::clone(self) })
    }

    /// How many connections are held idle now.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A connection from [`HeldConnections::acquire`]: used as a `PgConnection`, given back
/// with [`Held::release`] after a statement completed, or dropped (back to the pool, tested).
#[derive(Debug)]
pub struct Held {
    conn: PoolConnection<Postgres>,
    home: Arc<HeldConnections>,
}

impl Held {
    /// The statement completed: keep the connection for the next caller (or give it back to
    /// the pool when enough are held).
    pub fn release(self) {
        let Held { conn, home } = self;
        if home.capacity == 0 || home.pool.is_closed() {
            return;
        }
        home.give_back_on_close();
        let mut idle = home.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < home.capacity && !home.pool.is_closed() {
            idle.push((conn, Instant::now()));
        }
    }
}

impl Deref for Held {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for Held {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pool_of(pool: &PgPool, size: u32) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(size)
            .connect_with((*pool.connect_options()).clone())
            .await
            .unwrap()
    }

    #[sqlx::test(migrations = false)]
    async fn released_connections_are_reused_and_others_go_back(pool: PgPool) {
        let held = HeldConnections::new(pool_of(&pool, 8).await, 1);
        let backend = |mut conn: Held| async move {
            let pid: i32 =
                sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut *conn).await.unwrap();
            (pid, conn)
        };
        let (first, conn) = backend(held.acquire().await.unwrap()).await;
        conn.release();
        assert_eq!(held.idle(), 1);
        let (again, conn) = backend(held.acquire().await.unwrap()).await;
        assert_eq!(again, first, "the released connection was handed out again");
        assert_eq!(held.idle(), 0);
        let (other, second) = backend(held.acquire().await.unwrap()).await;
        assert_ne!(other, first, "none idle: a connection from the pool");
        conn.release();
        second.release();
        assert_eq!(held.idle(), 1, "at most `capacity` are held");
        // Dropped without release (a failed or cancelled statement): back to the pool.
        drop(held.acquire().await.unwrap());
        assert_eq!(held.idle(), 0);
    }

    /// `PgPool::close` waits for every connection checked out: the held ones are given back.
    #[sqlx::test(migrations = false)]
    async fn closing_the_pool_gives_them_back(pool: PgPool) {
        let pool = pool_of(&pool, 8).await;
        let held = HeldConnections::new(pool.clone(), 2);
        let (one, two) = (held.acquire().await.unwrap(), held.acquire().await.unwrap());
        one.release();
        two.release();
        assert_eq!(held.idle(), 2);
        tokio::time::timeout(std::time::Duration::from_secs(10), pool.close())
            .await
            .expect("the pool closed");
        assert_eq!(held.idle(), 0);
        held.acquire().await.expect_err("a closed pool");
    }

    #[sqlx::test(migrations = false)]
    async fn small_pools_hold_nothing(pool: PgPool) {
        let held = HeldConnections::new(pool_of(&pool, 3).await, 4);
        held.acquire().await.unwrap().release();
        assert_eq!(held.idle(), 0);
    }
}
