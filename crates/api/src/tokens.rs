//! `/api/v1/customers/{id}/tokens` (list, issue) and `DELETE /api/v1/tokens/{id}` (revoke a
//! customer token of one of the vendor's customers). The plaintext of a token appears once,
//! in the response that issues it (`Cache-Control: no-store`); only its SHA-256 is kept.
//!
//! What a token shows in a list ([`TokenFields`]) and when issued ([`IssuedTokenBody`]) is
//! the same for a vendor token (`vendor_tokens.rs`), which adds its own fields beside them.

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_app::actions::IssuedToken;
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

/// What every token shows in a list, a customer's or a vendor's (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenFields {
    /// Its id.
    pub id: Uuid,
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

impl From<&AccessToken> for TokenFields {
    fn from(t: &AccessToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            prefix: t.display_prefix.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A customer token as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenBody {
    /// The customer it belongs to.
    pub customer_id: Uuid,
    /// Id, name, prefix and dates.
    #[serde(flatten)]
    pub token: TokenFields,
}

impl From<AccessToken> for TokenBody {
    fn from(t: AccessToken) -> Self {
        Self { customer_id: t.customer_id.unwrap_or_default(), token: TokenFields::from(&t) }
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

/// The answer to issuing a token, a customer's or a vendor's: the only time `token` is shown.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedTokenBody {
    /// Its id (to revoke it).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The token: the password of `docker login` and the like (a vendor token also works as
    /// `Authorization: Bearer …` here).
    pub token: String,
    /// The product prefix and first random characters, as lists show them.
    pub prefix: String,
    /// When it stops working, or `null`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl From<&IssuedToken> for IssuedTokenBody {
    fn from(issued: &IssuedToken) -> Self {
        Self {
            id: issued.token.id,
            name: issued.token.name.clone(),
            token: issued.plaintext.expose_secret().to_owned(),
            prefix: issued.token.display_prefix.clone(),
            expires_at: issued.token.expires_at,
        }
    }
}

/// An action's error as the API answers it, a missing token or customer as `missing`.
pub(crate) fn not_found_as(missing: &'static str) -> impl Fn(ActionError) -> Problem {
    move |err| match err {
        ActionError::NotFound => Problem::not_found(missing),
        other => other.into(),
    }
}

const NO_CUSTOMER: &str = "no such customer in your organization";

fn no_customer() -> Problem {
    Problem::not_found(NO_CUSTOMER)
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
        .map_err(not_found_as(NO_CUSTOMER))?;
    Ok((StatusCode::CREATED, no_store(), Json(IssuedTokenBody::from(&issued))))
}

/// `DELETE /api/v1/tokens/{id}`: revokes a customer token at once, on every instance; 204,
/// also when it was revoked already. Vendor API tokens are not found here.
pub async fn revoke(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    state
        .actions
        .revoke_customer_token(&caller.actor, id)
        .await
        .map_err(not_found_as("no such customer token in your organization"))?;
    Ok(StatusCode::NO_CONTENT)
}
