//! `/api/v1/customers` and `/api/v1/customers/{id}`: list (paged), create, get, change
//! (`name`, `disabled`), delete.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_db::customers::{self, Customer, CustomerCursor};

use crate::{
    App, Caller, Problem,
    extract::{ApiJson, Id, Manager, PageQuery, bad_cursor, encode_cursor},
};

/// A customer as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerBody {
    /// Its id.
    pub id: Uuid,
    /// Its name, unique within the vendor.
    pub name: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// A disabled customer's tokens do not authenticate.
    pub disabled: bool,
}

impl From<Customer> for CustomerBody {
    fn from(c: Customer) -> Self {
        Self { id: c.id, name: c.name, created_at: c.created_at, disabled: c.disabled }
    }
}

/// A page of customers.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerPage {
    /// The customers, oldest first.
    pub items: Vec<CustomerBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/customers`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// The name (1 to 200 characters, trimmed).
    pub name: String,
}

/// `PATCH /api/v1/customers/{id}`: what is given changes; `null` is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    /// A new name.
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    /// Disable (`true`) or enable (`false`).
    #[serde(default, deserialize_with = "present")]
    pub disabled: Option<Option<bool>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

pub(crate) fn not_null<T>(field: &str, value: Option<Option<T>>) -> Result<Option<T>, Problem> {
    match value {
        Some(None) => Err(Problem::invalid(field, format!("{field}: must not be null"))),
        Some(Some(v)) => Ok(Some(v)),
        None => Ok(None),
    }
}

fn customer_cursor(c: &Customer) -> String {
    encode_cursor(&format!("{}.{}", c.created_at.unix_timestamp_nanos(), c.id))
}

fn parse_customer_cursor(text: &str) -> Result<CustomerCursor, Problem> {
    let (nanos, id) = text.split_once('.').ok_or_else(bad_cursor)?;
    let nanos: i128 = nanos.parse().map_err(|_| bad_cursor())?;
    let created_at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| bad_cursor())?;
    let id: Uuid = id.parse().map_err(|_| bad_cursor())?;
    Ok(CustomerCursor { created_at, id })
}

fn location(id: Uuid) -> [(header::HeaderName, HeaderValue); 1] {
    let value = HeaderValue::from_str(&format!("/api/v1/customers/{id}"))
        .unwrap_or(HeaderValue::from_static("/api/v1/customers"));
    [(header::LOCATION, value)]
}

/// `GET /api/v1/customers?limit=&cursor=`: the customers, oldest first.
pub async fn list(
    caller: Caller,
    State(state): State<App>,
    RawQuery(query): RawQuery,
) -> Result<Json<CustomerPage>, Problem> {
    let page = PageQuery::parse(query.as_deref())?;
    let after = page.after.as_deref().map(parse_customer_cursor).transpose()?;
    let mut found =
        customers::list(&state.pool, caller.actor.org_id, after, page.limit + 1).await?;
    let more = found.len() as i64 > page.limit;
    found.truncate(usize::try_from(page.limit).unwrap_or(0));
    let next_cursor = if more { found.last().map(customer_cursor) } else { None };
    Ok(Json(CustomerPage { items: found.into_iter().map(Into::into).collect(), next_cursor }))
}

/// `POST /api/v1/customers`: 201 with the customer.
pub async fn create(
    Manager(caller): Manager,
    State(state): State<App>,
    ApiJson(body): ApiJson<NewCustomer>,
) -> Result<impl IntoResponse, Problem> {
    let customer = state.actions.create_customer(&caller.actor, &body.name).await?;
    let id = customer.id;
    Ok((StatusCode::CREATED, location(id), Json(CustomerBody::from(customer))))
}

/// `GET /api/v1/customers/{id}`.
pub async fn get(
    caller: Caller,
    State(state): State<App>,
    Id(id): Id,
) -> Result<Json<CustomerBody>, Problem> {
    let customer = customers::get(&state.pool, caller.actor.org_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("no such customer in your organization"))?;
    Ok(Json(customer.into()))
}

/// `PATCH /api/v1/customers/{id}`: change `name` and/or `disabled`.
pub async fn update(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(id): Id,
    ApiJson(body): ApiJson<CustomerPatch>,
) -> Result<Json<CustomerBody>, Problem> {
    let name = not_null("name", body.name)?;
    let disabled = not_null("disabled", body.disabled)?;
    let customer =
        state.actions.update_customer(&caller.actor, id, name.as_deref(), disabled).await?;
    Ok(Json(customer.into()))
}

/// `DELETE /api/v1/customers/{id}`: deletes it with its licenses and tokens; 204.
pub async fn delete(
    Manager(caller): Manager,
    State(state): State<App>,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    state.actions.delete_customer(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{decode_cursor, parse_json};

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = Customer {
            id: Uuid::now_v7(),
            organization_id: Uuid::now_v7(),
            name: "x".into(),
            disabled: false,
            created_at: OffsetDateTime::now_utc(),
        };
        let back = parse_customer_cursor(&decode_cursor(&customer_cursor(&c)).unwrap()).unwrap();
        assert_eq!(back, c.cursor());
        for junk in ["", "x", "1.2", "abc.0190b0c0-0000-7000-8000-000000000000"] {
            assert_eq!(parse_customer_cursor(junk).unwrap_err().field.as_deref(), Some("cursor"));
        }
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let patch: CustomerPatch = parse_json(br#"{"disabled":true}"#).unwrap();
        assert_eq!((patch.name, patch.disabled), (None, Some(Some(true))));
        let patch: CustomerPatch = parse_json(br#"{"name":null}"#).unwrap();
        assert_eq!(not_null("name", patch.name).unwrap_err().field.as_deref(), Some("name"));
        assert!(parse_json::<CustomerPatch>(br#"{"disabled":"yes"}"#).is_err());
        assert!(parse_json::<CustomerPatch>(br#"{"id":"x"}"#).is_err());
    }
}
