//! The portal's front door in a real browser: headless Chromium (fantoccini) against a real
//! `wharf serve`, a real Postgres and a real SMTP server (aiosmtpd), with axe-core run on
//! every page visited (WCAG 2.1 A and AA: zero violations). The same rules, without a
//! browser, are in `portal.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::HashMap, time::Duration};

use fantoccini::{Locator, key::Key};
use wharf_e2e::{
    ServeOptions, Wharf,
    browser::{Browser, assert_accessible, link_in},
    fresh_database, run_wharf, scratch_dir,
    smtp::SmtpServer,
};

/// A `wharf serve` on a fresh database, with `env`; debug logs, so the test can show that
/// not even those carry a secret.
async fn serve(env: &[(&str, &str)]) -> (Wharf, tempfile::TempDir, String) {
    let data = scratch_dir();
    let database_url = fresh_database().await;
    let mut vars: HashMap<String, String> =
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    vars.insert("RUST_LOG".into(), "debug,sqlx=warn,hyper=info,h2=info".into());
    let options = ServeOptions { database_url: Some(database_url.clone()), env: vars };
    let wharf = Wharf::start(data.path(), &options).await;
    (wharf, data, database_url)
}

async fn sign_in(browser: &Browser, base: &str, email: &str, password: &str) {
    browser.visit(&format!("{base}/sign-in"), "sign-in").await;
    browser.fill("email", email).await;
    browser.fill("password", password).await;
    browser.click("main form button[type=submit]").await;
}

#[tokio::test]
async fn sign_in_switch_sign_out_and_the_old_cookie_is_dead() {
    let (wharf, _data, database_url) = serve(&[]).await;
    let (email, password) = wharf.first_admin();
    let base = wharf.url.clone();
    // The admin is also a user of a customer of its own organization: two places to work.
    let pool = wharf_db::PgPool::connect(&database_url).await.unwrap();
    let org: uuid::Uuid = sqlx::query_scalar("select id from organizations where slug = 'vendor'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let customer = wharf_db::testing::customer(&pool, org, "Globex").await;
    sqlx::query("insert into customer_users (customer_id, user_id, role) select $1, id, 'admin' from users where email = $2")
        .bind(customer.id)
        .bind(&email)
        .execute(&pool)
        .await
        .unwrap();

    let browser = Browser::start().await;
    browser.visit(&format!("{base}/"), "start").await;
    assert_eq!(browser.here().await, "/sign-in");
    // Wrong password first: one message, the email kept, never the password.
    browser.fill("email", &email).await;
    browser.fill("password", "not the password").await;
    browser.click("main form button[type=submit]").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !browser.source().await.contains("Wrong email or password.") {
        assert!(std::time::Instant::now() < deadline, "{}", browser.source().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_accessible(&browser.client, "sign-in with an error").await;

    // Now with the right password, by keyboard only: Tab to each field, Enter to send.
    browser.visit(&format!("{base}/sign-in"), "sign-in").await;
    let body = browser.client.find(Locator::Css("body")).await.unwrap();
    body.send_keys(&format!("{}", Key::Tab)).await.unwrap();
    let mut focused = String::new();
    for _ in 0..10 {
        focused = browser
            .client
            .active_element()
            .await
            .unwrap()
            .attr("id")
            .await
            .unwrap()
            .unwrap_or_default();
        if focused == "email" {
            break;
        }
        browser
            .client
            .active_element()
            .await
            .unwrap()
            .send_keys(&format!("{}", Key::Tab))
            .await
            .unwrap();
    }
    assert_eq!(focused, "email", "Tab reaches the email field");
    let active = browser.client.active_element().await.unwrap();
    active.send_keys(&format!("{email}{}{password}{}", Key::Tab, Key::Enter)).await.unwrap();
    browser.arrive("/choose").await;
    assert_accessible(&browser.client, "choose").await;
    let first_session = browser.cookie("wharf_session").await.expect("a session cookie");
    assert_eq!(first_session.http_only(), Some(true));
    assert_eq!(first_session.same_site().map(|s| s.to_string()).as_deref(), Some("Lax"));

    // Switch between the two places.
    browser.click("a[href='/vendor/vendor']").await;
    browser.arrive("/vendor/vendor").await;
    assert_accessible(&browser.client, "vendor home").await;
    assert!(browser.source().await.contains("vendor · owner"));
    browser.click("nav a[href='/choose']").await;
    browser.arrive("/choose").await;
    browser.click(&format!("a[href='/customer/vendor/{}']", customer.id)).await;
    browser.arrive(&format!("/customer/vendor/{}", customer.id)).await;
    assert_accessible(&browser.client, "customer home").await;
    assert!(browser.source().await.contains("Globex"));
    browser.visit(&format!("{base}/account"), "account").await;

    // Sign out; the cookie it had, put back, signs nobody in.
    browser.click("header form button[type=submit]").await;
    browser.arrive("/sign-in?notice=signed-out").await;
    assert!(browser.source().await.contains("You have signed out."));
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}/account"))
        .header("cookie", format!("wharf_session={}", first_session.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
    assert_eq!(
        replay.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/sign-in?next=%2Faccount")
    );

    let logs = wharf.stderr();
    assert!(!logs.contains(&password), "no password in the logs");
    assert!(!logs.contains(first_session.value()), "no session id in the logs");
}

#[tokio::test]
async fn a_password_change_signs_the_other_browser_out() {
    let (wharf, _data, _db) = serve(&[]).await;
    let (email, password) = wharf.first_admin();
    let base = wharf.url.clone();
    let laptop = Browser::start().await;
    let phone = Browser::start().await;
    phone.set_window_size(390, 844).await;
    sign_in(&laptop, &base, &email, &password).await;
    laptop.arrive("/vendor/vendor").await;
    sign_in(&phone, &base, &email, &password).await;
    phone.arrive("/vendor/vendor").await;
    assert_accessible(&phone.client, "vendor home on a phone").await;

    laptop.visit(&format!("{base}/account"), "account").await;
    assert!(laptop.source().await.contains("End all other sessions"));
    laptop.fill("current_password", &password).await;
    laptop.fill("password", "a brand new password").await;
    laptop.fill("password_confirm", "a brand new password").await;
    laptop.click("form[action='/account/password'] button").await;
    // The page posts back to where it is: wait for the answer, not the address.
    laptop.wait_for_text("Your other sessions have ended").await;
    laptop.arrive("/account").await;
    assert_accessible(&laptop.client, "account after a change").await;

    phone.goto(&format!("{base}/account")).await;
    assert_eq!(phone.here().await, "/sign-in?next=%2Faccount", "the phone was signed out");
    sign_in(&phone, &base, &email, "a brand new password").await;
    phone.arrive("/vendor/vendor").await;
    assert!(!wharf.stderr().contains("a brand new password"));
}

#[tokio::test]
async fn forgot_mail_reset_and_sign_in() {
    let smtp = SmtpServer::start();
    let (wharf, _data, _db) = serve(&[("WHARF_SMTP_URL", &smtp.url())]).await;
    let (email, _) = wharf.first_admin();
    let base = wharf.url.clone();
    let browser = Browser::start().await;
    browser.visit(&format!("{base}/sign-in"), "sign-in").await;
    browser.click("a[href='/forgot-password']").await;
    browser.arrive("/forgot-password").await;
    assert_accessible(&browser.client, "forgot password").await;
    browser.fill("email", &email).await;
    browser.click("main form button[type=submit]").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !browser.source().await.contains("If that address has an account, we sent a link") {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_accessible(&browser.client, "forgot password, sent").await;

    let mail = smtp.wait_for_message(&email).await;
    let link = link_in(mail.text(), &format!("{base}/reset-password/wharf_pwr_"));
    browser.visit(&link, "reset password").await;
    browser.fill("password", "a password after reset").await;
    browser.fill("password_confirm", "a password after reset").await;
    browser.click("main form button[type=submit]").await;
    browser.arrive("/sign-in?notice=password-reset").await;
    sign_in(&browser, &base, &email, "a password after reset").await;
    browser.arrive("/vendor/vendor").await;
    // The link was single use.
    browser.goto(&link).await;
    assert!(browser.source().await.contains("This link is not valid"));

    let token = link.rsplit('/').next().unwrap();
    let logs = wharf.stderr();
    assert!(!logs.contains(token), "the reset token never reaches the logs");
    assert!(logs.contains("/reset-password/…"), "the path is logged with the token cut out");
}

#[tokio::test]
async fn an_invitation_by_mail_signs_the_invitee_in_with_the_role() {
    let smtp = SmtpServer::start();
    let (wharf, _data, _db) = serve(&[("WHARF_SMTP_URL", &smtp.url())]).await;
    let (email, password) = wharf.first_admin();
    let base = wharf.url.clone();
    let admin = Browser::start().await;
    sign_in(&admin, &base, &email, &password).await;
    admin.arrive("/vendor/vendor").await;
    admin.click("a[href='/vendor/vendor/invitations']").await;
    admin.arrive("/vendor/vendor/invitations").await;
    assert_accessible(&admin.client, "invitations, empty").await;
    admin.fill("email", "new.viewer@example.test").await;
    admin
        .client
        .find(Locator::Css("#role option[value='viewer']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    admin.click("main form button[type=submit]").await;
    admin.wait_for_text("Invitation sent to new.viewer@example.test.").await;
    admin.arrive("/vendor/vendor/invitations").await;
    assert_accessible(&admin.client, "invitations, one open").await;

    let mail = smtp.wait_for_message("new.viewer@example.test").await;
    assert!(
        mail.header("from").unwrap_or_default().contains("vendor via Wharf"),
        "{:?}",
        mail.headers
    );
    let link = link_in(mail.text(), &format!("{base}/invitation/wharf_inv_"));
    // The inviter sees that the mail went out.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        admin.goto(&format!("{base}/vendor/vendor/invitations")).await;
        if admin.source().await.contains(">sent ") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", admin.source().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let invitee = Browser::start().await;
    invitee.visit(&link, "invitation").await;
    assert!(invitee.source().await.contains("join vendor as viewer"));
    invitee.fill("name", "Vera Viewer").await;
    invitee.fill("password", "a viewer password").await;
    invitee.fill("password_confirm", "a viewer password").await;
    invitee.click("main form button[type=submit]").await;
    invitee.arrive("/vendor/vendor").await;
    let home = invitee.source().await;
    assert!(home.contains("vendor · viewer") && home.contains("Vera Viewer"), "{home}");
    assert!(!home.contains("/vendor/vendor/invitations"), "a viewer is not offered invitations");
    invitee.goto(&format!("{base}/vendor/vendor/invitations")).await;
    assert!(invitee.source().await.contains("Not allowed"));
    assert!(!wharf.stderr().contains(link.rsplit('/').next().unwrap()));
}

#[tokio::test]
async fn sign_up_in_each_mode() {
    // open: anyone creates an organization and is its owner, signed in.
    let (open, _d1, _db1) = serve(&[("WHARF_SIGNUP", "open")]).await;
    let browser = Browser::start().await;
    browser.visit(&format!("{}/sign-in", open.url), "sign-in, sign-up open").await;
    browser.click("a[href='/sign-up']").await;
    browser.arrive("/sign-up").await;
    assert_accessible(&browser.client, "sign-up").await;
    browser.fill("org_name", "Initech").await;
    browser.fill("org_slug", "Initech Inc").await;
    browser.fill("email", "founder@initech.test").await;
    browser.fill("password", "a founder password").await;
    browser.click("main form button[type=submit]").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !browser.source().await.contains("org_slug-error") {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_accessible(&browser.client, "sign-up with an error").await;
    browser.fill("org_slug", "initech").await;
    browser.fill("password", "a founder password").await;
    browser.click("main form button[type=submit]").await;
    browser.arrive("/vendor/initech").await;
    assert!(browser.source().await.contains("Welcome to Wharf! Initech is ready."));

    // invite: only with a sign-up invitation's link, printed by the operator command.
    let (invite, _d2, db2) = serve(&[("WHARF_SIGNUP", "invite")]).await;
    let browser = Browser::start().await;
    browser.visit(&format!("{}/sign-up", invite.url), "sign-up, invitation needed").await;
    assert!(browser.source().await.contains("needs an invitation"));
    let out = run_wharf(
        &["admin", "invite-signup", "--email", "boss@hooli.test", "--public-url", &invite.url],
        &[("DATABASE_URL", &db2), ("RUST_LOG", "warn")],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let link = link_in(&out.stdout, &format!("{}/sign-up/wharf_inv_", invite.url));
    browser.visit(&link, "sign-up with an invitation").await;
    browser.fill("org_name", "Hooli").await;
    browser.fill("org_slug", "hooli").await;
    browser.fill("email", "boss@hooli.test").await;
    browser.fill("password", "a hooli password").await;
    browser.click("main form button[type=submit]").await;
    browser.arrive("/vendor/hooli").await;

    // closed: the page says so, and offers no form.
    let (closed, _d3, _db3) = serve(&[]).await;
    let browser = Browser::start().await;
    browser.visit(&format!("{}/sign-up", closed.url), "sign-up closed").await;
    let page = browser.source().await;
    assert!(page.contains("Sign-up is off on this Wharf") && !page.contains("org_slug"));
    browser.visit(&format!("{}/no/such/page", closed.url), "404 page").await;
}
