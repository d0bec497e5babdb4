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
use wharf_db::{
    accounts,
    tokens::{self, AccessToken},
};

use crate::{
    App, Caller, Problem,
    extract::{ApiJson, Id, Writer},
    no_store,
    tokens::{IssuedTokenBody, TokenFields, not_found_as},
};

/// A vendor token as lists show it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VendorTokenBody {
    /// Id, name, prefix and dates.
    #[serde(flatten)]
    pub token: TokenFields,
    /// Pull and read only, whatever the member's role.
    pub read_only: bool,
}

impl From<AccessToken> for VendorTokenBody {
    fn from(t: AccessToken) -> Self {
        Self { token: TokenFields::from(&t), read_only: t.read_only }
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
    /// Id, name, the token, prefix and expiry.
    #[serde(flatten)]
    pub issued: IssuedTokenBody,
    /// Pull and read only.
    pub read_only: bool,
    /// The member's role it acts with now (it follows the member's role).
    pub role: String,
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
        issued: IssuedTokenBody::from(&issued),
        read_only: issued.token.read_only,
        role,
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
    state
        .actions
        .revoke_own_vendor_token(&caller.actor, id)
        .await
        .map_err(not_found_as("no such vendor token of yours"))?;
    Ok(StatusCode::NO_CONTENT)
}
