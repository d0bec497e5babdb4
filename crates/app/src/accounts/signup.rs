//! Sign-up: a new vendor organization with a new account as its owner.
//!
//! Rules, in order (so that nothing is looked up for a request that is refused anyway):
//! 1. the mode: `closed` refuses everyone; `invite` needs an invitation token; `open` takes
//!    anyone (an invitation token given in `open` mode is ignored);
//! 2. the throttle: an address or email with too many recent failures is refused for the rest
//!    of the window;
//! 3. the fields, all at once: slug, organization name, email, password policy;
//! 4. in `invite` mode, the invitation: an open sign-up invitation, for this email if it
//!    names one; anything else (malformed, unknown, used, revoked, expired) gets one answer;
//! 5. the password is hashed (argon2id) and everything is written in one transaction, which
//!    uses the invitation. A slug or an email already in use is refused by the database's
//!    unique constraints, in that order.
//!
//! A taken email says only that: the address already has an account. Sign-up cannot avoid
//! saying so without verifying addresses by mail first (not built), but it does not say
//! where the account belongs (vendor, customer, which organization), costs the same time as
//! a success (the hash is computed before the insert that finds the conflict), counts as a
//! failure for the client address and the email (so probing addresses is throttled like
//! guessing passwords), and cannot happen at all in `closed` mode or without a valid
//! invitation in `invite` mode. See docs/accounts.md.

use std::{fmt, net::IpAddr, time::Duration};

use secrecy::{ExposeSecret as _, SecretString};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_auth::invitation;
use wharf_db::{
    DbError,
    accounts::Organization,
    invitations::{self, InvitationKind, InvitationStatus},
};

use super::{
    Accounts, Failure, Field, FieldError, SignupMode,
    organizations::{
        CreateOrganizationError, Founder, OrganizationRequest, check_organization_request,
    },
    validate::normalize_email,
};

/// What the sign-up form sends.
pub struct SignupRequest {
    /// The new organization's slug.
    pub org_slug: String,
    /// The new organization's display name.
    pub org_name: String,
    /// The owner's email (any case; stored lower-case).
    pub email: String,
    /// The owner's password.
    pub password: SecretString,
    /// The sign-up invitation token from the link (needed in `invite` mode).
    pub invitation: Option<SecretString>,
}

impl fmt::Debug for SignupRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignupRequest")
            .field("org_slug", &self.org_slug)
            .field("org_name", &self.org_name)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("invitation", &self.invitation.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A successful sign-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUp {
    /// The new organization.
    pub organization: Organization,
    /// Its owner, a new account.
    pub owner_id: Uuid,
    /// The owner's email, lower-case.
    pub owner_email: String,
}

/// Why a sign-up was refused. [`SignupError::field`] names the form field to show it at.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    /// `WHARF_SIGNUP=closed`.
    #[error("sign-up is closed on this instance; ask its operator for an account")]
    Closed,
    /// `WHARF_SIGNUP=invite` and no invitation was given.
    #[error("sign-up on this instance needs an invitation")]
    InvitationRequired,
    /// The invitation is malformed, unknown, used, revoked or expired (one answer for all).
    #[error("this invitation is not valid: it may have expired or been used already")]
    InvalidInvitation,
    /// Some fields are invalid (every invalid field is listed).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The slug belongs to another organization.
    #[error("this slug is taken")]
    SlugTaken,
    /// The email already has an account.
    #[error("this email address already has an account; sign in instead")]
    EmailTaken,
    /// Too many failures from this address or for this email; try again after the delay.
    #[error("too many attempts; try again in {} seconds", .0.as_secs().max(1))]
    Throttled(Duration),
    /// The database or hashing failed.
    #[error(transparent)]
    Internal(#[from] Failure),
}

impl SignupError {
    /// The form fields the error is about (none for errors about the whole form).
    pub fn fields(&self) -> Vec<Field> {
        match self {
            SignupError::InvitationRequired | SignupError::InvalidInvitation => {
                vec![Field::Invitation]
            }
            SignupError::Invalid(errors) => errors.iter().map(|e| e.field).collect(),
            SignupError::SlugTaken => vec![Field::OrgSlug],
            SignupError::EmailTaken => vec![Field::Email],
            SignupError::Closed | SignupError::Throttled(_) | SignupError::Internal(_) => vec![],
        }
    }
}

impl From<DbError> for SignupError {
    fn from(err: DbError) -> Self {
        SignupError::Internal(err.into())
    }
}

impl Accounts {
    /// Signs a new vendor organization and its owner up, by the rules above. `client` is the
    /// address the request came from (for throttling).
    pub async fn sign_up(
        &self,
        request: SignupRequest,
        client: IpAddr,
    ) -> Result<SignedUp, SignupError> {
        let invitation = match self.settings.signup {
            SignupMode::Closed => return Err(SignupError::Closed),
            SignupMode::Invite => {
                Some(request.invitation.as_ref().ok_or(SignupError::InvitationRequired)?)
            }
            SignupMode::Open => None,
        };
        let email = normalize_email(&request.email);
        let throttle_key = email.as_ref().ok().map(String::as_str);
        if let Some(wait) = self.throttle.retry_after(client, throttle_key) {
            return Err(SignupError::Throttled(wait));
        }

        let organization = OrganizationRequest {
            slug: &request.org_slug,
            name: &request.org_name,
            owner_email: &request.email,
            owner_password: &request.password,
        };
        let email = check_organization_request(&organization).map_err(SignupError::Invalid)?;
        let invitation = match invitation {
            Some(token) => Some(self.open_signup_invitation(token, &email, client).await?),
            None => None,
        };
        let founder = Founder::SignUp { invitation, client };
        match self.create_organization(organization, founder).await {
            Ok(created) => Ok(SignedUp {
                organization: created.organization,
                owner_id: created.owner_id,
                owner_email: created.owner_email,
            }),
            // Used or revoked between the check and the write.
            Err(CreateOrganizationError::InvitationNotOpen) => Err(SignupError::InvalidInvitation),
            Err(CreateOrganizationError::SlugTaken) => Err(SignupError::SlugTaken),
            Err(CreateOrganizationError::EmailTaken) => {
                self.throttle.record_failure(client, Some(&email));
                Err(SignupError::EmailTaken)
            }
            Err(CreateOrganizationError::Invalid(errors)) => Err(SignupError::Invalid(errors)),
            Err(CreateOrganizationError::Internal(failure)) => Err(failure.into()),
        }
    }

    /// The hash of an open sign-up invitation that `email` may use.
    async fn open_signup_invitation(
        &self,
        token: &SecretString,
        email: &str,
        client: IpAddr,
    ) -> Result<[u8; 32], SignupError> {
        let refuse = || {
            self.throttle.record_failure(client, None);
            SignupError::InvalidInvitation
        };
        let Some(hash) = invitation::parse(token.expose_secret()) else { return Err(refuse()) };
        let Some(found) = invitations::find_by_token(&self.pool, hash.as_bytes()).await? else {
            return Err(refuse());
        };
        let found = found.invitation;
        if found.kind != InvitationKind::Signup
            || found.status(OffsetDateTime::now_utc()) != InvitationStatus::Open
        {
            return Err(refuse());
        }
        if found.email.as_deref().is_some_and(|invited| invited != email) {
            return Err(SignupError::Invalid(vec![FieldError::new(
                Field::Email,
                "this invitation is for another email address",
            )]));
        }
        Ok(*hash.as_bytes())
    }
}
