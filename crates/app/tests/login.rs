//! Sign-in: uniform refusals, throttling, rehashing weak hashes, memberships.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use common::{
    CLIENT, OTHER_CLIENT, PASSWORD, PASSWORD_HASH, member, org, secret, service, stored_hash,
};
use secrecy::SecretString;
use wharf_app::{LoginError, SignupMode};
use wharf_auth::{
    password::PasswordHasher,
    principal::{CustomerRole, Role},
};
use wharf_db::{PgPool, accounts, customers};

/// A hash of `password` far below Wharf's parameters, as an older Wharf (or an import)
/// might have stored: argon2id with m=1024 KiB, t=1, p=1.
fn weak_hash(password: &str) -> String {
    let params = Params::new(1024, 1, 1, Some(32)).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string()
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn a_weak_hash_is_replaced_at_sign_in(pool: PgPool) {
    let (acme, _) = org(&pool, "acme").await;
    let weak = weak_hash(PASSWORD);
    assert!(weak.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{weak}");
    let user = accounts::create_user(&pool, acme, "old@acme.test", &weak, "viewer").await.unwrap();
    let accounts = service(&pool, SignupMode::Closed);

    let signed_in = accounts.login("old@acme.test", &secret(PASSWORD), CLIENT).await.unwrap();
    assert!(signed_in.rehashed);
    let stored = stored_hash(&pool, "old@acme.test").await;
    assert_ne!(stored, weak);
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    let current = PasswordHasher::recommended().unwrap();
    let stored_secret = SecretString::from(stored.clone());
    assert!(!current.needs_rehash(&stored_secret));
    assert!(current.verify(&secret(PASSWORD), &stored_secret).unwrap());
    let after = accounts::find_user(&pool, user.id).await.unwrap().unwrap();
    assert_eq!(after.password_changed_at, user.password_changed_at, "not a password change");

    // Once current, it stays as it is.
    let again = accounts.login("old@acme.test", &secret(PASSWORD), CLIENT).await.unwrap();
    assert!(!again.rehashed);
    assert_eq!(stored_hash(&pool, "old@acme.test").await, stored);
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn a_wrong_password_does_not_rehash(pool: PgPool) {
    let (acme, _) = org(&pool, "acme").await;
    let weak = weak_hash(PASSWORD);
    accounts::create_user(&pool, acme, "old@acme.test", &weak, "viewer").await.unwrap();
    let accounts = service(&pool, SignupMode::Closed);
    let err = accounts.login("old@acme.test", &secret("not the password"), CLIENT).await;
    assert!(matches!(err, Err(LoginError::InvalidCredentials)), "{err:?}");
    assert_eq!(stored_hash(&pool, "old@acme.test").await, weak);
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn unknown_accounts_and_wrong_passwords_get_one_answer(pool: PgPool) {
    let (acme, _) = org(&pool, "acme").await;
    member(&pool, acme, "dev@acme.test", "developer").await;
    accounts::create_user(&pool, acme, "broken@acme.test", "not a hash", "viewer").await.unwrap();
    let accounts = service(&pool, SignupMode::Closed);
    let mut messages = Vec::new();
    for (email, password, client) in [
        ("dev@acme.test", "wrong password!", CLIENT),
        ("nobody@acme.test", PASSWORD, OTHER_CLIENT),
        ("broken@acme.test", PASSWORD, CLIENT),
        ("not an email", PASSWORD, OTHER_CLIENT),
    ] {
        match accounts.login(email, &secret(password), client).await {
            Err(err @ LoginError::InvalidCredentials) => messages.push(err.to_string()),
            other => panic!("{email}: {other:?}"),
        }
    }
    assert!(messages.iter().all(|m| m == "wrong email or password"), "{messages:?}");
    assert_eq!(stored_hash(&pool, "broken@acme.test").await, "not a hash", "left alone");
    // Case and surrounding spaces do not matter.
    accounts.login("  DEV@Acme.test ", &secret(PASSWORD), CLIENT).await.unwrap();
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn failures_are_throttled_per_email_and_per_address(pool: PgPool) {
    let (acme, _) = org(&pool, "acme").await;
    member(&pool, acme, "dev@acme.test", "developer").await;
    member(&pool, acme, "ops@acme.test", "admin").await;
    let accounts = service(&pool, SignupMode::Closed); // 3 failures a minute
    for _ in 0..3 {
        let err = accounts.login("dev@acme.test", &secret("guess guess guess"), CLIENT).await;
        assert!(matches!(err, Err(LoginError::InvalidCredentials)), "{err:?}");
    }
    // The address is throttled, even with the right password for another account.
    let err = accounts.login("ops@acme.test", &secret(PASSWORD), CLIENT).await;
    assert!(matches!(err, Err(LoginError::Throttled(_))), "{err:?}");
    // The email is throttled from anywhere, even with the right password.
    let err = accounts.login("DEV@acme.test", &secret(PASSWORD), OTHER_CLIENT).await;
    match err {
        Err(LoginError::Throttled(wait)) => assert!(wait.as_secs() <= 60),
        other => panic!("{other:?}"),
    }
    // Other accounts from other addresses are not.
    accounts.login("ops@acme.test", &secret(PASSWORD), OTHER_CLIENT).await.unwrap();

    // Unknown emails count too (so throttling says nothing about which accounts exist).
    let fresh = service(&pool, SignupMode::Closed);
    for _ in 0..3 {
        let err = fresh.login("ghost@acme.test", &secret(PASSWORD), OTHER_CLIENT).await;
        assert!(matches!(err, Err(LoginError::InvalidCredentials)), "{err:?}");
    }
    let err = fresh.login("ghost@acme.test", &secret(PASSWORD), CLIENT).await;
    assert!(matches!(err, Err(LoginError::Throttled(_))), "{err:?}");
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn sign_in_lists_vendor_and_customer_memberships(pool: PgPool) {
    let (acme, _) = org(&pool, "acme").await;
    let (globex, boss) = org(&pool, "globex").await;
    accounts::add_member(&pool, acme, boss, "viewer").await.unwrap();
    let initech = customers::create(&pool, acme, "Initech").await.unwrap();
    let umbrella = customers::create(&pool, acme, "Umbrella").await.unwrap();
    customers::add_user(&pool, acme, initech.id, boss, "admin").await.unwrap();
    customers::add_user(&pool, acme, umbrella.id, boss, "member").await.unwrap();
    customers::update(&pool, acme, umbrella.id, None, Some(true)).await.unwrap();

    let accounts = service(&pool, SignupMode::Closed);
    let signed_in = accounts.login("owner@globex.test", &secret(PASSWORD), CLIENT).await.unwrap();
    assert_eq!(signed_in.user_id, boss);
    assert_eq!(signed_in.email, "owner@globex.test");
    assert!(!signed_in.is_instance_admin);
    assert!(!signed_in.rehashed, "{}", *PASSWORD_HASH);
    let vendor: Vec<(&str, Role)> =
        signed_in.vendor.iter().map(|m| (m.slug.as_str(), m.role)).collect();
    assert_eq!(vendor, [("acme", Role::Viewer), ("globex", Role::Owner)]);
    assert_eq!(signed_in.vendor[1].organization_id, globex);
    assert_eq!(signed_in.customer.len(), 1, "the disabled customer is left out");
    let customer = &signed_in.customer[0];
    assert_eq!(
        (customer.customer_id, customer.organization_id, customer.role),
        (initech.id, acme, CustomerRole::Admin)
    );
    assert_eq!(
        (customer.organization_slug.as_str(), customer.customer_name.as_str()),
        ("acme", "Initech")
    );

    // A customer user who belongs to no vendor organization signs in the same way.
    let buyer = accounts::create_user(&pool, acme, "buyer@initech.test", &PASSWORD_HASH, "viewer")
        .await
        .unwrap();
    sqlx::query("delete from organization_members where user_id = $1")
        .bind(buyer.id)
        .execute(&pool)
        .await
        .unwrap();
    customers::add_user(&pool, acme, initech.id, buyer.id, "member").await.unwrap();
    let signed_in = accounts.login("buyer@initech.test", &secret(PASSWORD), CLIENT).await.unwrap();
    assert!(signed_in.vendor.is_empty());
    assert_eq!(signed_in.customer[0].role, CustomerRole::Member);
}
