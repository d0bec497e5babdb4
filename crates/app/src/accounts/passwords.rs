//! A person's own password: changing it while signed in, and resetting it by a link sent by
//! email. Both end the person's other portal sessions; the operator's `reset-password`
//! (`members.rs`) ends all of them.
//!
//! Rules:
//! - a change needs the current password, checked like a sign-in (a wrong one counts in the
//!   sign-in throttle, so a stolen session cannot guess it faster than a sign-in could); the
//!   stored hash is replaced only if it is still the one that was checked;
//! - a reset link is `wharf_pwr_…` (same shape as invitation tokens), valid for
//!   [`RESET_TTL`], single use, stored only as its SHA-256; asking again does not end older
//!   links, completing one ends them all; at most [`RESETS_PER_HOUR`] links per account and
//!   hour are made (further requests are answered the same and send nothing);
//! - whether an address has an account is never said: the caller answers every request the
//!   same way, and does the work off the request path.
//!
//! Never logs a token, a link or a password.

use std::net::IpAddr;

use secrecy::{ExposeSecret as _, SecretString};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_auth::{invitation, token::PlaintextToken};
use wharf_db::{DbError, accounts, sessions};

use super::{
    Accounts, Failure, Field, FieldError, Inviter,
    validate::{MAX_EMAIL_LEN, check_new_password},
};

/// How long a reset link works.
pub const RESET_TTL: time::Duration = time::Duration::hours(1);

/// How many reset links one account is sent per hour at most.
pub const RESETS_PER_HOUR: i64 = 3;

/// Why a password change was refused. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// A field is wrong (`current_password`: wrong; `password`: the policy).
    #[error("{0}")]
    Invalid(FieldError),
    /// Too many wrong passwords: wait this long.
    #[error("too many failed attempts; try again in {} seconds", .0.as_secs().max(1))]
    Throttled(std::time::Duration),
    /// The account is gone, or its password changed meanwhile.
    #[error("the password was changed meanwhile; sign in again")]
    Stale,
    /// The database or hashing failed.
    #[error(transparent)]
    Internal(#[from] Failure),
}

impl From<DbError> for ChangePasswordError {
    fn from(err: DbError) -> Self {
        Self::Internal(err.into())
    }
}

/// Why a reset link could not be used. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Malformed, unknown, used or expired: one answer.
    #[error("this link is not valid: it may have expired or been used already")]
    InvalidLink,
    /// The new password does not meet the policy.
    #[error("{0}")]
    Invalid(FieldError),
    /// The database or hashing failed.
    #[error(transparent)]
    Internal(#[from] Failure),
}

impl From<DbError> for ResetError {
    fn from(err: DbError) -> Self {
        Self::Internal(err.into())
    }
}

/// A reset link made for an account: send `token` in a link to `email`.
#[derive(Debug)]
pub struct ResetLink {
    /// The account.
    pub user_id: Uuid,
    /// Where to send it.
    pub email: String,
    /// The secret for the link (`Debug` redacts it).
    pub token: PlaintextToken,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

impl Accounts {
    /// Changes `user_id`'s password from `current` to `new` and ends every other session of
    /// theirs but `keep` (the SHA-256 of the caller's session id).
    pub async fn change_password(
        &self,
        user_id: Uuid,
        current: &SecretString,
        new: &SecretString,
        keep: Option<&[u8]>,
        client: IpAddr,
    ) -> Result<(), ChangePasswordError> {
        let user =
            accounts::find_user(&self.pool, user_id).await?.ok_or(ChangePasswordError::Stale)?;
        let key = Some(user.email.as_str());
        if let Some(wait) = self.throttle.retry_after(client, key) {
            return Err(ChangePasswordError::Throttled(wait));
        }
        let hasher = self.hasher.clone();
        let (stored, typed) = (SecretString::from(user.password_hash.clone()), current.clone());
        let matches = tokio::task::spawn_blocking(move || hasher.verify(&typed, &stored))
            .await
            .map_err(Failure::from)?
            .unwrap_or(false);
        if !matches {
            self.throttle.record_failure(client, key);
            return Err(ChangePasswordError::Invalid(FieldError::new(
                Field::CurrentPassword,
                "this is not your current password",
            )));
        }
        check_new_password(new).map_err(ChangePasswordError::Invalid)?;
        let hash = self.hash_password(new).await?;
        let changed = sessions::set_password(
            &self.pool,
            user_id,
            Some(&user.password_hash),
            hash.expose_secret(),
            keep,
        )
        .await?;
        if !changed {
            return Err(ChangePasswordError::Stale);
        }
        let target = (format!("user:{user_id}"), Some(user.email));
        let actor = Inviter::User(user_id);
        self.audit(
            None,
            actor,
            "user.password_change",
            target,
            serde_json::json!({}),
            Some(client),
        )
        .await;
        Ok(())
    }

    /// Makes a reset link for the account with `email`, if there is one and it has not had
    /// [`RESETS_PER_HOUR`] this hour. `None` otherwise; the caller says the same either way.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: IpAddr,
    ) -> Result<Option<ResetLink>, Failure> {
        let email = email.trim().to_lowercase();
        if email.len() > MAX_EMAIL_LEN {
            return Ok(None);
        }
        let Some(user) = accounts::find_user_by_email(&self.pool, &email).await? else {
            return Ok(None);
        };
        let now = OffsetDateTime::now_utc();
        let recent =
            sessions::resets_since(&self.pool, user.id, now - time::Duration::HOUR).await?;
        let target = (format!("user:{}", user.id), Some(user.email.clone()));
        let actor = Inviter::User(user.id);
        if recent >= RESETS_PER_HOUR {
            let detail = serde_json::json!({ "sent": false, "reason": "hourly limit" });
            self.audit(None, actor, "user.password_reset_request", target, detail, Some(client))
                .await;
            return Ok(None);
        }
        let generated = invitation::generate_password_reset();
        let expires_at = now + RESET_TTL;
        let addr = client.to_string();
        sessions::create_reset(
            &self.pool,
            user.id,
            generated.hash.as_bytes(),
            expires_at,
            Some(&addr),
        )
        .await?;
        let detail = serde_json::json!({ "sent": true });
        self.audit(None, actor, "user.password_reset_request", target, detail, Some(client)).await;
        Ok(Some(ResetLink {
            user_id: user.id,
            email: user.email,
            token: generated.plaintext,
            expires_at,
        }))
    }

    /// The email of the account an open reset link is for (to show on the form).
    pub async fn preview_password_reset(&self, token: &SecretString) -> Result<String, ResetError> {
        let hash = invitation::parse_password_reset(token.expose_secret())
            .ok_or(ResetError::InvalidLink)?;
        let (_, email) = sessions::open_reset(&self.pool, hash.as_bytes())
            .await?
            .ok_or(ResetError::InvalidLink)?;
        Ok(email)
    }

    /// Uses a reset link: sets `new` as the password and ends every session and every other
    /// link of the account. Returns the account.
    pub async fn complete_password_reset(
        &self,
        token: &SecretString,
        new: &SecretString,
        client: IpAddr,
    ) -> Result<Uuid, ResetError> {
        let hash = invitation::parse_password_reset(token.expose_secret())
            .ok_or(ResetError::InvalidLink)?;
        // Checked first so a link is never spent on a password that is refused.
        let (_, email) = sessions::open_reset(&self.pool, hash.as_bytes())
            .await?
            .ok_or(ResetError::InvalidLink)?;
        check_new_password(new).map_err(ResetError::Invalid)?;
        let new_hash = self.hash_password(new).await?;
        let user_id =
            sessions::complete_reset(&self.pool, hash.as_bytes(), new_hash.expose_secret())
                .await?
                .ok_or(ResetError::InvalidLink)?;
        let target = (format!("user:{user_id}"), Some(email));
        let actor = Inviter::User(user_id);
        self.audit(None, actor, "user.password_reset", target, serde_json::json!({}), Some(client))
            .await;
        Ok(user_id)
    }

    /// Records what a person did to their own sign-in (`user.sign_in`, `user.sign_out`,
    /// `user.sessions_end`, …) in the audit log. A failure (`success == false`) without an
    /// account names only the email typed, truncated.
    pub async fn record_account_event(&self, event: AccountEvent<'_>) {
        let (kind, id) = match event.user_id {
            Some(id) => ("user", Some(id)),
            None => ("anonymous", None),
        };
        let target = match event.user_id {
            Some(id) => format!("user:{id}"),
            None => "user".to_owned(),
        };
        let email: Option<String> = event.email.map(|e| e.chars().take(MAX_EMAIL_LEN).collect());
        let entry = wharf_db::audit::NewAuditEntry {
            client_addr: Some(event.client.to_string()),
            user_agent: event.user_agent.map(|ua| ua.chars().take(512).collect()),
            request_id: event.request_id.map(str::to_owned),
            actor_name: email.clone(),
            outcome: if event.success { "success" } else { "failure" },
            ..wharf_db::audit::NewAuditEntry::success(
                None,
                kind,
                id,
                event.action,
                target,
                email,
                event.detail,
            )
        };
        self.audit.record(entry);
    }
}

/// What a person did to their own sign-in, for [`Accounts::record_account_event`].
#[derive(Debug)]
pub struct AccountEvent<'a> {
    /// `user.sign_in`, `user.sign_out`, `user.sessions_end`, …
    pub action: &'static str,
    /// The account, when known.
    pub user_id: Option<Uuid>,
    /// The email (as typed, for a failed sign-in).
    pub email: Option<&'a str>,
    /// Whether it succeeded.
    pub success: bool,
    /// Anything else worth keeping (never a secret).
    pub detail: serde_json::Value,
    /// Where the request came from.
    pub client: IpAddr,
    /// The browser.
    pub user_agent: Option<&'a str>,
    /// The request's `x-request-id`.
    pub request_id: Option<&'a str>,
}
