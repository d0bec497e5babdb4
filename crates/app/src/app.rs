//! [`App`]: the application's services started together over one database, as `wharf serve`
//! runs them and the in-process test app builds them.
//!
//! Owns the order they start in (the audit log first: every other service records into it)
//! and their background tasks (the writers, which [`BackgroundTasks::shutdown`] flushes
//! before the pool closes, and the mail worker, which it lets deliver what is due).

use std::{sync::Arc, time::Duration};

use wharf_db::PgPool;

use crate::{
    accounts::{AccountSettings, Accounts},
    actions::VendorActions,
    audit::AuditLog,
    batch::BatcherTask,
    credentials::{AuthSettings, Credentials, StartError, invalidation::Invalidated},
    export::BlobSource,
    mail::{MailSettings, MailWorker, Mailer},
    usage::{UsageRecorder, UsageSettings, client::TrustedProxies},
};

/// How the application is configured (the binary builds this from its flags).
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Access tokens and registry bearer tokens.
    pub auth: AuthSettings,
    /// Sign-up, invitations and sign-in.
    pub accounts: AccountSettings,
    /// Pull events and bytes served; `None` records none.
    pub usage: Option<UsageSettings>,
    /// Proxies whose `X-Forwarded-For` is believed (audit log).
    pub trusted_proxies: TrustedProxies,
    /// Sending email; the default sends none.
    pub mail: MailSettings,
}

/// The application's services, shared by every front door.
#[derive(Debug, Clone)]
pub struct App {
    /// The database.
    pub pool: PgPool,
    /// Access tokens, bearer tokens and the views behind them.
    pub credentials: Arc<Credentials>,
    /// Sign-up, invitations, sign-in.
    pub accounts: Arc<Accounts>,
    /// Every vendor write.
    pub actions: VendorActions,
    /// The audit log.
    pub audit: Arc<AuditLog>,
    /// Pull analytics, when recorded.
    pub usage: Option<Arc<UsageRecorder>>,
    /// Email (invitations, password resets); queues only when SMTP is configured.
    pub mailer: Arc<Mailer>,
    /// The blob store's contents, for air-gap bundles.
    pub blobs: Arc<dyn BlobSource>,
}

/// The background tasks of a running [`App`]: its writers and its mail worker.
#[derive(Debug)]
#[must_use = "shut the writers down to flush what they hold"]
pub struct BackgroundTasks {
    writers: Vec<BatcherTask>,
    mail: Option<MailWorker>,
}

impl BackgroundTasks {
    /// Lets the mail worker deliver what is due, then writes what the writers still hold,
    /// waiting at most `limit` for each.
    pub async fn shutdown(self, limit: Duration) {
        if let Some(mail) = self.mail {
            mail.shutdown(limit).await;
        }
        for task in self.writers {
            task.shutdown(limit).await;
        }
    }
}

/// The usage writer's own connection: a flood of pull events never waits for, or takes, a
/// connection the requests need. Same server and credentials as `pool`, one connection,
/// opened on first use, named `wharf usage writer` in `pg_stat_activity`.
fn usage_writer_pool(pool: &PgPool) -> PgPool {
    // Usage batches commit without waiting for their WAL flush (`synchronous_commit = off`):
    // a Postgres crash can lose the last fraction of a second of usage (never consistency),
    // and the writer no longer waits an fsync per batch, which on a busy disk was more than
    // half of a batch's time (docs/performance.md, "Usage events").
    let options = (*pool.connect_options())
        .clone()
        .application_name(USAGE_WRITER)
        .options([("synchronous_commit", "off")]);
    wharf_db::sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy_with(options)
}

/// `application_name` of the usage writer's connection.
pub const USAGE_WRITER: &str = "wharf usage writer";

impl App {
    /// Starts every service over `pool`, reading blobs from `blobs`. `caches` are front-door
    /// caches (the registry's content cache) that the invalidation listener keeps in step
    /// with the database.
    pub async fn start(
        pool: PgPool,
        blobs: Arc<dyn BlobSource>,
        settings: AppSettings,
        caches: Vec<Arc<dyn Invalidated>>,
    ) -> Result<(Self, BackgroundTasks), StartError> {
        let (audit, audit_task) = AuditLog::start(pool.clone(), settings.trusted_proxies);
        let (credentials, last_used_task) =
            Credentials::start(pool.clone(), settings.auth, audit.clone(), caches).await?;
        let mut tasks = vec![audit_task, last_used_task];
        let usage = settings.usage.map(|usage| {
            let (recorder, task) = UsageRecorder::start(usage_writer_pool(&pool), usage);
            tasks.push(task);
            recorder
        });
        let accounts = Accounts::new(pool.clone(), audit.clone(), settings.accounts)
            .map_err(|_| StartError::Settings("cannot set up password hashing"))?;
        let actions = VendorActions::new(pool.clone(), audit.clone(), credentials.clone());
        let (mailer, mail_worker) = Mailer::start(pool.clone(), settings.mail)
            .map_err(|_| StartError::Settings("WHARF_SMTP_URL is not a usable SMTP URL"))?;
        let app = Self {
            pool,
            credentials,
            accounts: Arc::new(accounts),
            actions,
            audit,
            usage,
            mailer,
            blobs,
        };
        Ok((app, BackgroundTasks { writers: tasks, mail: mail_worker }))
    }
}
