//! Accounts: the rules of sign-up, invitations and sign-in, for the portal's pages and the
//! operator commands.
//!
//! Owns sign-up (new vendor organization and owner, by [`SignupMode`]), invitations (to a
//! vendor organization, to a customer, to sign up) and sign-in (password check with uniform
//! timing, rehash, throttling, the memberships a session may choose from). It checks input,
//! decides who may do what, hashes passwords off the async threads and turns database
//! outcomes into typed errors that name the form field they are about.
//!
//! It knows no HTTP, HTML or sessions (that is `wharf-portal`), runs no SQL of its own (that
//! is `wharf-db`), and leaves password and token formats to `wharf-auth`. See
//! docs/accounts.md.
//!
//! Modules:
//! - [`validate`]: slugs, organization names, emails, new passwords.
//! - [`organizations`]: a new organization with its first owner, the one path of sign-up,
//!   `wharf admin create-org` and the first start ([`Accounts::create_organization`]).
//! - [`members`]: what an operator does to accounts at the command line: add a member,
//!   reset a password.
//! - [`signup`]: sign-up, [`Accounts::sign_up`].
//! - [`invitations`]: issuing, revoking, previewing and accepting invitations.
//! - [`login`]: sign-in, [`Accounts::login`].

pub mod invitations;
pub mod login;
pub mod members;
pub mod organizations;
pub mod passwords;
pub mod signup;
pub mod validate;

use std::{fmt, str::FromStr, sync::Arc, time::Duration};

use secrecy::SecretString;
use wharf_auth::{
    password::{PasswordError, PasswordHasher},
    throttle::FailureThrottle,
};
use wharf_db::{DbError, PgPool};

use crate::audit::AuditLog;

pub use invitations::{
    AcceptError, Acceptance, InvitationPreview, InviteError, Inviter, IssuedInvitation, Joined,
};
pub use login::{CustomerMembership, LoginError, SignedIn, VendorMembership};
pub use members::{MemberAdded, OperatorError, TeamError};
pub use organizations::{
    CreateOrganizationError, Founder, OrganizationCreated, OrganizationRequest,
};
pub use passwords::{AccountEvent, ChangePasswordError, ResetError, ResetLink};
pub use signup::{SignedUp, SignupError, SignupRequest};

/// Who may create a new vendor organization from the sign-up page (`WHARF_SIGNUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignupMode {
    /// Anyone (a SaaS open for registration).
    Open,
    /// Whoever holds an open sign-up invitation from an instance admin.
    Invite,
    /// Nobody: operators create organizations with `wharf admin create-org`. The default,
    /// and what a self-hosted instance wants.
    #[default]
    Closed,
}

impl SignupMode {
    /// The configured form: `open`, `invite` or `closed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignupMode::Open => "open",
            SignupMode::Invite => "invite",
            SignupMode::Closed => "closed",
        }
    }
}

impl fmt::Display for SignupMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignupMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [SignupMode::Open, SignupMode::Invite, SignupMode::Closed]
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| format!("unknown sign-up mode `{s}`: expected open, invite or closed"))
    }
}

/// How long an invitation stays open unless the settings say otherwise.
pub const DEFAULT_INVITATION_TTL: time::Duration = time::Duration::days(7);

/// Settings of the account services.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// Who may sign up.
    pub signup: SignupMode,
    /// Failed sign-ins (and sign-ups refused for a taken email) allowed per client address
    /// and per email within one window.
    pub failure_limit: u32,
    /// The throttling window.
    pub failure_window: Duration,
    /// How long new invitations stay open.
    pub invitation_ttl: time::Duration,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            signup: SignupMode::Closed,
            failure_limit: 10,
            failure_window: Duration::from_secs(60),
            invitation_ttl: DEFAULT_INVITATION_TTL,
        }
    }
}

/// A form field an error is about. [`Field::name`] is the name forms use for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The new organization's slug.
    OrgSlug,
    /// The new organization's display name.
    OrgName,
    /// An email address.
    Email,
    /// A new password.
    Password,
    /// The invitation token (from the link).
    Invitation,
    /// A role.
    Role,
    /// A person's name.
    Name,
    /// The current password (to change it).
    CurrentPassword,
}

impl Field {
    /// The form field's name: `org_slug`, `org_name`, `email`, `password`, `invitation`,
    /// `role`.
    pub const fn name(self) -> &'static str {
        match self {
            Field::OrgSlug => "org_slug",
            Field::OrgName => "org_name",
            Field::Email => "email",
            Field::Password => "password",
            Field::Invitation => "invitation",
            Field::Role => "role",
            Field::Name => "name",
            Field::CurrentPassword => "current_password",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with one field, in words for the person who filled it in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field.
    pub field: Field,
    /// What to tell the person (never echoes the value).
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// Something went wrong that the person cannot fix: the database or password hashing.
/// Pages show a generic error and log this.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The database could not answer.
    #[error("database: {0}")]
    Database(#[from] DbError),
    /// Hashing or a stored hash failed.
    #[error("password hashing: {0}")]
    Password(#[from] PasswordError),
    /// The blocking hashing task did not finish.
    #[error("password hashing task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The account services, shared by every request.
pub struct Accounts {
    pool: PgPool,
    audit: Arc<AuditLog>,
    hasher: Arc<PasswordHasher>,
    settings: AccountSettings,
    throttle: FailureThrottle,
}

impl fmt::Debug for Accounts {
    // Not the throttle: its counters are keyed by client addresses and emails.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("hasher", &self.hasher)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// The services with argon2id at `PasswordParams::MINIMUM` (OWASP's recommendation),
    /// recording what people do to their accounts in `audit`.
    pub fn new(
        pool: PgPool,
        audit: Arc<AuditLog>,
        settings: AccountSettings,
    ) -> Result<Self, PasswordError> {
        Ok(Self::with_hasher(pool, audit, settings, PasswordHasher::recommended()?))
    }

    /// The services with a given password hasher.
    pub fn with_hasher(
        pool: PgPool,
        audit: Arc<AuditLog>,
        settings: AccountSettings,
        hasher: PasswordHasher,
    ) -> Self {
        let throttle = FailureThrottle::new(settings.failure_limit, settings.failure_window);
        Self { pool, audit, hasher: Arc::new(hasher), settings, throttle }
    }

    /// The settings these services run with.
    pub fn settings(&self) -> &AccountSettings {
        &self.settings
    }

    /// Appends an audit entry for what `actor` did: a person (to their own account, or with
    /// the rights checked here) or an operator at the command line (`wharf admin`). The change
    /// has been made: a failed write is logged, not reported.
    async fn audit(
        &self,
        organization_id: Option<uuid::Uuid>,
        actor: Inviter,
        action: &str,
        (target, target_name): (String, Option<String>),
        detail: serde_json::Value,
        client: Option<std::net::IpAddr>,
    ) {
        let (kind, id, name) = match actor {
            Inviter::User(id) => ("user", Some(id), None),
            Inviter::Operator => ("operator", None, Some(crate::audit::OPERATOR.to_owned())),
        };
        let entry = wharf_db::audit::NewAuditEntry {
            client_addr: client.map(|c| c.to_string()),
            actor_name: name,
            ..wharf_db::audit::NewAuditEntry::success(
                organization_id,
                kind,
                id,
                action,
                target,
                target_name,
                detail,
            )
        };
        self.audit.record_now(entry).await;
    }

    /// Hashes a new password with argon2id, off the async threads.
    async fn hash_password(&self, password: &SecretString) -> Result<SecretString, Failure> {
        let hasher = self.hasher.clone();
        let password = password.clone();
        Ok(tokio::task::spawn_blocking(move || hasher.hash(&password)).await??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signup_modes() {
        for mode in [SignupMode::Open, SignupMode::Invite, SignupMode::Closed] {
            assert_eq!(mode.to_string().parse::<SignupMode>().unwrap(), mode);
        }
        assert_eq!(SignupMode::default(), SignupMode::Closed);
        assert!("Open".parse::<SignupMode>().is_err());
    }

    #[tokio::test]
    async fn debug_leaves_out_the_throttle_counters() {
        let pool = sqlx_lazy_pool();
        let (audit, _task) = AuditLog::start(pool.clone(), Default::default());
        let accounts = Accounts::new(pool, audit, AccountSettings::default()).unwrap();
        accounts.throttle.record_failure([192, 0, 2, 7].into(), Some("probe@victim.test"));
        let debug = format!("{accounts:?}");
        assert!(debug.contains("Closed"), "{debug}");
        assert!(!debug.contains("victim") && !debug.contains("192.0.2.7"), "{debug}");
    }

    fn sqlx_lazy_pool() -> PgPool {
        let options = wharf_db::PgConnectOptions::new().host("127.0.0.1").port(1);
        wharf_db::sqlx::postgres::PgPoolOptions::new().connect_lazy_with(options)
    }

    #[test]
    fn field_names_are_form_names() {
        let error = FieldError::new(Field::OrgSlug, "taken");
        assert_eq!(error.to_string(), "org_slug: taken");
        assert_eq!(Field::Invitation.name(), "invitation");
    }
}
