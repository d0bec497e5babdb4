//! A person's own account (`/account`): change the password (the current one is
//! required; every other session ends and this one gets a new id), see their sessions
//! (created, last seen, browser, address) and end the others.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use secrecy::SecretString;
use serde::Deserialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;
use wharf_app::accounts::{AccountEvent, ChangePasswordError};
use wharf_db::sessions::{self as stored, SessionSummary};

use super::{page, page_with};
use crate::{
    Portal,
    csrf::PageForm,
    error::PageError,
    links,
    session::{self, id_hash},
    shell::{Field, Shell},
    visitor::{SignedIn, Visitor},
};

/// One session row on the account page.
struct SessionRow {
    end: Option<String>,
    created: String,
    last_seen: String,
    browser: String,
    address: String,
}

#[derive(Template)]
#[template(path = "account/account.html")]
struct AccountPage {
    shell: Shell,
    email: String,
    current_password: Field,
    password: Field,
    password_confirm: Field,
    error: Option<String>,
    sessions: Vec<SessionRow>,
    others: usize,
}

/// The change-password form.
#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

/// `GET /account`.
pub(crate) async fn account_get(
    State(portal): State<Portal>,
    who: SignedIn,
) -> Result<Response, PageError> {
    let shell = who.visitor.shell("Your account").await?.at(links::ACCOUNT);
    render(&portal, &who, shell, StatusCode::OK, Default::default()).await
}

/// What a shown-again password form says.
#[derive(Default)]
struct Errors {
    current_password: Field,
    password: Field,
    error: Option<String>,
}

async fn render(
    portal: &Portal,
    who: &SignedIn,
    shell: Shell,
    status: StatusCode,
    errors: Errors,
) -> Result<Response, PageError> {
    let current = who.visitor.session.id().map(|id| id_hash(&id));
    let current_public = match &current {
        Some(hash) => stored::public_id(&portal.app.pool, hash).await?,
        None => None,
    };
    let listed = stored::list_for_user(&portal.app.pool, who.person.id).await?;
    let others = listed.iter().filter(|s| Some(s.public_id) != current_public).count();
    let sessions = listed.into_iter().map(|s| row(s, current_public)).collect();
    page_with(
        status,
        &AccountPage {
            shell,
            email: who.person.email.clone(),
            current_password: errors.current_password,
            password: errors.password,
            password_confirm: Field::default(),
            error: errors.error,
            sessions,
            others,
        },
    )
}

fn row(s: SessionSummary, current: Option<Uuid>) -> SessionRow {
    let this = Some(s.public_id) == current;
    SessionRow {
        end: (!this).then(|| links::end_session(s.public_id)),
        created: when(s.created_at),
        last_seen: if this { "now (this browser)".into() } else { when(s.last_seen_at) },
        browser: s.user_agent.as_deref().map(browser_name).unwrap_or("unknown").to_owned(),
        address: s.client_addr.unwrap_or_else(|| "unknown".into()),
    }
}

/// A timestamp as the pages show it: UTC, to the minute.
pub fn when(at: OffsetDateTime) -> String {
    let text = at.format(&Rfc3339).unwrap_or_default();
    // 2026-12-06T14:05:09.123Z → 2026-12-06 14:05 UTC
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text,
    }
}

/// A short name for a `User-Agent`.
fn browser_name(agent: &str) -> &'static str {
    let os = if agent.contains("Android") {
        "Android"
    } else if agent.contains("iPhone") || agent.contains("iPad") {
        "iOS"
    } else if agent.contains("Windows") {
        "Windows"
    } else if agent.contains("Mac OS") {
        "macOS"
    } else if agent.contains("Linux") {
        "Linux"
    } else {
        ""
    };
    let browser = if agent.contains("Edg/") {
        "Edge"
    } else if agent.contains("Firefox/") {
        "Firefox"
    } else if agent.contains("Chrome/") || agent.contains("Chromium/") {
        "Chrome"
    } else if agent.contains("Safari/") {
        "Safari"
    } else {
        "Other browser"
    };
    match (browser, os) {
        ("Chrome", "Linux") => "Chrome on Linux",
        ("Chrome", "Windows") => "Chrome on Windows",
        ("Chrome", "macOS") => "Chrome on macOS",
        ("Chrome", "Android") => "Chrome on Android",
        ("Firefox", "Linux") => "Firefox on Linux",
        ("Firefox", "Windows") => "Firefox on Windows",
        ("Firefox", "macOS") => "Firefox on macOS",
        ("Safari", "macOS") => "Safari on macOS",
        ("Safari", "iOS") => "Safari on iOS",
        ("Edge", _) => "Edge",
        (browser, _) => browser,
    }
}

/// `POST /account/password`.
pub(crate) async fn password_post(
    State(portal): State<Portal>,
    PageForm { visitor, form }: PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    let who = match visitor.require() {
        Ok(who) => who,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let shell = Shell::new("Your account".into(), Some(&who.person), Vec::new(), &who.auth.csrf)
        .at(links::ACCOUNT);
    if form.password != form.password_confirm {
        let mut errors = Errors::default();
        errors.password.fail("the two new passwords differ");
        return render(&portal, &who, shell, StatusCode::UNPROCESSABLE_ENTITY, errors).await;
    }
    let keep = who.visitor.session.id().map(|id| id_hash(&id));
    let result = portal
        .app
        .accounts
        .change_password(
            who.person.id,
            &SecretString::from(form.current_password),
            &SecretString::from(form.password),
            keep.as_ref().map(|h| h.as_slice()),
            who.visitor.client,
        )
        .await;
    let mut errors = Errors::default();
    match result {
        Ok(()) => {
            // A change of password is a change of privilege: this session gets a new id.
            who.visitor.session.cycle_id().await?;
            session::flash(
                &who.visitor.session,
                "success",
                "Your password was changed. Your other sessions have ended.",
            )
            .await?;
            return Ok(Redirect::to(links::ACCOUNT).into_response());
        }
        Err(ChangePasswordError::Invalid(err)) if err.field.name() == "current_password" => {
            errors.current_password.fail(err.message)
        }
        Err(ChangePasswordError::Invalid(err)) => errors.password.fail(err.message),
        Err(ChangePasswordError::Throttled(wait)) => {
            return Err(PageError::TooMany(wait));
        }
        Err(ChangePasswordError::Stale) => {
            errors.error = Some("Your password was changed meanwhile. Sign in again.".into())
        }
        Err(ChangePasswordError::Internal(err)) => return Err(err.into()),
    }
    render(&portal, &who, shell, StatusCode::UNPROCESSABLE_ENTITY, errors).await
}

#[derive(Template)]
#[template(path = "components/confirm.html")]
pub(crate) struct ConfirmPage {
    pub shell: Shell,
    pub question: String,
    pub action: String,
    pub confirm_label: String,
    pub cancel: String,
}

/// `GET /account/sessions/end-others`: the confirmation.
pub(crate) async fn end_others_get(who: SignedIn) -> Result<Response, PageError> {
    page(&ConfirmPage {
        shell: who.visitor.shell("End your other sessions?").await?.at(links::ACCOUNT),
        question: "Every other browser signed in to your account is signed out at its next request. This one stays signed in.".into(),
        action: links::END_OTHER_SESSIONS.into(),
        confirm_label: "End other sessions".into(),
        cancel: links::ACCOUNT.into(),
    })
}

/// `POST /account/sessions/end-others`.
pub(crate) async fn end_others_post(
    State(portal): State<Portal>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let who = match visitor.require() {
        Ok(who) => who,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let keep = who.visitor.session.id().map(|id| id_hash(&id));
    let ended =
        stored::end_for_user(&portal.app.pool, who.person.id, keep.as_ref().map(|h| h.as_slice()))
            .await?;
    record(&portal, &who.visitor, who.person.id, &who.person.email, ended).await;
    let text = match ended {
        0 => "There were no other sessions.".to_owned(),
        1 => "1 other session ended.".to_owned(),
        n => format!("{n} other sessions ended."),
    };
    session::flash(&who.visitor.session, "success", text).await?;
    Ok(Redirect::to(links::ACCOUNT).into_response())
}

/// `POST /account/sessions/{id}/end`: ends one of the person's other sessions.
pub(crate) async fn end_one_post(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    PageForm { visitor, .. }: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let who = match visitor.require() {
        Ok(who) => who,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    if !stored::end_one(&portal.app.pool, who.person.id, id).await? {
        return Err(PageError::NotFound);
    }
    record(&portal, &who.visitor, who.person.id, &who.person.email, 1).await;
    session::flash(&who.visitor.session, "success", "The session ended.").await?;
    Ok(Redirect::to(links::ACCOUNT).into_response())
}

async fn record(portal: &Portal, visitor: &Visitor, user_id: Uuid, email: &str, ended: u64) {
    portal
        .app
        .accounts
        .record_account_event(AccountEvent {
            action: "user.sessions_end",
            user_id: Some(user_id),
            email: Some(email),
            success: true,
            detail: serde_json::json!({ "ended": ended }),
            client: visitor.client,
            user_agent: visitor.user_agent.as_deref(),
            request_id: visitor.request_id.as_deref(),
        })
        .await;
}
