//! RFC 9457 problem responses: every error the API returns.
//!
//! Owns the one error type of the API and its mapping to statuses. The body is
//! `{"type","title","status","detail"}` plus `field` (the request field at fault, as written
//! in the JSON body or the query: `grants[0].tags.range`, `limit`) where one is to blame,
//! served as `application/problem+json`. `type` is `about:blank`, so `title` is the status
//! phrase: clients act on `status` and `field`. Internal failures are logged here and never
//! described to the client.

use std::time::Duration;

use axum::{
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use wharf_db::DbError;

use wharf_app::actions::ActionError;

/// The media type of problem bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem response.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The status phrase.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// The request field at fault, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            headers: Vec::new(),
        }
    }

    /// 400: `field` is invalid.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail).with_field(field)
    }

    /// 401 with a `Bearer` challenge; `invalid_token` when credentials were sent.
    pub fn unauthorized(detail: impl Into<String>, invalid_token: bool) -> Self {
        let challenge = if invalid_token {
            "Bearer realm=\"wharf\", error=\"invalid_token\""
        } else {
            "Bearer realm=\"wharf\""
        };
        Self::new(StatusCode::UNAUTHORIZED, detail)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge))
    }

    /// 403: the caller's role or token does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: nothing of that kind with that id in the caller's organization.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409: conflicts with existing data.
    pub fn conflict(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail).with_field(field)
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(wait: Duration) -> Self {
        let seconds = wait.as_secs().max(1);
        let mut problem = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed authentications: retry in {seconds} s"),
        );
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            problem = problem.with_header(header::RETRY_AFTER, value);
        }
        problem
    }

    /// 503: the database (or another dependency) failed; logged, not described.
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "the service is unavailable; try again")
    }

    /// A database failure: logged, answered 503.
    pub fn database(err: &DbError) -> Self {
        tracing::error!("api: database: {err}");
        Self::unavailable()
    }

    /// Names the field at fault.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a response header.
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl From<DbError> for Problem {
    fn from(err: DbError) -> Self {
        Self::database(&err)
    }
}

impl From<ActionError> for Problem {
    fn from(err: ActionError) -> Self {
        match err {
            ActionError::Invalid { field, message } => {
                Self::invalid(field.clone(), format!("{field}: {message}"))
            }
            ActionError::NotFound => Self::not_found("no such resource in your organization"),
            ActionError::Conflict { field, message } => Self::conflict(field, message),
            ActionError::Database(err) => Self::database(&err),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        // A dependency failed: a retry a few seconds later usually finds it back.
        if status == StatusCode::SERVICE_UNAVAILABLE && !headers.contains_key(header::RETRY_AFTER) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
