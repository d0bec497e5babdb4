//! Sign in (`/sign-in`) and sign out (`/sign-out`).
//!
//! One form for vendor members and customer users. Unknown email and wrong password get one
//! message (the account service spends the same time on both); a throttled attempt says how
//! long to wait (429, `Retry-After`). Success starts a new session (new id), then goes to
//! `?next=` if it is a path on this site, else to the person's home.

use askama::Template;
use axum::{
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use secrecy::SecretString;
use serde::Deserialize;
use wharf_app::accounts::{AccountEvent, LoginError, SignupMode};

use super::{branding::BrandView, page, page_with};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    links, session,
    shell::{Field, Shell},
    visitor::Visitor,
};

/// `?next=` and `?notice=` on the sign-in page.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct SignInQuery {
    next: Option<String>,
    notice: Option<String>,
}

/// The sign-in form.
#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Template)]
#[template(path = "account/sign_in.html")]
struct SignInPage {
    shell: Shell,
    email: Field,
    password: Field,
    error: Option<String>,
    notice: Option<&'static str>,
    next: String,
    signup_open: bool,
    /// A vendor's branding (`/s/{slug}/sign-in`), or none (Wharf's own page).
    brand: Option<BrandView>,
    /// Where the form posts.
    action: String,
}

/// Messages the sign-in page shows after a redirect (fixed texts: nothing from the query
/// string reaches the page).
fn notice(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "signed-out" => Some("You have signed out."),
        "password-reset" => Some(
            "Your password was changed and every session ended. Sign in with the new password.",
        ),
        "session-ended" => Some("Your session has ended. Sign in again."),
        _ => None,
    }
}

/// `GET /sign-in`.
pub(crate) async fn sign_in_get(
    State(portal): State<Portal>,
    visitor: Visitor,
    Query(query): Query<SignInQuery>,
) -> Result<Response, PageError> {
    show(&portal, visitor, query, None).await
}

/// The sign-in page, Wharf's or (with `brand`) a vendor's.
pub(crate) async fn show(
    portal: &Portal,
    visitor: Visitor,
    query: SignInQuery,
    brand: Option<BrandView>,
) -> Result<Response, PageError> {
    if visitor.signed_in.is_some() {
        let next = query.next.as_deref().and_then(links::safe_next).unwrap_or("/");
        return Ok(Redirect::to(next).into_response());
    }
    let next = query.next.as_deref().and_then(links::safe_next).unwrap_or_default().to_owned();
    page(&SignInPage {
        shell: visitor.shell("Sign in").await?.at(links::SIGN_IN),
        email: Field::default(),
        password: Field::default(),
        error: None,
        notice: notice(query.notice.as_deref()),
        next,
        signup_open: portal.app.accounts.settings().signup != SignupMode::Closed,
        action: brand.as_ref().map_or_else(|| links::SIGN_IN.to_owned(), |b| b.home.clone()),
        brand,
    })
}

/// `POST /sign-in`.
pub(crate) async fn sign_in_post(
    State(portal): State<Portal>,
    form: PageForm<SignInForm>,
) -> Result<Response, PageError> {
    submit(&portal, form, None).await
}

/// Signs in; a failure shows the sign-in page (with `brand`, the vendor's) again.
pub(crate) async fn submit(
    portal: &Portal,
    PageForm { visitor, form }: PageForm<SignInForm>,
    brand: Option<BrandView>,
) -> Result<Response, PageError> {
    let accounts = &portal.app.accounts;
    let password = SecretString::from(form.password);
    let result = accounts.login(&form.email, &password, visitor.client).await;
    let event = |success: bool, user_id, detail| AccountEvent {
        action: "user.sign_in",
        user_id,
        email: Some(form.email.trim()),
        success,
        detail,
        client: visitor.client,
        user_agent: visitor.user_agent.as_deref(),
        request_id: visitor.request_id.as_deref(),
    };
    let next = links::safe_next(&form.next).unwrap_or_default().to_owned();
    let failed = |status: StatusCode, error: String| -> Result<Response, PageError> {
        let mut email = Field::with(form.email.trim());
        email.error = None;
        page_with(
            status,
            &SignInPage {
                shell: Shell::new("Sign in".into(), None, Vec::new(), visitor.csrf())
                    .at(links::SIGN_IN),
                email,
                password: Field::default(),
                error: Some(error),
                notice: None,
                next: next.clone(),
                signup_open: accounts.settings().signup != SignupMode::Closed,
                action: brand
                    .as_ref()
                    .map_or_else(|| links::SIGN_IN.to_owned(), |b| b.home.clone()),
                brand: brand.clone(),
            },
        )
    };
    match result {
        Ok(signed_in) => {
            session::sign_in(
                &visitor.session,
                signed_in.user_id,
                visitor.user_agent.as_deref(),
                visitor.client,
            )
            .await?;
            let detail = serde_json::json!({ "rehashed": signed_in.rehashed });
            accounts.record_account_event(event(true, Some(signed_in.user_id), detail)).await;
            let to = links::safe_next(&form.next).unwrap_or("/");
            Ok(Redirect::to(to).into_response())
        }
        Err(LoginError::InvalidCredentials) => {
            accounts
                .record_account_event(event(
                    false,
                    None,
                    serde_json::json!({ "reason": "credentials" }),
                ))
                .await;
            failed(StatusCode::UNAUTHORIZED, "Wrong email or password.".into())
        }
        Err(LoginError::Throttled(wait)) => {
            accounts
                .record_account_event(event(
                    false,
                    None,
                    serde_json::json!({ "reason": "throttled" }),
                ))
                .await;
            let seconds = wait.as_secs().max(1);
            let mut response = failed(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many failed sign-ins. Wait {seconds} seconds, then try again."),
            )?;
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            Ok(response)
        }
        Err(LoginError::Internal(err)) => Err(err.into()),
    }
}

/// `POST /sign-out`: ends the session on the server, then shows the sign-in page. A
/// session that has already ended (elsewhere, or timed out) just goes to the sign-in page:
/// there is nothing to protect, and "this form has expired" would only confuse.
pub(crate) async fn sign_out_post(
    State(portal): State<Portal>,
    request: axum::extract::Request,
) -> Result<Response, PageError> {
    let (mut parts, body) = request.into_parts();
    let visitor = <Visitor as axum::extract::FromRequestParts<Portal>>::from_request_parts(
        &mut parts, &portal,
    )
    .await?;
    if let Some((person, _)) = &visitor.signed_in {
        let bytes = axum::body::to_bytes(body, 64 * 1024).await.map_err(|_| PageError::BadForm)?;
        crate::csrf::check(&visitor, &parts, &bytes)?;
        visitor.session.flush().await?;
        portal
            .app
            .accounts
            .record_account_event(AccountEvent {
                action: "user.sign_out",
                user_id: Some(person.id),
                email: Some(&person.email),
                success: true,
                detail: serde_json::json!({}),
                client: visitor.client,
                user_agent: visitor.user_agent.as_deref(),
                request_id: visitor.request_id.as_deref(),
            })
            .await;
    }
    Ok(Redirect::to("/sign-in?notice=signed-out").into_response())
}
