//! First start: create the first vendor organization and its owner, and say so once.
//!
//! Runs only when the database has no organization, through the one path every organization
//! is created by (`wharf_app`'s `Accounts::create_organization`: the slug, name, email and
//! password are checked, the creation is audited). The credentials are printed to stdout,
//! never logged; a generated password is shown this one time and never stored in plaintext.

use anyhow::Context;
use rand::{RngExt, distr::Alphanumeric};
use secrecy::{ExposeSecret, SecretString};
use wharf_app::{Accounts, CreateOrganizationError, Field, Founder, OrganizationRequest};
use wharf_db::{PgPool, accounts};

use crate::cli::{BootstrapArgs, PublicUrl};

/// Creates the first organization if there is none. Returns whether it did.
pub async fn first_start(
    pool: &PgPool,
    accounts: &Accounts,
    args: &BootstrapArgs,
    public_url: &PublicUrl,
) -> anyhow::Result<bool> {
    if accounts::count_organizations(pool).await? > 0 {
        return Ok(false);
    }
    let (password, generated) = match &args.bootstrap_password {
        Some(p) => (SecretString::from(p.clone()), false),
        None => {
            let random: String =
                rand::rng().sample_iter(Alphanumeric).take(24).map(char::from).collect();
            (SecretString::from(random), true)
        }
    };
    let request = OrganizationRequest {
        slug: &args.bootstrap_org,
        name: &args.bootstrap_org,
        owner_email: &args.bootstrap_email,
        owner_password: &password,
    };
    match accounts.create_organization(request, Founder::FirstStart).await {
        Ok(created) => {
            println!("Wharf is set up. Sign in at {public_url}/ as:");
            println!("  organization: {}", created.organization.slug);
            println!("  email:        {}", created.owner_email);
            if created.owner_existed {
                println!("  password:     that account's own (it existed already)");
            } else if generated {
                println!("  password:     {}   (shown only now)", password.expose_secret());
            } else {
                println!("  password:     the one in WHARF_BOOTSTRAP_PASSWORD");
            }
            Ok(true)
        }
        // Another instance bootstrapped at the same moment.
        Err(CreateOrganizationError::SlugTaken) => Ok(false),
        Err(CreateOrganizationError::Invalid(errors)) => {
            let reasons: Vec<String> = errors
                .iter()
                .map(|e| {
                    let variable = match e.field {
                        Field::Password => "WHARF_BOOTSTRAP_PASSWORD",
                        Field::Email => "WHARF_BOOTSTRAP_EMAIL",
                        _ => "WHARF_BOOTSTRAP_ORG",
                    };
                    format!("{variable}: {}", e.message)
                })
                .collect();
            anyhow::bail!("{}", reasons.join("; "))
        }
        Err(err) => Err(err).context(
            "cannot create the first organization (check WHARF_BOOTSTRAP_ORG and WHARF_BOOTSTRAP_EMAIL)",
        ),
    }
}
