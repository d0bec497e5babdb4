//! The pages' errors and the HTML error pages (404, 403, 429, 500, 503).
//!
//! A handler returns [`PageError`]; its response carries only the status and a
//! [`Rendered`] marker, and [`render`] (a layer of the pages' router) turns it into
//! `errors/error.html` with the request's `x-request-id`, so a person can quote it and an
//! operator can find the log lines. Internal errors are logged here and never shown: the
//! page says what happened in the visitor's terms and nothing about the inside.

use std::time::Duration;

use askama::Template;
use axum::{
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};

use crate::shell::Shell;

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No such page, or not one this visitor may know exists.
    #[error("not found")]
    NotFound,
    /// Signed in, but not allowed here.
    #[error("forbidden")]
    Forbidden,
    /// A write from another site, or with a stale form token.
    #[error("cross-site request refused")]
    CrossSite,
    /// A form body that is not a form, too big, or missing fields.
    #[error("unreadable form")]
    BadForm,
    /// Too many attempts: wait this long.
    #[error("too many requests")]
    TooMany(Duration),
    /// The database is unreachable or overloaded.
    #[error("unavailable")]
    Unavailable,
    /// Something broke; logged, not shown.
    #[error("internal: {0}")]
    Internal(String),
    /// Nobody is signed in: sign in, then come back to this path.
    #[error("sign in first")]
    SignIn(String),
}

impl PageError {
    /// An internal error, logged with its cause.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        PageError::Internal(err.to_string())
    }
}

impl From<wharf_db::DbError> for PageError {
    fn from(err: wharf_db::DbError) -> Self {
        if err.is_unavailable() { PageError::Unavailable } else { PageError::internal(err) }
    }
}

impl From<wharf_app::accounts::Failure> for PageError {
    fn from(err: wharf_app::accounts::Failure) -> Self {
        match err {
            wharf_app::accounts::Failure::Database(db) => db.into(),
            other => PageError::internal(other),
        }
    }
}

impl From<tower_sessions::session::Error> for PageError {
    fn from(err: tower_sessions::session::Error) -> Self {
        PageError::internal(format!("session: {err}"))
    }
}

/// The marker [`render`] turns into an error page.
#[derive(Debug, Clone, Copy)]
pub struct Rendered {
    title: &'static str,
    message: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PageError::SignIn(next) => {
                return axum::response::Redirect::to(&crate::links::sign_in_then(next))
                    .into_response();
            }
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no page at this address, or you cannot see it. Check the link, or go back to the start.",
            ),
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your account cannot do this here. Ask an administrator of this organization if you need to.",
            ),
            PageError::CrossSite => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was sent from another site or is too old. Go back, reload the page and try again.",
            ),
            PageError::BadForm => (
                StatusCode::BAD_REQUEST,
                "The form could not be read",
                "Go back, reload the page and send the form again.",
            ),
            PageError::TooMany(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Wait a little, then try again.",
            ),
            PageError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Wharf cannot reach its database right now. Try again in a few seconds.",
            ),
            PageError::Internal(cause) => {
                tracing::error!("page failed: {cause}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The page could not be shown. If it happens again, send the request id below to your administrator.",
                )
            }
        };
        let mut response = status.into_response();
        match self {
            PageError::TooMany(wait) => {
                response.headers_mut().insert(header::RETRY_AFTER, retry_after(wait));
            }
            PageError::Unavailable => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response.extensions_mut().insert(Rendered { title, message });
        response
    }
}

fn retry_after(wait: Duration) -> HeaderValue {
    HeaderValue::from(wait.as_secs().max(1))
}

/// The 404 page for every path nothing else answers.
pub async fn not_found() -> PageError {
    PageError::NotFound
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    shell: Shell,
    status: u16,
    title: &'a str,
    message: &'a str,
    request_id: Option<String>,
}

/// Renders the error page of a response that carries a [`Rendered`] marker.
pub async fn render(request: Request, next: Next) -> Response {
    let request_id =
        request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let response = next.run(request).await;
    let Some(rendered) = response.extensions().get::<Rendered>().copied() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    let page = ErrorPage {
        shell: Shell::bare(rendered.title),
        status: parts.status.as_u16(),
        title: rendered.title,
        message: rendered.message,
        request_id,
    };
    let body = match page.render() {
        Ok(html) => html,
        Err(err) => {
            tracing::error!("error page failed to render: {err}");
            rendered.title.to_owned()
        }
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    (parts, Html(body)).into_response()
}
