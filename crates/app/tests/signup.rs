//! Sign-up in each mode, against a real Postgres.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CLIENT, OTHER_CLIENT, PASSWORD, count, org, secret, service};
use secrecy::{ExposeSecret as _, SecretString};
use wharf_app::{Field, Inviter, SignupError, SignupMode, SignupRequest};
use wharf_db::{PgPool, accounts};

fn request(slug: &str, email: &str, invitation: Option<&SecretString>) -> SignupRequest {
    SignupRequest {
        org_slug: slug.to_owned(),
        org_name: "New Co".to_owned(),
        email: email.to_owned(),
        password: secret(PASSWORD),
        invitation: invitation.cloned(),
    }
}

async fn signup_invitation(pool: &PgPool, email: Option<&str>) -> SecretString {
    let issued =
        service(pool, SignupMode::Invite).invite_signup(Inviter::Operator, email).await.unwrap();
    SecretString::from(issued.token.expose_secret().to_owned())
}

async fn nothing_written(pool: &PgPool) -> (i64, i64, i64) {
    (
        count(pool, "organizations").await,
        count(pool, "users").await,
        count(pool, "organization_members").await,
    )
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn closed_refuses_everyone_and_writes_nothing(pool: PgPool) {
    let accounts = service(&pool, SignupMode::Closed);
    let invitation = signup_invitation(&pool, None).await;
    for invitation in [None, Some(&invitation)] {
        let err = accounts
            .sign_up(request("newco", "founder@newco.test", invitation), CLIENT)
            .await
            .unwrap_err();
        assert!(matches!(err, SignupError::Closed), "{err:?}");
        assert!(err.fields().is_empty());
    }
    assert_eq!(nothing_written(&pool).await, (0, 0, 0));
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn open_lets_anyone_create_an_organization_and_sign_in(pool: PgPool) {
    let accounts = service(&pool, SignupMode::Open);
    let mut req = request(" newco ", "  Founder@NewCo.test ", None);
    req.org_name = " New Co ".to_owned();
    let signed_up = accounts.sign_up(req, CLIENT).await.unwrap();
    assert_eq!(signed_up.organization.slug, "newco");
    assert_eq!(signed_up.organization.name, "New Co");
    assert_eq!(signed_up.owner_email, "founder@newco.test");

    let owner = accounts::find_user_by_email(&pool, "founder@newco.test").await.unwrap().unwrap();
    assert_eq!(owner.id, signed_up.owner_id);
    assert!(!owner.is_instance_admin);
    assert!(owner.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(!owner.password_hash.contains(PASSWORD));

    let signed_in = accounts.login("founder@newco.test", &secret(PASSWORD), CLIENT).await.unwrap();
    assert_eq!(signed_in.vendor.len(), 1);
    assert_eq!(signed_in.vendor[0].slug, "newco");
    assert_eq!(signed_in.vendor[0].role, wharf_auth::principal::Role::Owner);
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn invite_mode_needs_an_open_invitation(pool: PgPool) {
    let accounts = service(&pool, SignupMode::Invite);
    let err =
        accounts.sign_up(request("newco", "founder@newco.test", None), CLIENT).await.unwrap_err();
    assert!(matches!(err, SignupError::InvitationRequired), "{err:?}");
    assert_eq!(err.fields(), [Field::Invitation]);

    // Malformed and unknown tokens get the same answer.
    let unknown =
        SecretString::from(wharf_auth::invitation::generate().plaintext.expose_secret().to_owned());
    for bad in [secret("wharf_inv_nonsense"), unknown] {
        let err = accounts
            .sign_up(request("newco", "founder@newco.test", Some(&bad)), CLIENT)
            .await
            .unwrap_err();
        assert!(matches!(err, SignupError::InvalidInvitation), "{err:?}");
    }
    assert_eq!(nothing_written(&pool).await, (0, 0, 0));

    let invitation = signup_invitation(&pool, None).await;
    let signed_up = accounts
        .sign_up(request("newco", "founder@newco.test", Some(&invitation)), CLIENT)
        .await
        .unwrap();
    assert_eq!(signed_up.organization.slug, "newco");

    // Used: refused with the same answer, and nothing else is created.
    let err = accounts
        .sign_up(request("other", "someone@other.test", Some(&invitation)), OTHER_CLIENT)
        .await
        .unwrap_err();
    assert!(matches!(err, SignupError::InvalidInvitation), "{err:?}");
    assert!(accounts::find_organization(&pool, "other").await.unwrap().is_none());
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn expired_and_revoked_sign_up_invitations_fail_alike(pool: PgPool) {
    let accounts = service(&pool, SignupMode::Invite);
    let expired = signup_invitation(&pool, None).await;
    let hash = wharf_auth::invitation::parse(expired.expose_secret()).unwrap();
    sqlx::query(
        "update invitations set created_at = now() - interval '8 days',
                                expires_at = now() - interval '1 day'
         where token_hash = $1",
    )
    .bind(&hash.as_bytes()[..])
    .execute(&pool)
    .await
    .unwrap();
    let revoked = signup_invitation(&pool, None).await;
    let id = wharf_db::invitations::list_signup(&pool)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.expires_at > time::OffsetDateTime::now_utc())
        .unwrap()
        .id;
    accounts.revoke_signup_invitation(Inviter::Operator, id).await.unwrap();

    let mut messages = Vec::new();
    for invitation in [&expired, &revoked] {
        let err = accounts
            .sign_up(request("newco", "founder@newco.test", Some(invitation)), CLIENT)
            .await
            .unwrap_err();
        assert!(matches!(err, SignupError::InvalidInvitation), "{err:?}");
        messages.push(err.to_string());
    }
    assert_eq!(messages[0], messages[1]);
    assert_eq!(nothing_written(&pool).await, (0, 0, 0));
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn an_addressed_invitation_is_for_its_address(pool: PgPool) {
    let accounts = service(&pool, SignupMode::Invite);
    let invitation = signup_invitation(&pool, Some("Invited@NewCo.test")).await;
    let err = accounts
        .sign_up(request("newco", "someone@else.test", Some(&invitation)), CLIENT)
        .await
        .unwrap_err();
    assert_eq!(err.fields(), [Field::Email], "{err:?}");
    accounts
        .sign_up(request("newco", "INVITED@newco.test", Some(&invitation)), CLIENT)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn every_invalid_field_is_named_at_once(pool: PgPool) {
    let accounts = service(&pool, SignupMode::Open);
    let req = SignupRequest {
        org_slug: "Not A Slug".to_owned(),
        org_name: "   ".to_owned(),
        email: "not-an-email".to_owned(),
        password: secret("short"),
        invitation: None,
    };
    let err = accounts.sign_up(req, CLIENT).await.unwrap_err();
    assert!(matches!(err, SignupError::Invalid(_)), "{err:?}");
    assert_eq!(err.fields(), [Field::OrgSlug, Field::OrgName, Field::Email, Field::Password]);
    let names: Vec<&str> = err.fields().iter().map(|f| f.name()).collect();
    assert_eq!(names, ["org_slug", "org_name", "email", "password"]);
    let mut req = request("newco", "founder@newco.test", None);
    req.password = secret("            ");
    let err = accounts.sign_up(req, CLIENT).await.unwrap_err();
    assert_eq!(err.fields(), [Field::Password]);
    assert_eq!(nothing_written(&pool).await, (0, 0, 0));
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn taken_slugs_and_emails_are_conflicts_that_leave_the_invitation_open(pool: PgPool) {
    org(&pool, "acme").await;
    let accounts = service(&pool, SignupMode::Invite);
    let invitation = signup_invitation(&pool, None).await;
    let before = nothing_written(&pool).await;

    let err = accounts
        .sign_up(request("acme", "founder@newco.test", Some(&invitation)), CLIENT)
        .await
        .unwrap_err();
    assert!(matches!(err, SignupError::SlugTaken), "{err:?}");
    assert_eq!(err.fields(), [Field::OrgSlug]);

    // The owner of acme cannot sign up again with the same address (nor take over acme).
    let err = accounts
        .sign_up(request("newco", "OWNER@acme.test", Some(&invitation)), CLIENT)
        .await
        .unwrap_err();
    assert!(matches!(err, SignupError::EmailTaken), "{err:?}");
    assert_eq!(err.fields(), [Field::Email]);
    assert!(!err.to_string().contains("acme"), "nothing about where the account belongs");
    assert_eq!(nothing_written(&pool).await, before);

    // Still usable.
    accounts
        .sign_up(request("newco", "founder@newco.test", Some(&invitation)), CLIENT)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn probing_for_taken_emails_is_throttled(pool: PgPool) {
    org(&pool, "acme").await;
    let accounts = service(&pool, SignupMode::Open); // limit: 3 failures a minute
    for i in 0..3 {
        let err = accounts
            .sign_up(request(&format!("probe{i}"), "owner@acme.test", None), CLIENT)
            .await
            .unwrap_err();
        assert!(matches!(err, SignupError::EmailTaken), "{err:?}");
    }
    // The address is throttled, whatever it tries next, even a valid sign-up.
    let err =
        accounts.sign_up(request("fresh", "fresh@fresh.test", None), CLIENT).await.unwrap_err();
    assert!(matches!(err, SignupError::Throttled(_)), "{err:?}");
    // So is the probed email, from anywhere.
    let err = accounts
        .sign_up(request("fresh", "owner@acme.test", None), OTHER_CLIENT)
        .await
        .unwrap_err();
    assert!(matches!(err, SignupError::Throttled(_)), "{err:?}");
    // Others are not.
    accounts.sign_up(request("fresh", "fresh@fresh.test", None), OTHER_CLIENT).await.unwrap();
}
