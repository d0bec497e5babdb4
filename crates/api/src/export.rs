//! `GET` and `POST /api/v1/customers/{id}/export`: a customer's air-gap bundle, streamed
//! (docs/airgap.md). The same export as `wharf export` and the portals' downloads
//! ([`wharf_app::export`]): decided and checked before the first byte (bad input answers with
//! a problem and writes nothing), then written as the client reads it, with its exact
//! `Content-Length` (or chunked, when compressed with zstd); recorded in the audit log and in analytics once complete.

use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use wharf_app::{
    App,
    export::{self, Compression, ExportError, Exporter, Selection},
};
use wharf_db::{accounts, customers};

use crate::{
    Caller, Problem,
    extract::{ApiJson, Id, Manager},
    usage::pairs,
};

/// The body of `POST …/export`: the selection, and the previous bundle for an incremental
/// one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// Only these repositories (full names).
    #[serde(default)]
    pub repositories: Vec<String>,
    /// Only these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The customer's registry host, for the commands in `IMPORT.md`.
    pub registry: Option<String>,
    /// The `wharf-bundle.json` of the customer's previous bundle, as it is.
    pub since_bundle: Option<serde_json::Value>,
    /// `none` (the default: a tar of exact `Content-Length`) or `zstd` (chunked).
    pub compression: Option<String>,
}

/// `GET /api/v1/customers/{id}/export?repository=…&tag=…&registry=…`: the whole entitlement,
/// or the repositories and tags named (each may repeat).
pub async fn get(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(id): Id,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let mut selection = Selection::default();
    for (key, value) in pairs(query.as_deref(), &["repository", "tag", "registry", "compression"])?
    {
        match key.as_str() {
            "repository" => selection.repositories.push(value),
            "tag" => selection.tags.push(value),
            "compression" => selection.compression = compression(&value)?,
            _ => selection.registry = Some(value),
        }
    }
    download(&caller, &state, id, selection).await
}

/// `POST /api/v1/customers/{id}/export` with an [`ExportBody`]: as `GET`, and incremental
/// from the previous bundle's `wharf-bundle.json`.
pub async fn post(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(id): Id,
    ApiJson(body): ApiJson<ExportBody>,
) -> Result<Response, Problem> {
    let selection = Selection {
        repositories: body.repositories,
        tags: body.tags,
        registry: body.registry,
        since: body.since_bundle.map(|value| value.to_string()),
        compression: compression(body.compression.as_deref().unwrap_or_default())?,
    };
    download(&caller, &state, id, selection).await
}

async fn download(
    caller: &Caller,
    state: &App,
    id: uuid::Uuid,
    selection: Selection,
) -> Result<Response, Problem> {
    let org_id = caller.actor.org_id;
    let customer = customers::get(&state.pool, org_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("no such customer in your organization"))?;
    let org = accounts::find_organization(&state.pool, &caller.actor.org_slug)
        .await?
        .filter(|org| org.id == org_id)
        .ok_or_else(Problem::unavailable)?;
    let plan = export::plan(&state.pool, &org, &customer, selection).await.map_err(problem)?;
    let headers = export::download_headers(&plan).map_err(|_| Problem::unavailable())?;
    let by = Exporter::of(&caller.actor, &state.audit);
    let body = export::stream(state.pool.clone(), state.blobs.clone(), plan, by);
    Ok((headers, Body::from_stream(body)).into_response())
}

/// `none` or `zstd`.
fn compression(value: &str) -> Result<Compression, Problem> {
    Compression::parse(value)
        .ok_or_else(|| Problem::invalid("compression", "compression is none or zstd"))
}

/// What the API answers for an export that cannot be made.
fn problem(err: ExportError) -> Problem {
    match err {
        ExportError::Disabled(_) => Problem::conflict("customer", err.to_string()),
        ExportError::NoSuchRepository(message) | ExportError::NoSuchTag(message) => {
            Problem::not_found(message)
        }
        ExportError::Since(message) => Problem::invalid("since_bundle", message),
        ExportError::Unavailable | ExportError::Write(_) => Problem::unavailable(),
        ExportError::Content(message) => {
            tracing::error!("export: {message}");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, message)
        }
    }
}
