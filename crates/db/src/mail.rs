//! The mail outbox: messages waiting to be sent, and what became of them.
//!
//! Owns the SQL for `mail_outbox` (see its migration for the model). Composing and sending
//! messages is `wharf_app::mail`. Times are the database's clock (`now()`), so instances
//! whose clocks differ agree on what is due; durations are passed in seconds.
//!
//! Scoping: [`latest_about`] takes the organization a message was sent for (none for
//! instance mail); [`claim`] and the `mark_*` functions serve the delivery worker, which
//! works for every organization.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// What a message is about; stored as `invitation` or `password_reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AboutKind {
    /// An invitation (the id is the invitation's).
    Invitation,
    /// A password reset (the id is the user's).
    PasswordReset,
}

impl AboutKind {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            AboutKind::Invitation => "invitation",
            AboutKind::PasswordReset => "password_reset",
        }
    }
}

/// Where a message stands; stored as `queued`, `sent` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum MailStatus {
    /// Waiting for its first or next attempt (or being attempted).
    Queued,
    /// Accepted by the SMTP server.
    Sent,
    /// Refused for good, or out of attempts.
    Failed,
}

/// A message to store.
#[derive(Debug, Clone, Copy)]
pub struct NewMail<'a> {
    /// The organization it is sent for (none: instance mail).
    pub organization_id: Option<Uuid>,
    /// What it is about.
    pub about_kind: AboutKind,
    /// The id of what it is about.
    pub about_id: Uuid,
    /// The recipient's address.
    pub recipient: &'a str,
    /// Display name of the From header; `None`: the configured one.
    pub sender_name: Option<&'a str>,
    /// Subject.
    pub subject: &'a str,
    /// Plain-text body.
    pub body_text: &'a str,
    /// HTML body.
    pub body_html: &'a str,
}

/// A message a worker claimed: one attempt is counted and the row is leased to it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    /// Its id.
    pub id: Uuid,
    /// The recipient's address.
    pub recipient: String,
    /// Display name of the From header, if the message has its own.
    pub sender_name: Option<String>,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body_text: String,
    /// HTML body.
    pub body_html: String,
    /// Attempts including this one; the `mark_*` functions write only while the row still
    /// carries this number.
    pub attempts: i32,
}

impl std::fmt::Debug for ClaimedMail {
    /// Without the bodies (they hold single-use links) or the full address.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedMail")
            .field("id", &self.id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What became of the newest message about something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Where it stands.
    pub status: MailStatus,
    /// Attempts made.
    pub attempts: i32,
    /// Class and code of the last failure.
    pub last_error: Option<String>,
    /// When it was sent.
    pub sent_at: Option<OffsetDateTime>,
}

/// Stores a message as `queued`, due now; returns its id.
pub async fn insert(pool: &PgPool, mail: &NewMail<'_>) -> Result<Uuid, DbError> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "insert into mail_outbox (id, organization_id, about_kind, about_id, recipient,
                                  sender_name, subject, body_text, body_html)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        id,
        mail.organization_id,
        mail.about_kind.as_str(),
        mail.about_id,
        mail.recipient,
        mail.sender_name,
        mail.subject,
        mail.body_text,
        mail.body_html,
    )
    .execute(pool)
    .await?;
    Ok(id)
}

/// Claims the earliest due message, if any: counts the attempt and moves its next attempt
/// `lease` ahead, in one statement that skips rows another worker is claiming. Until the
/// lease ends no other worker sees the message as due.
pub async fn claim(pool: &PgPool, lease: Duration) -> Result<Option<ClaimedMail>, DbError> {
    Ok(sqlx::query_as!(
        ClaimedMail,
        r#"update mail_outbox m
           set attempts = m.attempts + 1,
               next_attempt_at = now() + make_interval(secs => $1)
           where m.id = (select id from mail_outbox
                         where status = 'queued' and next_attempt_at <= now()
                         order by next_attempt_at
                         limit 1
                         for update skip locked)
           returning m.id, m.recipient, m.sender_name, m.subject,
                     m.body_text as "body_text!", m.body_html as "body_html!", m.attempts"#,
        lease.as_secs_f64(),
    )
    .fetch_optional(pool)
    .await?)
}

/// Records that attempt `attempt` of message `id` was accepted: `sent`, bodies blanked.
/// Returns false (and writes nothing) when the row no longer carries that attempt.
pub async fn mark_sent(pool: &PgPool, id: Uuid, attempt: i32) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update mail_outbox
         set status = 'sent', sent_at = now(), body_text = null, body_html = null,
             last_error = null
         where id = $1 and attempts = $2 and status = 'queued'",
        id,
        attempt,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that attempt `attempt` of message `id` failed with `error` and schedules the next
/// one `retry_in` from now. Returns false when the row no longer carries that attempt.
pub async fn mark_retry(
    pool: &PgPool,
    id: Uuid,
    attempt: i32,
    retry_in: Duration,
    error: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update mail_outbox
         set next_attempt_at = now() + make_interval(secs => $3), last_error = left($4, 500)
         where id = $1 and attempts = $2 and status = 'queued'",
        id,
        attempt,
        retry_in.as_secs_f64(),
        error,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that message `id` failed for good at attempt `attempt` with `error`: `failed`,
/// bodies blanked. Returns false when the row no longer carries that attempt.
pub async fn mark_failed(
    pool: &PgPool,
    id: Uuid,
    attempt: i32,
    error: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query!(
        "update mail_outbox
         set status = 'failed', body_text = null, body_html = null, last_error = left($3, 500)
         where id = $1 and attempts = $2 and status = 'queued'",
        id,
        attempt,
        error,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How long until the earliest queued message is due (zero when one is due now); `None`
/// when nothing is queued.
pub async fn next_due_in(pool: &PgPool) -> Result<Option<Duration>, DbError> {
    let seconds = sqlx::query_scalar!(
        "select extract(epoch from min(next_attempt_at) - now())::float8
         from mail_outbox where status = 'queued'"
    )
    .fetch_one(pool)
    .await?;
    Ok(seconds.map(|s| Duration::from_secs_f64(s.clamp(0.0, 86_400.0))))
}

/// What became of the newest message about `about_kind` `about_id` sent for
/// `organization_id` (none: instance mail); `None` if there is none.
pub async fn latest_about(
    pool: &PgPool,
    organization_id: Option<Uuid>,
    about_kind: AboutKind,
    about_id: Uuid,
) -> Result<Option<DeliveryRow>, DbError> {
    Ok(sqlx::query_as!(
        DeliveryRow,
        r#"select status as "status: MailStatus", attempts, last_error, sent_at
           from mail_outbox
           where about_kind = $1 and about_id = $2
             and organization_id is not distinct from $3
           order by created_at desc, id desc
           limit 1"#,
        about_kind.as_str(),
        about_id,
        organization_id,
    )
    .fetch_optional(pool)
    .await?)
}

/// Like [`latest_about`] for many ids of one kind at once (a list page: one query, not one
/// per row): the newest message about each id that has one.
pub async fn latest_about_each(
    pool: &PgPool,
    organization_id: Option<Uuid>,
    about_kind: AboutKind,
    about_ids: &[Uuid],
) -> Result<Vec<(Uuid, DeliveryRow)>, DbError> {
    let rows = sqlx::query!(
        r#"select distinct on (about_id)
                  about_id as "about_id!", status as "status!: MailStatus", attempts as "attempts!",
                  last_error, sent_at
           from mail_outbox
           where about_kind = $1 and about_id = any($2)
             and organization_id is not distinct from $3
           order by about_id, created_at desc, id desc"#,
        about_kind.as_str(),
        about_ids,
        organization_id,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let row = DeliveryRow {
                status: r.status,
                attempts: r.attempts,
                last_error: r.last_error,
                sent_at: r.sent_at,
            };
            (r.about_id, row)
        })
        .collect())
}
