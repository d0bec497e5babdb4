//! What an operator does to accounts at the command line (`wharf admin create-user`,
//! `wharf admin reset-password`): add a member to an organization, with a new account or an
//! existing one, and set a password. No rights are checked (the operator has the database);
//! the input is, and every action is in the audit log as the operator's.
//!
//! People in the portal join organizations by invitation ([`super::invitations`]) and
//! change their own passwords, by rules of their own.

use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;
use wharf_auth::principal::Role;
use wharf_db::{DbError, accounts, sessions};

use super::{
    Accounts, Failure, FieldError, Inviter,
    validate::{check_new_password, normalize_email},
};

/// A member added by [`Accounts::add_member`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAdded {
    /// The account.
    pub user_id: Uuid,
    /// Its email, lower-case.
    pub email: String,
    /// Whether the account existed before (its password is unchanged).
    pub existed: bool,
}

/// Why an operator's account action was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// An email or password is invalid.
    #[error("{0}")]
    Invalid(FieldError),
    /// No organization has that slug.
    #[error("no organization with slug {0:?}")]
    NoOrganization(String),
    /// No account has that email.
    #[error("no user with email {0}")]
    NoUser(String),
    /// The account is a member of the organization already.
    #[error("{email} is already a member of {org}")]
    AlreadyMember {
        /// The email.
        email: String,
        /// The organization's slug.
        org: String,
    },
    /// The account was created by someone else meanwhile; look again.
    #[error("{0} was created concurrently; retry")]
    Concurrent(String),
    /// The database or hashing failed.
    #[error(transparent)]
    Internal(#[from] Failure),
}

impl From<DbError> for OperatorError {
    fn from(err: DbError) -> Self {
        Self::Internal(err.into())
    }
}

impl Accounts {
    /// Adds `email` to organization `org_slug` with `role`: an existing account keeps its
    /// password, a new one gets `password` (checked against the policy).
    pub async fn add_member(
        &self,
        org_slug: &str,
        email: &str,
        role: Role,
        password: &SecretString,
    ) -> Result<MemberAdded, OperatorError> {
        let email = normalize_email(email).map_err(OperatorError::Invalid)?;
        let org = accounts::find_organization(&self.pool, org_slug)
            .await?
            .ok_or_else(|| OperatorError::NoOrganization(org_slug.to_owned()))?;
        let existing = accounts::find_user_by_email(&self.pool, &email).await?;
        let user_id = match &existing {
            Some(user) => {
                match accounts::add_member(&self.pool, org.id, user.id, role.as_str()).await {
                    Ok(()) => user.id,
                    Err(DbError::Conflict(_)) => {
                        return Err(OperatorError::AlreadyMember { email, org: org.slug });
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            None => {
                check_new_password(password).map_err(OperatorError::Invalid)?;
                let hash = self.hash_password(password).await?;
                let created = accounts::create_user(
                    &self.pool,
                    org.id,
                    &email,
                    hash.expose_secret(),
                    role.as_str(),
                )
                .await;
                match created {
                    Ok(user) => user.id,
                    Err(DbError::Conflict(_)) => return Err(OperatorError::Concurrent(email)),
                    Err(err) => return Err(err.into()),
                }
            }
        };
        let existed = existing.is_some();
        let detail = serde_json::json!({
            "role": role.as_str(),
            "account": if existed { "existing" } else { "new" },
        });
        let target = (format!("user:{user_id}"), Some(email.clone()));
        self.audit(Some(org.id), Inviter::Operator, "member.add", target, detail, None).await;
        Ok(MemberAdded { user_id, email, existed })
    }

    /// Sets the password of the account `email` to `password` (checked against the policy);
    /// every portal session and open reset link of the account ends.
    pub async fn reset_password(
        &self,
        email: &str,
        password: &SecretString,
    ) -> Result<Uuid, OperatorError> {
        let email = normalize_email(email).map_err(OperatorError::Invalid)?;
        check_new_password(password).map_err(OperatorError::Invalid)?;
        let user = accounts::find_user_by_email(&self.pool, &email)
            .await?
            .ok_or_else(|| OperatorError::NoUser(email.clone()))?;
        let hash = self.hash_password(password).await?;
        if !sessions::set_password(&self.pool, user.id, None, hash.expose_secret(), None).await? {
            return Err(OperatorError::NoUser(email));
        }
        let target = (format!("user:{}", user.id), Some(email));
        let detail = serde_json::json!({});
        self.audit(None, Inviter::Operator, "user.password_reset", target, detail, None).await;
        Ok(user.id)
    }
}

/// Why a change to the team was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// The person is not a member (or the acting member may not know of them).
    #[error("not a member")]
    NotFound,
    /// The acting member may not do this (only owners and admins manage the team; nobody
    /// grants more than they hold; only owners change or remove owners).
    #[error("{0}")]
    NotAllowed(&'static str),
    /// The organization would be left without an owner.
    #[error(
        "the organization's last owner can be neither removed nor demoted: make someone else owner first"
    )]
    LastOwner,
    /// A database or other failure.
    #[error(transparent)]
    Internal(#[from] Failure),
}

impl From<DbError> for TeamError {
    fn from(err: DbError) -> Self {
        Self::Internal(err.into())
    }
}

impl Accounts {
    /// Member `actor` of organization `org_id` sets member `user_id`'s role to `role`, or
    /// removes them (`None`). Owners and admins manage the team; an admin can neither make an
    /// owner nor change or remove one; the last owner stays. Audited as `member.role_change`
    /// or `member.remove`; a removed member's vendor tokens stop at once, and their next
    /// portal request finds no membership.
    pub async fn change_member(
        &self,
        org_id: Uuid,
        actor: Uuid,
        user_id: Uuid,
        role: Option<Role>,
        client: Option<std::net::IpAddr>,
    ) -> Result<(), TeamError> {
        let actor_role = accounts::find_member(&self.pool, org_id, actor)
            .await?
            .and_then(|m| m.role.parse::<Role>().ok())
            .ok_or(TeamError::NotAllowed("only members of the organization manage its team"))?;
        if !matches!(actor_role, Role::Owner | Role::Admin) {
            return Err(TeamError::NotAllowed("only owners and admins manage the team"));
        }
        let member =
            accounts::find_member(&self.pool, org_id, user_id).await?.ok_or(TeamError::NotFound)?;
        let current: Role = member.role.parse().map_err(|_| TeamError::NotFound)?;
        if actor_role != Role::Owner && (current == Role::Owner || role == Some(Role::Owner)) {
            return Err(TeamError::NotAllowed("only an owner may make, change or remove an owner"));
        }
        match accounts::change_member(&self.pool, org_id, user_id, role.map(Role::as_str)).await? {
            accounts::TeamChange::Done => {}
            accounts::TeamChange::NotMember => return Err(TeamError::NotFound),
            accounts::TeamChange::LastOwner => return Err(TeamError::LastOwner),
        }
        let target = (format!("user:{user_id}"), Some(member.email.clone()));
        let (action, detail) = match role {
            Some(role) => (
                "member.role_change",
                serde_json::json!({"before": current.as_str(), "after": role.as_str()}),
            ),
            None => ("member.remove", serde_json::json!({"role": current.as_str()})),
        };
        self.audit(Some(org_id), Inviter::User(actor), action, target, detail, client).await;
        Ok(())
    }
}
