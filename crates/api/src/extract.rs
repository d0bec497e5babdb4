//! Request parsing for the API: credentials, JSON bodies, ids, paging, times.
//!
//! Owns turning a request into typed values or a [`Problem`] in the API's own terms, never
//! axum's plain-text rejections: [`Caller`] (a vendor API token, any role), [`Manager`] (an
//! owner or admin that may write), [`Writer`] (any role, not read-only), [`ApiJson`] (a JSON
//! body, errors naming the field), [`Id`] and [`Ids`] (UUID path segments; anything else is
//! unknown, 404), [`PageQuery`] (`limit`, `cursor`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request},
    http::{StatusCode, header, request::Parts},
};
use base64::Engine as _;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use wharf_app::{
    actions::{Actor, RequestMeta},
    credentials::AuthFailure,
};
use wharf_auth::{authorization::Presented, principal::Principal};

use crate::{App, Caller, Problem};

impl FromRequestParts<App> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> Result<Self, Problem> {
        let missing = || {
            Problem::unauthorized(
                "send a vendor API token: `Authorization: Bearer wharf_vnd_…`",
                false,
            )
        };
        // Only a Bearer token is an API credential; no header, Basic or anything unreadable
        // is asked for one.
        let Ok(Some(Presented::Bearer(token))) = Presented::from_headers(&parts.headers) else {
            return Err(missing());
        };
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        let header =
            |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let request = RequestMeta {
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()),
            forwarded_for: header("x-forwarded-for"),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
        };
        let invalid = || {
            Problem::unauthorized(
                "the token is not a valid vendor API token (malformed, unknown, revoked or \
                 expired; customer tokens cannot use this API)",
                true,
            )
        };
        let who =
            state.credentials.authenticate_vendor_token(token.expose(), client).await.map_err(
                |failure| match failure {
                    AuthFailure::Throttled(wait) => Problem::too_many_requests(wait),
                    AuthFailure::Unavailable => Problem::unavailable(),
                    AuthFailure::Malformed | AuthFailure::Unknown | AuthFailure::Inactive(_) => {
                        tracing::debug!(?failure, %client, "API authentication failed");
                        invalid()
                    }
                },
            )?;
        // Only vendor API tokens get past `authenticate_vendor_token`.
        let Principal::VendorApiToken { token_id, org_id, role, read_only } = who.principal else {
            return Err(invalid());
        };
        let actor = Actor {
            org_id,
            org_slug: who.org_slug,
            user_id: who.user_id,
            token_id: Some(token_id),
            request,
        };
        Ok(Caller { actor, role, read_only })
    }
}

/// A caller that may manage customers, licenses, customer tokens, repository settings and
/// the team (owner or admin, token not read-only); anyone else authenticated gets 403.
#[derive(Debug, Clone)]
pub struct Manager(pub Caller);

impl FromRequestParts<App> for Manager {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> Result<Self, Problem> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.manager()?;
        Ok(Self(caller))
    }
}

/// A caller whose token is not read-only (any role); a read-only token gets 403.
#[derive(Debug, Clone)]
pub struct Writer(pub Caller);

impl FromRequestParts<App> for Writer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> Result<Self, Problem> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.writable()?;
        Ok(Self(caller))
    }
}

/// A UUID from the path. Anything that is not a UUID cannot name anything: 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let not_found = || Problem::not_found("no such resource in your organization");
        let Path(text) =
            Path::<String>::from_request_parts(parts, state).await.map_err(|_| not_found())?;
        text.parse().map(Id).map_err(|_| not_found())
    }
}

/// Two UUIDs from the path (`/customers/{id}/invitations/{invitation}`); anything else is
/// unknown, 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let not_found = || Problem::not_found("no such resource in your organization");
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        Ok(Self(a.parse().map_err(|_| not_found())?, b.parse().map_err(|_| not_found())?))
    }
}

/// A JSON request body. Requires `Content-Type: application/json` (415 otherwise); syntax
/// errors are 400 without a field, wrong shapes (missing, unknown or mistyped fields, bad
/// dates, unknown enum values) 400 naming the field as a path (`grants[0].tags.kind`).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            Problem::new(rejection.status(), format!("cannot read the body: {rejection}"))
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body, which must be an object; errors name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|err| Problem::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {err}")))?;
    if !value.is_object() {
        return Err(Problem::new(StatusCode::BAD_REQUEST, "the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = without_position(&err.into_inner().to_string());
        match field_path(&path, &message) {
            Some(field) => Problem::invalid(field.clone(), format!("{field}: {message}")),
            None => Problem::new(StatusCode::BAD_REQUEST, format!("invalid body: {message}")),
        }
    })
}

/// serde_json appends ` at line L column C`; the field path says more.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The field a data error is about: the path serde reached, plus the field named by a
/// "missing field" or "unknown field" message (serde stops at the enclosing object for
/// those). `None` for the whole body.
fn field_path(path: &str, message: &str) -> Option<String> {
    let base = if path == "." { "" } else { path };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|lead| message.strip_prefix(lead))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match named {
        Some(name) if !base.ends_with(name) => {
            Some(if base.is_empty() { name.to_owned() } else { format!("{base}.{name}") })
        }
        _ if base.is_empty() => None,
        _ => Some(base.to_owned()),
    }
}

/// The most items a page holds when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 50;
/// The most items a page may hold.
pub const MAX_LIMIT: i64 = 200;

/// `?limit=&cursor=` of a paginated listing; other parameters are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// Items per page, 1 to [`MAX_LIMIT`].
    pub limit: i64,
    /// Where the page starts: the decoded cursor of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    /// Parses the raw query string.
    pub fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|_| {
                Problem::new(StatusCode::BAD_REQUEST, "the query string is not valid form encoding")
            })?;
        let mut page = Self { limit: DEFAULT_LIMIT, after: None };
        for (key, value) in pairs {
            match key.as_str() {
                "limit" => {
                    page.limit =
                        value.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(
                            || {
                                Problem::invalid(
                                    "limit",
                                    format!("limit: must be a whole number from 1 to {MAX_LIMIT}"),
                                )
                            },
                        )?;
                }
                "cursor" if !value.is_empty() => page.after = Some(decode_cursor(&value)?),
                _ => {}
            }
        }
        Ok(page)
    }
}

/// Makes an opaque cursor of a position.
pub fn encode_cursor(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
}

/// Reads a cursor made by [`encode_cursor`]; anything else is a 400 on `cursor`.
pub fn decode_cursor(cursor: &str) -> Result<String, Problem> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad_cursor)
}

/// The 400 for a cursor this API did not make.
pub fn bad_cursor() -> Problem {
    Problem::invalid("cursor", "cursor: not a cursor from a previous page; start without one")
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use wharf_entitlements::GrantSpec;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        grants: Vec<GrantSpec>,
    }

    fn field(json: &str) -> (u16, Option<String>, String) {
        let problem = parse_json::<Body>(json.as_bytes()).unwrap_err();
        (problem.status, problem.field, problem.detail)
    }

    #[test]
    fn body_errors_name_the_field() {
        let cases = [
            (r#"{"nam":"x"}"#, Some("nam")),
            (r#"{}"#, Some("name")),
            (r#"{"name":1}"#, Some("name")),
            (r#"{"name":"x","grants":[{"repository":"a/b"}]}"#, Some("grants[0].tags")),
            (
                r#"{"name":"x","grants":[{"repository":"a/b","tags":{"kind":"all"},"published_befor":null}]}"#,
                Some("grants[0].published_befor"),
            ),
            (
                r#"{"name":"x","grants":[{"repository":"a/b","tags":{"kind":"all"},"published_after":"yesterday"}]}"#,
                Some("grants[0].published_after"),
            ),
            (r#"[]"#, None),
        ];
        for (json, expected) in cases {
            let (status, got, detail) = field(json);
            assert_eq!(status, 400, "{json}");
            assert_eq!(got.as_deref(), expected, "{json}: {detail}");
            assert!(!detail.contains(" at line "), "{detail}");
        }
        // Inside the internally tagged selector too.
        let (_, got, detail) =
            field(r#"{"name":"x","grants":[{"repository":"a/b","tags":{"kind":"regex"}}]}"#);
        assert_eq!(got.as_deref(), Some("grants[0].tags.kind"), "{detail}");
        let (_, got, detail) =
            field(r#"{"name":"x","grants":[{"repository":"a/b","tags":{"kind":"semver"}}]}"#);
        assert_eq!(got.as_deref(), Some("grants[0].tags.range"), "{detail}");
    }

    #[test]
    fn syntax_errors_have_no_field() {
        for json in [r#"{"name":"#, r#"{"name":"x"} trailing"#, "", "{'name':'x'}"] {
            let (status, got, detail) = field(json);
            assert_eq!((status, got), (400, None), "{json}");
            assert!(detail.starts_with("malformed JSON"), "{detail}");
        }
    }

    #[test]
    fn paging_parameters() {
        assert_eq!(PageQuery::parse(None).unwrap(), PageQuery { limit: 50, after: None });
        let cursor = encode_cursor("vendor/app");
        let page = PageQuery::parse(Some(&format!("limit=2&cursor={cursor}&x=1"))).unwrap();
        assert_eq!(page, PageQuery { limit: 2, after: Some("vendor/app".into()) });
        for bad in ["limit=0", "limit=201", "limit=ten", "limit=-1"] {
            assert_eq!(PageQuery::parse(Some(bad)).unwrap_err().field.as_deref(), Some("limit"));
        }
        for bad in ["cursor=%%%", "cursor=!!"] {
            let err = PageQuery::parse(Some(bad)).unwrap_err();
            assert_eq!(err.status, 400, "{bad}");
        }
        assert_eq!(
            PageQuery::parse(Some("cursor=!!")).unwrap_err().field.as_deref(),
            Some("cursor")
        );
    }
}
