//! Shared set-up for the account service tests: a service per sign-up mode, organizations and
//! accounts with known passwords.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::LazyLock,
    time::Duration,
};

use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;
use wharf_app::{AccountSettings, Accounts, SignupMode, audit::AuditLog};
use wharf_auth::password::PasswordHasher;
use wharf_db::{PgPool, accounts};

pub const PASSWORD: &str = "correct horse battery staple";
pub const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
pub const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

/// One hash of [`PASSWORD`] with the current parameters, computed once per test binary.
pub static PASSWORD_HASH: LazyLock<String> = LazyLock::new(|| {
    let hasher = PasswordHasher::recommended().unwrap();
    hasher.hash(&secret(PASSWORD)).unwrap().expose_secret().to_owned()
});

pub fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

pub fn service(pool: &PgPool, signup: SignupMode) -> Accounts {
    let settings = AccountSettings {
        signup,
        failure_limit: 3,
        failure_window: Duration::from_secs(60),
        ..AccountSettings::default()
    };
    let (audit, _writer) = AuditLog::start(pool.clone(), Default::default());
    Accounts::new(pool.clone(), audit, settings).unwrap()
}

/// An organization `slug` whose owner is `owner@<slug>.test` with [`PASSWORD`]; returns the
/// organization's and the owner's ids.
pub async fn org(pool: &PgPool, slug: &str) -> (Uuid, Uuid) {
    let org = wharf_db::testing::org_with_password(pool, slug, &PASSWORD_HASH).await;
    (org.id, org.owner)
}

/// A member `email` of `org_id` with `role` and [`PASSWORD`].
pub async fn member(pool: &PgPool, org_id: Uuid, email: &str, role: &str) -> Uuid {
    accounts::create_user(pool, org_id, email, &PASSWORD_HASH, role).await.unwrap().id
}

pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(pool).await.unwrap()
}

pub async fn stored_hash(pool: &PgPool, email: &str) -> String {
    accounts::find_user_by_email(pool, email).await.unwrap().unwrap().password_hash
}
