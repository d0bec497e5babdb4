//! First start: create the first vendor organization and its owner, and say so once.
//!
//! Runs only when the database has no organization. The credentials are printed to stdout,
//! never logged; a generated password is shown this one time and never stored in plaintext.

use anyhow::Context;
use rand::{RngExt, distr::Alphanumeric};
use secrecy::{ExposeSecret, SecretString};
use wharf_auth::password::{PasswordHasher, check_policy};
use wharf_db::{PgPool, accounts};

use crate::cli::{BootstrapArgs, PublicUrl};

/// Creates the first organization if there is none. Returns whether it did.
pub async fn first_start(
    pool: &PgPool,
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
    check_policy(&password).map_err(|e| anyhow::anyhow!("WHARF_BOOTSTRAP_PASSWORD: {e}"))?;
    let hasher = PasswordHasher::recommended()?;
    let hash = tokio::task::spawn_blocking(move || hasher.hash(&password).map(|h| (h, password)))
        .await
        .context("password hashing panicked")??;
    let new = accounts::NewOrganization {
        slug: &args.bootstrap_org,
        name: &args.bootstrap_org,
        owner_email: &args.bootstrap_email,
        owner_password_hash: hash.0.expose_secret(),
        owner_is_instance_admin: true,
    };
    match accounts::create_organization(pool, &new).await {
        Ok(org) => {
            tracing::info!(org = %org.slug, "created the first organization");
            println!("Wharf is set up. Sign in at {public_url}/ as:");
            println!("  organization: {}", org.slug);
            println!("  email:        {}", args.bootstrap_email.to_lowercase());
            if generated {
                println!("  password:     {}   (shown only now)", hash.1.expose_secret());
            } else {
                println!("  password:     the one in WHARF_BOOTSTRAP_PASSWORD");
            }
            Ok(true)
        }
        // Another instance bootstrapped at the same moment.
        Err(wharf_db::DbError::Conflict(_)) => Ok(false),
        Err(err) => Err(err).context("cannot create the first organization (check WHARF_BOOTSTRAP_ORG and WHARF_BOOTSTRAP_EMAIL)"),
    }
}
