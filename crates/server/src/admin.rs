//! `wharf admin …`: operator commands that create organizations, users and vendor API tokens,
//! reset passwords and issue invitations, against the same database as `wharf serve`.
//!
//! Owns checking the operator's input early (before the database is even opened) and what
//! the commands print. Secrets go to stdout only, once: a generated password, a new token or
//! an invitation token is the last line, alone, so scripts can take it with `tail -n 1`.
//! Errors are one line on stderr (`main.rs`). Every rule, write and audit entry is
//! `wharf-app`'s (organizations, members, passwords and invitations in `Accounts`, vendor
//! tokens and repository visibility in `VendorActions`: the same the portal and the API use);
//! this file only looks up what the operator named and calls them.

use anyhow::{Context, bail};
use rand::{RngExt, distr::Alphanumeric};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use wharf_app::{
    AccountSettings, Accounts, CreateOrganizationError, Founder, InviteError, Inviter,
    IssuedInvitation, OperatorError, OrganizationRequest,
    accounts::validate,
    actions::{ActionError, Actor, RequestMeta, VendorActions},
    audit::AuditLog,
    batch::BatcherTask,
};
use wharf_auth::token;
use wharf_db::{PgPool, accounts, customers};

use crate::{
    cli::{
        AdminCommand, CreateOrgArgs, CreateTokenArgs, CreateUserArgs, DatabaseArgs,
        InviteCustomerUserArgs, InviteMemberArgs, InviteSignupArgs, Password, PublicUrl,
        ResetPasswordArgs, SetVisibilityArgs, Visibility,
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
    let slug = repository.name.split('/').next().unwrap_or_default();
    let org = find_org(&pool, slug).await?;
    let public = args.visibility == Visibility::Public;
    let operator = Operator::new(&pool)?;
    let changed = operator
        .actions
        .set_repository_visibility(&operator.actor(&org), &repository.name, public)
        .await;
    operator.done().await;
    changed.context("cannot change the visibility")?;
    let word = if public { "public" } else { "private" };
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
    let operator = Operator::new(&pool)?;
    let request = OrganizationRequest {
        slug: &args.slug,
        name: &args.name,
        owner_email: &checked.owner_email,
        owner_password: checked.password.secret(),
    };
    let created = operator.accounts.create_organization(request, Founder::Operator).await;
    operator.done().await;
    let created = match created {
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
    let operator = Operator::new(&pool)?;
    let added =
        operator.accounts.add_member(&args.org, &args.email, args.role, password.secret()).await;
    operator.done().await;
    let added = added.map_err(operator_error)?;
    println!("added {} to {} as {}", added.email, args.org, args.role.as_str());
    print_password_outcome(&added.email, added.existed, &password);
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
    let expires_at = args
        .expires_in_days
        .map(|days| OffsetDateTime::now_utc() + time::Duration::days(i64::from(days)));
    let operator = Operator::new(&pool)?;
    let actor = operator.actor(&org);
    let issued = operator
        .actions
        .issue_vendor_token(&actor, &args.email, &args.name, args.read_only, expires_at)
        .await;
    operator.done().await;
    let (issued, role) = issued.map_err(|err| match err {
        ActionError::Invalid { message, .. } => anyhow::anyhow!(message),
        other => anyhow::Error::new(other).context("cannot store the token"),
    })?;
    let stored = &issued.token;
    let email = stored.user_email.as_deref().unwrap_or(&args.email);
    let access = if args.read_only { "read-only" } else { role.as_str() };
    let expiry = match stored.expires_at {
        Some(at) => format!("expires {}", at.date()),
        None => "does not expire".to_owned(),
    };
    println!(
        "created vendor API token {:?} ({}…) for {email} in {} ({access}, {expiry}); shown only now:",
        stored.name, stored.display_prefix, org.slug
    );
    println!("{}", issued.plaintext.expose_secret());
    Ok(())
}

async fn reset_password(
    pool: PgPool,
    args: ResetPasswordArgs,
    password: NewPassword,
) -> anyhow::Result<()> {
    let operator = Operator::new(&pool)?;
    let reset = operator.accounts.reset_password(&args.email, password.secret()).await;
    operator.done().await;
    reset.map_err(operator_error)?;
    let email = args.email.to_lowercase();
    println!("password of {email} reset");
    if let NewPassword::Generated(secret) = &password {
        println!("generated password for {email} (shown only now):");
        println!("{}", secret.expose_secret());
    }
    Ok(())
}

/// An operator's refusal as one line: the rule's own words, or what failed.
fn operator_error(err: OperatorError) -> anyhow::Error {
    match err {
        OperatorError::Internal(failure) => anyhow::Error::new(failure).context("cannot do it"),
        refused => anyhow::anyhow!(refused.to_string()),
    }
}

/// The application as one operator command uses it: the account services and the vendor
/// actions over the command's database, with an audit log whose writer [`Operator::done`]
/// flushes before the command exits.
struct Operator {
    accounts: Accounts,
    actions: VendorActions,
    writer: BatcherTask,
}

impl Operator {
    fn new(pool: &PgPool) -> anyhow::Result<Self> {
        Self::with_settings(pool, AccountSettings::default())
    }

    fn with_settings(pool: &PgPool, settings: AccountSettings) -> anyhow::Result<Self> {
        let (audit, writer) = AuditLog::start(pool.clone(), Default::default());
        let accounts = Accounts::new(pool.clone(), audit.clone(), settings)?;
        let actions = VendorActions::for_command(pool.clone(), audit);
        Ok(Self { accounts, actions, writer })
    }

    /// The operator acting in `org`.
    fn actor(&self, org: &accounts::Organization) -> Actor {
        Actor {
            org_id: org.id,
            org_slug: org.slug.clone(),
            user_id: None,
            token_id: None,
            request: RequestMeta::default(),
        }
    }

    /// Writes what the audit log still holds.
    async fn done(self) {
        self.writer.shutdown(std::time::Duration::from_secs(10)).await;
    }
}

/// The application for an invitation command, issuing invitations that expire after `days`.
fn invitation_service(pool: &PgPool, days: u32) -> anyhow::Result<Operator> {
    let settings = AccountSettings {
        invitation_ttl: time::Duration::days(i64::from(days)),
        ..AccountSettings::default()
    };
    Operator::with_settings(pool, settings)
}

/// Says what was issued, then the link to accept it (on `public_url`, a page under `path`
/// with the token as its last segment); the token goes alone on the last line.
fn print_invitation(
    what: &str,
    issued: &IssuedInvitation,
    public_url: Option<&PublicUrl>,
    path: &str,
) {
    let base = public_url.map_or_else(|| "http://127.0.0.1:8080".to_owned(), ToString::to_string);
    let token = issued.token.expose_secret();
    println!("{what} (expires {}); shown only now:", issued.invitation.expires_at.date());
    println!("link to accept: {}{path}{token}", base.trim_end_matches('/'));
    println!("invitation token:");
    println!("{token}");
}

async fn invite_member(pool: PgPool, args: InviteMemberArgs) -> anyhow::Result<()> {
    let org = find_org(&pool, &args.org).await?;
    let email = &args.email;
    let operator = invitation_service(&pool, args.expires_in_days)?;
    let issued = operator.accounts.invite_member(org.id, Inviter::Operator, email, args.role).await;
    operator.done().await;
    let issued = issued.map_err(|err| match err {
        InviteError::AlreadyMember => {
            anyhow::anyhow!("{email} is already a member of {}", org.slug)
        }
        other => anyhow::Error::new(other).context("cannot issue the invitation"),
    })?;
    let what = format!("invited {email} to {} as {}", org.slug, args.role);
    print_invitation(&what, &issued, args.public_url.as_ref(), "/invitation/");
    Ok(())
}

async fn invite_customer_user(pool: PgPool, args: InviteCustomerUserArgs) -> anyhow::Result<()> {
    let org = find_org(&pool, &args.org).await?;
    let customer = customers::find_by_name(&pool, org.id, &args.customer)
        .await?
        .with_context(|| format!("{} has no customer named {:?}", org.slug, args.customer))?;
    let email = &args.email;
    let operator = invitation_service(&pool, args.expires_in_days)?;
    let issued = operator
        .accounts
        .invite_customer_user(org.id, customer.id, Inviter::Operator, email, args.role)
        .await;
    operator.done().await;
    let issued = issued.map_err(|err| match err {
        InviteError::AlreadyMember => {
            anyhow::anyhow!("{email} is already a user of {:?}", customer.name)
        }
        other => anyhow::Error::new(other).context("cannot issue the invitation"),
    })?;
    let what =
        format!("invited {email} to customer {:?} of {} as {}", customer.name, org.slug, args.role);
    print_invitation(&what, &issued, args.public_url.as_ref(), "/invitation/");
    Ok(())
}

async fn invite_signup(pool: PgPool, args: InviteSignupArgs) -> anyhow::Result<()> {
    let operator = invitation_service(&pool, args.expires_in_days)?;
    let issued = operator.accounts.invite_signup(Inviter::Operator, args.email.as_deref()).await;
    operator.done().await;
    let issued = issued.context("cannot issue the invitation")?;
    let what = match &args.email {
        Some(email) => format!("invited {email} to sign up a new organization"),
        None => "invited someone to sign up a new organization".to_owned(),
    };
    print_invitation(&what, &issued, args.public_url.as_ref(), "/sign-up/");
    Ok(())
}

async fn find_org(pool: &PgPool, slug: &str) -> anyhow::Result<accounts::Organization> {
    accounts::find_organization(pool, slug)
        .await?
        .with_context(|| format!("no organization with slug {slug:?}"))
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
