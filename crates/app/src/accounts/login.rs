//! Sign-in with email and password, for vendor members and customer users alike (one account
//! per email, whatever it belongs to).
//!
//! Rules:
//! - the email is trimmed and lower-cased; an address or email with too many recent failures
//!   is refused before anything is looked up ([`wharf_auth::throttle::FailureThrottle`],
//!   `WHARF_AUTH_FAILURE_LIMIT` per `WHARF_AUTH_FAILURE_WINDOW`, counters of their own);
//! - an unknown email costs the same as a wrong password: the password is verified against a
//!   dummy hash with the current parameters, and the answer is the same
//!   ([`LoginError::InvalidCredentials`]); an unreadable stored hash is treated the same way
//!   (and logged);
//! - on success, a stored hash weaker than the current parameters (or not argon2id) is
//!   replaced by a new hash of the same password, unless the password changed meanwhile;
//!   `password_changed_at` is left alone (it is not a password change);
//! - the answer lists the vendor organizations (with role) and the enabled customers (with
//!   role) the account belongs to, so the session can pick one; it may be empty (an instance
//!   admin, or someone removed everywhere): what to do then is the portal's decision.

use std::{net::IpAddr, time::Duration};

use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;
use wharf_auth::principal::{CustomerRole, Role};
use wharf_db::{accounts, customers};

use super::{Accounts, Failure, validate::MAX_EMAIL_LEN};

/// A vendor organization the signed-in account belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorMembership {
    /// The organization.
    pub organization_id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its display name.
    pub name: String,
    /// The account's role there.
    pub role: Role,
}

/// A customer the signed-in account belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerMembership {
    /// The vendor organization the customer buys from.
    pub organization_id: Uuid,
    /// The vendor's slug.
    pub organization_slug: String,
    /// The vendor's display name.
    pub organization_name: String,
    /// The customer.
    pub customer_id: Uuid,
    /// The customer's name.
    pub customer_name: String,
    /// The account's role in the customer.
    pub role: CustomerRole,
}

/// A successful sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The account.
    pub user_id: Uuid,
    /// Its email, lower-case.
    pub email: String,
    /// Whether it administers the instance.
    pub is_instance_admin: bool,
    /// The vendor organizations it belongs to, by slug.
    pub vendor: Vec<VendorMembership>,
    /// The enabled customers it belongs to, by vendor slug and customer name.
    pub customer: Vec<CustomerMembership>,
    /// Whether the stored password hash was upgraded to the current parameters just now.
    pub rehashed: bool,
}

/// Why a sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown email or wrong password: one answer for both.
    #[error("wrong email or password")]
    InvalidCredentials,
    /// Too many failures from this address or for this email; try again after the delay.
    #[error("too many failed sign-ins; try again in {} seconds", .0.as_secs().max(1))]
    Throttled(Duration),
    /// The database or hashing failed.
    #[error(transparent)]
    Internal(#[from] Failure),
}

impl From<wharf_db::DbError> for LoginError {
    fn from(err: wharf_db::DbError) -> Self {
        LoginError::Internal(err.into())
    }
}

/// What the blocking verification found.
enum Verified {
    /// Wrong password, unknown account or unreadable hash.
    No,
    /// The password matches; `Some` carries a stronger hash of it to store.
    Yes(Option<SecretString>),
}

impl Accounts {
    /// Signs in with `email` and `password`, from client address `client`, by the rules above.
    pub async fn login(
        &self,
        email: &str,
        password: &SecretString,
        client: IpAddr,
    ) -> Result<SignedIn, LoginError> {
        let email = email.trim().to_lowercase();
        // Longer than any stored address: never a throttling key (memory), never looked up.
        let account = (email.len() <= MAX_EMAIL_LEN).then_some(email.as_str());
        if let Some(wait) = self.throttle.retry_after(client, account) {
            return Err(LoginError::Throttled(wait));
        }
        let user = match account {
            Some(email) => accounts::find_user_by_email(&self.pool, email).await?,
            None => None,
        };
        let stored = user.as_ref().map(|u| SecretString::from(u.password_hash.clone()));
        let hasher = self.hasher.clone();
        let password = password.clone();
        let user_id = user.as_ref().map(|u| u.id);
        let verified = tokio::task::spawn_blocking(move || -> Result<Verified, Failure> {
            let Some(stored) = stored else {
                hasher.verify_dummy(&password);
                return Ok(Verified::No);
            };
            match hasher.verify(&password, &stored) {
                Ok(true) if hasher.needs_rehash(&stored) => {
                    Ok(Verified::Yes(Some(hasher.hash(&password)?)))
                }
                Ok(true) => Ok(Verified::Yes(None)),
                Ok(false) => Ok(Verified::No),
                Err(err) => {
                    tracing::error!(user = ?user_id, "stored password hash unusable: {err}");
                    Ok(Verified::No)
                }
            }
        })
        .await
        .map_err(Failure::from)??;

        let (Verified::Yes(new_hash), Some(user)) = (verified, user) else {
            self.throttle.record_failure(client, account);
            return Err(LoginError::InvalidCredentials);
        };
        let mut rehashed = false;
        if let Some(new_hash) = new_hash {
            match accounts::rehash_password(
                &self.pool,
                user.id,
                &user.password_hash,
                new_hash.expose_secret(),
            )
            .await
            {
                Ok(done) => rehashed = done,
                // The sign-in stands; the next one tries again.
                Err(err) => {
                    tracing::warn!(user = %user.id, "cannot store a rehashed password: {err}")
                }
            }
        }
        let (vendor, customer) = self.memberships(user.id).await?;
        Ok(SignedIn {
            user_id: user.id,
            email: user.email,
            is_instance_admin: user.is_instance_admin,
            vendor,
            customer,
            rehashed,
        })
    }

    /// The vendor organizations and enabled customers `user_id` belongs to, as a session
    /// offers them to choose from.
    pub async fn memberships(
        &self,
        user_id: Uuid,
    ) -> Result<(Vec<VendorMembership>, Vec<CustomerMembership>), wharf_db::DbError> {
        let vendor = accounts::memberships_of(&self.pool, user_id)
            .await?
            .into_iter()
            .filter_map(|m| match m.role.parse() {
                Ok(role) => Some(VendorMembership {
                    organization_id: m.organization_id,
                    slug: m.slug,
                    name: m.name,
                    role,
                }),
                Err(err) => {
                    tracing::error!(user = %user_id, org = %m.slug, "membership skipped: {err}");
                    None
                }
            })
            .collect();
        let customer = customers::memberships_of(&self.pool, user_id)
            .await?
            .into_iter()
            .filter_map(|m| match m.role.parse() {
                Ok(role) => Some(CustomerMembership {
                    organization_id: m.organization_id,
                    organization_slug: m.organization_slug,
                    organization_name: m.organization_name,
                    customer_id: m.customer_id,
                    customer_name: m.customer_name,
                    role,
                }),
                Err(err) => {
                    tracing::error!(user = %user_id, customer = %m.customer_id, "membership skipped: {err}");
                    None
                }
            })
            .collect();
        Ok((vendor, customer))
    }
}
