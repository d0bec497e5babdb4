//! Invitations through the service: who may invite and revoke, accepting with a new or an
//! existing account, and one answer for every invitation that cannot be used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CLIENT, PASSWORD, count, member, org, secret, service};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;
use wharf_app::{
    AcceptError, Acceptance, Accounts, Field, InviteError, Inviter, IssuedInvitation, SignupMode,
};
use wharf_auth::principal::{CustomerRole, Role};
use wharf_db::{PgPool, accounts, customers, invitations::InvitationKind};

fn token(issued: &IssuedInvitation) -> SecretString {
    SecretString::from(issued.token.expose_secret().to_owned())
}

fn new_account() -> Acceptance {
    Acceptance::NewAccount { name: None, password: secret("a brand new password") }
}

async fn role_in(pool: &PgPool, org_id: Uuid, email: &str) -> Option<String> {
    let user = accounts::find_user_by_email(pool, email).await.unwrap()?;
    accounts::find_member(pool, org_id, user.id).await.unwrap().map(|m| m.role)
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn only_owners_and_admins_invite_members_and_only_owners_invite_owners(pool: PgPool) {
    let (acme, owner) = org(&pool, "acme").await;
    let (_, globex_owner) = org(&pool, "globex").await;
    let admin = member(&pool, acme, "admin@acme.test", "admin").await;
    let developer = member(&pool, acme, "dev@acme.test", "developer").await;
    let accounts = service(&pool, SignupMode::Closed);
    let invite =
        |who: Inviter, role: Role| accounts.invite_member(acme, who, "new@acme.test", role);

    for (who, role) in [
        (Inviter::User(developer), Role::Viewer),
        (Inviter::User(admin), Role::Owner),
        (Inviter::User(globex_owner), Role::Viewer),
        (Inviter::User(Uuid::now_v7()), Role::Viewer),
    ] {
        let err = invite(who, role).await.unwrap_err();
        assert!(matches!(err, InviteError::NotAllowed), "{who:?} {role}: {err:?}");
    }
    assert_eq!(count(&pool, "invitations").await, 0);

    let by_admin = invite(Inviter::User(admin), Role::Admin).await.unwrap();
    assert_eq!(by_admin.invitation.invited_by, Some(admin));
    assert_eq!(by_admin.invitation.email.as_deref(), Some("new@acme.test"));
    assert!(by_admin.token.expose_secret().starts_with("wharf_inv_"));
    let by_owner = invite(Inviter::User(owner), Role::Owner).await.unwrap();
    let by_operator = invite(Inviter::Operator, Role::Developer).await.unwrap();
    assert_eq!(by_operator.invitation.invited_by, None);
    // Each new invitation for the address replaced the previous one.
    let err = accounts.accept_invitation(&token(&by_admin), new_account()).await.unwrap_err();
    assert!(matches!(err, AcceptError::InvalidInvitation), "{err:?}");
    let err = accounts.accept_invitation(&token(&by_owner), new_account()).await.unwrap_err();
    assert!(matches!(err, AcceptError::InvalidInvitation), "{err:?}");

    // Seven days by default; the token is stored as its SHA-256 only.
    let ttl = by_operator.invitation.expires_at - by_operator.invitation.created_at;
    assert!((ttl - time::Duration::days(7)).abs() < time::Duration::minutes(1), "{ttl}");
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from invitations where id = $1")
        .bind(by_operator.invitation.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let expected = wharf_auth::token::hash(by_operator.token.expose_secret());
    assert_eq!(stored, expected.as_bytes());

    // Members are not invited again; bad addresses are named.
    let err = accounts.invite_member(acme, Inviter::Operator, "DEV@acme.test", Role::Admin).await;
    assert!(matches!(err, Err(InviteError::AlreadyMember)), "{err:?}");
    let err =
        accounts.invite_member(acme, Inviter::Operator, "nope", Role::Admin).await.unwrap_err();
    assert_eq!(err.field(), Some(Field::Email));
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn accepting_creates_an_account_that_can_sign_in(pool: PgPool) {
    let (acme, owner) = org(&pool, "acme").await;
    let accounts = service(&pool, SignupMode::Closed);
    let issued = accounts
        .invite_member(acme, Inviter::User(owner), "New@Acme.test", Role::Developer)
        .await
        .unwrap();

    let preview = accounts.preview_invitation(&token(&issued)).await.unwrap();
    assert_eq!(preview.kind, InvitationKind::Member);
    assert_eq!(preview.email.as_deref(), Some("new@acme.test"));
    assert_eq!(preview.role.as_deref(), Some("developer"));
    assert_eq!(preview.organization, Some(("acme".to_owned(), "acme".to_owned())));
    assert_eq!(preview.invited_by_email.as_deref(), Some("owner@acme.test"));
    assert!(!preview.account_exists);

    let weak = Acceptance::NewAccount { name: None, password: secret("short") };
    let err = accounts.accept_invitation(&token(&issued), weak).await.unwrap_err();
    assert_eq!(err.field(), Some(Field::Password), "{err:?}");

    let joined = accounts.accept_invitation(&token(&issued), new_account()).await.unwrap();
    assert!(joined.created_account);
    assert_eq!((joined.organization_id, joined.role.as_str()), (acme, "developer"));
    assert_eq!(role_in(&pool, acme, "new@acme.test").await.as_deref(), Some("developer"));
    let signed_in =
        accounts.login("new@acme.test", &secret("a brand new password"), CLIENT).await.unwrap();
    assert_eq!(signed_in.user_id, joined.user_id);
    assert_eq!(signed_in.vendor[0].role, Role::Developer);

    // Used: the link and its preview now fail like any invalid one.
    let err = accounts.accept_invitation(&token(&issued), new_account()).await.unwrap_err();
    assert!(matches!(err, AcceptError::InvalidInvitation), "{err:?}");
    assert!(matches!(
        accounts.preview_invitation(&token(&issued)).await,
        Err(AcceptError::InvalidInvitation)
    ));
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn existing_accounts_sign_in_and_accept_as_themselves(pool: PgPool) {
    let (acme, _) = org(&pool, "acme").await;
    let (_, boss) = org(&pool, "globex").await;
    let accounts = service(&pool, SignupMode::Closed);
    let issued = accounts
        .invite_member(acme, Inviter::Operator, "owner@globex.test", Role::Viewer)
        .await
        .unwrap();
    assert!(accounts.preview_invitation(&token(&issued)).await.unwrap().account_exists);

    // No second account for the address, and no one else's account.
    let err = accounts.accept_invitation(&token(&issued), new_account()).await.unwrap_err();
    assert!(matches!(err, AcceptError::AccountExists), "{err:?}");
    let stranger = accounts::find_user_by_email(&pool, "owner@acme.test").await.unwrap().unwrap();
    let err = accounts
        .accept_invitation(&token(&issued), Acceptance::SignedIn { user_id: stranger.id })
        .await
        .unwrap_err();
    assert!(matches!(err, AcceptError::WrongAccount), "{err:?}");
    assert_eq!(err.field(), Some(Field::Email));

    let joined = accounts
        .accept_invitation(&token(&issued), Acceptance::SignedIn { user_id: boss })
        .await
        .unwrap();
    assert!(!joined.created_account);
    assert_eq!(role_in(&pool, acme, "owner@globex.test").await.as_deref(), Some("viewer"));
    // Their password is unchanged.
    accounts.login("owner@globex.test", &secret(PASSWORD), CLIENT).await.unwrap();
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn expired_used_revoked_and_bogus_invitations_fail_alike(pool: PgPool) {
    let (acme, owner) = org(&pool, "acme").await;
    let accounts = service(&pool, SignupMode::Closed);
    let invite =
        |email: &'static str| accounts.invite_member(acme, Inviter::Operator, email, Role::Viewer);

    let expired = invite("a@acme.test").await.unwrap();
    sqlx::query(
        "update invitations set created_at = now() - interval '8 days',
                                expires_at = now() - interval '1 day' where id = $1",
    )
    .bind(expired.invitation.id)
    .execute(&pool)
    .await
    .unwrap();
    let used = invite("b@acme.test").await.unwrap();
    accounts.accept_invitation(&token(&used), new_account()).await.unwrap();
    let revoked = invite("c@acme.test").await.unwrap();
    accounts.revoke_invitation(acme, Inviter::User(owner), revoked.invitation.id).await.unwrap();
    let err = accounts.revoke_invitation(acme, Inviter::Operator, revoked.invitation.id).await;
    assert!(matches!(err, Err(InviteError::NotFound)), "revoked once: {err:?}");
    let signup = accounts.invite_signup(Inviter::Operator, None).await.unwrap();
    let unknown = wharf_auth::invitation::generate();
    let unknown = SecretString::from(unknown.plaintext.expose_secret().to_owned());
    let mut typo = token(&used).expose_secret().to_owned();
    typo.pop();

    let users = count(&pool, "users").await;
    let mut messages = Vec::new();
    for bad in [
        token(&expired),
        token(&used),
        token(&revoked),
        token(&signup),
        unknown,
        secret(&typo),
        secret(""),
    ] {
        let err = accounts.accept_invitation(&bad, new_account()).await.unwrap_err();
        assert!(matches!(err, AcceptError::InvalidInvitation), "{err:?}");
        assert_eq!(err.field(), Some(Field::Invitation));
        messages.push(err.to_string());
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(count(&pool, "users").await, users, "nothing was created");
    assert_eq!(role_in(&pool, acme, "a@acme.test").await, None);
    assert_eq!(role_in(&pool, acme, "c@acme.test").await, None);
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn customer_admins_and_vendor_admins_invite_customer_users(pool: PgPool) {
    let (acme, _) = org(&pool, "acme").await;
    let (globex, globex_owner) = org(&pool, "globex").await;
    let developer = member(&pool, acme, "dev@acme.test", "developer").await;
    let vendor_admin = member(&pool, acme, "admin@acme.test", "admin").await;
    let initech = customers::create(&pool, acme, "Initech").await.unwrap();
    let umbrella = customers::create(&pool, acme, "Umbrella").await.unwrap();
    let accounts = service(&pool, SignupMode::Closed);

    let first = accounts
        .invite_customer_user(
            acme,
            initech.id,
            Inviter::User(vendor_admin),
            "it@initech.test",
            CustomerRole::Admin,
        )
        .await
        .unwrap();
    let joined = accounts.accept_invitation(&token(&first), new_account()).await.unwrap();
    assert_eq!((joined.kind, joined.customer_id), (InvitationKind::Customer, Some(initech.id)));
    let customer_admin = joined.user_id;

    // The customer's admin invites to their own customer only; developers and other vendors
    // not at all; a customer of another organization is not found.
    let by_customer_admin = accounts
        .invite_customer_user(
            acme,
            initech.id,
            Inviter::User(customer_admin),
            "buyer@initech.test",
            CustomerRole::Member,
        )
        .await
        .unwrap();
    for (customer, who) in
        [(umbrella.id, customer_admin), (initech.id, developer), (initech.id, globex_owner)]
    {
        let err = accounts
            .invite_customer_user(
                acme,
                customer,
                Inviter::User(who),
                "x@initech.test",
                CustomerRole::Member,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, InviteError::NotAllowed), "{err:?}");
    }
    let err = accounts
        .invite_customer_user(
            globex,
            initech.id,
            Inviter::User(globex_owner),
            "x@initech.test",
            CustomerRole::Member,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, InviteError::NotFound), "{err:?}");
    let err = accounts
        .invite_customer_user(
            acme,
            initech.id,
            Inviter::Operator,
            "IT@initech.test",
            CustomerRole::Member,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, InviteError::AlreadyMember), "{err:?}");

    // Revocation follows the same rules, within its customer and organization.
    let id = by_customer_admin.invitation.id;
    let err = accounts.revoke_customer_invitation(acme, umbrella.id, Inviter::Operator, id).await;
    assert!(matches!(err, Err(InviteError::NotFound)), "{err:?}");
    let err = accounts.revoke_invitation(globex, Inviter::User(globex_owner), id).await;
    assert!(matches!(err, Err(InviteError::NotFound)), "{err:?}");
    let err = accounts.revoke_invitation(acme, Inviter::User(customer_admin), id).await;
    assert!(matches!(err, Err(InviteError::NotAllowed)), "{err:?}");
    accounts
        .revoke_customer_invitation(acme, initech.id, Inviter::User(customer_admin), id)
        .await
        .unwrap();

    let users = customers::list_users(&pool, acme, initech.id).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!((users[0].email.as_str(), users[0].role.as_str()), ("it@initech.test", "admin"));
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn instance_admins_invite_sign_ups(pool: PgPool) {
    let (_, owner) = org(&pool, "acme").await;
    let accounts: Accounts = service(&pool, SignupMode::Invite);
    let err = accounts.invite_signup(Inviter::User(owner), None).await.unwrap_err();
    assert!(matches!(err, InviteError::NotAllowed), "{err:?}");
    sqlx::query("update users set is_instance_admin = true where id = $1")
        .bind(owner)
        .execute(&pool)
        .await
        .unwrap();
    let issued =
        accounts.invite_signup(Inviter::User(owner), Some("Founder@NewCo.test")).await.unwrap();
    assert_eq!(issued.invitation.kind, InvitationKind::Signup);
    assert_eq!(issued.invitation.email.as_deref(), Some("founder@newco.test"));
    let preview = accounts.preview_invitation(&token(&issued)).await.unwrap();
    assert_eq!((preview.kind, preview.organization), (InvitationKind::Signup, None));

    let err = accounts
        .revoke_signup_invitation(Inviter::User(Uuid::now_v7()), issued.invitation.id)
        .await;
    assert!(matches!(err, Err(InviteError::NotAllowed)), "{err:?}");
    accounts.revoke_signup_invitation(Inviter::User(owner), issued.invitation.id).await.unwrap();
    assert!(accounts.preview_invitation(&token(&issued)).await.is_err());
}
