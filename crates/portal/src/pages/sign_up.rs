//! Sign-up (`/sign-up`, `/sign-up/{token}` with a sign-up invitation), following
//! `WHARF_SIGNUP`: `open` (anyone creates a vendor organization and becomes its owner),
//! `invite` (with a sign-up invitation's link), `closed` (the page says sign-up is off and
//! whom to ask). The rules are `wharf_app::accounts::signup`'s; the new owner is signed in.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use secrecy::SecretString;
use serde::Deserialize;
use wharf_app::accounts::{AccountEvent, SignupError, SignupMode, SignupRequest};

use super::{invitation::sentence, page_with};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    links, session,
    shell::{Field, Shell},
    visitor::Visitor,
};

#[derive(Template)]
#[template(path = "account/sign_up.html")]
struct SignUpPage {
    shell: Shell,
    /// `open`, `invite` or `closed`.
    mode: SignupMode,
    /// Whether the page was reached with an invitation link.
    invited: bool,
    action: String,
    org_name: Field,
    org_slug: Field,
    email: Field,
    password: Field,
    error: Option<String>,
}

/// The sign-up form.
#[derive(Deserialize)]
pub(crate) struct SignUpForm {
    #[serde(default)]
    org_name: String,
    #[serde(default)]
    org_slug: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `GET /sign-up`.
pub(crate) async fn sign_up_get(
    State(portal): State<Portal>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    form_page(&portal, &visitor, None, StatusCode::OK, blank()).await
}

/// `GET /sign-up/{token}`.
pub(crate) async fn invited_get(
    State(portal): State<Portal>,
    Path(token): Path<String>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    form_page(&portal, &visitor, Some(&token), StatusCode::OK, blank()).await
}

/// `POST /sign-up`.
pub(crate) async fn sign_up_post(
    State(portal): State<Portal>,
    form: PageForm<SignUpForm>,
) -> Result<Response, PageError> {
    submit(portal, None, form).await
}

/// `POST /sign-up/{token}`.
pub(crate) async fn invited_post(
    State(portal): State<Portal>,
    Path(token): Path<String>,
    form: PageForm<SignUpForm>,
) -> Result<Response, PageError> {
    submit(portal, Some(token), form).await
}

struct Filled {
    org_name: Field,
    org_slug: Field,
    email: Field,
    password: Field,
    error: Option<String>,
}

fn blank() -> Filled {
    Filled {
        org_name: Field::default(),
        org_slug: Field::default(),
        email: Field::default(),
        password: Field::default(),
        error: None,
    }
}

async fn form_page(
    portal: &Portal,
    visitor: &Visitor,
    token: Option<&str>,
    status: StatusCode,
    filled: Filled,
) -> Result<Response, PageError> {
    page_with(
        status,
        &SignUpPage {
            shell: visitor.shell("Create an organization").await?,
            mode: portal.app.accounts.settings().signup,
            invited: token.is_some(),
            action: token.map_or_else(|| links::SIGN_UP.to_owned(), links::sign_up_invited),
            org_name: filled.org_name,
            org_slug: filled.org_slug,
            email: filled.email,
            password: filled.password,
            error: filled.error,
        },
    )
}

async fn submit(
    portal: Portal,
    token: Option<String>,
    PageForm { visitor, form }: PageForm<SignUpForm>,
) -> Result<Response, PageError> {
    let accounts = &portal.app.accounts;
    let request = SignupRequest {
        org_slug: form.org_slug.trim().to_owned(),
        org_name: form.org_name.trim().to_owned(),
        email: form.email.clone(),
        password: SecretString::from(form.password),
        invitation: token.clone().map(SecretString::from),
    };
    let mut filled = Filled {
        org_name: Field::with(form.org_name.trim()),
        org_slug: Field::with(form.org_slug.trim()),
        email: Field::with(form.email.trim()),
        password: Field::default(),
        error: None,
    };
    let error = match accounts.sign_up(request, visitor.client).await {
        Ok(signed_up) => {
            session::sign_in(
                &visitor.session,
                signed_up.owner_id,
                visitor.user_agent.as_deref(),
                visitor.client,
            )
            .await?;
            accounts
                .record_account_event(AccountEvent {
                    action: "user.sign_in",
                    user_id: Some(signed_up.owner_id),
                    email: Some(&signed_up.owner_email),
                    success: true,
                    detail: serde_json::json!({ "after": "sign-up" }),
                    client: visitor.client,
                    user_agent: visitor.user_agent.as_deref(),
                    request_id: visitor.request_id.as_deref(),
                })
                .await;
            session::flash(
                &visitor.session,
                "success",
                format!("Welcome to Wharf! {} is ready.", signed_up.organization.name),
            )
            .await?;
            return Ok(
                Redirect::to(&links::vendor_home(&signed_up.organization.slug)).into_response()
            );
        }
        Err(SignupError::Internal(err)) => return Err(err.into()),
        Err(err) => err,
    };
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    match &error {
        SignupError::Invalid(errors) => {
            for err in errors {
                let field = match err.field.name() {
                    "org_name" => &mut filled.org_name,
                    "org_slug" => &mut filled.org_slug,
                    "email" => &mut filled.email,
                    _ => &mut filled.password,
                };
                field.fail(err.message.clone());
            }
        }
        SignupError::SlugTaken => filled.org_slug.fail("this slug is taken; choose another"),
        SignupError::EmailTaken => {
            filled.email.fail("this email address already has an account; sign in instead")
        }
        SignupError::Throttled(_) => {
            status = StatusCode::TOO_MANY_REQUESTS;
            filled.error = Some(sentence(&error.to_string()));
        }
        _ => filled.error = Some(sentence(&error.to_string())),
    }
    let mut response = form_page(&portal, &visitor, token.as_deref(), status, filled).await?;
    if let SignupError::Throttled(wait) = error {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
    }
    Ok(response)
}
