//! `/api/v1/customers/{id}/licenses` (list, create) and `/api/v1/licenses/{id}` (get,
//! replace, delete). A license carries its grants; `PUT` replaces the license with them.
//! Grants have the JSON shape of `wharf-entitlements`' [`GrantSpec`] and are validated there.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_db::{
    customers,
    licenses::{self, LicenseRecord},
};
use wharf_entitlements::{ExpiryPolicy, Grant, GrantSpec};

use crate::{
    App, Caller, Problem,
    extract::{ApiJson, Id, Manager},
};
use wharf_app::actions::LicenseForm;

/// A license as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseBody {
    /// Its id.
    pub id: Uuid,
    /// The customer holding it.
    pub customer_id: Uuid,
    /// Display name.
    pub name: String,
    /// Start of validity (inclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// End of validity (exclusive), or `null`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// `revoke` or `keep_released`.
    pub on_expiry: ExpiryPolicy,
    /// A suspended license grants nothing.
    pub suspended: bool,
    /// The vendor's notes.
    pub notes: String,
    /// The grants, in order.
    pub grants: Vec<GrantSpec>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<LicenseRecord> for LicenseBody {
    fn from(l: LicenseRecord) -> Self {
        Self {
            id: l.id,
            customer_id: l.customer_id,
            name: l.name,
            starts_at: l.starts_at,
            expires_at: l.expires_at,
            on_expiry: l.on_expiry,
            suspended: l.suspended,
            notes: l.notes,
            grants: l.grants.iter().map(Grant::to_spec).collect(),
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

/// A customer's licenses.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseList {
    /// Oldest first.
    pub items: Vec<LicenseBody>,
}

/// The body of `POST /api/v1/customers/{id}/licenses` and `PUT /api/v1/licenses/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseInputBody {
    /// Display name (1 to 200 characters).
    pub name: String,
    /// Start of validity (inclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// End of validity (exclusive); later than `starts_at`; `null` or absent for none.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// `revoke` or `keep_released`.
    pub on_expiry: ExpiryPolicy,
    /// Default `false`.
    #[serde(default)]
    pub suspended: bool,
    /// Default empty; at most 4000 characters.
    #[serde(default)]
    pub notes: String,
    /// The grants, in order (may be empty: a license granting nothing).
    pub grants: Vec<GrantSpec>,
}

impl From<LicenseInputBody> for LicenseForm {
    fn from(b: LicenseInputBody) -> Self {
        Self {
            name: b.name,
            starts_at: b.starts_at,
            expires_at: b.expires_at,
            on_expiry: b.on_expiry,
            suspended: b.suspended,
            notes: b.notes,
            grants: b.grants,
        }
    }
}

fn no_customer() -> Problem {
    Problem::not_found("no such customer in your organization")
}

fn no_license() -> Problem {
    Problem::not_found("no such license in your organization")
}

/// `GET /api/v1/customers/{id}/licenses`.
pub async fn list(
    caller: Caller,
    State(state): State<App>,
    Id(customer_id): Id,
) -> Result<Json<LicenseList>, Problem> {
    let org = caller.actor.org_id;
    customers::get(&state.pool, org, customer_id).await?.ok_or_else(no_customer)?;
    let found = licenses::list_for_customer(&state.pool, org, customer_id).await?;
    Ok(Json(LicenseList { items: found.into_iter().map(Into::into).collect() }))
}

/// `POST /api/v1/customers/{id}/licenses`: 201 with the license.
pub async fn create(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(customer_id): Id,
    ApiJson(body): ApiJson<LicenseInputBody>,
) -> Result<impl IntoResponse, Problem> {
    let form = LicenseForm::from(body);
    let license =
        state.actions.create_license(&caller.actor, customer_id, &form).await.map_err(|err| {
            match err {
                wharf_app::actions::ActionError::NotFound => no_customer(),
                other => other.into(),
            }
        })?;
    let location = HeaderValue::from_str(&format!("/api/v1/licenses/{}", license.id))
        .unwrap_or(HeaderValue::from_static("/api/v1/licenses"));
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(LicenseBody::from(license))))
}

/// `GET /api/v1/licenses/{id}`.
pub async fn get(
    caller: Caller,
    State(state): State<App>,
    Id(id): Id,
) -> Result<Json<LicenseBody>, Problem> {
    let license =
        licenses::get(&state.pool, caller.actor.org_id, id).await?.ok_or_else(no_license)?;
    Ok(Json(license.into()))
}

/// `PUT /api/v1/licenses/{id}`: replaces every field and all grants.
pub async fn replace(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(id): Id,
    ApiJson(body): ApiJson<LicenseInputBody>,
) -> Result<Json<LicenseBody>, Problem> {
    let form = LicenseForm::from(body);
    let license =
        state.actions.replace_license(&caller.actor, id, &form).await.map_err(|err| match err {
            wharf_app::actions::ActionError::NotFound => no_license(),
            other => other.into(),
        })?;
    Ok(Json(license.into()))
}

/// `DELETE /api/v1/licenses/{id}`: 204.
pub async fn delete(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    state.actions.delete_license(&caller.actor, id).await.map_err(|err| match err {
        wharf_app::actions::ActionError::NotFound => no_license(),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}
