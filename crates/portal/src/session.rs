//! Portal sessions: tower-sessions over Wharf's own Postgres table, and who is signed in.
//!
//! - The cookie (`wharf_session`, or `__Host-wharf_session` when the public URL is https)
//!   is `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` on https; it holds a random 128-bit
//!   id and nothing else.
//! - [`PgSessionStore`] keeps sessions in `portal_sessions` (`wharf_db::sessions`) keyed by
//!   the SHA-256 of the id, with the signed-in account copied into a column. The published
//!   sqlx store for tower-sessions keeps the id itself and an opaque blob, so a person's
//!   sessions could be neither listed nor ended together, and a copy of the table would sign
//!   people in; hence a store of our own (docs/architecture.md).
//! - Idle timeout: the session expires `session_idle` after its last save; a signed-in
//!   request saves it at most once a minute ([`TOUCH_EVERY`]), which is also how "last seen"
//!   is kept. Absolute timeout: `session_max_age` after sign-in, checked on every request.
//! - Every signed-in request reads the session and the account from the database, so a
//!   session ended anywhere (sign-out, "end other sessions", a password change or reset, a
//!   deleted account) is refused at its next request on every instance. Which organization
//!   or customer a page acts for comes from its URL and is checked on every request too
//!   (`pages::home`), so a removed member or a disabled customer loses access at once.
//! - Only sign-in writes a session: an anonymous visitor costs no row.

use std::{collections::HashMap, net::IpAddr, time::Duration};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tower_sessions::{
    Expiry, Session, SessionManagerLayer,
    cookie::SameSite,
    session::{Id, Record},
    session_store::{self, SessionStore},
};
use uuid::Uuid;
use wharf_db::{PgPool, sessions};

use crate::Portal;

/// The session cookie's name on http.
pub const COOKIE: &str = "wharf_session";
/// The session cookie's name on https (the `__Host-` prefix: Secure, Path=/, no Domain).
pub const HTTPS_COOKIE: &str = "__Host-wharf_session";

/// A signed-in session is saved again (its idle expiry pushed back, its "last seen"
/// updated) at most this often.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

const AUTH: &str = "auth";
const FLASH: &str = "flash";

/// What a signed-in session holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedInSession {
    /// The account.
    pub user_id: Uuid,
    /// When the person signed in (Unix seconds): the absolute timeout counts from here.
    pub signed_in_at: i64,
    /// When the session was last saved (Unix seconds).
    pub seen_at: i64,
    /// The token every form and htmx request of this session must carry.
    pub csrf: String,
    /// The browser at sign-in (for the account page).
    pub user_agent: Option<String>,
    /// The client address at sign-in (for the account page).
    pub client_addr: Option<String>,
}

/// A message shown once on the next page (after a redirect).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Flash {
    /// `success`, `info` or `error`.
    pub kind: String,
    /// What to say.
    pub text: String,
}

/// The session layer for the pages' router.
pub fn layer(portal: &Portal) -> SessionManagerLayer<PgSessionStore> {
    let https = portal.settings.https();
    let idle =
        time::Duration::try_from(portal.settings.session_idle).unwrap_or(time::Duration::hours(8));
    SessionManagerLayer::new(PgSessionStore { pool: portal.app.pool.clone() })
        .with_name(if https { HTTPS_COOKIE } else { COOKIE })
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_secure(https)
        .with_expiry(Expiry::OnInactivity(idle))
}

/// The SHA-256 of a session id, as `portal_sessions` keys it.
pub fn id_hash(id: &Id) -> [u8; 32] {
    Sha256::digest(id.0.to_le_bytes()).into()
}

/// The session's signed-in state, if any and if still within the absolute timeout. An
/// expired one is ended here.
pub async fn signed_in(
    session: &Session,
    max_age: Duration,
) -> Result<Option<SignedInSession>, tower_sessions::session::Error> {
    let Some(auth) = session.get::<SignedInSession>(AUTH).await? else {
        return Ok(None);
    };
    let age = OffsetDateTime::now_utc().unix_timestamp() - auth.signed_in_at;
    if age < 0 || age as u64 > max_age.as_secs() {
        session.flush().await?;
        return Ok(None);
    }
    Ok(Some(auth))
}

/// Starts a signed-in session for `user_id`: a new id (whatever the cookie held before),
/// a new form token.
pub async fn sign_in(
    session: &Session,
    user_id: Uuid,
    user_agent: Option<&str>,
    client: IpAddr,
) -> Result<SignedInSession, tower_sessions::session::Error> {
    if !session.is_empty().await {
        session.cycle_id().await?;
    }
    session.clear().await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let auth = SignedInSession {
        user_id,
        signed_in_at: now,
        seen_at: now,
        csrf: crate::csrf::new_token(),
        user_agent: user_agent.map(|ua| ua.chars().take(512).collect()),
        client_addr: Some(client.to_string()),
    };
    session.insert(AUTH, &auth).await?;
    Ok(auth)
}

/// Marks a signed-in session as seen now if it was last saved over [`TOUCH_EVERY`] ago.
pub async fn touch(
    session: &Session,
    auth: &SignedInSession,
) -> Result<(), tower_sessions::session::Error> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if now - auth.seen_at >= TOUCH_EVERY.as_secs() as i64 {
        let mut auth = auth.clone();
        auth.seen_at = now;
        session.insert(AUTH, &auth).await?;
    }
    Ok(())
}

/// Adds a message for the next page.
pub async fn flash(
    session: &Session,
    kind: &str,
    text: impl Into<String>,
) -> Result<(), tower_sessions::session::Error> {
    let mut all: Vec<Flash> = session.get(FLASH).await?.unwrap_or_default();
    all.push(Flash { kind: kind.to_owned(), text: text.into() });
    session.insert(FLASH, all).await
}

/// Takes the messages waiting for this page.
pub async fn take_flashes(session: &Session) -> Result<Vec<Flash>, tower_sessions::session::Error> {
    if session.get_value(FLASH).await?.is_none() {
        return Ok(Vec::new());
    }
    Ok(session.remove::<Vec<Flash>>(FLASH).await?.unwrap_or_default())
}

/// tower-sessions' store over `portal_sessions`.
#[derive(Debug, Clone)]
pub struct PgSessionStore {
    pool: PgPool,
}

/// The signed-in part of a session's data, for the copied columns.
fn auth_of(data: &HashMap<String, serde_json::Value>) -> Option<SignedInSession> {
    data.get(AUTH).and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The columns copied out of a session's signed-in part.
fn owner_of(auth: Option<&SignedInSession>) -> sessions::SessionOwner<'_> {
    sessions::SessionOwner {
        user_id: auth.map(|a| a.user_id),
        user_agent: auth.and_then(|a| a.user_agent.as_deref()),
        client_addr: auth.and_then(|a| a.client_addr.as_deref()),
    }
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = serde_json::to_value(&record.data).map_err(backend)?;
        let auth = auth_of(&record.data);
        let owner = owner_of(auth.as_ref());
        // A 128-bit random id collides with a live one practically never; draw again if so.
        for _ in 0..3 {
            let hash = id_hash(&record.id);
            if sessions::create(&self.pool, &hash, &data, record.expiry_date, owner)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(backend("could not draw a free session id"))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_value(&record.data).map_err(backend)?;
        let auth = auth_of(&record.data);
        let owner = owner_of(auth.as_ref());
        // A session ended meanwhile stays ended: `save` never recreates the row.
        sessions::save(&self.pool, &id_hash(&record.id), &data, record.expiry_date, owner)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(stored) = sessions::load(&self.pool, &id_hash(id)).await.map_err(backend)? else {
            return Ok(None);
        };
        let data = serde_json::from_value(stored.data)
            .map_err(|err| session_store::Error::Decode(err.to_string()))?;
        Ok(Some(Record { id: *id, data, expiry_date: stored.expires_at }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sessions::delete(&self.pool, &id_hash(id)).await.map_err(backend)
    }
}
