//! Forgot and reset password (`/forgot-password`, `/reset-password/{token}`).
//!
//! The request page always answers "if that address has an account, we sent a link", in
//! the same time whether or not it has one: the lookup, the link and the mail are made off
//! the request path. Without SMTP configured the page says to ask an administrator (who
//! has `wharf admin reset-password`) and makes no link. A link works once, for an hour;
//! completing it ends every session of the account (`wharf_app::accounts::passwords`).

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::{page, page_with};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    links,
    shell::{Field, Shell},
    visitor::Visitor,
};
use wharf_app::accounts::{ResetError, ResetLink};

#[derive(Template)]
#[template(path = "account/forgot.html")]
struct ForgotPage {
    shell: Shell,
    email: Field,
    sent: bool,
    mail_configured: bool,
}

/// The forgot-password form.
#[derive(Deserialize)]
pub(crate) struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// `GET /forgot-password`.
pub(crate) async fn forgot_get(
    State(portal): State<Portal>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    page(&ForgotPage {
        shell: visitor.shell("Forgot your password?").await?,
        email: Field::default(),
        sent: false,
        mail_configured: mail_configured(&portal),
    })
}

/// `POST /forgot-password`.
pub(crate) async fn forgot_post(
    State(portal): State<Portal>,
    PageForm { visitor, form }: PageForm<ForgotForm>,
) -> Result<Response, PageError> {
    let configured = mail_configured(&portal);
    if configured {
        let (portal, client) = (portal.clone(), visitor.client);
        let email = form.email.clone();
        // Off the request path: the answer takes the same time whether the address has an
        // account or not.
        tokio::spawn(async move {
            match portal.app.accounts.request_password_reset(&email, client).await {
                Ok(Some(link)) => send_reset(&portal, link).await,
                Ok(None) => {}
                Err(err) => tracing::warn!("password reset request failed: {err}"),
            }
        });
    }
    page(&ForgotPage {
        shell: visitor.shell("Forgot your password?").await?,
        email: Field::with(form.email.trim()),
        sent: configured,
        mail_configured: configured,
    })
}

/// Queues the reset mail for `link`.
async fn send_reset(portal: &Portal, link: ResetLink) {
    let url = absolute(portal, &links::reset_password(link.token.expose_secret()));
    let user = link.user_id;
    let mail = wharf_app::mail::password_reset_mail(wharf_app::mail::PasswordResetMail {
        to: link.email,
        link: SecretString::from(url),
        expires_at: link.expires_at,
        user_id: user,
    });
    let queued = match mail {
        Ok(mail) => portal.app.mailer.queue(mail).await.map(|_| ()),
        Err(err) => Err(err),
    };
    if let Err(err) = queued {
        tracing::warn!(%user, "password reset mail not queued: {err}");
    }
}

fn mail_configured(portal: &Portal) -> bool {
    portal.app.mailer.configured()
}

/// `path` on this Wharf's public URL.
pub fn absolute(portal: &Portal, path: &str) -> String {
    let base = portal.settings.public_url.as_str().trim_end_matches('/');
    format!("{base}{path}")
}

#[derive(Template)]
#[template(path = "account/reset.html")]
struct ResetPage {
    shell: Shell,
    email: String,
    action: String,
    password: Field,
    password_confirm: Field,
    invalid: bool,
}

/// The new-password form.
#[derive(Deserialize)]
pub(crate) struct ResetForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

/// `GET /reset-password/{token}`.
pub(crate) async fn reset_get(
    State(portal): State<Portal>,
    Path(token): Path<String>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let token = SecretString::from(token);
    let shell = visitor.shell("Choose a new password").await?;
    match portal.app.accounts.preview_password_reset(&token).await {
        Ok(email) => page(&ResetPage {
            shell,
            email,
            action: links::reset_password(token.expose_secret()),
            password: Field::default(),
            password_confirm: Field::default(),
            invalid: false,
        }),
        Err(ResetError::Internal(err)) => Err(err.into()),
        Err(_) => invalid_link(shell),
    }
}

fn invalid_link(shell: Shell) -> Result<Response, PageError> {
    page_with(
        StatusCode::NOT_FOUND,
        &ResetPage {
            shell,
            email: String::new(),
            action: String::new(),
            password: Field::default(),
            password_confirm: Field::default(),
            invalid: true,
        },
    )
}

/// `POST /reset-password/{token}`.
pub(crate) async fn reset_post(
    State(portal): State<Portal>,
    Path(token): Path<String>,
    PageForm { visitor, form }: PageForm<ResetForm>,
) -> Result<Response, PageError> {
    let token = SecretString::from(token);
    let accounts = &portal.app.accounts;
    let shell = visitor.shell("Choose a new password").await?;
    let email = match accounts.preview_password_reset(&token).await {
        Ok(email) => email,
        Err(ResetError::Internal(err)) => return Err(err.into()),
        Err(_) => return invalid_link(shell),
    };
    let mut password = Field::default();
    if form.password != form.password_confirm {
        password.fail("the two passwords differ");
    } else {
        let new = SecretString::from(form.password);
        match accounts.complete_password_reset(&token, &new, visitor.client).await {
            Ok(_) => {
                // Whoever was signed in in this browser is signed out with the rest.
                if visitor.signed_in.is_some() {
                    visitor.session.flush().await?;
                }
                return Ok(Redirect::to("/sign-in?notice=password-reset").into_response());
            }
            Err(ResetError::Invalid(err)) => password.fail(err.message),
            Err(ResetError::InvalidLink) => return invalid_link(shell),
            Err(ResetError::Internal(err)) => return Err(err.into()),
        }
    }
    page_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        &ResetPage {
            shell,
            email,
            action: links::reset_password(token.expose_secret()),
            password,
            password_confirm: Field::default(),
            invalid: false,
        },
    )
}
