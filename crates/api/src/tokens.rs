//! `/api/v1/customers/{id}/tokens` (list, issue) and `DELETE /api/v1/tokens/{id}` (revoke a
//! customer token of one of the vendor's customers). The plaintext of a token appears once,
//! in the response that issues it (`Cache-Control: no-store`); only its SHA-256 is kept.

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_db::{
    customers,
    tokens::{self, AccessToken},
};

use crate::{
    App, Caller, Problem,
    extract::{ApiJson, Id, Manager},
    no_store,
};
use wharf_app::actions::ActionError;

/// A customer token as lists show it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenBody {
    /// Its id.
    pub id: Uuid,
    /// The customer it belongs to.
    pub customer_id: Uuid,
    /// Its name.
    pub name: String,
    /// The product prefix and first random characters, to recognise it.
    pub prefix: String,
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

impl From<AccessToken> for TokenBody {
    fn from(t: AccessToken) -> Self {
        Self {
            id: t.id,
            customer_id: t.customer_id.unwrap_or_default(),
            name: t.name,
            prefix: t.display_prefix,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A customer's tokens.
#[derive(Debug, Clone, Serialize)]
pub struct TokenList {
    /// Newest first, revoked and expired ones included.
    pub items: Vec<TokenBody>,
}

/// `POST /api/v1/customers/{id}/tokens`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// 1 to 100 characters.
    pub name: String,
    /// In the future; `null` or absent: never expires.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// The answer to issuing a token: the only time `token` is shown.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedTokenBody {
    /// Its id (to revoke it).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The token: use it as the password of `docker login` and the like.
    pub token: String,
    /// The product prefix and first random characters, as lists show them.
    pub prefix: String,
    /// When it stops working, or `null`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

fn no_customer() -> Problem {
    Problem::not_found("no such customer in your organization")
}

/// `GET /api/v1/customers/{id}/tokens`.
pub async fn list(
    caller: Caller,
    State(state): State<App>,
    Id(customer_id): Id,
) -> Result<Json<TokenList>, Problem> {
    let org = caller.actor.org_id;
    customers::get(&state.pool, org, customer_id).await?.ok_or_else(no_customer)?;
    let found = tokens::list_customer_tokens(&state.pool, org, customer_id).await?;
    Ok(Json(TokenList { items: found.into_iter().map(Into::into).collect() }))
}

/// `POST /api/v1/customers/{id}/tokens`: 201 with the token, shown this once.
pub async fn create(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(customer_id): Id,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<impl IntoResponse, Problem> {
    let issued = state
        .actions
        .issue_customer_token(&caller.actor, customer_id, &body.name, body.expires_at)
        .await
        .map_err(|err| match err {
            ActionError::NotFound => no_customer(),
            other => other.into(),
        })?;
    let body = IssuedTokenBody {
        id: issued.token.id,
        name: issued.token.name,
        token: issued.plaintext.expose_secret().to_owned(),
        prefix: issued.token.display_prefix,
        expires_at: issued.token.expires_at,
    };
    Ok((StatusCode::CREATED, no_store(), Json(body)))
}

/// `DELETE /api/v1/tokens/{id}`: revokes a customer token at once, on every instance; 204,
/// also when it was revoked already. Vendor API tokens are not found here.
pub async fn revoke(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    state.actions.revoke_customer_token(&caller.actor, id).await.map_err(|err| match err {
        ActionError::NotFound => Problem::not_found("no such customer token in your organization"),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}
