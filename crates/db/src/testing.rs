//! Fixture builders for tests (feature `test-support`; never in the binary): an organization
//! with its owner, a member, a customer, a license, written through this crate's own
//! functions so a fixture is exactly what the product would store.
//!
//! Every test that needs "an organization `acme`" builds it here instead of by hand, so a
//! change to what an organization needs is made once. Panics on failure: tests only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use time::OffsetDateTime;
use uuid::Uuid;
use wharf_entitlements::{ExpiryPolicy, Grant};

use crate::{
    PgPool, accounts, customers,
    customers::Customer,
    licenses::{self, LicenseInput, LicenseRecord},
};

/// A password hash in the stored format; no test signs in with it (tests that do hash a
/// password of their own).
pub const UNUSABLE_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

/// An organization built by [`org`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgFixture {
    /// Its id.
    pub id: Uuid,
    /// Its slug (also its name).
    pub slug: String,
    /// Its owner.
    pub owner: Uuid,
    /// The owner's email, `owner@<slug>.test`.
    pub owner_email: String,
}

/// Organization `slug` owned by `owner@<slug>.test`, whose password hash is `password_hash`.
pub async fn org_with_password(pool: &PgPool, slug: &str, password_hash: &str) -> OrgFixture {
    let owner_email = format!("owner@{slug}.test");
    let new = accounts::NewOrganization {
        slug,
        name: slug,
        owner_email: &owner_email,
        owner_password_hash: password_hash,
        owner_is_instance_admin: false,
        existing_account: accounts::ExistingAccount::Refused,
        invitation: None,
    };
    let accounts::CreatedOrganization::Created { organization, owner, .. } =
        accounts::create_organization(pool, &new).await.unwrap()
    else {
        panic!("no invitation was asked for");
    };
    OrgFixture { id: organization.id, slug: organization.slug, owner: owner.id, owner_email }
}

/// Organization `slug` owned by `owner@<slug>.test` (who cannot sign in).
pub async fn org(pool: &PgPool, slug: &str) -> OrgFixture {
    org_with_password(pool, slug, UNUSABLE_PASSWORD_HASH).await
}

/// A new account `email` (who cannot sign in), member of `org_id` with `role`.
pub async fn member(pool: &PgPool, org_id: Uuid, email: &str, role: &str) -> Uuid {
    accounts::create_user(pool, org_id, email, UNUSABLE_PASSWORD_HASH, role).await.unwrap().id
}

/// Customer `name` of `org_id`.
pub async fn customer(pool: &PgPool, org_id: Uuid, name: &str) -> Customer {
    customers::create(pool, org_id, name).await.unwrap()
}

/// A license of `customer_id` named `name`, valid from an hour ago for ever, with `grants`.
pub async fn license(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
    name: &str,
    grants: &[Grant],
) -> LicenseRecord {
    let input = LicenseInput {
        name,
        starts_at: OffsetDateTime::now_utc() - time::Duration::hours(1),
        expires_at: None,
        on_expiry: ExpiryPolicy::Revoke,
        suspended: false,
        notes: "",
        grants,
    };
    licenses::create(pool, org_id, customer_id, &input).await.unwrap().unwrap()
}
