//! Accepting an invitation (`/invitation/{token}`) to a vendor organization or a customer.
//!
//! A new person sets their name and a password and is signed in; a person with an account
//! signs in first (the sign-in page brings them back here) and accepts with one button.
//! Expired, used or revoked invitations say so plainly, and so does an invitation for
//! another address than the signed-in one.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use secrecy::SecretString;
use serde::Deserialize;
use wharf_app::accounts::{AcceptError, Acceptance, InvitationPreview};
use wharf_db::invitations::InvitationKind;

use super::{account::when, page_with};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    links, session,
    shell::{Field, Shell},
    visitor::Visitor,
};

#[derive(Template)]
#[template(path = "account/invitation.html")]
struct InvitationPage {
    shell: Shell,
    /// `None`: the invitation is not valid.
    offer: Option<Offer>,
    action: String,
    sign_in: String,
    /// The signed-in person, when there is one.
    signed_in_as: Option<String>,
    name: Field,
    password: Field,
    password_confirm: Field,
    error: Option<String>,
}

/// What the invitation offers, in words.
struct Offer {
    what: String,
    email: String,
    invited_by: Option<String>,
    expires: String,
    account_exists: bool,
}

fn offer(preview: &InvitationPreview) -> Offer {
    let org = preview.organization.as_ref().map_or("", |(_, name)| name.as_str());
    let role = preview.role.as_deref().unwrap_or("member");
    let what = match (preview.kind, &preview.customer_name) {
        (InvitationKind::Customer, Some(customer)) => {
            format!("get {org}'s software as {role} of {customer}")
        }
        _ => format!("join {org} as {role}"),
    };
    Offer {
        what,
        email: preview.email.clone().unwrap_or_default(),
        invited_by: preview.invited_by_email.clone(),
        expires: when(preview.expires_at),
        account_exists: preview.account_exists,
    }
}

/// The form: a new person's name and password, or nothing (accept as the signed-in person).
#[derive(Deserialize)]
pub(crate) struct AcceptForm {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_confirm: Option<String>,
}

/// `GET /invitation/{token}`.
pub(crate) async fn invitation_get(
    State(portal): State<Portal>,
    Path(token): Path<String>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let secret = SecretString::from(token.clone());
    let preview = match portal.app.accounts.preview_invitation(&secret).await {
        Ok(preview) => Some(preview),
        Err(AcceptError::Internal(err)) => return Err(err.into()),
        Err(_) => None,
    };
    let status = if preview.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    show(&visitor, &token, preview.as_ref().map(offer), status, Fields::default()).await
}

#[derive(Default)]
struct Fields {
    name: Field,
    password: Field,
    error: Option<String>,
}

async fn show(
    visitor: &Visitor,
    token: &str,
    offer: Option<Offer>,
    status: StatusCode,
    fields: Fields,
) -> Result<Response, PageError> {
    let here = links::invitation(token);
    page_with(
        status,
        &InvitationPage {
            shell: visitor.shell("Invitation").await?,
            offer,
            sign_in: links::sign_in_then(&here),
            action: here,
            signed_in_as: visitor.signed_in.as_ref().map(|(p, _)| p.email.clone()),
            name: fields.name,
            password: fields.password,
            password_confirm: Field::default(),
            error: fields.error,
        },
    )
}

/// `POST /invitation/{token}`.
pub(crate) async fn invitation_post(
    State(portal): State<Portal>,
    Path(token): Path<String>,
    PageForm { visitor, form }: PageForm<AcceptForm>,
) -> Result<Response, PageError> {
    let secret = SecretString::from(token.clone());
    let accounts = &portal.app.accounts;
    let preview = match accounts.preview_invitation(&secret).await {
        Ok(preview) => preview,
        Err(AcceptError::Internal(err)) => return Err(err.into()),
        Err(_) => {
            return show(&visitor, &token, None, StatusCode::NOT_FOUND, Fields::default()).await;
        }
    };
    let mut fields = Fields {
        name: Field::with(form.name.as_deref().unwrap_or_default().trim()),
        ..Fields::default()
    };
    let acceptance = match (&visitor.signed_in, preview.account_exists) {
        (Some((person, _)), true) => Acceptance::SignedIn { user_id: person.id },
        (None, true) => {
            return Ok(
                Redirect::to(&links::sign_in_then(&links::invitation(&token))).into_response()
            );
        }
        (_, false) => {
            let password = form.password.unwrap_or_default();
            if Some(&password) != form.password_confirm.as_ref() {
                fields.password.fail("the two passwords differ");
                return show(
                    &visitor,
                    &token,
                    Some(offer(&preview)),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    fields,
                )
                .await;
            }
            Acceptance::NewAccount {
                name: form.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
                password: SecretString::from(password),
            }
        }
    };
    match accounts.accept_invitation(&secret, acceptance).await {
        Ok(joined) => {
            if joined.created_account || visitor.signed_in.is_some() {
                // New account: signed in now. Existing account: a new membership is a change
                // of privilege, so the session gets a new id.
                session::sign_in(
                    &visitor.session,
                    joined.user_id,
                    visitor.user_agent.as_deref(),
                    visitor.client,
                )
                .await?;
            }
            let slug = preview.organization.map(|(slug, _)| slug).unwrap_or_default();
            let home = match joined.customer_id {
                Some(customer_id) => links::customer_home(&slug, customer_id),
                None => links::vendor_home(&slug),
            };
            session::flash(&visitor.session, "success", "Welcome! The invitation is accepted.")
                .await?;
            Ok(Redirect::to(&home).into_response())
        }
        Err(AcceptError::Invalid(err)) if err.field.name() == "name" => {
            fields.name.fail(err.message);
            show(&visitor, &token, Some(offer(&preview)), StatusCode::UNPROCESSABLE_ENTITY, fields)
                .await
        }
        Err(AcceptError::Invalid(err)) => {
            fields.password.fail(err.message);
            show(&visitor, &token, Some(offer(&preview)), StatusCode::UNPROCESSABLE_ENTITY, fields)
                .await
        }
        Err(AcceptError::Internal(err)) => Err(err.into()),
        Err(AcceptError::InvalidInvitation) => {
            show(&visitor, &token, None, StatusCode::NOT_FOUND, Fields::default()).await
        }
        Err(err) => {
            fields.error = Some(sentence(&err.to_string()));
            show(&visitor, &token, Some(offer(&preview)), StatusCode::UNPROCESSABLE_ENTITY, fields)
                .await
        }
    }
}

/// A message as a sentence: capitalized, with a full stop.
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
