//! The command line: every flag, its environment variable and its default.
//!
//! This file is the configuration reference (`wharf <command> --help` prints it, and
//! docs/configuration.md is checked against that output). Only this crate reads the
//! environment; libraries get typed values.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use wharf_auth::principal::{CustomerRole, Role};

/// Wharf: a registry for software vendors that knows their customers and licenses.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format: `pretty` for people, `json` for log collectors. Levels come from RUST_LOG
    /// (default `info`).
    #[arg(long, env = "WHARF_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
}

/// What `wharf` does.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: registry, portals and API on one listener.
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations, then exit.
    Migrate(DatabaseArgs),
    /// Run one garbage-collection pass (unreferenced blobs, expired uploads), then exit.
    Gc(Box<GcArgs>),
    /// Run only the embedded Postgres cluster and print its URL (for development and tests);
    /// on SIGINT/SIGTERM, stops it unless another `wharf` process still uses it.
    EmbeddedPostgres(DatabaseArgs),
    /// Operator tasks: create organizations, users and vendor API tokens, reset passwords,
    /// issue invitations.
    Admin(AdminArgs),
    /// Write a customer's entitlement as an air-gap bundle: an OCI image layout in a tar, with
    /// wharf-bundle.json, IMPORT.md and SHA256SUMS (docs/airgap.md).
    Export(Box<ExportArgs>),
    /// The registry-token signing key (docs/operations.md).
    SigningKey(SigningKeyArgs),
}

/// `wharf signing-key`.
#[derive(Debug, Args)]
pub struct SigningKeyArgs {
    #[command(subcommand)]
    pub command: SigningKeyCommand,
}

/// What `wharf signing-key` does.
#[derive(Debug, Subcommand)]
pub enum SigningKeyCommand {
    /// Make a new key the signer on every instance at once; the old key keeps verifying
    /// tokens for the token lifetime plus a minute, then no longer.
    Rotate(RotateArgs),
}

/// `wharf signing-key rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Lifetime of registry bearer tokens, in seconds, as the instances run with: how long
    /// the retired key keeps verifying (plus a minute).
    #[arg(long, env = "WHARF_TOKEN_LIFETIME", default_value_t = 300, value_parser = clap::value_parser!(u64).range(30..=3600))]
    pub token_lifetime: u64,
}

/// `wharf export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub storage: StorageArgs,

    /// Slug of the vendor organization.
    #[arg(long)]
    pub org: String,

    /// The customer: its id or its name.
    #[arg(long)]
    pub customer: String,

    /// Only this repository (full name, `<org>/<path>`); repeat for several. Narrows what
    /// the customer can pull, never widens it.
    #[arg(long = "repository")]
    pub repositories: Vec<String>,

    /// Only this tag (in the repositories chosen); repeat for several.
    #[arg(long = "tag")]
    pub tags: Vec<String>,

    /// The wharf-bundle.json of a bundle the customer has already: export only new or moved
    /// tags and blobs it did not contain.
    #[arg(long)]
    pub since_bundle: Option<PathBuf>,

    /// The customer's registry, filled into IMPORT.md and `io.containerd.image.name`.
    #[arg(long)]
    pub registry: Option<String>,

    /// Where to write the bundle: `.tar`, or `.tar.zst` for a zstd-compressed one; written
    /// beside it as `<name>.partial` and renamed when complete.
    #[arg(long)]
    pub out: PathBuf,
}

/// `wharf admin`: operator commands against the same database as `wharf serve` (also while
/// it runs, also on the embedded default). Each applies pending migrations first.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The operator commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a vendor organization and its owner (an existing account with that email
    /// becomes the owner and keeps its password).
    CreateOrg(CreateOrgArgs),
    /// Add a member to an organization: a new account, or an existing one (which keeps its
    /// password).
    CreateUser(CreateUserArgs),
    /// Create a vendor API token acting as a member; prints the token, alone, as the last
    /// line of stdout. It is shown only this once.
    CreateToken(CreateTokenArgs),
    /// Set a new password for an account; without --password, prints a generated one.
    ResetPassword(ResetPasswordArgs),
    /// Invite someone to join an organization; prints the invitation token, alone, as the
    /// last line of stdout. It is shown only this once.
    InviteMember(InviteMemberArgs),
    /// Invite someone to join a customer of an organization; prints the invitation token,
    /// alone, as the last line of stdout. It is shown only this once.
    InviteCustomerUser(InviteCustomerUserArgs),
    /// Invite someone to sign up a new organization (for `WHARF_SIGNUP=invite`); prints the
    /// invitation token, alone, as the last line of stdout. It is shown only this once.
    InviteSignup(InviteSignupArgs),
    /// Make a repository public (anyone may pull it, without credentials) or private again
    /// (only vendor members and entitled customers).
    SetVisibility(SetVisibilityArgs),
}

/// `wharf admin set-visibility`.
#[derive(Debug, Args)]
pub struct SetVisibilityArgs {
    /// The repository, `<org-slug>/<path>`.
    #[arg(long)]
    pub repository: String,

    /// `public` or `private`.
    #[arg(long, value_enum)]
    pub visibility: Visibility,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Who may pull a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Visibility {
    /// Anyone, without credentials.
    Public,
    /// Vendor members, and customers its licenses entitle (the default).
    Private,
}

/// `wharf admin invite-member`.
#[derive(Debug, Args)]
pub struct InviteMemberArgs {
    /// Slug of the organization.
    #[arg(long)]
    pub org: String,

    /// Email of the person invited.
    #[arg(long)]
    pub email: String,

    /// Role they get: `owner`, `admin`, `developer` or `viewer`.
    #[arg(long)]
    pub role: Role,

    /// Days until the invitation expires.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub expires_in_days: u32,

    /// The address people reach Wharf at, for the link to accept (`WHARF_PUBLIC_URL`, as
    /// `wharf serve` has it). Default: `http://127.0.0.1:8080`.
    #[arg(long, env = "WHARF_PUBLIC_URL")]
    pub public_url: Option<PublicUrl>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `wharf admin invite-customer-user`.
#[derive(Debug, Args)]
pub struct InviteCustomerUserArgs {
    /// Slug of the vendor organization.
    #[arg(long)]
    pub org: String,

    /// Name of the customer (as the vendor named it).
    #[arg(long)]
    pub customer: String,

    /// Email of the person invited.
    #[arg(long)]
    pub email: String,

    /// Role they get in the customer: `admin` (manages its users and tokens) or `member`.
    #[arg(long)]
    pub role: CustomerRole,

    /// Days until the invitation expires.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub expires_in_days: u32,

    /// The address people reach Wharf at, for the link to accept (`WHARF_PUBLIC_URL`, as
    /// `wharf serve` has it). Default: `http://127.0.0.1:8080`.
    #[arg(long, env = "WHARF_PUBLIC_URL")]
    pub public_url: Option<PublicUrl>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `wharf admin invite-signup`.
#[derive(Debug, Args)]
pub struct InviteSignupArgs {
    /// Only this address may use the invitation. Default: whoever holds it.
    #[arg(long)]
    pub email: Option<String>,

    /// Days until the invitation expires.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub expires_in_days: u32,

    /// The address people reach Wharf at, for the link to accept (`WHARF_PUBLIC_URL`, as
    /// `wharf serve` has it). Default: `http://127.0.0.1:8080`.
    #[arg(long, env = "WHARF_PUBLIC_URL")]
    pub public_url: Option<PublicUrl>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `wharf admin create-org`.
#[derive(Debug, Args)]
pub struct CreateOrgArgs {
    /// Slug: the first path segment of the organization's repositories (lower-case letters,
    /// digits and `.`, `_`, `__`, `-` between them; at most 63 characters).
    #[arg(long)]
    pub slug: String,

    /// Display name.
    #[arg(long)]
    pub name: String,

    /// Email of the owner.
    #[arg(long)]
    pub owner_email: String,

    /// Password of the owner, if the account is new (at least 12 characters). Default: a
    /// random one, printed once as the last line of stdout.
    #[arg(long, env = "WHARF_ADMIN_PASSWORD", hide_env_values = true)]
    pub owner_password: Option<Password>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `wharf admin create-user`.
#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// Slug of the organization.
    #[arg(long)]
    pub org: String,

    /// Email of the user.
    #[arg(long)]
    pub email: String,

    /// Role in the organization: `owner`, `admin`, `developer` or `viewer`.
    #[arg(long)]
    pub role: Role,

    /// Password, if the account is new (at least 12 characters). Default: a random one,
    /// printed once as the last line of stdout.
    #[arg(long, env = "WHARF_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: Option<Password>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `wharf admin create-token`.
#[derive(Debug, Args)]
pub struct CreateTokenArgs {
    /// Slug of the organization.
    #[arg(long)]
    pub org: String,

    /// Email of the member the token acts as (with that member's role at each use).
    #[arg(long)]
    pub email: String,

    /// Name of the token, shown in token lists.
    #[arg(long)]
    pub name: String,

    /// Pull only, whatever the member's role.
    #[arg(long)]
    pub read_only: bool,

    /// Days until the token expires. Default: it does not expire.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub expires_in_days: Option<u32>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `wharf admin reset-password`.
#[derive(Debug, Args)]
pub struct ResetPasswordArgs {
    /// Email of the account.
    #[arg(long)]
    pub email: String,

    /// The new password (at least 12 characters). Default: a random one, printed once as
    /// the last line of stdout.
    #[arg(long, env = "WHARF_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: Option<Password>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// A password given on the command line or in the environment; redacted in `Debug`.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// The password as a secret.
    pub fn secret(&self) -> SecretString {
        SecretString::from(self.0.expose_secret())
    }
}

impl FromStr for Password {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(SecretString::from(s)))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured when writing to a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Postgres connection URL. Without it, Wharf runs a private Postgres cluster of its own
    /// under `<data dir>/postgres`, from the machine's Postgres server binaries.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// Directory for Wharf's own data: the embedded Postgres cluster and, with filesystem
    /// storage, the blobs.
    #[arg(long, env = "WHARF_DATA_DIR", default_value = ".wharf")]
    pub data_dir: PathBuf,

    /// Directory holding `initdb` and `pg_ctl` for the embedded cluster. Default: PATH, then
    /// the newest `/usr/lib/postgresql/<version>/bin`.
    #[arg(long, env = "WHARF_POSTGRES_BIN_DIR")]
    pub postgres_bin_dir: Option<PathBuf>,

    /// Whether a missing `DATABASE_URL` starts the embedded Postgres (`on`, for laptops) or is
    /// an error (`off`: the container image, where there are no Postgres binaries).
    #[arg(long, env = "WHARF_EMBEDDED_POSTGRES", value_enum, default_value_t = OnOff::On)]
    pub embedded_postgres: OnOff,

    /// Most database connections this process opens.
    #[arg(long, env = "WHARF_DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,

    /// Seconds start-up keeps trying to reach the database before giving up.
    #[arg(long, env = "WHARF_DB_CONNECT_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub db_connect_timeout: u64,

    /// Seconds a request waits for a database connection before it answers 503 (with
    /// `Retry-After`); short, so an outage is answered at once.
    #[arg(long, env = "WHARF_DB_ACQUIRE_TIMEOUT", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub db_acquire_timeout: u64,
}

impl DatabaseArgs {
    /// The pool settings these flags describe.
    pub fn pool_config(&self) -> wharf_db::PoolConfig {
        wharf_db::PoolConfig {
            max_connections: self.db_max_connections,
            connect_timeout: Duration::from_secs(self.db_connect_timeout),
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout),
        }
    }
}

/// `wharf serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Address and port to listen on.
    #[arg(long, env = "WHARF_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The URL clients use to reach Wharf (registry token realm, links in pages). Default:
    /// `http://<listen address>`.
    #[arg(long, env = "WHARF_PUBLIC_URL")]
    pub public_url: Option<PublicUrl>,

    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT before they are cut.
    #[arg(long, env = "WHARF_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,

    /// Seconds a client may take to send a whole request head (request line and headers),
    /// and to send the next one on an idle keep-alive connection; then the connection is
    /// closed.
    #[arg(long, env = "WHARF_HEADER_READ_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout: u64,

    /// Seconds of a request body's rate window: for every this many seconds the server waits
    /// for a body, it must deliver WHARF_BODY_MIN_RATE bytes a second on average (at least
    /// one byte), or the request fails and its connection is closed.
    #[arg(long, env = "WHARF_BODY_IDLE_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_idle_timeout: u64,

    /// Bytes per second a request body must keep up, averaged over each
    /// WHARF_BODY_IDLE_TIMEOUT window (0: only an idle timeout, any byte will do).
    #[arg(long, env = "WHARF_BODY_MIN_RATE", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(0..=1_073_741_824))]
    pub body_min_rate: u64,

    /// Milliseconds `/readyz` waits for the database and the blob store before answering 503.
    #[arg(long, env = "WHARF_READY_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub ready_timeout_ms: u64,

    #[command(flatten)]
    pub storage: StorageArgs,

    #[command(flatten)]
    pub bootstrap: BootstrapArgs,

    /// Fill the first organization with demo data at start (images, a multi-platform image,
    /// a Helm chart, a signed image with an SBOM, customers, licenses of each kind, 30 days of
    /// pulls), unless it has repositories already. For trying Wharf out, not for production.
    #[arg(long, env = "WHARF_DEMO", default_value_t = false)]
    pub demo: bool,

    #[command(flatten)]
    pub registry_auth: RegistryAuthArgs,

    #[command(flatten)]
    pub registry: RegistryArgs,

    #[command(flatten)]
    pub accounts: AccountArgs,

    #[command(flatten)]
    pub usage: UsageArgs,

    #[command(flatten)]
    pub mail: MailArgs,
}

/// Email: invitations and password resets.
#[derive(Clone, Args)]
pub struct MailArgs {
    /// SMTP server for invitations and password resets, with credentials if it needs them:
    /// `smtp://host:25` (plain), `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (TLS). Unset: no mail is sent and the portal shows
    /// invitation links to whoever invites. Never logged.
    #[arg(long, env = "WHARF_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SmtpUrl>,

    /// The From mailbox of every message, `Name <address>` or an address; invitations show
    /// "<vendor> via Wharf" as the name. Default: `Wharf <wharf@<public URL's host>>`.
    #[arg(long, env = "WHARF_MAIL_FROM")]
    pub mail_from: Option<wharf_app::mail::MailFrom>,
}

impl fmt::Debug for MailArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailArgs")
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "<redacted>"))
            .field("mail_from", &self.mail_from)
            .finish()
    }
}

/// An SMTP URL (`smtp://` or `smtps://`); a secret, since it may carry credentials.
///
/// Parsing takes any text and [`SmtpUrl::check`] validates it later: clap repeats a value
/// it could not parse in its error, and this one may hold a password.
#[derive(Clone)]
pub struct SmtpUrl(SecretString);

impl SmtpUrl {
    /// The URL, credentials included.
    pub fn secret(&self) -> SecretString {
        self.0.clone()
    }

    /// Whether it is an `smtp://` or `smtps://` URL with a host; the error does not repeat
    /// the value.
    pub fn check(&self) -> Result<(), &'static str> {
        let invalid = "WHARF_SMTP_URL (--smtp-url) must be smtp://[user:password@]host[:port][?tls=required] or smtps://[user:password@]host[:port] (the value is not shown: it may hold a password)";
        let url = url::Url::parse(self.0.expose_secret()).map_err(|_| invalid)?;
        if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none_or(str::is_empty) {
            return Err(invalid);
        }
        Ok(())
    }
}

impl FromStr for SmtpUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(SecretString::from(s)))
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpUrl(<redacted>)")
    }
}

/// Usage analytics, the audit log and metrics.
#[derive(Debug, Clone, Args)]
pub struct UsageArgs {
    /// Record pull events and bytes served (`on`), or not (`off`, e.g. to measure their cost).
    #[arg(long, env = "WHARF_USAGE_EVENTS", value_enum, default_value_t = OnOff::On)]
    pub usage_events: OnOff,

    /// How many usage events may wait in memory for the background writer (written at least
    /// every second). When it is full, further events are dropped and counted; pulls never
    /// wait.
    #[arg(long, env = "WHARF_USAGE_BUFFER", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub usage_buffer: u64,

    /// Reverse proxies whose `X-Forwarded-For` header is believed for the client address,
    /// as a comma-separated list of CIDR networks or addresses (`10.0.0.0/8,192.0.2.7`).
    /// Default: none, so the connection's peer address is recorded.
    #[arg(long, env = "WHARF_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: wharf_app::usage::client::TrustedProxies,

    #[command(flatten)]
    pub retention: RetentionArgs,

    /// Address and port of a separate listener serving Prometheus metrics at `/metrics`
    /// (e.g. `127.0.0.1:9090`). Default: no metrics listener.
    #[arg(long, env = "WHARF_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// How long rows that only ever accumulate are kept (`wharf_db::retention`); applied by each
/// garbage-collection pass of `serve` and by `wharf gc`.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Days the audit log keeps an entry; older ones are deleted with each
    /// garbage-collection pass (`WHARF_GC_INTERVAL_MINUTES`). 0 keeps entries forever.
    #[arg(long, env = "WHARF_AUDIT_RETENTION_DAYS", default_value_t = 365, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub audit_retention_days: u32,

    /// Days a tag's past targets are kept after the tag moved or was deleted (the tag
    /// history; where a tag points now is always kept). 0 keeps them forever.
    #[arg(long, env = "WHARF_TAG_HISTORY_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub tag_history_retention_days: u32,

    /// Days raw pull events are kept (the pull lists and exports read them); the daily
    /// roll-ups of pull counts and bytes served are kept forever, and the reports read them
    /// for older days. 0 keeps pull events forever.
    #[arg(long, env = "WHARF_PULL_EVENT_RETENTION_DAYS", default_value_t = 400, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub pull_event_retention_days: u32,

    /// Days an ended invitation (accepted, revoked or expired) is kept after it ended; open
    /// invitations are always kept. 0 keeps ended invitations forever.
    #[arg(long, env = "WHARF_INVITATION_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub invitation_retention_days: u32,
}

impl RetentionArgs {
    /// The database's retention rules.
    pub fn retention(&self) -> wharf_db::retention::Retention {
        wharf_db::retention::Retention {
            audit_days: self.audit_retention_days,
            tag_history_days: self.tag_history_retention_days,
            pull_event_days: self.pull_event_retention_days,
            invitation_days: self.invitation_retention_days,
        }
    }
}

/// A switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Accounts: who may sign up.
#[derive(Debug, Clone, Args)]
pub struct AccountArgs {
    /// Who may create a new vendor organization on the sign-up page. Self-hosted instances
    /// keep `closed`: operators create organizations with `wharf admin create-org`.
    #[arg(long, env = "WHARF_SIGNUP", value_enum, default_value_t = Signup::Closed)]
    pub signup: Signup,

    /// Minutes a portal session may go unused before it ends (it is kept alive by use, to
    /// within a minute).
    #[arg(long, env = "WHARF_SESSION_IDLE_MINUTES", default_value_t = 480, value_parser = clap::value_parser!(u64).range(5..=43_200))]
    pub session_idle_minutes: u64,

    /// Hours after sign-in a portal session ends, used or not.
    #[arg(long, env = "WHARF_SESSION_MAX_AGE_HOURS", default_value_t = 168, value_parser = clap::value_parser!(u64).range(1..=8_760))]
    pub session_max_age_hours: u64,
}

/// Sign-up modes (`wharf_app::SignupMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Signup {
    /// Anyone may sign up.
    Open,
    /// Only with a sign-up invitation from an instance admin (`wharf admin invite-signup`).
    Invite,
    /// Nobody may sign up.
    Closed,
}

impl From<Signup> for wharf_app::SignupMode {
    fn from(mode: Signup) -> Self {
        match mode {
            Signup::Open => wharf_app::SignupMode::Open,
            Signup::Invite => wharf_app::SignupMode::Invite,
            Signup::Closed => wharf_app::SignupMode::Closed,
        }
    }
}

/// The registry itself.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Hours an upload session may stay idle before it expires and its data is discarded.
    #[arg(long, env = "WHARF_UPLOAD_TTL_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=720))]
    pub upload_ttl_hours: u64,

    /// Minutes between garbage-collection passes in `serve` (0: never; run `wharf gc`).
    #[arg(long, env = "WHARF_GC_INTERVAL_MINUTES", default_value_t = 60)]
    pub gc_interval_minutes: u64,

    /// Minutes of grace: garbage collection never deletes anything younger.
    #[arg(long, env = "WHARF_GC_GRACE_MINUTES", default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..))]
    pub gc_grace_minutes: u64,

    /// MiB of memory for manifests and blob sizes served without a database read (0: off).
    #[arg(long, env = "WHARF_CONTENT_CACHE_MIB", default_value_t = 16, value_parser = clap::value_parser!(u64).range(0..=4096))]
    pub content_cache_mib: u64,

    /// Most open (unfinished, unexpired) upload sessions one principal (a user or token) may
    /// hold over all repositories; one more is refused with 429 TOOMANYREQUESTS.
    #[arg(long, env = "WHARF_MAX_UPLOADS_PER_PRINCIPAL", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_uploads_per_principal: u32,

    /// Most open upload sessions one repository may hold, whoever started them; one more is
    /// refused with 429 TOOMANYREQUESTS.
    #[arg(long, env = "WHARF_MAX_UPLOADS_PER_REPOSITORY", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_uploads_per_repository: u32,
}

/// `wharf gc`.
#[derive(Debug, Clone, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub storage: StorageArgs,

    /// Minutes of grace: nothing younger is deleted.
    #[arg(long, env = "WHARF_GC_GRACE_MINUTES", default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..))]
    pub gc_grace_minutes: u64,

    #[command(flatten)]
    pub retention: RetentionArgs,
}

/// The registry's token service.
#[derive(Debug, Clone, Args)]
pub struct RegistryAuthArgs {
    /// `service` named in registry challenges and the audience of registry tokens. Default:
    /// the host (and port) of the public URL.
    #[arg(long, env = "WHARF_REGISTRY_SERVICE")]
    pub registry_service: Option<String>,

    /// Lifetime of registry bearer tokens, in seconds. Revocations reach every instance at
    /// once regardless; this bounds how long a token works without asking again.
    #[arg(long, env = "WHARF_TOKEN_LIFETIME", default_value_t = 300, value_parser = clap::value_parser!(u64).range(30..=3600))]
    pub token_lifetime: u64,

    /// Failed authentications allowed per client address and per account within one window
    /// before further attempts are refused (429 at `/token`). Registry logins and portal
    /// sign-ins are counted separately.
    #[arg(long, env = "WHARF_AUTH_FAILURE_LIMIT", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub auth_failure_limit: u32,

    /// Length of the failed-authentication window, in seconds.
    #[arg(long, env = "WHARF_AUTH_FAILURE_WINDOW", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub auth_failure_window: u64,
}

impl ServeArgs {
    /// The public URL, given or derived from the listen address.
    pub fn public_url(&self) -> PublicUrl {
        self.public_url.clone().unwrap_or_else(|| PublicUrl {
            text: format!("http://{}", self.listen),
            authority: self.listen.to_string(),
        })
    }

    /// How slow a client may be on the listener.
    pub fn slow_client_limits(&self) -> crate::listener::SlowClientLimits {
        crate::listener::SlowClientLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            body_window: Duration::from_secs(self.body_idle_timeout),
            body_min_rate: self.body_min_rate,
        }
    }

    /// The blob store these flags describe.
    pub fn storage_config(&self) -> Result<wharf_storage::StorageConfig, String> {
        self.storage.config(&self.database.data_dir)
    }
}

impl StorageArgs {
    /// The blob store these flags describe, with `data_dir` for the filesystem default.
    pub fn config(
        &self,
        data_dir: &std::path::Path,
    ) -> Result<wharf_storage::StorageConfig, String> {
        let s = self;
        match s.storage {
            StorageKind::Fs => Ok(wharf_storage::StorageConfig::Fs(wharf_storage::FsConfig {
                root: s.blob_dir.clone().unwrap_or_else(|| data_dir.join("blobs")),
            })),
            StorageKind::S3 => {
                let missing = |name: &str| format!("WHARF_STORAGE=s3 needs {name}");
                let bucket = s.s3_bucket.clone().ok_or_else(|| missing("WHARF_S3_BUCKET"))?;
                let key =
                    s.s3_access_key_id.clone().ok_or_else(|| missing("WHARF_S3_ACCESS_KEY_ID"))?;
                let secret = s
                    .s3_secret_access_key
                    .clone()
                    .ok_or_else(|| missing("WHARF_S3_SECRET_ACCESS_KEY"))?;
                let mut config = wharf_storage::S3Config::new(bucket, key, secret);
                config.endpoint = s.s3_endpoint.clone();
                config.region = s.s3_region.clone();
                config.path_style = s.s3_path_style;
                config.prefix = s.s3_prefix.clone();
                config.part_size = s.s3_part_size_mib.saturating_mul(1024 * 1024);
                Ok(wharf_storage::StorageConfig::S3(config))
            }
        }
    }
}

/// Where blobs are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageKind {
    /// A local directory (`WHARF_BLOB_DIR`).
    Fs,
    /// An S3 bucket (AWS or any S3-compatible store).
    S3,
}

/// Blob storage.
#[derive(Clone, Args)]
pub struct StorageArgs {
    /// Blob storage backend.
    #[arg(long, env = "WHARF_STORAGE", value_enum, default_value_t = StorageKind::Fs)]
    pub storage: StorageKind,

    /// Directory for blobs with filesystem storage. Default: `<data dir>/blobs`.
    #[arg(long, env = "WHARF_BLOB_DIR")]
    pub blob_dir: Option<PathBuf>,

    /// S3 endpoint URL for S3-compatible stores (e.g. `http://127.0.0.1:9000`). Unset: AWS.
    #[arg(long, env = "WHARF_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region.
    #[arg(long, env = "WHARF_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// S3 bucket (must exist).
    #[arg(long, env = "WHARF_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// S3 access key id.
    #[arg(long, env = "WHARF_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key.
    #[arg(long, env = "WHARF_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,

    /// Address buckets by path (`endpoint/bucket/key`), as most S3-compatible stores need.
    #[arg(long, env = "WHARF_S3_PATH_STYLE", default_value_t = false)]
    pub s3_path_style: bool,

    /// Key prefix inside the bucket, to share a bucket.
    #[arg(long, env = "WHARF_S3_PREFIX")]
    pub s3_prefix: Option<String>,

    /// Seconds a presigned S3 URL stays valid when whole-blob GETs are redirected to the
    /// bucket (0, the default: Wharf streams every blob itself). Redirected downloads bypass
    /// Wharf's byte accounting.
    #[arg(long, env = "WHARF_S3_PRESIGNED_REDIRECT_SECONDS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=604_800))]
    pub s3_presigned_redirect_seconds: u64,

    /// Size of multipart upload parts, in MiB (5 to 5120).
    #[arg(long, env = "WHARF_S3_PART_SIZE_MIB", default_value_t = 8, value_parser = clap::value_parser!(u64).range(5..=5120))]
    pub s3_part_size_mib: u64,
}

impl fmt::Debug for StorageArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageArgs")
            .field("storage", &self.storage)
            .field("blob_dir", &self.blob_dir)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_bucket", &self.s3_bucket)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field(
                "s3_secret_access_key",
                &self.s3_secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("s3_path_style", &self.s3_path_style)
            .field("s3_prefix", &self.s3_prefix)
            .field("s3_presigned_redirect_seconds", &self.s3_presigned_redirect_seconds)
            .field("s3_part_size_mib", &self.s3_part_size_mib)
            .finish()
    }
}

/// The first organization and its owner, created on first start with an empty database.
#[derive(Clone, Args)]
pub struct BootstrapArgs {
    /// Slug of the first vendor organization (the first path segment of its repositories).
    #[arg(long, env = "WHARF_BOOTSTRAP_ORG", default_value = "vendor")]
    pub bootstrap_org: String,

    /// Email of the first organization's owner, who is also the instance admin.
    #[arg(long, env = "WHARF_BOOTSTRAP_EMAIL", default_value = "admin@wharf.local")]
    pub bootstrap_email: String,

    /// Password of the first owner. Default: a random one, printed once to the terminal.
    #[arg(long, env = "WHARF_BOOTSTRAP_PASSWORD", hide_env_values = true)]
    pub bootstrap_password: Option<String>,
}

impl fmt::Debug for BootstrapArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapArgs")
            .field("bootstrap_org", &self.bootstrap_org)
            .field("bootstrap_email", &self.bootstrap_email)
            .field("bootstrap_password", &self.bootstrap_password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A Postgres URL; its password never appears in `Debug` or `Display`.
#[derive(Clone)]
pub struct DatabaseUrl(url::Url);

impl DatabaseUrl {
    /// The URL with its password, for connecting.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(s)
            .map_err(|_| "expected a URL starting with postgres:// or postgresql://".to_owned())?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err("expected a URL starting with postgres:// or postgresql://".into());
        }
        Ok(Self(url))
    }
}

impl fmt::Display for DatabaseUrl {
    /// The URL with its password hidden, wherever it is given: `user:***@host`, and `***` for
    /// a `password` query parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        if shown.query_pairs().any(|(key, _)| key == "password") {
            let pairs: Vec<(String, String)> = shown
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" { "***".to_owned() } else { v.into_owned() };
                    (k.into_owned(), v)
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        f.write_str(shown.as_str())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// An absolute `http` or `https` URL without a trailing slash, a query or a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// As configured, without the trailing slash.
    text: String,
    /// `host[:port]`.
    authority: String,
}

impl PublicUrl {
    /// `host[:port]` of the URL.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The host of the URL (a name, an IPv4 address, or an IPv6 address in brackets).
    pub fn host(&self) -> &str {
        match self.authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => host,
            _ => &self.authority,
        }
    }
}

impl FromStr for PublicUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim_end_matches('/');
        let not_absolute = "expected an absolute URL starting with http:// or https://";
        let url = url::Url::parse(text).map_err(|_| not_absolute.to_owned())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(not_absolute.into());
        }
        if url.host_str().is_none_or(str::is_empty)
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err("expected a URL with a host and no credentials, query or fragment".into());
        }
        let authority = url[url::Position::BeforeHost..url::Position::AfterPort].to_owned();
        Ok(Self { text: text.to_owned(), authority })
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_hides_its_password() {
        let url: DatabaseUrl = "postgres://wharf:s3cret@db.internal:5432/wharf".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://wharf:***@db.internal:5432/wharf");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
        let url: DatabaseUrl = "postgres:///wharf?host=/run/pg&password=s3cret".parse().unwrap();
        assert!(!url.to_string().contains("s3cret"), "{url}");
        assert!(url.expose().contains("s3cret"));
    }

    #[test]
    fn public_url_is_normalised_and_validated() {
        let url: PublicUrl = "https://registry.example.com/".parse().unwrap();
        assert_eq!(url.to_string(), "https://registry.example.com");
        assert_eq!(url.authority(), "registry.example.com");
        let url: PublicUrl = "http://127.0.0.1:8080/wharf".parse().unwrap();
        assert_eq!(url.authority(), "127.0.0.1:8080");
        for bad in ["registry.example.com", "ftp://x", "https://", "http://x?y", "http://u:p@x"] {
            assert!(bad.parse::<PublicUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn public_url_host_drops_the_port() {
        let host = |url: &str| url.parse::<PublicUrl>().unwrap().host().to_owned();
        assert_eq!(host("https://registry.example.com"), "registry.example.com");
        assert_eq!(host("http://127.0.0.1:8080/wharf"), "127.0.0.1");
        assert_eq!(host("http://[::1]:8080"), "[::1]");
        assert_eq!(host("http://[::1]"), "[::1]");
    }

    #[test]
    fn smtp_url_is_a_secret() {
        let cli = Cli::try_parse_from([
            "wharf",
            "serve",
            "--smtp-url",
            "smtps://wharf:s3cret@mail.example.com:465",
            "--mail-from",
            "Acme Registry <registry@acme.test>",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else { panic!("serve") };
        assert!(!format!("{args:?}").contains("s3cret"));
        assert_eq!(
            args.mail.smtp_url.unwrap().secret().expose_secret(),
            "smtps://wharf:s3cret@mail.example.com:465"
        );
        assert_eq!(args.mail.mail_from.unwrap().to_string(), "Acme Registry <registry@acme.test>");
        for bad in ["http://mail.example.com", "mail.example.com:25", "smtp://", "smtp:/u:pw@x"] {
            let error = bad.parse::<SmtpUrl>().unwrap().check().unwrap_err();
            assert!(!error.contains("mail.example.com") && !error.contains("u:pw"), "{error}");
        }
        assert!("smtp://mail.internal:25".parse::<SmtpUrl>().unwrap().check().is_ok());
        assert!("not a mailbox".parse::<wharf_app::mail::MailFrom>().is_err());
    }

    #[test]
    fn bootstrap_password_is_redacted() {
        let args = BootstrapArgs {
            bootstrap_org: "acme".into(),
            bootstrap_email: "a@acme.test".into(),
            bootstrap_password: Some("hunter2hunter2".into()),
        };
        assert!(!format!("{args:?}").contains("hunter2"));
    }

    #[test]
    fn admin_passwords_are_redacted() {
        let cli = Cli::try_parse_from([
            "wharf",
            "admin",
            "reset-password",
            "--email",
            "a@acme.test",
            "--password",
            "hunter2hunter2",
        ])
        .unwrap();
        assert!(!format!("{cli:?}").contains("hunter2"));
    }

    #[test]
    fn admin_rejects_bad_roles_and_expiries() {
        let parse = |args: &[&str]| {
            let mut all = vec!["wharf", "admin"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).map(|_| ())
        };
        let user = ["create-user", "--org", "acme", "--email", "d@acme.test", "--role"];
        assert!(parse(&[&user[..], &["developer"]].concat()).is_ok());
        assert!(parse(&[&user[..], &["god"]].concat()).is_err());
        let token = ["create-token", "--org", "acme", "--email", "d@acme.test", "--name", "ci"];
        assert!(parse(&token).is_ok());
        assert!(parse(&[&token[..], &["--expires-in-days", "30"]].concat()).is_ok());
        for bad in ["0", "-1", "x"] {
            assert!(parse(&[&token[..], &["--expires-in-days", bad]].concat()).is_err(), "{bad}");
        }
    }

    #[test]
    fn signup_defaults_to_closed_and_takes_three_modes() {
        let serve = |extra: &[&str]| {
            let mut all = vec!["wharf", "serve"];
            all.extend_from_slice(extra);
            match Cli::try_parse_from(all).map(|cli| cli.command) {
                Ok(Command::Serve(args)) => Ok(wharf_app::SignupMode::from(args.accounts.signup)),
                Ok(other) => panic!("{other:?}"),
                Err(err) => Err(err),
            }
        };
        assert_eq!(serve(&[]).unwrap(), wharf_app::SignupMode::Closed);
        assert_eq!(serve(&["--signup", "open"]).unwrap(), wharf_app::SignupMode::Open);
        assert_eq!(serve(&["--signup", "invite"]).unwrap(), wharf_app::SignupMode::Invite);
        assert!(serve(&["--signup", "anyone"]).is_err());
    }

    #[test]
    fn invitation_commands_check_roles_and_expiries() {
        let parse = |args: &[&str]| {
            let mut all = vec!["wharf", "admin"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).map(|_| ())
        };
        let member = ["invite-member", "--org", "acme", "--email", "d@acme.test", "--role"];
        assert!(parse(&[&member[..], &["viewer"]].concat()).is_ok());
        assert!(parse(&[&member[..], &["member"]].concat()).is_err(), "a customer role");
        let customer = [
            "invite-customer-user",
            "--org",
            "acme",
            "--customer",
            "Initech",
            "--email",
            "b@initech.test",
            "--role",
        ];
        assert!(parse(&[&customer[..], &["admin"]].concat()).is_ok());
        assert!(parse(&[&customer[..], &["owner"]].concat()).is_err(), "a vendor role");
        assert!(parse(&["invite-signup"]).is_ok());
        for bad in ["0", "366", "x"] {
            assert!(parse(&["invite-signup", "--expires-in-days", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
