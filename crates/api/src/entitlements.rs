//! `GET /api/v1/customers/{id}/entitlements`: what the customer can pull now.

use axum::{Json, extract::State};
use serde::Serialize;
use time::OffsetDateTime;
use wharf_db::customers;

use wharf_app::entitled::{EntitledRepository, entitled_repositories};

use crate::{App, Caller, Problem, extract::Id};

/// A repository and the tags the customer may pull from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntitledRepositoryBody {
    /// Full name.
    pub name: String,
    /// Entitled tags, sorted.
    pub tags: Vec<String>,
}

/// The customer's entitlements.
#[derive(Debug, Clone, Serialize)]
pub struct EntitlementsBody {
    /// Repositories with at least one entitled tag, by name (empty for a disabled customer).
    pub repositories: Vec<EntitledRepositoryBody>,
}

/// `GET /api/v1/customers/{id}/entitlements`.
pub async fn get(
    caller: Caller,
    State(state): State<App>,
    Id(id): Id,
) -> Result<Json<EntitlementsBody>, Problem> {
    let customer = customers::get(&state.pool, caller.actor.org_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("no such customer in your organization"))?;
    let view = state.credentials.entitlements();
    let now = OffsetDateTime::now_utc();
    let repositories = entitled_repositories(&state.pool, view, &customer, now)
        .await
        .map_err(|_| Problem::unavailable())?
        .into_iter()
        .map(|EntitledRepository { name, tags }| EntitledRepositoryBody { name, tags })
        .collect();
    Ok(Json(EntitlementsBody { repositories }))
}
