//! wharf-db: the database.
//!
//! Owns the migrations runner and all SQL (sqlx), one module per aggregate. Every query that
//! touches tenant data takes the organization it is scoped to. Knows nothing of HTTP.

pub mod accounts;
pub mod audit;
pub mod branding;
pub mod customer_portal;
pub mod customers;
pub mod held;
pub mod insights;
pub mod invalidation;
pub mod invitations;
pub mod licenses;
pub mod mail;
pub mod registry;
pub mod retention;
pub mod sessions;
pub mod signing_keys;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod tokens;
pub mod usage;

use std::time::Duration;

pub use sqlx;
pub use sqlx::PgPool;
pub use sqlx::postgres::PgConnectOptions;

/// The migrations under `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A failure talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be reached or a query failed.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique constraint was violated (the name of the constraint is given).
    #[error("already exists ({0})")]
    Conflict(String),
}

impl DbError {
    /// Whether the database could not be reached or no connection was free in time (an
    /// outage to answer with 503), rather than a query that failed.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DbError::Sqlx(
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }

    /// Turns a unique-constraint violation into [`DbError::Conflict`], keeping other errors.
    pub(crate) fn from_insert(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            return DbError::Conflict(db.constraint().unwrap_or("unique").to_owned());
        }
        DbError::Sqlx(err)
    }
}

/// Pool settings; the server fills them from its configuration.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most connections this process opens.
    pub max_connections: u32,
    /// How long start-up keeps trying to reach the database.
    pub connect_timeout: Duration,
    /// How long a request waits for a connection before it fails (503): short, so an outage
    /// is answered at once rather than after the start-up's patience.
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(2),
        }
    }
}

/// A pooled connection idle this long is pinged before it is used again.
pub const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(30);

/// Opens a pool and checks that the database answers, trying for up to
/// `config.connect_timeout` (each attempt bounded by `config.acquire_timeout`, which then
/// bounds every request's wait for a connection).
pub async fn connect(options: PgConnectOptions, config: &PoolConfig) -> Result<PgPool, DbError> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        // sqlx pings every connection before handing it out by default: a second round trip
        // for every query. Ping only a connection that sat idle long enough for the server
        // or a proxy to have dropped it; a connection that breaks anyway fails one query
        // (503) and is discarded.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options);
    let deadline = tokio::time::Instant::now() + config.connect_timeout;
    loop {
        match pool.acquire().await {
            Ok(_) => return Ok(pool),
            Err(_) if tokio::time::Instant::now() + Duration::from_millis(200) < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Applies pending migrations. sqlx holds a Postgres advisory lock while it migrates, so
/// several instances starting at once apply each migration exactly once.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Checks that the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> Result<(), DbError> {
    sqlx::query_scalar!("select 1 as \"one!\"").fetch_one(pool).await?;
    Ok(())
}
