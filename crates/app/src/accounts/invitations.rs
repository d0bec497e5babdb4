//! Invitations: issuing, revoking, previewing and accepting them.
//!
//! Who may invite (checked here against the database, whatever the page already checked):
//! - to a vendor organization: its owners and admins; only an owner may invite an owner;
//! - to a customer: the vendor's owners and admins, and that customer's admins;
//! - to sign up (`WHARF_SIGNUP=invite`): instance admins;
//! - an operator (`wharf admin invite-…`, [`Inviter::Operator`]) may issue any of them.
//!
//! The same people may revoke them (a customer admin only their customer's). An invitation
//! token (`wharf_inv_…`, about 190 random bits) is returned once, in [`IssuedInvitation`]; only
//! its SHA-256 is stored. It expires after the configured time (default 7 days), is used at
//! most once, and inviting the same address again revokes the older link.
//!
//! Accepting (member and customer invitations; sign-up invitations are used by
//! [`Accounts::sign_up`]): a malformed, unknown, used, revoked or expired invitation gets one
//! answer, [`AcceptError::InvalidInvitation`]. The invitee either creates an account for the
//! invited address with a new password ([`Acceptance::NewAccount`]) or, when that address
//! already has an account, signs in first and accepts as that account
//! ([`Acceptance::SignedIn`]); an account of another address cannot take the invitation.
//! Whoever holds the link learns whether the invited address has an account (the page must
//! offer the right form); nobody else does.

use secrecy::{ExposeSecret as _, SecretString};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_auth::{
    invitation,
    principal::{CustomerRole, Role},
    token::{PlaintextToken, TokenHash},
};
use wharf_db::{
    DbError, accounts, customers,
    invitations::{
        self, Invitation, InvitationKind, InvitationStatus, Joiner, NewInvitation, Target,
    },
};

use super::{
    Accounts, Failure, Field, FieldError,
    validate::{check_new_password, check_person_name, normalize_email},
};

/// Who issues or revokes an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inviter {
    /// An operator at the command line: no person, no checks.
    Operator,
    /// A signed-in account, whose rights are checked.
    User(Uuid),
}

impl Inviter {
    fn user_id(self) -> Option<Uuid> {
        match self {
            Inviter::Operator => None,
            Inviter::User(id) => Some(id),
        }
    }
}

/// A new invitation and its token, shown this once (in the link sent to the invitee).
#[derive(Debug, Clone)]
pub struct IssuedInvitation {
    /// The invitation as stored.
    pub invitation: Invitation,
    /// The token; `Debug` redacts it.
    pub token: PlaintextToken,
}

/// Why an invitation was not issued or revoked.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The email is not an address.
    #[error(transparent)]
    Invalid(FieldError),
    /// The inviter may not do this (or is not who they claim).
    #[error("you may not invite or revoke here")]
    NotAllowed,
    /// The invited address is already a member of the organization, or a user of the
    /// customer.
    #[error("this address already belongs here")]
    AlreadyMember,
    /// No such customer or invitation in this organization.
    #[error("not found")]
    NotFound,
    /// The database failed.
    #[error(transparent)]
    Internal(#[from] Failure),
}

impl InviteError {
    /// The form field the error is about, if one.
    pub fn field(&self) -> Option<Field> {
        match self {
            InviteError::Invalid(error) => Some(error.field),
            InviteError::AlreadyMember => Some(Field::Email),
            _ => None,
        }
    }
}

impl From<DbError> for InviteError {
    fn from(err: DbError) -> Self {
        InviteError::Internal(err.into())
    }
}

/// What the page behind an invitation link shows before the invitee accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationPreview {
    /// What the invitation is for.
    pub kind: InvitationKind,
    /// The invited address (optional for sign-up invitations).
    pub email: Option<String>,
    /// The role offered (none for sign-up invitations).
    pub role: Option<String>,
    /// The vendor organization's slug and name (member and customer invitations).
    pub organization: Option<(String, String)>,
    /// The customer's name (customer invitations).
    pub customer_name: Option<String>,
    /// Who invited, if a person did and their account still exists.
    pub invited_by_email: Option<String>,
    /// When the invitation stops working.
    pub expires_at: OffsetDateTime,
    /// Whether the invited address has an account (then: sign in and accept; else: choose a
    /// password).
    pub account_exists: bool,
}

/// How the invitee accepts.
pub enum Acceptance {
    /// Create an account for the invited address with this new password.
    NewAccount {
        /// The name to show the person by (1–200 characters), if they gave one.
        name: Option<String>,
        /// The password (checked against the policy).
        password: SecretString,
    },
    /// As the signed-in account `user_id`, which must have the invited address.
    SignedIn {
        /// The account the session authenticated.
        user_id: Uuid,
    },
}

impl std::fmt::Debug for Acceptance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Acceptance::NewAccount { .. } => f.write_str("NewAccount { password: <redacted> }"),
            Acceptance::SignedIn { user_id } => write!(f, "SignedIn {{ user_id: {user_id} }}"),
        }
    }
}

/// An accepted invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// Member or customer invitation.
    pub kind: InvitationKind,
    /// The vendor organization.
    pub organization_id: Uuid,
    /// The customer (customer invitations).
    pub customer_id: Option<Uuid>,
    /// The account that joined.
    pub user_id: Uuid,
    /// The role it got.
    pub role: String,
    /// Whether the account was created now.
    pub created_account: bool,
}

/// Why an invitation could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Malformed, unknown, used, revoked or expired (one answer for all), or a sign-up
    /// invitation (those are used on the sign-up page).
    #[error("this invitation is not valid: it may have expired or been used already")]
    InvalidInvitation,
    /// The new password does not meet the policy.
    #[error(transparent)]
    Invalid(FieldError),
    /// A new account was asked for, but the invited address has one: sign in, then accept.
    #[error("this email address already has an account; sign in to accept the invitation")]
    AccountExists,
    /// The signed-in account does not have the invited address.
    #[error("this invitation was sent to another email address")]
    WrongAccount,
    /// The account already belongs to the organization or customer.
    #[error("you already belong here")]
    AlreadyMember,
    /// The database or hashing failed.
    #[error(transparent)]
    Internal(#[from] Failure),
}

impl AcceptError {
    /// The form field the error is about, if one.
    pub fn field(&self) -> Option<Field> {
        match self {
            AcceptError::InvalidInvitation => Some(Field::Invitation),
            AcceptError::Invalid(error) => Some(error.field),
            AcceptError::AccountExists | AcceptError::WrongAccount => Some(Field::Email),
            AcceptError::AlreadyMember | AcceptError::Internal(_) => None,
        }
    }
}

impl From<DbError> for AcceptError {
    fn from(err: DbError) -> Self {
        AcceptError::Internal(err.into())
    }
}

impl Accounts {
    /// Invites `email` to vendor organization `org_id` as `role`.
    pub async fn invite_member(
        &self,
        org_id: Uuid,
        inviter: Inviter,
        email: &str,
        role: Role,
    ) -> Result<IssuedInvitation, InviteError> {
        let email = normalize_email(email).map_err(InviteError::Invalid)?;
        if let Some(user_id) = inviter.user_id() {
            let allowed = match self.vendor_role(org_id, user_id).await? {
                Some(Role::Owner) => true,
                Some(Role::Admin) => role != Role::Owner,
                _ => false,
            };
            if !allowed {
                return Err(InviteError::NotAllowed);
            }
        }
        if let Some(user) = accounts::find_user_by_email(&self.pool, &email).await?
            && accounts::find_member(&self.pool, org_id, user.id).await?.is_some()
        {
            return Err(InviteError::AlreadyMember);
        }
        let target = Target::Member { organization_id: org_id, role: role.as_str() };
        self.issue(target, Some(&email), inviter).await
    }

    /// Invites `email` to customer `customer_id` of organization `org_id` as `role`.
    pub async fn invite_customer_user(
        &self,
        org_id: Uuid,
        customer_id: Uuid,
        inviter: Inviter,
        email: &str,
        role: CustomerRole,
    ) -> Result<IssuedInvitation, InviteError> {
        let email = normalize_email(email).map_err(InviteError::Invalid)?;
        if customers::get(&self.pool, org_id, customer_id).await?.is_none() {
            return Err(InviteError::NotFound);
        }
        if let Some(user_id) = inviter.user_id()
            && !self.manages_customer(org_id, customer_id, user_id).await?
        {
            return Err(InviteError::NotAllowed);
        }
        if let Some(user) = accounts::find_user_by_email(&self.pool, &email).await?
            && customers::find_user(&self.pool, org_id, customer_id, user.id).await?.is_some()
        {
            return Err(InviteError::AlreadyMember);
        }
        let target = Target::Customer { organization_id: org_id, customer_id, role: role.as_str() };
        self.issue(target, Some(&email), inviter).await
    }

    /// Invites someone to sign up a new vendor organization (useful while
    /// `WHARF_SIGNUP=invite`); with `email`, only that address may use the invitation.
    pub async fn invite_signup(
        &self,
        inviter: Inviter,
        email: Option<&str>,
    ) -> Result<IssuedInvitation, InviteError> {
        let email = email.map(normalize_email).transpose().map_err(InviteError::Invalid)?;
        if let Some(user_id) = inviter.user_id()
            && !self.is_instance_admin(user_id).await?
        {
            return Err(InviteError::NotAllowed);
        }
        self.issue(Target::Signup, email.as_deref(), inviter).await
    }

    async fn issue(
        &self,
        target: Target<'_>,
        email: Option<&str>,
        inviter: Inviter,
    ) -> Result<IssuedInvitation, InviteError> {
        let generated = invitation::generate();
        let new = NewInvitation {
            target,
            email,
            invited_by: inviter.user_id(),
            token_hash: generated.hash.as_bytes(),
            expires_at: OffsetDateTime::now_utc() + self.settings.invitation_ttl,
        };
        let invitation =
            invitations::create(&self.pool, &new).await?.ok_or(InviteError::NotFound)?;
        tracing::info!(
            invitation = %invitation.id,
            kind = invitation.kind.as_str(),
            org = ?invitation.organization_id,
            "invitation issued"
        );
        let expires_at = invitation
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let detail = serde_json::json!({
            "kind": invitation.kind.as_str(),
            "role": invitation.role,
            "customer_id": invitation.customer_id,
            "expires_at": expires_at,
        });
        let target = (format!("invitation:{}", invitation.id), invitation.email.clone());
        let org = invitation.organization_id;
        self.audit(org, inviter, "invitation.create", target, detail, None).await;
        Ok(IssuedInvitation { invitation, token: generated.plaintext })
    }

    /// Revokes an unused invitation of organization `org_id` (to the organization or one of
    /// its customers); vendor owners and admins may.
    pub async fn revoke_invitation(
        &self,
        org_id: Uuid,
        revoker: Inviter,
        id: Uuid,
    ) -> Result<(), InviteError> {
        if let Some(user_id) = revoker.user_id()
            && !matches!(self.vendor_role(org_id, user_id).await?, Some(Role::Owner | Role::Admin))
        {
            return Err(InviteError::NotAllowed);
        }
        if !invitations::revoke(&self.pool, org_id, id).await? {
            return Err(InviteError::NotFound);
        }
        let target = (format!("invitation:{id}"), None);
        self.audit(Some(org_id), revoker, "invitation.revoke", target, serde_json::json!({}), None)
            .await;
        Ok(())
    }

    /// Revokes an unused invitation to customer `customer_id` of organization `org_id`; the
    /// vendor's owners and admins and the customer's admins may.
    pub async fn revoke_customer_invitation(
        &self,
        org_id: Uuid,
        customer_id: Uuid,
        revoker: Inviter,
        id: Uuid,
    ) -> Result<(), InviteError> {
        if let Some(user_id) = revoker.user_id()
            && !self.manages_customer(org_id, customer_id, user_id).await?
        {
            return Err(InviteError::NotAllowed);
        }
        if !invitations::revoke_customer(&self.pool, org_id, customer_id, id).await? {
            return Err(InviteError::NotFound);
        }
        let target = (format!("invitation:{id}"), None);
        let detail = serde_json::json!({ "customer_id": customer_id });
        self.audit(Some(org_id), revoker, "invitation.revoke", target, detail, None).await;
        Ok(())
    }

    /// Revokes an unused sign-up invitation; instance admins may.
    pub async fn revoke_signup_invitation(
        &self,
        revoker: Inviter,
        id: Uuid,
    ) -> Result<(), InviteError> {
        if let Some(user_id) = revoker.user_id()
            && !self.is_instance_admin(user_id).await?
        {
            return Err(InviteError::NotAllowed);
        }
        if !invitations::revoke_signup(&self.pool, id).await? {
            return Err(InviteError::NotFound);
        }
        Ok(())
    }

    /// What an open invitation offers, for the page behind its link.
    pub async fn preview_invitation(
        &self,
        token: &SecretString,
    ) -> Result<InvitationPreview, AcceptError> {
        let (_, found) = self.find_open(token).await?;
        let invitation = found.invitation;
        Ok(InvitationPreview {
            kind: invitation.kind,
            email: invitation.email,
            role: invitation.role,
            organization: found.organization_slug.zip(found.organization_name),
            customer_name: found.customer_name,
            invited_by_email: invitation.invited_by_email,
            expires_at: invitation.expires_at,
            account_exists: found.account_exists,
        })
    }

    /// Accepts a member or customer invitation, by the rules above.
    pub async fn accept_invitation(
        &self,
        token: &SecretString,
        acceptance: Acceptance,
    ) -> Result<Joined, AcceptError> {
        let (hash, found) = self.find_open(token).await?;
        if found.invitation.kind == InvitationKind::Signup {
            return Err(AcceptError::InvalidInvitation);
        }
        let (outcome, created_account) = match acceptance {
            Acceptance::NewAccount { ref name, ref password } => {
                if found.account_exists {
                    return Err(AcceptError::AccountExists);
                }
                if let Some(name) = name {
                    check_person_name(name).map_err(AcceptError::Invalid)?;
                }
                check_new_password(password).map_err(AcceptError::Invalid)?;
                let password_hash = self.hash_password(password).await?;
                let joiner = Joiner::NewUser { password_hash: password_hash.expose_secret() };
                (invitations::accept(&self.pool, hash.as_bytes(), joiner).await, true)
            }
            Acceptance::SignedIn { user_id } => {
                let user = accounts::find_user(&self.pool, user_id).await?;
                if user.is_none_or(|u| Some(u.email) != found.invitation.email) {
                    return Err(AcceptError::WrongAccount);
                }
                let joiner = Joiner::ExistingUser { user_id };
                (invitations::accept(&self.pool, hash.as_bytes(), joiner).await, false)
            }
        };
        let accepted = match outcome {
            Ok(Some(accepted)) => accepted,
            // Used, revoked or expired since the lookup.
            Ok(None) => return Err(AcceptError::InvalidInvitation),
            Err(DbError::Conflict(constraint)) if constraint == "users_email_key" => {
                return Err(AcceptError::AccountExists);
            }
            Err(DbError::Conflict(constraint))
                if constraint == "organization_members_pkey"
                    || constraint == "customer_users_pkey" =>
            {
                return Err(AcceptError::AlreadyMember);
            }
            Err(err) => return Err(err.into()),
        };
        if let Acceptance::NewAccount { name: Some(name), .. } = &acceptance {
            accounts::set_user_name(&self.pool, accepted.user_id, name.trim()).await?;
        }
        let invitation = accepted.invitation;
        tracing::info!(invitation = %invitation.id, user = %accepted.user_id, "invitation accepted");
        let detail = serde_json::json!({
            "kind": invitation.kind.as_str(),
            "role": invitation.role,
            "customer_id": invitation.customer_id,
            "account": if created_account { "new" } else { "existing" },
        });
        let target = format!("invitation:{}", invitation.id);
        let (org, email) = (invitation.organization_id, invitation.email.clone());
        let actor = Inviter::User(accepted.user_id);
        self.audit(org, actor, "invitation.accept", (target, email), detail, None).await;
        Ok(Joined {
            kind: invitation.kind,
            organization_id: invitation.organization_id.ok_or(AcceptError::InvalidInvitation)?,
            customer_id: invitation.customer_id,
            user_id: accepted.user_id,
            role: invitation.role.unwrap_or_default(),
            created_account,
        })
    }

    /// The open invitation behind `token`, with the token's hash; one answer for everything
    /// else.
    async fn find_open(
        &self,
        token: &SecretString,
    ) -> Result<(TokenHash, invitations::FoundInvitation), AcceptError> {
        let hash =
            invitation::parse(token.expose_secret()).ok_or(AcceptError::InvalidInvitation)?;
        match invitations::find_by_token(&self.pool, hash.as_bytes()).await? {
            Some(found)
                if found.invitation.status(OffsetDateTime::now_utc()) == InvitationStatus::Open =>
            {
                Ok((hash, found))
            }
            _ => Err(AcceptError::InvalidInvitation),
        }
    }

    async fn vendor_role(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<Role>, DbError> {
        Ok(accounts::find_member(&self.pool, org_id, user_id)
            .await?
            .and_then(|member| member.role.parse().ok()))
    }

    /// Whether `user_id` may manage the users of customer `customer_id`: a vendor owner or
    /// admin, or an admin of that customer.
    async fn manages_customer(
        &self,
        org_id: Uuid,
        customer_id: Uuid,
        user_id: Uuid,
    ) -> Result<bool, DbError> {
        if matches!(self.vendor_role(org_id, user_id).await?, Some(Role::Owner | Role::Admin)) {
            return Ok(true);
        }
        let customer_user = customers::find_user(&self.pool, org_id, customer_id, user_id).await?;
        Ok(customer_user.is_some_and(|u| u.role == CustomerRole::Admin.as_str()))
    }

    async fn is_instance_admin(&self, user_id: Uuid) -> Result<bool, DbError> {
        Ok(accounts::find_user(&self.pool, user_id).await?.is_some_and(|u| u.is_instance_admin))
    }
}
