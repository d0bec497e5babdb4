//! The delivery worker: takes due messages from the outbox one at a time and sends them.
//!
//! Each instance runs one. It delivers whatever is due, then sleeps until the next message is
//! due, at most [`MailSettings::poll`], or until [`super::Mailer::queue`] wakes it. A message
//! is claimed with `for update skip locked` and leased (`wharf_db::mail::claim`), so
//! instances sharing a database never take the same one, and is sent outside any
//! transaction. After each attempt the result is written only if the row still carries that
//! attempt:
//!
//! - accepted: `sent`, bodies blanked;
//! - refused for good (an SMTP 5xx reply), or the last attempt failed: `failed`, bodies
//!   blanked;
//! - anything else (connection refused, timeout, TLS, a 4xx reply): retried after
//!   [`MailSettings::first_retry_wait`], doubling each time up to
//!   [`MailSettings::max_retry_wait`].
//!
//! A worker that dies mid-send leaves its claim to run out (the lease, [`LEASE`]); the
//! message is then retried, so a message can be sent twice only if an instance dies between
//! the SMTP server's acceptance and the database write. [`MailWorker::shutdown`] delivers
//! what is due, finishes the message in hand and stops.

use std::{sync::Arc, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::{sync::Notify, task::JoinHandle};
use wharf_db::{
    PgPool,
    mail::{self as outbox, ClaimedMail},
};

use super::{MailError, MailSettings, recipient_domain};

/// How long a claimed message is hidden from other workers: well beyond any send timeout.
pub const LEASE: Duration = Duration::from_secs(600);

/// The running delivery worker of one instance.
#[derive(Debug)]
#[must_use = "shut the worker down to finish the message in hand"]
pub struct MailWorker {
    stop: Arc<Notify>,
    join: JoinHandle<()>,
}

impl MailWorker {
    /// Starts a worker sending through `smtp_url`.
    pub(super) fn start(
        pool: PgPool,
        smtp_url: &SecretString,
        settings: &MailSettings,
        wake: Arc<Notify>,
    ) -> Result<Self, MailError> {
        let transport = transport(smtp_url, settings.send_timeout)?;
        let stop = Arc::new(Notify::new());
        let worker = Worker {
            pool,
            transport,
            from: settings.from.mailbox().clone(),
            settings: settings.clone(),
            wake,
            stop: stop.clone(),
        };
        let join = tokio::spawn(worker.run());
        Ok(Self { stop, join })
    }

    /// Delivers what is due now, finishes the message in hand and stops; waits at most
    /// `limit`. Whatever is left stays queued for the next start or another instance.
    pub async fn shutdown(self, limit: Duration) {
        self.stop.notify_one();
        if tokio::time::timeout(limit, self.join).await.is_err() {
            tracing::warn!("the mail worker did not finish within {limit:?}");
        }
    }
}

struct Worker {
    pool: PgPool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    settings: MailSettings,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
}

/// What one attempt came to.
enum Outcome {
    Sent,
    /// Worth another attempt.
    Transient(String),
    /// Refused for good.
    Permanent(String),
}

impl Worker {
    async fn run(self) {
        loop {
            self.deliver_due().await;
            let wait = match outbox::next_due_in(&self.pool).await {
                Ok(Some(due)) => due.min(self.settings.poll),
                Ok(None) => self.settings.poll,
                Err(err) => {
                    tracing::warn!(error = %err, "mail outbox: cannot read what is due");
                    self.settings.poll
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
                () = self.stop.notified() => {
                    self.deliver_due().await;
                    break;
                }
            }
        }
    }

    /// Claims and sends due messages until none is due.
    async fn deliver_due(&self) {
        loop {
            match outbox::claim(&self.pool, LEASE).await {
                Ok(Some(mail)) => self.deliver(mail).await,
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "mail outbox: cannot claim a message");
                    return;
                }
            }
        }
    }

    async fn deliver(&self, mail: ClaimedMail) {
        let outcome = match self.message(&mail) {
            Ok(message) => {
                match tokio::time::timeout(self.settings.send_timeout, self.transport.send(message))
                    .await
                {
                    Ok(Ok(_)) => Outcome::Sent,
                    Ok(Err(err)) => classify(&err),
                    Err(_) => Outcome::Transient("timed out".to_owned()),
                }
            }
            Err(reason) => Outcome::Permanent(reason.to_owned()),
        };
        let domain = recipient_domain(&mail.recipient);
        let attempt = mail.attempts;
        let max_attempts = i32::try_from(self.settings.max_attempts).unwrap_or(i32::MAX);
        let written = match &outcome {
            Outcome::Sent => {
                tracing::info!(mail_id = %mail.id, to_domain = domain, attempt, "mail sent");
                outbox::mark_sent(&self.pool, mail.id, attempt).await
            }
            Outcome::Transient(error) if attempt < max_attempts => {
                let wait = self.retry_wait(attempt);
                tracing::warn!(mail_id = %mail.id, to_domain = domain, attempt, error = %error, retry_in_s = wait.as_secs_f64(), "mail not sent; will retry");
                outbox::mark_retry(&self.pool, mail.id, attempt, wait, error).await
            }
            Outcome::Transient(error) | Outcome::Permanent(error) => {
                tracing::warn!(mail_id = %mail.id, to_domain = domain, attempt, error = %error, "mail not sent; giving up");
                outbox::mark_failed(&self.pool, mail.id, attempt, error).await
            }
        };
        match written {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(mail_id = %mail.id, attempt, "mail outbox: the claim ran out before the result was written");
            }
            Err(err) => {
                tracing::warn!(mail_id = %mail.id, attempt, error = %err, "mail outbox: cannot record the result");
            }
        }
    }

    /// The wait after failed attempt `attempt` (1-based).
    fn retry_wait(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(30);
        self.settings
            .first_retry_wait
            .saturating_mul(1 << doublings)
            .min(self.settings.max_retry_wait)
    }

    /// The message as sent: From the configured address (with the message's own name, if it
    /// has one), a plain-text and an HTML alternative, and a Message-ID made of the outbox
    /// id, so a copy sent again after a lost result carries the same id.
    fn message(&self, mail: &ClaimedMail) -> Result<Message, &'static str> {
        let to: Mailbox = mail.recipient.parse().map_err(|_| "invalid recipient address")?;
        let from = match &mail.sender_name {
            Some(name) => Mailbox::new(Some(name.clone()), self.from.email.clone()),
            None => self.from.clone(),
        };
        let message_id = format!("<{}@{}>", mail.id, self.from.email.domain());
        Message::builder()
            .message_id(Some(message_id))
            .from(from)
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.body_text.clone(),
                mail.body_html.clone(),
            ))
            .map_err(|_| "the message could not be built")
    }
}

/// The SMTP transport `smtp_url` describes: `smtp://` plain, `smtp://…?tls=required` (or
/// `opportunistic`) STARTTLS, `smtps://` TLS; certificates checked against the system's CA
/// store. One connection per message, each command bounded by `timeout`.
fn transport(
    smtp_url: &SecretString,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url.expose_secret())
        .map_err(|_| MailError::Settings)?
        .timeout(Some(timeout))
        .build())
}

/// The class and code of a failed attempt, without anything the server echoed back.
fn classify(err: &lettre::transport::smtp::Error) -> Outcome {
    if let Some(code) = err.status() {
        if err.is_permanent() {
            return Outcome::Permanent(format!("permanent SMTP error {code}"));
        }
        return Outcome::Transient(format!("transient SMTP error {code}"));
    }
    // The socket's error, if there is one: lettre wraps it (a TLS handshake that fails,
    // an untrusted certificate included, is an `InvalidData` error from rustls).
    let io = std::iter::successors(std::error::Error::source(err), |e| e.source())
        .find_map(|e| e.downcast_ref::<std::io::Error>());
    let class = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_tls() {
        "TLS failed".to_owned()
    } else if let Some(io) = io {
        match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            std::io::ErrorKind::InvalidData => match io.get_ref() {
                // rustls's own words ("invalid peer certificate: UnknownIssuer")
                Some(tls) => format!("TLS failed: {}", one_line(&tls.to_string(), 200)),
                None => "TLS failed".to_owned(),
            },
            _ => "connection failed".to_owned(),
        }
    } else if err.is_response() {
        "unreadable SMTP response".to_owned()
    } else if err.is_client() {
        "SMTP client error".to_owned()
    } else {
        "connection failed".to_owned()
    };
    Outcome::Transient(class)
}

/// `text` on one line, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    text.chars().take(max).map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_connection_modes_and_nothing_else() {
        let build = |url: &str| transport(&SecretString::from(url), Duration::from_secs(5));
        for url in [
            "smtp://127.0.0.1:25",
            "smtp://mail.internal",
            "smtp://user:p%40ss@smtp.example.com:587?tls=required",
            "smtp://smtp.example.com?tls=opportunistic",
            "smtps://user:pass@smtp.example.com:465",
            "smtps://smtp.example.com",
        ] {
            assert!(build(url).is_ok(), "{url}");
        }
        for url in ["http://smtp.example.com", "smtp://smtp.example.com?tls=bogus", "smtp://", "x"]
        {
            assert!(matches!(build(url), Err(MailError::Settings)), "{url}");
        }
    }
}
