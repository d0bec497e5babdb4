//! A vendor organization's member invitations (`/vendor/{slug}/invitations`), for its owners
//! and admins: invite someone with a role, see the open invitations and whether their mail
//! went out, revoke one.
//!
//! With SMTP configured the invitation is mailed in the organization's name (off the request
//! path, `wharf_app::mail`), and the list shows its delivery (queued, sent, failed with the
//! reason). Without SMTP, the link is shown once, to the person who created it, with a copy
//! button; it is never shown again (only its hash is stored). The vendor portal's team page
//! builds on this.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_app::{
    accounts::{InviteError, Inviter, VendorMembership},
    mail::{DeliveryStatus, InvitationDelivery},
};
use wharf_auth::principal::Role;
use wharf_db::invitations::{self, InvitationStatus};

use super::{account::when, page_with};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    links, session,
    shell::{Field, Shell},
    visitor::{SignedIn, Visitor},
};

/// One open invitation in the list.
struct Row {
    email: String,
    role: String,
    invited_by: String,
    expires: String,
    mail: String,
    mail_failed: bool,
    revoke: String,
}

#[derive(Template)]
#[template(path = "vendor/invitations.html")]
struct InvitationsPage {
    shell: Shell,
    org_name: String,
    action: String,
    email: Field,
    role: String,
    role_error: Option<String>,
    roles: Vec<&'static str>,
    rows: Vec<Row>,
    mail_configured: bool,
    /// The link of the invitation just created, shown once (no SMTP).
    created_link: Option<String>,
    created_for: String,
}

/// The invitation form.
#[derive(Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// The signed-in person's membership in `slug`, if they may manage invitations there.
async fn manager(
    portal: &Portal,
    who: &SignedIn,
    slug: &str,
) -> Result<VendorMembership, PageError> {
    let (vendor, _) = portal.app.accounts.memberships(who.person.id).await?;
    let membership = vendor.into_iter().find(|m| m.slug == slug).ok_or(PageError::NotFound)?;
    if !matches!(membership.role, Role::Owner | Role::Admin) {
        return Err(PageError::Forbidden);
    }
    Ok(membership)
}

fn list_path(slug: &str) -> String {
    format!("{}/invitations", links::vendor_home(slug))
}

/// `GET /vendor/{slug}/invitations`.
pub(crate) async fn invitations_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    who: SignedIn,
) -> Result<Response, PageError> {
    let membership = manager(&portal, &who, &slug).await?;
    let shell = shell_for(&who.visitor, &membership).await?;
    render(&portal, shell, &membership, Form::default(), None, StatusCode::OK).await
}

#[derive(Default)]
struct Form {
    email: Field,
    role: String,
    role_error: Option<String>,
}

async fn shell_for(visitor: &Visitor, membership: &VendorMembership) -> Result<Shell, PageError> {
    super::vendor::shell(visitor, membership, "Invitations", "/team").await
}

async fn render(
    portal: &Portal,
    shell: Shell,
    membership: &VendorMembership,
    form: Form,
    created: Option<(String, String)>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let now = OffsetDateTime::now_utc();
    let open: Vec<_> = invitations::list_members(&portal.app.pool, membership.organization_id)
        .await?
        .into_iter()
        .filter(|i| i.status(now) == InvitationStatus::Open)
        .collect();
    let ids: Vec<Uuid> = open.iter().map(|i| i.id).collect();
    let deliveries = portal
        .app
        .mailer
        .invitation_deliveries(membership.organization_id, &ids)
        .await
        .map_err(PageError::internal)?;
    let rows = open
        .into_iter()
        .map(|i| {
            let delivery = deliveries.get(&i.id);
            let (mail, failed) = match delivery {
                None => ("not mailed (link shown once)".to_owned(), false),
                Some(d) => match d.status {
                    DeliveryStatus::Queued if d.attempts == 0 => ("queued".to_owned(), false),
                    DeliveryStatus::Queued => (
                        format!(
                            "retrying after {} failed attempt{}: {}",
                            d.attempts,
                            if d.attempts == 1 { "" } else { "s" },
                            d.last_error.clone().unwrap_or_default()
                        ),
                        true,
                    ),
                    DeliveryStatus::Sent => {
                        (format!("sent {}", d.sent_at.map(when).unwrap_or_default()), false)
                    }
                    DeliveryStatus::Failed => (
                        format!("not delivered: {}", d.last_error.clone().unwrap_or_default()),
                        true,
                    ),
                },
            };
            Row {
                email: i.email.clone().unwrap_or_default(),
                role: i.role.clone().unwrap_or_default(),
                invited_by: i.invited_by_email.clone().unwrap_or_else(|| "an operator".into()),
                expires: when(i.expires_at),
                mail,
                mail_failed: failed,
                revoke: format!("{}/{}/revoke", list_path(&membership.slug), i.id),
            }
        })
        .collect();
    let roles = match membership.role {
        Role::Owner => vec!["viewer", "developer", "admin", "owner"],
        _ => vec!["viewer", "developer", "admin"],
    };
    let (created_for, created_link) = match created {
        Some((email, link)) => (email, Some(link)),
        None => (String::new(), None),
    };
    page_with(
        status,
        &InvitationsPage {
            shell,
            org_name: membership.name.clone(),
            action: list_path(&membership.slug),
            email: form.email,
            role: if form.role.is_empty() { "developer".into() } else { form.role },
            role_error: form.role_error,
            roles,
            rows,
            mail_configured: portal.app.mailer.configured(),
            created_link,
            created_for,
        },
    )
}

/// `POST /vendor/{slug}/invitations`.
pub(crate) async fn invitations_post(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    PageForm { visitor, form }: PageForm<InviteForm>,
) -> Result<Response, PageError> {
    let who = match visitor.require() {
        Ok(who) => who,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let membership = manager(&portal, &who, &slug).await?;
    let shell = shell_for(&who.visitor, &membership).await?;
    let mut shown =
        Form { email: Field::with(form.email.trim()), role: form.role.clone(), role_error: None };
    let Ok(role) = form.role.parse::<Role>() else {
        shown.role_error = Some("choose one of the roles".into());
        return render(&portal, shell, &membership, shown, None, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    };
    let issued = match portal
        .app
        .accounts
        .invite_member(membership.organization_id, Inviter::User(who.person.id), &form.email, role)
        .await
    {
        Ok(issued) => issued,
        Err(InviteError::Internal(err)) => return Err(err.into()),
        Err(InviteError::NotAllowed) => {
            shown.role_error = Some("only an owner may invite an owner".into());
            return render(
                &portal,
                shell,
                &membership,
                shown,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(err) => {
            shown.email.fail(err.to_string());
            return render(
                &portal,
                shell,
                &membership,
                shown,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    match deliver(
        &portal,
        &who,
        &membership.name,
        &issued,
        format!("join {} as {}", membership.name, role.as_str()),
    )
    .await?
    {
        Delivered::ShowLink { email, link } => {
            // Shown once, to whoever invited; only the hash is kept.
            render(
                &portal,
                shell,
                &membership,
                Form::default(),
                Some((email, link)),
                StatusCode::OK,
            )
            .await
        }
        Delivered::Mailed(text) => {
            session::flash(&who.visitor.session, "success", text).await?;
            Ok(Redirect::to(&list_path(&membership.slug)).into_response())
        }
    }
}

/// What became of a new invitation.
pub(crate) enum Delivered {
    /// No SMTP: the link, to show once to whoever invited (only its hash is kept).
    ShowLink {
        /// Whom it is for.
        email: String,
        /// The link.
        link: String,
    },
    /// Queued for mailing (or not, said in the text): the flash message.
    Mailed(String),
}

/// Mails `issued` in the name of `vendor_name` (inviting to `what`), or returns its link to
/// show once when this Wharf sends no email (`Mailer::deliver_invitation`, as the API does).
pub(crate) async fn deliver(
    portal: &Portal,
    who: &SignedIn,
    vendor_name: &str,
    issued: &wharf_app::accounts::IssuedInvitation,
    what: String,
) -> Result<Delivered, PageError> {
    let email = issued.invitation.email.clone().unwrap_or_default();
    let inviter = Some(who.person.name.clone().unwrap_or_else(|| who.person.email.clone()));
    let delivery = portal
        .app
        .mailer
        .deliver_invitation(portal.settings.public_url.as_str(), issued, vendor_name, inviter, what)
        .await
        .map_err(PageError::internal)?;
    Ok(match delivery {
        InvitationDelivery::ShowLink(link) => {
            Delivered::ShowLink { email, link: link.expose_secret().to_owned() }
        }
        InvitationDelivery::Queued(_) => Delivered::Mailed(format!("Invitation sent to {email}.")),
        InvitationDelivery::NotQueued => Delivered::Mailed(format!(
            "The invitation for {email} was made, but its mail could not be queued: revoke it and try again."
        )),
    })
}

/// `POST /vendor/{slug}/invitations/{id}/revoke`.
pub(crate) async fn revoke_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let who = match visitor.require() {
        Ok(who) => who,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let membership = manager(&portal, &who, &slug).await?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    match portal
        .app
        .accounts
        .revoke_invitation(membership.organization_id, Inviter::User(who.person.id), id)
        .await
    {
        Ok(()) => {
            session::flash(&who.visitor.session, "success", "The invitation was revoked.").await?
        }
        Err(InviteError::Internal(err)) => return Err(err.into()),
        Err(InviteError::NotFound) => return Err(PageError::NotFound),
        Err(_) => return Err(PageError::Forbidden),
    }
    Ok(Redirect::to(&list_path(&membership.slug)).into_response())
}
