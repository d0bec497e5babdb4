//! Creating a vendor organization with its first owner: the one path that sign-up
//! ([`Accounts::sign_up`]), the operator (`wharf admin create-org`) and the first start of an
//! instance all take.
//!
//! Rules, whoever creates it:
//! - the slug, the name and the owner's email are checked by [`super::validate`], and so is
//!   the password against the policy, all at once (every invalid field is reported);
//! - the password is hashed (argon2id, off the async threads) and everything is written in
//!   one transaction (`wharf_db::accounts::create_organization`);
//! - a slug in use is [`CreateOrganizationError::SlugTaken`], whatever the database race;
//! - the creation is in the audit log before this returns, as the founder's action (sign-up
//!   and operators; the first start is not recorded, as it never was).
//!
//! What differs by [`Founder`]: someone signing up always gets a new account (an email that
//! has one is [`CreateOrganizationError::EmailTaken`]) and may use a sign-up invitation; an
//! operator or the first start makes an existing account the owner (its password unchanged),
//! and the first start's owner also administers the instance.

use std::net::IpAddr;

use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;
use wharf_db::{
    DbError,
    accounts::{self, CreatedOrganization, ExistingAccount, NewOrganization, Organization},
    audit::NewAuditEntry,
};

use super::{
    Accounts, Failure, FieldError,
    validate::{check_new_password, check_org_name, check_slug, normalize_email},
};

/// The organization to create and its owner, as typed.
#[derive(Debug, Clone, Copy)]
pub struct OrganizationRequest<'a> {
    /// Slug: the first path segment of its repositories.
    pub slug: &'a str,
    /// Display name.
    pub name: &'a str,
    /// The owner's email (any case; stored lower-case).
    pub owner_email: &'a str,
    /// The owner's password (unused when an existing account becomes the owner).
    pub owner_password: &'a SecretString,
}

/// Who creates the organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Founder {
    /// Its owner, signing up from `client`, with the sign-up invitation (its SHA-256) when
    /// one is needed.
    SignUp {
        /// The invitation's SHA-256.
        invitation: Option<[u8; 32]>,
        /// Where the request came from.
        client: IpAddr,
    },
    /// An operator (`wharf admin create-org`).
    Operator,
    /// The first start of an instance, from its configuration.
    FirstStart,
}

/// A created organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationCreated {
    /// The organization.
    pub organization: Organization,
    /// Its owner.
    pub owner_id: Uuid,
    /// The owner's email, lower-case.
    pub owner_email: String,
    /// Whether the owner's account existed before (its password is unchanged).
    pub owner_existed: bool,
}

/// Why an organization was not created. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum CreateOrganizationError {
    /// Some fields are invalid (every invalid field is listed).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The slug belongs to another organization.
    #[error("this slug is taken")]
    SlugTaken,
    /// The email already has an account (sign-up only).
    #[error("this email address already has an account")]
    EmailTaken,
    /// The sign-up invitation was used or revoked meanwhile.
    #[error("the invitation is no longer open")]
    InvitationNotOpen,
    /// The database or hashing failed.
    #[error(transparent)]
    Internal(#[from] Failure),
}

impl From<DbError> for CreateOrganizationError {
    fn from(err: DbError) -> Self {
        Self::Internal(err.into())
    }
}

/// Checks every field of `request` at once; the normalized email when all are valid.
pub fn check_organization_request(
    request: &OrganizationRequest<'_>,
) -> Result<String, Vec<FieldError>> {
    let email = normalize_email(request.owner_email);
    let mut invalid = Vec::new();
    invalid.extend(check_slug(request.slug.trim()).err());
    invalid.extend(check_org_name(request.name.trim()).err());
    invalid.extend(email.as_ref().err().cloned());
    invalid.extend(check_new_password(request.owner_password).err());
    match email {
        Ok(email) if invalid.is_empty() => Ok(email),
        _ => Err(invalid),
    }
}

impl Accounts {
    /// Creates an organization and its first owner by the rules above.
    pub async fn create_organization(
        &self,
        request: OrganizationRequest<'_>,
        founder: Founder,
    ) -> Result<OrganizationCreated, CreateOrganizationError> {
        let email =
            check_organization_request(&request).map_err(CreateOrganizationError::Invalid)?;
        let (slug, name) = (request.slug.trim(), request.name.trim());
        let password_hash = self.hash_password(request.owner_password).await?;
        let (existing_account, invitation) = match &founder {
            Founder::SignUp { invitation, .. } => (ExistingAccount::Refused, invitation.as_ref()),
            Founder::Operator | Founder::FirstStart => (ExistingAccount::BecomesOwner, None),
        };
        let new = NewOrganization {
            slug,
            name,
            owner_email: &email,
            owner_password_hash: password_hash.expose_secret(),
            owner_is_instance_admin: founder == Founder::FirstStart,
            existing_account,
            invitation,
        };
        let (organization, owner, owner_existed) =
            match accounts::create_organization(&self.pool, &new).await {
                Ok(CreatedOrganization::Created { organization, owner, owner_existed }) => {
                    (organization, owner, owner_existed)
                }
                Ok(CreatedOrganization::InvitationNotOpen) => {
                    return Err(CreateOrganizationError::InvitationNotOpen);
                }
                Err(DbError::Conflict(constraint)) if constraint == "organizations_slug_key" => {
                    return Err(CreateOrganizationError::SlugTaken);
                }
                Err(DbError::Conflict(constraint)) if constraint == "users_email_key" => {
                    return Err(CreateOrganizationError::EmailTaken);
                }
                Err(err) => return Err(err.into()),
            };
        tracing::info!(org = %organization.slug, user = %owner.id, ?founder, "organization created");
        self.audit_creation(&organization, &owner, owner_existed, founder).await;
        Ok(OrganizationCreated {
            organization,
            owner_id: owner.id,
            owner_email: owner.email,
            owner_existed,
        })
    }

    async fn audit_creation(
        &self,
        organization: &Organization,
        owner: &accounts::User,
        owner_existed: bool,
        founder: Founder,
    ) {
        let mut detail = serde_json::json!({
            "name": organization.name,
            "owner": owner.email,
            "owner_account": if owner_existed { "existing" } else { "new" },
        });
        let (actor_kind, actor_id, actor_name, client) = match founder {
            Founder::SignUp { invitation, client } => {
                detail["signup"] = true.into();
                detail["invited"] = invitation.is_some().into();
                ("user", Some(owner.id), None, Some(client))
            }
            Founder::Operator => ("operator", None, Some(crate::audit::OPERATOR), None),
            // Not recorded, as before this path was shared: the audit log starts with what
            // people and operators do on a running instance. (Recording it is a change of
            // behaviour of its own, left to the issue that wants it.)
            Founder::FirstStart => return,
        };
        let entry = NewAuditEntry {
            actor_name: actor_name.map(str::to_owned),
            client_addr: client.map(|c| c.to_string()),
            ..NewAuditEntry::success(
                Some(organization.id),
                actor_kind,
                actor_id,
                "organization.create",
                format!("organization:{}", organization.id),
                Some(organization.slug.clone()),
                detail,
            )
        };
        self.audit.record_now(entry).await;
    }
}
