//! Who is asking: [`Visitor`] (anyone, signed in or not) and [`SignedIn`] (a page that
//! needs a signed-in person; anyone else is sent to sign in and brought back).
//!
//! A signed-in visitor costs two reads per request: the session row and the account
//! (`wharf_db::accounts::find_person`); a deleted account or an ended session is signed out
//! here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
    response::{IntoResponse, Redirect, Response},
};
use tower_cookies::{Cookie, Cookies, cookie::SameSite};
use tower_sessions::Session;
use wharf_db::accounts::{self, Person};

use crate::{
    Portal, csrf,
    error::PageError,
    links,
    session::{self, Flash, SignedInSession},
    shell::Shell,
};

/// Anyone asking for a page.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The session (empty for an anonymous visitor).
    pub session: Session,
    /// The signed-in person, if any.
    pub signed_in: Option<(Person, SignedInSession)>,
    /// The client's address (the peer, or what a trusted proxy forwarded).
    pub client: IpAddr,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `x-request-id`.
    pub request_id: Option<String>,
    /// The path and query asked for (where to come back to after signing in).
    pub here: String,
    /// The form token this visitor's forms carry.
    csrf: String,
}

impl Visitor {
    /// The token to put in this visitor's forms (and the one their forms must carry).
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// The shell of a page titled `title` for this visitor, with the messages waiting for
    /// them.
    pub async fn shell(&self, title: impl Into<String>) -> Result<Shell, PageError> {
        let flashes: Vec<Flash> = match &self.signed_in {
            Some(_) => session::take_flashes(&self.session).await?,
            None => Vec::new(),
        };
        Ok(Shell::new(title.into(), self.signed_in.as_ref().map(|(p, _)| p), flashes, &self.csrf))
    }

    /// The signed-in person, or a redirect to sign in and come back here.
    pub fn require(self) -> Result<SignedIn, Redirect> {
        match self.signed_in.clone() {
            Some((person, auth)) => Ok(SignedIn { person, auth, visitor: self }),
            None => Err(Redirect::to(&links::sign_in_then(&self.here))),
        }
    }
}

impl FromRequestParts<Portal> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, PageError> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| PageError::internal("no session layer"))?;
        let cookies = parts
            .extensions
            .get::<Cookies>()
            .cloned()
            .ok_or_else(|| PageError::internal("no cookie layer"))?;
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        let client = portal
            .app
            .audit
            .client_addr(&parts.headers, peer)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let header =
            |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let here = parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();

        let mut signed_in = None;
        if let Some(auth) = session::signed_in(&session, portal.settings.session_max_age).await? {
            match accounts::find_person(&portal.app.pool, auth.user_id).await? {
                Some(person) => {
                    session::touch(&session, &auth).await?;
                    signed_in = Some((person, auth));
                }
                // The account was deleted: its session rows went with it, but this request
                // may have read the session first.
                None => session.flush().await?,
            }
        }
        let csrf = match &signed_in {
            Some((_, auth)) => auth.csrf.clone(),
            None => anonymous_token(&cookies, portal.settings.https()),
        };
        Ok(Visitor {
            session,
            signed_in,
            client,
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
            here,
            csrf,
        })
    }
}

/// The anonymous visitor's form token, from its cookie or new (and then set).
fn anonymous_token(cookies: &Cookies, https: bool) -> String {
    let name = if https { csrf::HTTPS_COOKIE } else { csrf::COOKIE };
    if let Some(token) = cookies.get(name).map(|c| c.value().to_owned())
        && token.len() == 43
    {
        return token;
    }
    let token = csrf::new_token();
    let cookie = Cookie::build((name, token.clone()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .path("/")
        .build();
    cookies.add(cookie);
    token
}

/// A signed-in person asking for a page.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The account.
    pub person: Person,
    /// Their session's signed-in state.
    pub auth: SignedInSession,
    /// The request.
    pub visitor: Visitor,
}

impl FromRequestParts<Portal> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Response> {
        Visitor::from_request_parts(parts, portal)
            .await
            .map_err(IntoResponse::into_response)?
            .require()
            .map_err(IntoResponse::into_response)
    }
}
