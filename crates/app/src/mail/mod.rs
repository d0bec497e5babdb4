//! Email: the messages Wharf sends (invitations, password resets), the Postgres outbox they
//! wait in, and the background worker that delivers them over SMTP.
//!
//! Owns composing a message ([`invitation_mail`], [`password_reset_mail`], rendered from
//! `web/templates/email/`), queueing it ([`Mailer::queue`]: one insert, off the request
//! path), delivering it ([`worker`]: retries with exponential backoff, claims that several
//! instances sharing one database never take twice, bodies blanked once a message is sent or
//! has failed for good) and telling what became of it ([`Mailer::delivery`], so the portal
//! can show an inviter whether the invitation went out). The SQL is `wharf_db::mail`.
//!
//! Without an SMTP server configured nothing is queued: [`Mailer::queue`] answers
//! [`MailError::NotConfigured`] and the caller shows the link to whoever asked for it.
//!
//! Bodies hold single-use links: they are never logged, never in `Debug` output, and never
//! in `last_error`; logs name a message by its id and its recipient by domain at most.

mod messages;
pub mod worker;

use std::{fmt, str::FromStr, sync::Arc, time::Duration};

use lettre::{Address, message::Mailbox};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;
use wharf_db::{
    DbError, PgPool,
    mail::{self as outbox, AboutKind, MailStatus, NewMail},
};

pub use messages::{InvitationMail, PasswordResetMail, invitation_mail, password_reset_mail};
pub use worker::MailWorker;

/// How mail is sent (the binary builds this from `WHARF_SMTP_URL` and `WHARF_MAIL_FROM`).
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The SMTP server, credentials included: `smtp://host:25` (plain),
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (TLS). `None`: mail is
    /// not sent.
    pub smtp_url: Option<SecretString>,
    /// The From mailbox; an invitation shows "<vendor> via Wharf" as its name.
    pub from: MailFrom,
    /// Attempts before a message fails for good.
    pub max_attempts: u32,
    /// Wait before the second attempt; each further wait doubles, up to `max_retry_wait`.
    pub first_retry_wait: Duration,
    /// Longest wait between attempts.
    pub max_retry_wait: Duration,
    /// How often the worker looks for due messages without being woken (messages queued by
    /// another instance, retries).
    pub poll: Duration,
    /// Longest one delivery may take (connect, TLS, the SMTP dialogue).
    pub send_timeout: Duration,
}

impl Default for MailSettings {
    /// Not configured; 8 attempts over about an hour (30 s, 1, 2, 4, 8, 16, 32 min apart).
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: MailFrom::for_host("localhost"),
            max_attempts: 8,
            first_retry_wait: Duration::from_secs(30),
            max_retry_wait: Duration::from_secs(3600),
            poll: Duration::from_secs(10),
            send_timeout: Duration::from_secs(60),
        }
    }
}

/// The From mailbox, `Name <address>` or a bare address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom(Mailbox);

impl MailFrom {
    /// `Wharf <wharf@host>`, or `Wharf <wharf@localhost>` when `host` makes no address.
    pub fn for_host(host: &str) -> Self {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let address = Address::new("wharf", host)
            .or_else(|_| Address::new("wharf", "localhost"))
            .unwrap_or_else(|_| unreachable_address());
        Self(Mailbox::new(Some("Wharf".to_owned()), address))
    }

    /// The mailbox.
    pub fn mailbox(&self) -> &Mailbox {
        &self.0
    }
}

/// `wharf@localhost` is a valid address; this is never reached.
#[allow(clippy::panic)]
fn unreachable_address() -> Address {
    panic!("wharf@localhost is not an address")
}

impl FromStr for MailFrom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse::<Mailbox>().map(Self).map_err(|_| {
            "expected a mailbox: `Wharf <wharf@example.com>` or `wharf@example.com`".to_owned()
        })
    }
}

impl fmt::Display for MailFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a message is about, for [`Mailer::delivery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailAbout {
    /// An invitation (its id).
    Invitation(Uuid),
    /// A password reset (the account's id).
    PasswordReset(Uuid),
}

impl MailAbout {
    fn parts(self) -> (AboutKind, Uuid) {
        match self {
            MailAbout::Invitation(id) => (AboutKind::Invitation, id),
            MailAbout::PasswordReset(id) => (AboutKind::PasswordReset, id),
        }
    }
}

/// A message ready to queue (made by [`invitation_mail`] or [`password_reset_mail`]).
#[derive(Clone)]
pub struct OutgoingMail {
    /// The recipient: one bare address.
    pub to: String,
    /// Display name of the From header; `None`: the configured one.
    pub sender_name: Option<String>,
    /// Subject.
    pub subject: String,
    /// Plain-text body (holds the link).
    pub text: SecretString,
    /// HTML body (holds the link).
    pub html: SecretString,
    /// The organization it is sent for (none: instance mail).
    pub organization_id: Option<Uuid>,
    /// What it is about.
    pub about: MailAbout,
}

impl fmt::Debug for OutgoingMail {
    /// Without the bodies and with the recipient's domain only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("to_domain", &recipient_domain(&self.to))
            .field("subject", &self.subject)
            .field("organization_id", &self.organization_id)
            .field("about", &self.about)
            .finish_non_exhaustive()
    }
}

/// The path of the page that accepts an invitation: `/invitation/{token}`.
pub fn invitation_path(token: &str) -> String {
    format!("/invitation/{token}")
}

/// What became of a new invitation's link ([`Mailer::deliver_invitation`]).
#[derive(Debug)]
pub enum InvitationDelivery {
    /// No SMTP server is configured: the link, to show once to whoever invited (only its
    /// hash is kept).
    ShowLink(SecretString),
    /// Queued for mailing; the outbox message's id.
    Queued(Uuid),
    /// SMTP is configured but the mail could not be queued (logged): revoke the invitation
    /// and try again.
    NotQueued,
}

impl Mailer {
    /// Mails invitation `issued` in the name of `vendor_name` (inviting to `what`, from
    /// `inviter_name`) with its link on `public_url`; without SMTP, returns the link for
    /// the caller to show once. The portal's and the API's one way of handing a new
    /// invitation over. Fails only when the message cannot be rendered.
    pub async fn deliver_invitation(
        &self,
        public_url: &str,
        issued: &crate::accounts::IssuedInvitation,
        vendor_name: &str,
        inviter_name: Option<String>,
        what: String,
    ) -> Result<InvitationDelivery, MailError> {
        let base = public_url.trim_end_matches('/');
        let link = format!("{base}{}", invitation_path(issued.token.expose_secret()));
        if !self.configured() {
            return Ok(InvitationDelivery::ShowLink(SecretString::from(link)));
        }
        let mail = invitation_mail(InvitationMail {
            to: issued.invitation.email.clone().unwrap_or_default(),
            link: SecretString::from(link),
            vendor_name: vendor_name.to_owned(),
            inviter_name,
            what,
            expires_at: issued.invitation.expires_at,
            organization_id: issued.invitation.organization_id,
            invitation_id: issued.invitation.id,
        })?;
        Ok(match self.queue(mail).await {
            Ok(id) => InvitationDelivery::Queued(id),
            Err(err) => {
                tracing::warn!(invitation = %issued.invitation.id, "invitation mail not queued: {err}");
                InvitationDelivery::NotQueued
            }
        })
    }
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Queued,
    /// Accepted by the SMTP server.
    Sent,
    /// Refused for good, or out of attempts.
    Failed,
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Class and code of the last failure (`transient SMTP error 421`, `connection refused`).
    pub last_error: Option<String>,
    /// When the SMTP server accepted it.
    pub sent_at: Option<OffsetDateTime>,
}

/// Why mail could not be queued or read.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// No SMTP server is configured: show the link instead.
    #[error("no SMTP server is configured (WHARF_SMTP_URL)")]
    NotConfigured,
    /// The recipient is not one valid address.
    #[error("not a valid email address")]
    InvalidRecipient,
    /// A template failed to render.
    #[error("the message could not be rendered")]
    Render,
    /// The SMTP URL cannot be used.
    #[error("WHARF_SMTP_URL is not a usable SMTP URL (smtp://, smtps://)")]
    Settings,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Queues mail and tells what became of it. Always present on [`crate::App`]; it queues
/// only when an SMTP server is configured.
pub struct Mailer {
    pool: PgPool,
    configured: bool,
    /// Wakes this instance's worker when a message is queued.
    wake: Arc<Notify>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer").field("configured", &self.configured).finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer over `pool` and, when an SMTP server is configured, its delivery worker
    /// (running; stop it with [`MailWorker::shutdown`]). An unusable SMTP URL is an error.
    pub fn start(
        pool: PgPool,
        settings: MailSettings,
    ) -> Result<(Arc<Self>, Option<MailWorker>), MailError> {
        let wake = Arc::new(Notify::new());
        let worker = match &settings.smtp_url {
            Some(url) => Some(MailWorker::start(pool.clone(), url, &settings, wake.clone())?),
            None => None,
        };
        let mailer = Self { pool, configured: worker.is_some(), wake };
        Ok((Arc::new(mailer), worker))
    }

    /// Whether mail is sent (an SMTP server is configured).
    pub fn configured(&self) -> bool {
        self.configured
    }

    /// Writes `mail` to the outbox and wakes the worker; returns the message's id at once,
    /// before anything is sent.
    pub async fn queue(&self, mail: OutgoingMail) -> Result<Uuid, MailError> {
        if !self.configured {
            return Err(MailError::NotConfigured);
        }
        let to = mail.to.trim();
        to.parse::<Address>().map_err(|_| MailError::InvalidRecipient)?;
        let (about_kind, about_id) = mail.about.parts();
        let id = outbox::insert(
            &self.pool,
            &NewMail {
                organization_id: mail.organization_id,
                about_kind,
                about_id,
                recipient: to,
                sender_name: mail.sender_name.as_deref(),
                subject: &mail.subject,
                body_text: mail.text.expose_secret(),
                body_html: mail.html.expose_secret(),
            },
        )
        .await?;
        tracing::info!(mail_id = %id, to_domain = recipient_domain(to), about = about_kind.as_str(), "mail queued");
        self.wake.notify_one();
        Ok(id)
    }

    /// What became of the newest message about `about` sent for `organization_id` (`None`
    /// for instance mail: password resets, sign-up invitations). A message of another
    /// organization is not found.
    pub async fn delivery(
        &self,
        organization_id: Option<Uuid>,
        about: MailAbout,
    ) -> Result<Option<Delivery>, MailError> {
        let (kind, id) = about.parts();
        let row = outbox::latest_about(&self.pool, organization_id, kind, id).await?;
        Ok(row.map(delivery_of))
    }
    /// What became of the newest invitation mail of each of `invitations` sent for
    /// `organization_id`, in one query; invitations never mailed are left out.
    pub async fn invitation_deliveries(
        &self,
        organization_id: Uuid,
        invitations: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Delivery>, MailError> {
        let rows = outbox::latest_about_each(
            &self.pool,
            Some(organization_id),
            AboutKind::Invitation,
            invitations,
        )
        .await?;
        Ok(rows.into_iter().map(|(id, row)| (id, delivery_of(row))).collect())
    }
}

fn delivery_of(row: outbox::DeliveryRow) -> Delivery {
    Delivery {
        status: match row.status {
            MailStatus::Queued => DeliveryStatus::Queued,
            MailStatus::Sent => DeliveryStatus::Sent,
            MailStatus::Failed => DeliveryStatus::Failed,
        },
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        last_error: row.last_error,
        sent_at: row.sent_at,
    }
}

/// The domain of an address, all logs say of a recipient.
pub(crate) fn recipient_domain(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, domain)| domain)
}
