//! `wharf admin …`: operator commands that create organizations, users and vendor API tokens,
//! reset passwords and issue invitations, against the same database as `wharf serve`.
//!
//! Owns checking the operator's input (before anything is written) and what the commands
//! print. Secrets go to stdout only, once: a generated password, a new token or an invitation
//! token is the last line, alone, so scripts can take it with `tail -n 1`. Errors are one line
//! on stderr (`main.rs`). SQL lives in `wharf-db`, token formats and password hashing in
//! `wharf-auth`, the rules of invitations in `wharf-app` (the same the portal uses).

use anyhow::{Context, bail};
use rand::{RngExt, distr::Alphanumeric};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use wharf_app::{
    AccountSettings, Accounts, CreateOrganizationError, Founder, InviteError, Inviter,
    IssuedInvitation, OrganizationRequest, accounts::validate, audit::AuditLog,
};
use wharf_auth::{
    password::PasswordHasher,
    token::{self, TokenKind},
};
use wharf_db::{DbError, PgPool, accounts, customers, tokens};

use crate::{
    cli::{
        AdminCommand, CreateOrgArgs, CreateTokenArgs, CreateUserArgs, DatabaseArgs,
        InviteCustomerUserArgs, InviteMemberArgs, InviteSignupArgs, Password, ResetPasswordArgs,
        SetVisibilityArgs, Visibility,
    },
    database::Database,
};

/// Runs one operator command.
pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateOrg(args) => {
            let checked = CheckedOrg::check(&args)?;
            with_database(args.database.clone(), |pool| create_org(pool, args, checked)).await
        }
        AdminCommand::CreateUser(mut args) => {
            args.email = check_email(&args.email)?;
            let password = chosen_password(args.password.as_ref())?;
            with_database(args.database.clone(), |pool| create_user(pool, args, password)).await
        }
        AdminCommand::CreateToken(args) => {
            check_token_name(&args.name)?;
            with_database(args.database.clone(), |pool| create_token(pool, args)).await
        }
        AdminCommand::ResetPassword(args) => {
            let password = chosen_password(args.password.as_ref())?;
            with_database(args.database.clone(), |pool| reset_password(pool, args, password)).await
        }
        AdminCommand::InviteMember(mut args) => {
            args.email = check_email(&args.email)?;
            with_database(args.database.clone(), |pool| invite_member(pool, args)).await
        }
        AdminCommand::InviteCustomerUser(mut args) => {
            args.email = check_email(&args.email)?;
            with_database(args.database.clone(), |pool| invite_customer_user(pool, args)).await
        }
        AdminCommand::InviteSignup(mut args) => {
            args.email = args.email.as_deref().map(check_email).transpose()?;
            with_database(args.database.clone(), |pool| invite_signup(pool, args)).await
        }
        AdminCommand::SetVisibility(args) => {
            with_database(args.database.clone(), |pool| set_visibility(pool, args)).await
        }
    }
}

/// Makes a repository public or private. Takes effect on the next pull on every instance (a
/// trigger notifies them).
async fn set_visibility(pool: PgPool, args: SetVisibilityArgs) -> anyhow::Result<()> {
    let repository = wharf_db::registry::repositories::find(&pool, &args.repository)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no repository {}", args.repository))?;
    let public = args.visibility == Visibility::Public;
    wharf_db::registry::repositories::set_public(&pool, repository.id, public).await?;
    let word = |public| if public { "public" } else { "private" };
    operator_audit(
        &pool,
        Some(repository.organization_id),
        "repository.visibility",
        repository.name.clone(),
        None,
        serde_json::json!({"before": word(repository.public), "after": word(public)}),
    )
    .await?;
    let word = word(public);
    println!("repository {} is now {word}", args.repository);
    Ok(())
}

/// Opens the database (leaving the embedded cluster running if `wharf serve` uses it),
/// applies pending migrations and runs `work`.
async fn with_database<F, Fut>(args: DatabaseArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let database = Database::open(&args).await?;
    database
        .run(|pool| async move {
            wharf_db::migrate(&pool).await?;
            work(pool).await
        })
        .await
}

/// A password the operator gave (checked against the policy) or one to generate.
enum NewPassword {
    Given(SecretString),
    Generated(SecretString),
}

impl NewPassword {
    fn secret(&self) -> &SecretString {
        match self {
            NewPassword::Given(s) | NewPassword::Generated(s) => s,
        }
    }
}

fn chosen_password(given: Option<&Password>) -> anyhow::Result<NewPassword> {
    match given {
        Some(password) => {
            let secret = password.secret();
            validate::check_new_password(&secret)
                .map_err(|e| anyhow::anyhow!("weak password: {}", e.message))?;
            Ok(NewPassword::Given(secret))
        }
        None => {
            let random: String =
                rand::rng().sample_iter(Alphanumeric).take(24).map(char::from).collect();
            Ok(NewPassword::Generated(SecretString::from(random)))
        }
    }
}

/// Hashes with argon2id off the async threads.
async fn hash_password(password: &SecretString) -> anyhow::Result<SecretString> {
    let hasher = PasswordHasher::recommended()?;
    let password = SecretString::from(password.expose_secret());
    Ok(tokio::task::spawn_blocking(move || hasher.hash(&password))
        .await
        .context("password hashing panicked")??)
}

/// The email as stored (trimmed, lower-case), if it is one
/// (`wharf_app::accounts::validate::normalize_email`).
fn check_email(email: &str) -> anyhow::Result<String> {
    validate::normalize_email(email).map_err(|_| anyhow::anyhow!("invalid email {email:?}"))
}

fn check_token_name(name: &str) -> anyhow::Result<()> {
    token::check_name(name).map_err(|err| anyhow::anyhow!("invalid token name {name:?}: {err}"))
}

/// Whether `slug` is a valid organization slug (`wharf_app::accounts::validate::check_slug`).
fn check_slug(slug: &str) -> anyhow::Result<()> {
    validate::check_slug(slug).map_err(|e| anyhow::anyhow!("invalid slug {slug:?}: {}", e.message))
}

/// What `create-org` checked before touching the database.
struct CheckedOrg {
    owner_email: String,
    password: NewPassword,
}

impl CheckedOrg {
    fn check(args: &CreateOrgArgs) -> anyhow::Result<Self> {
        check_slug(&args.slug)?;
        if let Err(e) = validate::check_org_name(&args.name) {
            bail!("invalid organization name {:?}: {}", args.name, e.message);
        }
        let owner_email = check_email(&args.owner_email)?;
        Ok(Self { owner_email, password: chosen_password(args.owner_password.as_ref())? })
    }
}

async fn create_org(pool: PgPool, args: CreateOrgArgs, checked: CheckedOrg) -> anyhow::Result<()> {
    let accounts = account_service(pool, AccountSettings::default())?;
    let request = OrganizationRequest {
        slug: &args.slug,
        name: &args.name,
        owner_email: &checked.owner_email,
        owner_password: checked.password.secret(),
    };
    let created = match accounts.create_organization(request, Founder::Operator).await {
        Ok(created) => created,
        Err(CreateOrganizationError::SlugTaken) => {
            bail!("an organization with slug {:?} already exists", args.slug)
        }
        Err(err) => return Err(err).context("cannot create the organization"),
    };
    let (org, email) = (&created.organization, &created.owner_email);
    println!("created organization {} ({}) with owner {email}", org.slug, org.name);
    print_password_outcome(email, created.owner_existed, &checked.password);
    Ok(())
}

async fn create_user(
    pool: PgPool,
    args: CreateUserArgs,
    password: NewPassword,
) -> anyhow::Result<()> {
    let org = find_org(&pool, &args.org).await?;
    let email = args.email.to_lowercase();
    let role = args.role.as_str();
    let existing = accounts::find_user_by_email(&pool, &email).await?;
    let user_id = match &existing {
        Some(user) => match accounts::add_member(&pool, org.id, user.id, role).await {
            Ok(()) => user.id,
            Err(DbError::Conflict(_)) => bail!("{email} is already a member of {}", org.slug),
            Err(err) => return Err(err).context("cannot add the member"),
        },
        None => {
            let hash = hash_password(password.secret()).await?;
            match accounts::create_user(&pool, org.id, &email, hash.expose_secret(), role).await {
                Ok(user) => user.id,
                // Created by someone else in the meantime: the operator should look again.
                Err(DbError::Conflict(_)) => bail!("{email} was created concurrently; retry"),
                Err(err) => return Err(err).context("cannot create the user"),
            }
        }
    };
    operator_audit(
        &pool,
        Some(org.id),
        "member.add",
        format!("user:{user_id}"),
        Some(email.clone()),
        serde_json::json!({"role": role,
                           "account": if existing.is_some() { "existing" } else { "new" }}),
    )
    .await?;
    println!("added {email} to {} as {role}", org.slug);
    print_password_outcome(&email, existing.is_some(), &password);
    Ok(())
}

/// Says what happened to the password; a generated one for a new account goes alone on the
/// last line.
fn print_password_outcome(email: &str, existed: bool, password: &NewPassword) {
    match (existed, password) {
        (true, _) => println!("{email} already had an account: its password is unchanged"),
        (false, NewPassword::Given(_)) => {}
        (false, NewPassword::Generated(secret)) => {
            println!("generated password for {email} (shown only now):");
            println!("{}", secret.expose_secret());
        }
    }
}

async fn create_token(pool: PgPool, args: CreateTokenArgs) -> anyhow::Result<()> {
    let org = find_org(&pool, &args.org).await?;
    let email = args.email.to_lowercase();
    let user = accounts::find_user_by_email(&pool, &email)
        .await?
        .with_context(|| format!("no user with email {email}"))?;
    let member = accounts::find_member(&pool, org.id, user.id)
        .await?
        .with_context(|| format!("{email} is not a member of {}", org.slug))?;
    let expires_at = args
        .expires_in_days
        .map(|days| OffsetDateTime::now_utc() + time::Duration::days(i64::from(days)));
    let generated = token::generate(TokenKind::VendorApi);
    let new = tokens::NewToken {
        organization_id: org.id,
        owner: tokens::TokenOwner::Vendor { user_id: user.id, read_only: args.read_only },
        // Made by the operator, not by a person signed in to Wharf.
        created_by: None,
        name: &args.name,
        hash: generated.hash.as_bytes(),
        display_prefix: &generated.display_prefix,
        expires_at,
    };
    let stored = tokens::insert(&pool, &new).await.context("cannot store the token")?;
    operator_audit(
        &pool,
        Some(org.id),
        "token.create",
        format!("token:{}", stored.id),
        Some(stored.name.clone()),
        serde_json::json!({"kind": "vendor", "member": email, "prefix": stored.display_prefix,
                           "read_only": args.read_only}),
    )
    .await?;
    let access = if args.read_only { "read-only" } else { member.role.as_str() };
    let expiry = match stored.expires_at {
        Some(at) => format!("expires {}", at.date()),
        None => "does not expire".to_owned(),
    };
    println!(
        "created vendor API token {:?} ({}…) for {email} in {} ({access}, {expiry}); shown only now:",
        stored.name, stored.display_prefix, org.slug
    );
    println!("{}", generated.plaintext.expose_secret());
    Ok(())
}

async fn reset_password(
    pool: PgPool,
    args: ResetPasswordArgs,
    password: NewPassword,
) -> anyhow::Result<()> {
    let email = args.email.to_lowercase();
    let user = accounts::find_user_by_email(&pool, &email)
        .await?
        .with_context(|| format!("no user with email {email}"))?;
    let hash = hash_password(password.secret()).await?;
    if !accounts::set_password_hash(&pool, user.id, hash.expose_secret()).await? {
        bail!("no user with email {email}");
    }
    operator_audit(
        &pool,
        None,
        "user.password_reset",
        format!("user:{}", user.id),
        Some(email.clone()),
        serde_json::json!({}),
    )
    .await?;
    println!("password of {email} reset");
    if let NewPassword::Generated(secret) = &password {
        println!("generated password for {email} (shown only now):");
        println!("{}", secret.expose_secret());
    }
    Ok(())
}

/// The account services, issuing invitations that expire after `days`.
fn invitation_service(pool: PgPool, days: u32) -> anyhow::Result<Accounts> {
    let settings = AccountSettings {
        invitation_ttl: time::Duration::days(i64::from(days)),
        ..AccountSettings::default()
    };
    account_service(pool, settings)
}

/// The account services for one command. They write their audit entries at once; the
/// batched side of the log is never used by a command.
fn account_service(pool: PgPool, settings: AccountSettings) -> anyhow::Result<Accounts> {
    let (audit, _writer) = AuditLog::start(pool.clone(), Default::default());
    Ok(Accounts::new(pool, audit, settings)?)
}

/// Records an issued invitation in the audit log.
async fn audit_invitation(pool: &PgPool, issued: &IssuedInvitation) -> anyhow::Result<()> {
    let invitation = &issued.invitation;
    operator_audit(
        pool,
        invitation.organization_id,
        "invitation.create",
        format!("invitation:{}", invitation.id),
        invitation.email.clone(),
        serde_json::json!({
            "kind": invitation.kind.as_str(),
            "role": invitation.role,
            "customer_id": invitation.customer_id,
            "expires_at": invitation.expires_at.format(&time::format_description::well_known::Rfc3339)?,
        }),
    )
    .await
}

/// Says what was issued; the token goes alone on the last line.
fn print_invitation(what: &str, issued: &IssuedInvitation) {
    println!(
        "{what} (expires {}); invitation token, shown only now:",
        issued.invitation.expires_at.date()
    );
    println!("{}", issued.token.expose_secret());
}

async fn invite_member(pool: PgPool, args: InviteMemberArgs) -> anyhow::Result<()> {
    let org = find_org(&pool, &args.org).await?;
    let email = &args.email;
    let issued = invitation_service(pool.clone(), args.expires_in_days)?
        .invite_member(org.id, Inviter::Operator, email, args.role)
        .await
        .map_err(|err| match err {
            InviteError::AlreadyMember => {
                anyhow::anyhow!("{email} is already a member of {}", org.slug)
            }
            other => anyhow::Error::new(other).context("cannot issue the invitation"),
        })?;
    audit_invitation(&pool, &issued).await?;
    print_invitation(&format!("invited {email} to {} as {}", org.slug, args.role), &issued);
    Ok(())
}

async fn invite_customer_user(pool: PgPool, args: InviteCustomerUserArgs) -> anyhow::Result<()> {
    let org = find_org(&pool, &args.org).await?;
    let customer = customers::find_by_name(&pool, org.id, &args.customer)
        .await?
        .with_context(|| format!("{} has no customer named {:?}", org.slug, args.customer))?;
    let email = &args.email;
    let issued = invitation_service(pool.clone(), args.expires_in_days)?
        .invite_customer_user(org.id, customer.id, Inviter::Operator, email, args.role)
        .await
        .map_err(|err| match err {
            InviteError::AlreadyMember => {
                anyhow::anyhow!("{email} is already a user of {:?}", customer.name)
            }
            other => anyhow::Error::new(other).context("cannot issue the invitation"),
        })?;
    let what =
        format!("invited {email} to customer {:?} of {} as {}", customer.name, org.slug, args.role);
    audit_invitation(&pool, &issued).await?;
    print_invitation(&what, &issued);
    Ok(())
}

async fn invite_signup(pool: PgPool, args: InviteSignupArgs) -> anyhow::Result<()> {
    let issued = invitation_service(pool.clone(), args.expires_in_days)?
        .invite_signup(Inviter::Operator, args.email.as_deref())
        .await
        .context("cannot issue the invitation")?;
    let what = match &args.email {
        Some(email) => format!("invited {email} to sign up a new organization"),
        None => "invited someone to sign up a new organization".to_owned(),
    };
    audit_invitation(&pool, &issued).await?;
    print_invitation(&what, &issued);
    Ok(())
}

async fn find_org(pool: &PgPool, slug: &str) -> anyhow::Result<accounts::Organization> {
    accounts::find_organization(pool, slug)
        .await?
        .with_context(|| format!("no organization with slug {slug:?}"))
}

/// Records an operator command in the audit log (written at once: there is no request to
/// keep fast, and the command should fail rather than leave no trace).
async fn operator_audit(
    pool: &PgPool,
    organization_id: Option<uuid::Uuid>,
    action: &str,
    target: String,
    target_name: Option<String>,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    let entry = wharf_db::audit::NewAuditEntry {
        actor_name: Some("wharf admin".to_owned()),
        ..wharf_db::audit::NewAuditEntry::success(
            organization_id,
            "operator",
            None,
            action,
            target,
            target_name,
            detail,
        )
    };
    wharf_app::audit::append_now(pool, entry).await.context("cannot write the audit log")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The rules themselves are tested in `wharf_app::accounts::validate`.
    #[test]
    fn slugs_and_emails_are_checked_by_the_shared_rules() {
        assert!(check_slug("acme-inc").is_ok());
        let err = check_slug("Acme").unwrap_err().to_string();
        assert!(err.starts_with("invalid slug \"Acme\": "), "{err}");
        assert!(check_slug(&"a".repeat(64)).is_err());
        assert_eq!(check_email(" Dev@Acme.test ").unwrap(), "dev@acme.test");
        assert!(check_email("a b@c.d").unwrap_err().to_string().contains("invalid email"));
    }

    #[test]
    fn weak_passwords_are_refused_before_anything_happens() {
        let short: Password = "short".parse().unwrap();
        assert!(chosen_password(Some(&short)).is_err());
        let good: Password = "a long enough password".parse().unwrap();
        assert!(matches!(chosen_password(Some(&good)), Ok(NewPassword::Given(_))));
        let generated = chosen_password(None).unwrap();
        assert!(generated.secret().expose_secret().len() >= 20);
    }
}
