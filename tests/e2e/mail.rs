//! Email against a real SMTP server (`wharf_e2e::smtp`, aiosmtpd) and a real Postgres: a
//! queued message is delivered with its link, names are escaped in HTML, an SMTP server
//! that is down is retried until it comes up, a refusal and the last failed attempt end as
//! `failed` with the body blanked, and two workers on one database send a message once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use secrecy::SecretString;
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_app::mail::{
    Delivery, DeliveryStatus, InvitationMail, MailAbout, MailError, MailSettings, MailWorker,
    Mailer, PasswordResetMail, invitation_mail, password_reset_mail,
};
use wharf_db::PgPool;
use wharf_e2e::{
    ServeOptions, Wharf, free_port, fresh_database,
    house::TestApp,
    scratch_dir,
    smtp::{SmtpServer, SmtpTls},
};

const LINK: &str =
    "http://wharf.test/invitations/wharf_inv_0123456789abcdefghijKLMNOPQRSTUV?from=mail&x=1";

fn invitation(
    to: &str,
    vendor: &str,
    organization_id: Uuid,
    invitation_id: Uuid,
) -> InvitationMail {
    InvitationMail {
        to: to.to_owned(),
        link: SecretString::from(LINK),
        vendor_name: vendor.to_owned(),
        inviter_name: Some("Ada Lovelace".to_owned()),
        what: format!("join {vendor} as admin"),
        expires_at: OffsetDateTime::now_utc() + time::Duration::days(7),
        organization_id: Some(organization_id),
        invitation_id,
    }
}

/// Settings that retry fast, for tests.
fn fast(smtp_url: String, max_attempts: u32) -> MailSettings {
    MailSettings {
        smtp_url: Some(SecretString::from(smtp_url)),
        from: "Wharf Test <wharf@wharf.test>".parse().unwrap(),
        max_attempts,
        first_retry_wait: Duration::from_millis(100),
        max_retry_wait: Duration::from_millis(300),
        poll: Duration::from_millis(100),
        send_timeout: Duration::from_secs(10),
    }
}

async fn database() -> PgPool {
    let pool = PgPool::connect(&fresh_database().await).await.unwrap();
    wharf_db::migrate(&pool).await.unwrap();
    pool
}

/// Polls the delivery of `about` until `done` holds (at most 30 s).
async fn wait_for_delivery(
    mailer: &Mailer,
    organization_id: Option<Uuid>,
    about: MailAbout,
    done: impl Fn(&Delivery) -> bool,
) -> Delivery {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivery = mailer.delivery(organization_id, about).await.unwrap();
        if let Some(delivery) = delivery.as_ref().filter(|d| done(d)) {
            return delivery.clone();
        }
        assert!(Instant::now() < deadline, "delivery never got there: {delivery:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The stored bodies of message `id` (text, html).
async fn bodies(pool: &PgPool, id: Uuid) -> (Option<String>, Option<String>) {
    sqlx::query_as("select body_text, body_html from mail_outbox where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn stop(worker: Option<MailWorker>) {
    worker.expect("a worker").shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn an_invitation_queued_through_the_app_is_delivered_with_its_link() {
    let smtp = SmtpServer::start();
    let mut house = TestApp::start_with(&["--smtp-url", &smtp.url()]).await;
    let acme = wharf_db::testing::org(&house.pool, "acme").await;
    let globex = wharf_db::testing::org(&house.pool, "globex").await;
    let mailer = house.app.mailer.clone();
    assert!(mailer.configured());

    let invitation_id = Uuid::new_v4();
    let mail =
        invitation_mail(invitation("new@customer.test", "Acme", acme.id, invitation_id)).unwrap();
    let started = Instant::now();
    let id = mailer.queue(mail).await.unwrap();
    let queued_in = started.elapsed();

    let received = smtp.wait_for_message("new@customer.test").await;
    let delivered_in = started.elapsed();
    eprintln!("queue returned in {queued_in:?}; delivered in {delivered_in:?}");
    assert_eq!(received.header("subject"), Some("Acme invited you to Wharf"));
    assert_eq!(received.header("to"), Some("new@customer.test"));
    // The configured address, which defaults to the public URL's host, in the vendor's name.
    assert_eq!(received.header("from"), Some("Acme via Wharf <wharf@wharf.test>"));
    assert_eq!(received.envelope_from, "wharf@wharf.test");
    assert_eq!(received.header("message-id"), Some(format!("<{id}@wharf.test>").as_str()));
    let text = received.text();
    assert!(
        text.contains(&format!("\n{LINK}\n")),
        "the link, whole, on a line of its own:\n{text}"
    );
    assert!(text.starts_with("Ada Lovelace invited you to join Acme as admin."), "{text}");
    let html = received.html();
    assert!(html.contains(&format!(r#"href="{}""#, LINK.replace('&', "&#38;"))), "{html}");

    let delivery =
        wait_for_delivery(&mailer, Some(acme.id), MailAbout::Invitation(invitation_id), |d| {
            d.status == DeliveryStatus::Sent
        })
        .await;
    assert_eq!(delivery.attempts, 1);
    assert_eq!(delivery.last_error, None);
    assert!(delivery.sent_at.is_some());
    assert_eq!(bodies(&house.pool, id).await, (None, None), "bodies blanked once sent");

    // Scoped to the organization it was sent for.
    let about = MailAbout::Invitation(invitation_id);
    assert_eq!(mailer.delivery(Some(globex.id), about).await.unwrap(), None);
    assert_eq!(mailer.delivery(None, about).await.unwrap(), None);
    assert_eq!(
        mailer.delivery(Some(acme.id), MailAbout::Invitation(Uuid::new_v4())).await.unwrap(),
        None
    );

    // A message queued just before shutdown is delivered by the time shutdown returns.
    let reset = password_reset_mail(PasswordResetMail {
        to: "ada@acme.test".into(),
        link: SecretString::from("http://wharf.test/reset/wharf_rst_secret"),
        expires_at: OffsetDateTime::now_utc() + time::Duration::hours(1),
        user_id: acme.owner,
    })
    .unwrap();
    mailer.queue(reset).await.unwrap();
    house.flush().await;
    let reset = smtp.messages_to("ada@acme.test");
    assert_eq!(reset.len(), 1, "delivered during shutdown");
    assert_eq!(reset[0].header("subject"), Some("Reset your Wharf password"));
    assert_eq!(reset[0].header("from"), Some("Wharf <wharf@wharf.test>"));
    assert!(reset[0].text().contains("\nhttp://wharf.test/reset/wharf_rst_secret\n"));
    assert_eq!(smtp.messages().len(), 2);
}

#[tokio::test]
async fn without_smtp_nothing_is_queued() {
    let house = TestApp::start().await;
    let acme = wharf_db::testing::org(&house.pool, "acme").await;
    assert!(!house.app.mailer.configured());
    let mail =
        invitation_mail(invitation("new@customer.test", "Acme", acme.id, Uuid::new_v4())).unwrap();
    assert!(matches!(house.app.mailer.queue(mail).await, Err(MailError::NotConfigured)));
    let rows: i64 = sqlx::query_scalar("select count(*) from mail_outbox")
        .fetch_one(&house.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn vendor_names_are_escaped_in_the_html_part() {
    let smtp = SmtpServer::start();
    let pool = database().await;
    let acme = wharf_db::testing::org(&pool, "acme").await;
    let (mailer, worker) = Mailer::start(pool.clone(), fast(smtp.url(), 3)).unwrap();
    let vendor = r#"<script>alert("x")</script> & Co"#;
    let mail =
        invitation_mail(invitation("new@customer.test", vendor, acme.id, Uuid::new_v4())).unwrap();
    mailer.queue(mail).await.unwrap();

    let received = smtp.wait_for_message("new@customer.test").await;
    let html = received.html();
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; Co"),
        "{html}"
    );
    // The plain-text part and the headers carry the name as it is.
    assert!(received.text().contains(&format!("join {vendor} as admin")));
    assert_eq!(received.header("subject"), Some(format!("{vendor} invited you to Wharf").as_str()));
    assert!(received.header("from").unwrap().ends_with("<wharf@wharf.test>"));
    stop(worker).await;
}

#[tokio::test]
async fn a_message_queued_while_smtp_is_down_is_delivered_once_it_comes_up() {
    let port = free_port();
    let mut smtp = SmtpServer::not_started(port);
    let pool = database().await;
    let acme = wharf_db::testing::org(&pool, "acme").await;
    let (mailer, worker) = Mailer::start(pool.clone(), fast(smtp.url(), 100)).unwrap();
    let invitation_id = Uuid::new_v4();
    let about = MailAbout::Invitation(invitation_id);
    let mail =
        invitation_mail(invitation("new@customer.test", "Acme", acme.id, invitation_id)).unwrap();
    let id = mailer.queue(mail).await.unwrap();

    let failing = wait_for_delivery(&mailer, Some(acme.id), about, |d| d.attempts >= 3).await;
    assert_eq!(failing.status, DeliveryStatus::Queued);
    assert_eq!(failing.last_error.as_deref(), Some("connection refused"));
    assert!(bodies(&pool, id).await.0.is_some(), "kept while it may still be sent");

    smtp.resume();
    let received = smtp.wait_for_message("new@customer.test").await;
    assert!(received.text().contains(LINK));
    let delivery =
        wait_for_delivery(&mailer, Some(acme.id), about, |d| d.status == DeliveryStatus::Sent)
            .await;
    assert!(delivery.attempts > failing.attempts, "{delivery:?}");
    assert_eq!(delivery.last_error, None);
    assert_eq!(bodies(&pool, id).await, (None, None));
    stop(worker).await;
    assert_eq!(smtp.messages().len(), 1, "sent once");
}

#[tokio::test]
async fn a_permanent_refusal_fails_at_once_and_blanks_the_body() {
    let smtp = SmtpServer::start_rejecting(&["refused.test"]);
    let pool = database().await;
    let (mailer, worker) = Mailer::start(pool.clone(), fast(smtp.url(), 5)).unwrap();
    let user = Uuid::new_v4();
    let about = MailAbout::PasswordReset(user);
    let mail = password_reset_mail(PasswordResetMail {
        to: "gone@refused.test".into(),
        link: SecretString::from("http://wharf.test/reset/wharf_rst_secret"),
        expires_at: OffsetDateTime::now_utc() + time::Duration::hours(1),
        user_id: user,
    })
    .unwrap();
    let id = mailer.queue(mail).await.unwrap();

    let delivery =
        wait_for_delivery(&mailer, None, about, |d| d.status == DeliveryStatus::Failed).await;
    assert_eq!(delivery.attempts, 1, "a 5xx is not retried");
    assert_eq!(delivery.last_error.as_deref(), Some("permanent SMTP error 550"));
    assert_eq!(delivery.sent_at, None);
    assert_eq!(bodies(&pool, id).await, (None, None));
    assert!(smtp.messages().is_empty());
    stop(worker).await;
}

#[tokio::test]
async fn the_last_failed_attempt_ends_as_failed() {
    let smtp = SmtpServer::not_started(free_port());
    let pool = database().await;
    let (mailer, worker) = Mailer::start(pool.clone(), fast(smtp.url(), 3)).unwrap();
    let acme = wharf_db::testing::org(&pool, "acme").await;
    let invitation_id = Uuid::new_v4();
    let about = MailAbout::Invitation(invitation_id);
    let mail =
        invitation_mail(invitation("new@customer.test", "Acme", acme.id, invitation_id)).unwrap();
    let id = mailer.queue(mail).await.unwrap();

    let delivery =
        wait_for_delivery(&mailer, Some(acme.id), about, |d| d.status == DeliveryStatus::Failed)
            .await;
    assert_eq!(delivery.attempts, 3);
    assert_eq!(delivery.last_error.as_deref(), Some("connection refused"));
    assert_eq!(bodies(&pool, id).await, (None, None));
    let stored: String = sqlx::query_scalar("select last_error from mail_outbox where id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!stored.contains("wharf_inv_"), "{stored}");
    stop(worker).await;
}

#[tokio::test]
async fn two_workers_on_one_database_send_each_message_once() {
    let smtp = SmtpServer::start();
    let pool = database().await;
    let acme = wharf_db::testing::org(&pool, "acme").await;
    // Two instances: each its own pool and worker, one database.
    let other_pool = PgPool::connect_with((*pool.connect_options()).clone()).await.unwrap();
    let (first, first_worker) = Mailer::start(pool.clone(), fast(smtp.url(), 5)).unwrap();
    let (second, second_worker) = Mailer::start(other_pool, fast(smtp.url(), 5)).unwrap();
    let mailers: [&Arc<Mailer>; 2] = [&first, &second];

    const MESSAGES: usize = 30;
    for i in 0..MESSAGES {
        let to = format!("user{i}@customer.test");
        let mail = invitation_mail(invitation(&to, "Acme", acme.id, Uuid::new_v4())).unwrap();
        mailers[i % 2].queue(mail).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while smtp.messages().len() < MESSAGES {
        assert!(Instant::now() < deadline, "{} of {MESSAGES} arrived", smtp.messages().len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give a duplicate time to arrive, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(first_worker).await;
    stop(second_worker).await;
    let received = smtp.messages();
    assert_eq!(received.len(), MESSAGES);
    for i in 0..MESSAGES {
        assert_eq!(smtp.messages_to(&format!("user{i}@customer.test")).len(), 1, "user{i}");
    }
    let (sent, attempts): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where status = 'sent'), coalesce(sum(attempts), 0)
         from mail_outbox",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(sent, MESSAGES as i64);
    assert_eq!(attempts, MESSAGES as i64, "one attempt each");
}

#[tokio::test]
async fn wharf_serve_says_mail_is_on_and_never_logs_the_smtp_url() {
    let smtp = SmtpServer::start();
    let secret = "smtp-password-that-must-not-leak";
    let url = format!("smtp://wharf:{secret}@127.0.0.1:{}", smtp.port);
    let data = scratch_dir();
    let env = [("WHARF_SMTP_URL".to_owned(), url), ("RUST_LOG".to_owned(), "debug".to_owned())];
    let options =
        ServeOptions { database_url: Some(fresh_database().await), env: env.into_iter().collect() };
    let mut wharf = Wharf::start(data.path(), &options).await;
    let serving = wharf.stderr();
    wharf.stop();
    let logs = format!("{}{}", wharf.stdout(), wharf.stderr());
    assert!(
        serving.lines().any(|l| l.contains("wharf is serving") && l.contains("mail")),
        "{serving}"
    );
    assert!(serving.contains("smtp"), "{serving}");
    assert!(!logs.contains(secret), "the SMTP password was logged:\n{logs}");
}

#[tokio::test]
async fn tls_is_required_and_an_untrusted_certificate_is_refused() {
    let pool = database().await;
    let acme = wharf_db::testing::org(&pool, "acme").await;
    for tls in [SmtpTls::StartTls, SmtpTls::Implicit] {
        let smtp = SmtpServer::start_tls(tls);
        let (mailer, worker) = Mailer::start(pool.clone(), fast(smtp.url(), 100)).unwrap();
        let invitation_id = Uuid::new_v4();
        let about = MailAbout::Invitation(invitation_id);
        let mail = invitation_mail(invitation("new@customer.test", "Acme", acme.id, invitation_id))
            .unwrap();
        let id = mailer.queue(mail).await.unwrap();
        let delivery = wait_for_delivery(&mailer, Some(acme.id), about, |d| d.attempts >= 2).await;
        stop(worker).await;
        assert_eq!(delivery.status, DeliveryStatus::Queued, "{tls:?}: retried, not given up");
        let error = delivery.last_error.unwrap_or_default();
        assert!(error.starts_with("TLS failed: invalid peer certificate"), "{tls:?}: {error}");
        assert!(bodies(&pool, id).await.0.is_some());
        assert!(smtp.messages().is_empty(), "{tls:?}: nothing sent without trusted TLS");
    }
}
