//! The team and invitations: `/api/v1/members` (list; `PATCH`/`DELETE /{user_id}`: change a
//! role, remove), `/api/v1/invitations` (the organization's member invitations: list, invite,
//! revoke) and `/api/v1/customers/{id}/invitations` (a customer's users' invitations).
//!
//! Everything goes through `wharf_app::accounts::Accounts`, the portal's functions, which
//! check the rules against the acting member's current role (owners and admins manage the
//! team; an admin can neither make nor touch an owner; the last owner stays) and write the
//! audit log. A new invitation is mailed when SMTP is configured
//! (`Mailer::deliver_invitation`, as the portal does); otherwise its link is in the answer,
//! that once (`Cache-Control: no-store`): only its hash is kept.

use std::collections::HashMap;

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_app::{
    accounts::{Failure, InviteError, Inviter, IssuedInvitation, TeamError},
    mail::{DeliveryStatus, InvitationDelivery},
};
use wharf_auth::principal::{CustomerRole, Role};
use wharf_db::{
    accounts::{self, Member},
    customers,
    invitations::{self, Invitation, InvitationStatus},
};

use crate::{
    App, Caller, Problem,
    extract::{ApiJson, Id, Ids, Manager},
    no_store,
};

/// A member of the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberBody {
    /// The account's id (to change or remove the member).
    pub user_id: Uuid,
    /// Its email.
    pub email: String,
    /// `owner`, `admin`, `developer` or `viewer`.
    pub role: String,
    /// When they joined.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

impl From<Member> for MemberBody {
    fn from(m: Member) -> Self {
        Self { user_id: m.user_id, email: m.email, role: m.role, joined_at: m.created_at }
    }
}

/// The members.
#[derive(Debug, Clone, Serialize)]
pub struct MemberList {
    /// By email.
    pub items: Vec<MemberBody>,
}

/// `PATCH /api/v1/members/{user_id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// The new role.
    pub role: Role,
}

fn internal(err: &Failure) -> Problem {
    tracing::error!("api: accounts: {err}");
    Problem::unavailable()
}

fn no_member() -> Problem {
    Problem::not_found("no such member in your organization")
}

fn team_error(err: TeamError) -> Problem {
    match err {
        TeamError::NotFound => no_member(),
        TeamError::NotAllowed(why) => Problem::forbidden(why),
        TeamError::LastOwner => {
            Problem::new(StatusCode::CONFLICT, TeamError::LastOwner.to_string())
        }
        TeamError::Internal(err) => internal(&err),
    }
}

/// `GET /api/v1/members`: everyone in the organization, by email.
pub async fn list(caller: Caller, State(state): State<App>) -> Result<Json<MemberList>, Problem> {
    let found = accounts::list_members(&state.pool, caller.actor.org_id).await?;
    Ok(Json(MemberList { items: found.into_iter().map(Into::into).collect() }))
}

/// `PATCH /api/v1/members/{user_id}`: sets the member's role; answers the member.
pub async fn change(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(user_id): Id,
    ApiJson(body): ApiJson<MemberPatch>,
) -> Result<Json<MemberBody>, Problem> {
    let actor = caller.member()?;
    let org = caller.actor.org_id;
    let client = caller.actor.request.peer;
    state
        .accounts
        .change_member(org, actor, user_id, Some(body.role), client)
        .await
        .map_err(team_error)?;
    let member = accounts::find_member(&state.pool, org, user_id).await?.ok_or_else(no_member)?;
    Ok(Json(member.into()))
}

/// `DELETE /api/v1/members/{user_id}`: removes the member (their vendor tokens stop at
/// once); 204.
pub async fn remove(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(user_id): Id,
) -> Result<StatusCode, Problem> {
    let actor = caller.member()?;
    let client = caller.actor.request.peer;
    state
        .accounts
        .change_member(caller.actor.org_id, actor, user_id, None, client)
        .await
        .map_err(team_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// An invitation as lists show it (never its link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvitationBody {
    /// Its id (to revoke it).
    pub id: Uuid,
    /// The invited address.
    pub email: String,
    /// The role offered: a vendor role, or `admin`/`member` of a customer.
    pub role: String,
    /// The customer, for a customer user's invitation; else `null`.
    pub customer_id: Option<Uuid>,
    /// Who invited (their email), or `null` (an operator, or a deleted account).
    pub invited_by: Option<String>,
    /// `open`, `accepted`, `revoked` or `expired`.
    pub status: &'static str,
    /// What became of its mail: `queued`, `sent`, `failed`, or `null` when none was sent.
    pub mail: Option<&'static str>,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

fn status_name(status: InvitationStatus) -> &'static str {
    match status {
        InvitationStatus::Open => "open",
        InvitationStatus::Accepted => "accepted",
        InvitationStatus::Revoked => "revoked",
        InvitationStatus::Expired => "expired",
    }
}

fn delivery_name(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Queued => "queued",
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Failed => "failed",
    }
}

impl InvitationBody {
    fn new(i: Invitation, now: OffsetDateTime, mail: Option<&'static str>) -> Self {
        Self {
            status: status_name(i.status(now)),
            id: i.id,
            email: i.email.unwrap_or_default(),
            role: i.role.unwrap_or_default(),
            customer_id: i.customer_id,
            invited_by: i.invited_by_email,
            mail,
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

/// Invitations.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationList {
    /// Newest first; accepted, revoked and expired ones included (see `status`).
    pub items: Vec<InvitationBody>,
}

/// The answer to inviting: the invitation, and its link when no mail was sent.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedInvitationBody {
    /// The invitation.
    #[serde(flatten)]
    pub invitation: InvitationBody,
    /// `mailed` (queued for the invitee), `link` (no SMTP configured: hand `link` over
    /// yourself) or `not_queued` (SMTP is configured but the mail could not be queued:
    /// revoke the invitation and try again).
    pub delivery: &'static str,
    /// The link that accepts the invitation, shown this once; `null` unless `delivery` is
    /// `link`.
    pub link: Option<String>,
}

/// `POST /api/v1/invitations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMemberInvitation {
    /// The address to invite.
    pub email: String,
    /// The role they get: only an owner may invite an owner.
    pub role: Role,
}

/// `POST /api/v1/customers/{id}/invitations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerInvitation {
    /// The address to invite.
    pub email: String,
    /// `admin` (manages the customer's users and tokens) or `member`.
    pub role: CustomerRole,
}

fn invite_error(err: InviteError, not_found: fn() -> Problem) -> Problem {
    match err {
        InviteError::Invalid(error) => {
            let field = error.field.name();
            Problem::invalid(field, format!("{field}: {}", error.message))
        }
        InviteError::NotAllowed => Problem::forbidden(
            "your role may not invite or revoke here (only an owner invites an owner)",
        ),
        InviteError::AlreadyMember => {
            Problem::conflict("email", "email: this address already belongs here")
        }
        InviteError::NotFound => not_found(),
        InviteError::Internal(err) => internal(&err),
    }
}

fn no_invitation() -> Problem {
    Problem::not_found("no such open invitation in your organization")
}

fn no_customer() -> Problem {
    Problem::not_found("no such customer in your organization")
}

/// The mail status of each of `found`, in one query.
async fn with_mail(
    state: &App,
    org: Uuid,
    found: Vec<Invitation>,
) -> Result<Json<InvitationList>, Problem> {
    let ids: Vec<Uuid> = found.iter().map(|i| i.id).collect();
    let deliveries: HashMap<Uuid, DeliveryStatus> = state
        .mailer
        .invitation_deliveries(org, &ids)
        .await
        .map_err(|err| {
            tracing::error!("api: mail deliveries: {err}");
            Problem::unavailable()
        })?
        .into_iter()
        .map(|(id, d)| (id, d.status))
        .collect();
    let now = OffsetDateTime::now_utc();
    let items = found
        .into_iter()
        .map(|i| {
            let mail = deliveries.get(&i.id).copied().map(delivery_name);
            InvitationBody::new(i, now, mail)
        })
        .collect();
    Ok(Json(InvitationList { items }))
}

/// Mails `issued` or hands its link back; 201.
async fn delivered(
    state: &App,
    caller: &Caller,
    issued: IssuedInvitation,
    what: impl FnOnce(&str) -> String,
) -> Result<Response, Problem> {
    let vendor = accounts::find_organization(&state.pool, &caller.actor.org_slug)
        .await?
        .map_or_else(|| caller.actor.org_slug.clone(), |o| o.name);
    let inviter = match caller.actor.user_id {
        Some(id) => {
            accounts::find_person(&state.pool, id).await?.map(|p| p.name.unwrap_or(p.email))
        }
        None => None,
    };
    let public_url = &state.credentials.settings().issuer;
    let delivery = state
        .mailer
        .deliver_invitation(public_url, &issued, &vendor, inviter, what(&vendor))
        .await
        .map_err(|err| {
            tracing::error!(invitation = %issued.invitation.id, "api: invitation mail: {err}");
            Problem::unavailable()
        })?;
    let (delivery, link, mail) = match delivery {
        InvitationDelivery::ShowLink(link) => ("link", Some(link.expose_secret().to_owned()), None),
        InvitationDelivery::Queued(_) => ("mailed", None, Some("queued")),
        InvitationDelivery::NotQueued => ("not_queued", None, None),
    };
    let invitation = InvitationBody::new(issued.invitation, OffsetDateTime::now_utc(), mail);
    let body = IssuedInvitationBody { invitation, delivery, link };
    Ok((StatusCode::CREATED, no_store(), Json(body)).into_response())
}

/// `GET /api/v1/invitations`: the organization's member invitations (owners and admins).
pub async fn list_invitations(
    caller: Caller,
    State(state): State<App>,
) -> Result<Json<InvitationList>, Problem> {
    if !caller.role.can_manage_customers() {
        return Err(Problem::forbidden(format!(
            "role `{}` may not see invitations; owner or admin required",
            caller.role
        )));
    }
    let org = caller.actor.org_id;
    let found = invitations::list_members(&state.pool, org).await?;
    with_mail(&state, org, found).await
}

/// `POST /api/v1/invitations`: invites `email` as `role`; 201.
pub async fn invite(
    Manager(caller): Manager,
    State(state): State<App>,
    ApiJson(body): ApiJson<NewMemberInvitation>,
) -> Result<Response, Problem> {
    let actor = caller.member()?;
    let issued = state
        .accounts
        .invite_member(caller.actor.org_id, Inviter::User(actor), &body.email, body.role)
        .await
        .map_err(|err| invite_error(err, no_invitation))?;
    let role = body.role.as_str();
    delivered(&state, &caller, issued, |vendor| format!("join {vendor} as {role}")).await
}

/// `DELETE /api/v1/invitations/{id}`: revokes an unused invitation; 204.
pub async fn revoke_invitation(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    let actor = caller.member()?;
    state
        .accounts
        .revoke_invitation(caller.actor.org_id, Inviter::User(actor), id)
        .await
        .map_err(|err| invite_error(err, no_invitation))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/customers/{id}/invitations`: the customer's users' invitations.
pub async fn list_customer_invitations(
    caller: Caller,
    State(state): State<App>,
    Id(customer_id): Id,
) -> Result<Json<InvitationList>, Problem> {
    let org = caller.actor.org_id;
    customers::get(&state.pool, org, customer_id).await?.ok_or_else(no_customer)?;
    let found = invitations::list_customer(&state.pool, org, customer_id).await?;
    with_mail(&state, org, found).await
}

/// `POST /api/v1/customers/{id}/invitations`: invites `email` as a user of the customer;
/// 201.
pub async fn invite_customer_user(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(customer_id): Id,
    ApiJson(body): ApiJson<NewCustomerInvitation>,
) -> Result<Response, Problem> {
    let actor = caller.member()?;
    let org = caller.actor.org_id;
    let issued = state
        .accounts
        .invite_customer_user(org, customer_id, Inviter::User(actor), &body.email, body.role)
        .await
        .map_err(|err| invite_error(err, no_customer))?;
    let customer =
        customers::get(&state.pool, org, customer_id).await?.map_or_else(String::new, |c| c.name);
    delivered(&state, &caller, issued, |vendor| {
        format!("get {vendor}'s software as a user of {customer}")
    })
    .await
}

/// `DELETE /api/v1/customers/{id}/invitations/{invitation}`: revokes an unused invitation
/// to the customer; 204.
pub async fn revoke_customer_invitation(
    Manager(caller): Manager,
    State(state): State<App>,
    Ids(customer_id, id): Ids,
) -> Result<StatusCode, Problem> {
    let actor = caller.member()?;
    let org = caller.actor.org_id;
    customers::get(&state.pool, org, customer_id).await?.ok_or_else(no_customer)?;
    state
        .accounts
        .revoke_customer_invitation(org, customer_id, Inviter::User(actor), id)
        .await
        .map_err(|err| invite_error(err, no_invitation))?;
    Ok(StatusCode::NO_CONTENT)
}
