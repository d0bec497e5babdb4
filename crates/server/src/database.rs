//! Opening the database: the configured `DATABASE_URL`, or the embedded cluster.
//!
//! Owns the choice between the two and the guarantee that this process leaves the embedded
//! cluster again, whatever happens after it started: the last `wharf` process using the
//! cluster stops it (see `postgres.rs`).

use std::future::Future;

use anyhow::Context;
use wharf_db::{PgConnectOptions, PgPool};

use crate::{
    cli::{DatabaseArgs, OnOff},
    postgres::EmbeddedPostgres,
};

/// An open pool, and the embedded cluster behind it when there is one.
#[derive(Debug)]
pub struct Database {
    /// The connection pool.
    pub pool: PgPool,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts the embedded cluster and connects to it.
    pub async fn open(args: &DatabaseArgs) -> anyhow::Result<Self> {
        let (options, embedded) = match &args.database_url {
            Some(url) => {
                let options: PgConnectOptions =
                    url.expose().parse().with_context(|| format!("invalid DATABASE_URL {url}"))?;
                (options, None)
            }
            None if args.embedded_postgres == OnOff::Off => {
                anyhow::bail!(
                    "DATABASE_URL is not set, and the embedded Postgres is off here \
                     (WHARF_EMBEDDED_POSTGRES=off, as in the container image): set DATABASE_URL \
                     to your Postgres, e.g. postgres://wharf:password@postgres:5432/wharf"
                )
            }
            None => {
                let cluster =
                    EmbeddedPostgres::start(&args.data_dir, args.postgres_bin_dir.as_deref())
                        .await?;
                (cluster.connect_options(), Some(cluster))
            }
        };
        let target = match &args.database_url {
            Some(url) => url.to_string(),
            None => "the embedded Postgres".to_owned(),
        };
        match wharf_db::connect(options, &args.pool_config()).await {
            Ok(pool) => Ok(Self { pool, embedded }),
            Err(err) => {
                let err = anyhow::Error::new(err).context(format!("cannot connect to {target}"));
                if let Some(cluster) = embedded {
                    cluster.release().await.ok();
                }
                Err(err)
            }
        }
    }

    /// The embedded cluster, if this process runs one.
    pub fn embedded(&self) -> Option<&EmbeddedPostgres> {
        self.embedded.as_ref()
    }

    /// Runs `work` with this database, then closes the pool and leaves the embedded cluster
    /// (stopping it unless another `wharf` process still uses it) whether `work` succeeded or
    /// not.
    pub async fn run<F, Fut, T>(self, work: F) -> anyhow::Result<T>
    where
        F: FnOnce(PgPool) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let result = work(self.pool.clone()).await;
        self.pool.close().await;
        if let Some(cluster) = self.embedded
            && let Err(err) = cluster.release().await
        {
            tracing::error!("stopping the embedded Postgres failed: {err:#}");
            if result.is_ok() {
                return Err(err);
            }
        }
        result
    }
}
