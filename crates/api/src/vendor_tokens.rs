//! `/api/v1/vendor-tokens`: the calling member's own vendor API tokens (list, issue, revoke),
//! as on the portal's tokens page. A vendor token acts as the member who made it, with their
//! current role, or pull-only when read-only; so every member may make tokens for themselves,
//! through a token that is not read-only. Issued and revoked by `VendorActions`
//! (`issue_vendor_token`, `revoke_own_vendor_token`), audited. The plaintext appears once,
//! in the answer that issues it (`Cache-Control: no-store`).

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_app::actions::ActionError;
use wharf_db::{
    accounts,
    tokens::{self, AccessToken},
};

use crate::{
    App, Caller, Problem,
    extract::{ApiJson, Id, Writer},
    no_store,
};

/// A vendor token as lists show it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VendorTokenBody {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The product prefix and first random characters, to recognise it.
    pub prefix: String,
    /// Pull and read only, whatever the member's role.
    pub read_only: bool,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working, or `null`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last used (to the minute), or `null`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked, or `null`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<AccessToken> for VendorTokenBody {
    fn from(t: AccessToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            prefix: t.display_prefix,
            read_only: t.read_only,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// The caller's vendor tokens.
#[derive(Debug, Clone, Serialize)]
pub struct VendorTokenList {
    /// Newest first, revoked and expired ones included.
    pub items: Vec<VendorTokenBody>,
}

/// `POST /api/v1/vendor-tokens`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVendorToken {
    /// 1 to 100 characters.
    pub name: String,
    /// Pull and read only (`false` when absent: the member's role).
    #[serde(default)]
    pub read_only: bool,
    /// In the future; `null` or absent: never expires.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// The answer to issuing a vendor token: the only time `token` is shown.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedVendorTokenBody {
    /// Its id (to revoke it).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The token: `Authorization: Bearer …` here, or the password of `docker login`.
    pub token: String,
    /// The product prefix and first random characters, as lists show them.
    pub prefix: String,
    /// Pull and read only.
    pub read_only: bool,
    /// The member's role it acts with now (it follows the member's role).
    pub role: String,
    /// When it stops working, or `null`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// `GET /api/v1/vendor-tokens`: the calling member's own tokens.
pub async fn list(
    caller: Caller,
    State(state): State<App>,
) -> Result<Json<VendorTokenList>, Problem> {
    let me = caller.member()?;
    let found = tokens::list_vendor_tokens(&state.pool, caller.actor.org_id).await?;
    let items = found.into_iter().filter(|t| t.user_id == Some(me)).map(Into::into).collect();
    Ok(Json(VendorTokenList { items }))
}

/// `POST /api/v1/vendor-tokens`: a new token for the calling member; 201, shown this once.
pub async fn issue(
    Writer(caller): Writer,
    State(state): State<App>,
    ApiJson(body): ApiJson<NewVendorToken>,
) -> Result<Response, Problem> {
    let me = caller.member()?;
    let member = accounts::find_member(&state.pool, caller.actor.org_id, me)
        .await?
        .ok_or_else(|| Problem::forbidden("the member this token acts for has left"))?;
    let (issued, role) = state
        .actions
        .issue_vendor_token(
            &caller.actor,
            &member.email,
            &body.name,
            body.read_only,
            body.expires_at,
        )
        .await?;
    let body = IssuedVendorTokenBody {
        id: issued.token.id,
        name: issued.token.name,
        token: issued.plaintext.expose_secret().to_owned(),
        prefix: issued.token.display_prefix,
        read_only: issued.token.read_only,
        role,
        expires_at: issued.token.expires_at,
    };
    Ok((StatusCode::CREATED, no_store(), Json(body)).into_response())
}

/// `DELETE /api/v1/vendor-tokens/{id}`: revokes one of the caller's own tokens at once, on
/// every instance (it may be the token making the request); 204. Another member's token is
/// not found.
pub async fn revoke(
    Writer(caller): Writer,
    State(state): State<App>,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    caller.member()?;
    state.actions.revoke_own_vendor_token(&caller.actor, id).await.map_err(|err| match err {
        ActionError::NotFound => Problem::not_found("no such vendor token of yours"),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}
