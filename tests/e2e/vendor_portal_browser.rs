//! The vendor portal in a real browser: headless Chromium (fantoccini) against a real
//! `wharf serve --demo` with a real Postgres and SMTP server; axe-core on every vendor page
//! (zero WCAG 2.1 A/AA violations); in a new, empty organization the first push made by a
//! real docker with the commands the pages show (the token page's `docker login`, the
//! dashboard's and Artifacts' first-push lines), pasted verbatim into a shell; a license
//! written with its live preview (htmx), a customer user invited by mail, and the portal's
//! answer for a customer compared with the registry's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use fantoccini::Locator;
use wharf_e2e::{
    ServeOptions, Wharf,
    browser::Browser,
    clients::{docker::Docker, fixtures},
    fresh_database, run_wharf, scratch_dir,
    smtp::SmtpServer,
};

#[tokio::test]
async fn a_vendor_day_in_the_browser_with_every_page_accessible() {
    let smtp = SmtpServer::start();
    let data = scratch_dir();
    let database_url = fresh_database().await;
    let env: HashMap<String, String> =
        [("WHARF_DEMO", "true".to_owned()), ("WHARF_SMTP_URL", smtp.url())]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
    let options = ServeOptions { database_url: Some(database_url.clone()), env };
    let wharf = Wharf::start(data.path(), &options).await;
    let (email, password) = wharf.first_admin();
    let base = wharf.url.clone();
    let pool = wharf_db::PgPool::connect(&database_url).await.unwrap();
    let org = wharf_db::accounts::find_organization(&pool, "vendor").await.unwrap().unwrap();
    let globex = wharf_db::customers::find_by_name(&pool, org.id, "Globex Corporation")
        .await
        .unwrap()
        .unwrap();
    let license =
        wharf_db::licenses::list_for_customer(&pool, org.id, globex.id).await.unwrap().remove(0);

    let browser = Browser::start().await;
    browser.visit(&format!("{base}/sign-in"), "sign-in").await;
    browser.fill("email", &email).await;
    browser.fill("password", &password).await;
    browser.click("main form button[type=submit]").await;
    browser.arrive("/vendor/vendor").await;

    // A second organization of the same person, empty: the first push, with the commands
    // the pages show, run verbatim by a real docker.
    let out = run_wharf(
        &["admin", "create-org", "--slug", "fresh", "--name", "Fresh Co", "--owner-email", &email],
        &[("DATABASE_URL", &database_url), ("RUST_LOG", "warn")],
    );
    assert!(out.status.success(), "{}", out.stderr);
    first_push_with_the_shown_commands(&browser, &base, data.path()).await;

    let v = format!("{base}/vendor/vendor");
    for (path, name) in [
        (String::new(), "dashboard"),
        ("/artifacts".into(), "artifacts"),
        ("/artifacts/web".into(), "repository"),
        ("/artifacts/web?client=helm-install".into(), "repository with a client"),
        ("/artifacts/web/-/tags/2.0.0".into(), "tag with referrers"),
        ("/artifacts/agent/-/tags/3.1.0".into(), "multi-platform tag"),
        ("/artifacts/charts/web".into(), "chart repository"),
        ("/artifacts/web/-/tags/1.0.0/delete".into(), "delete confirmation"),
        ("/customers".into(), "customers"),
        (format!("/customers/{}", globex.id), "customer"),
        (format!("/licenses/{}", license.id), "license"),
        (format!("/customers/{}/licenses/new", globex.id), "new license"),
        ("/team".into(), "team"),
        ("/invitations".into(), "invitations"),
        ("/tokens".into(), "tokens"),
    ] {
        browser.visit(&format!("{v}{path}"), name).await;
    }

    // A new customer, and a license written while watching its preview.
    browser.visit(&format!("{v}/customers"), "customers").await;
    browser.fill("name", "Wayne Enterprises").await;
    browser.click("section form button[type=submit]").await;
    browser.wait_for_text("Customer Wayne Enterprises created").await;
    let customer_path = browser.here().await;
    let customer_id = customer_path.rsplit('/').next().unwrap().to_owned();
    browser.click("a[href$='/licenses/new']").await;
    browser.wait_for_text("New license").await;
    browser.fill("name", "Web 1.x").await;
    browser.fill("grant-0-repository", "vendor/web").await;
    browser
        .client
        .find(Locator::Id("grant-0-kind"))
        .await
        .unwrap()
        .select_by_value("semver")
        .await
        .unwrap();
    browser.fill("grant-0-value", ">=1.0.0 <2.0.0").await;
    // htmx asks for the preview as the vendor types.
    browser.wait_for_text("3 tags in 1 repository").await;
    assert_accessible_now(&browser, "license preview").await;
    browser.click("button[name=intent][value=save]").await;
    browser.wait_for_text("License Web 1.x saved").await;
    assert_eq!(browser.here().await, customer_path);

    // What the portal says Wayne can pull is what the registry serves a token of Wayne's.
    let owner =
        wharf_db::tokens::TokenOwner::Customer { customer_id: customer_id.parse().unwrap() };
    let (_, token) = wharf_e2e::insert_token(&pool, org.id, owner).await;
    let served: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/v2/vendor/web/tags/list"))
        .basic_auth("wayne", Some(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served["tags"], serde_json::json!(["1.0.0", "1.1.0", "1.2.0"]));
    let page = browser.source().await;
    let section = page
        .split("What Wayne Enterprises can pull now")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    for tag in ["1.0.0", "1.1.0", "1.2.0"] {
        assert!(section.contains(&format!(">{tag}<")), "{section}");
    }
    assert!(!section.contains("2.0.0") && !section.contains("latest"), "{section}");
    assert!(section.contains(&format!(r#"href="{customer_path}/bundle""#)), "{section}");
    browser.visit(&format!("{base}{customer_path}/bundle"), "customer air-gap bundle").await;
    assert!(browser.source().await.contains("3 tags in 1 repository."));
    browser.goto(&format!("{base}{customer_path}")).await;

    // A user of Wayne's, invited by mail.
    browser.fill("email", "bruce@wayne.test").await;
    browser.click("form[action$='/invitations'] button[type=submit]").await;
    browser.wait_for_text("Invitation sent to bruce@wayne.test").await;
    let mail = smtp.wait_for_message("bruce@wayne.test").await;
    assert!(mail.text().contains("/invitation/wharf_inv_"), "{}", mail.text());

    browser.close().await;
}

/// The text of the element with id `id` as it is in the page (also inside a closed
/// `<details>`, which `text()` skips).
async fn shown(browser: &Browser, id: &str) -> String {
    let element =
        browser.client.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}"));
    element.prop("textContent").await.unwrap().unwrap_or_default().trim().to_owned()
}

/// In the empty organization `fresh`: the dashboard and Artifacts show the first-push
/// commands; a token made on the Tokens page; its shown `docker login`, then the shown
/// first-push lines (with `WHARF_TOKEN` set, as the page says, and a local image `my-app:1.0`
/// as they need), pasted into a shell with a real docker; then Artifacts lists the
/// repository, whose page has the tag with its pull command, which pulls the pushed digest.
async fn first_push_with_the_shown_commands(browser: &Browser, base: &str, dir: &std::path::Path) {
    let host = base.trim_start_matches("http://");
    let f = format!("{base}/vendor/fresh");
    browser.visit(&f, "empty dashboard").await;
    assert!(browser.source().await.contains("Get started"));
    let (dashboard_login, dashboard_push) =
        (shown(browser, "push-login").await, shown(browser, "push-image").await);
    browser.visit(&format!("{f}/artifacts"), "empty artifacts").await;
    let (login, push) = (shown(browser, "push-login").await, shown(browser, "push-image").await);
    assert_eq!((&dashboard_login, &dashboard_push), (&login, &push));

    browser.visit(&format!("{f}/tokens"), "tokens, none").await;
    browser.fill("name", "release pipeline").await;
    browser.click("section form button[type=submit]").await;
    browser.wait_for_text("it is shown only this once").await;
    assert_accessible_now(browser, "token created").await;
    let token = shown(browser, "token-value").await;
    let token_login = shown(browser, "token-login").await;
    assert!(token_login.contains(&token), "{token_login}");

    let docker = Docker::start(&dir.join("docker"));
    docker.import(&fixtures::single_file_tar(&dir.join("rootfs")), "my-app:1.0");
    docker.shell(&token_login, &[]).unwrap_or_else(|e| panic!("{e}"));
    docker.shell(&login, &[("WHARF_TOKEN", &token)]).unwrap_or_else(|e| panic!("{e}"));
    let pushed = docker.shell(&push, &[]).unwrap_or_else(|e| panic!("{e}"));
    let digest = pushed
        .lines()
        .find_map(|l| l.split_once("digest: ").map(|(_, r)| r))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in: {pushed}"))
        .to_owned();

    browser.visit(&format!("{f}/artifacts"), "artifacts after the first push").await;
    assert!(!browser.source().await.contains("Nothing pushed yet"));
    browser.click("a[href$='/artifacts/my-app']").await;
    browser.arrive("/vendor/fresh/artifacts/my-app").await;
    assert_accessible_now(browser, "the first repository").await;
    let pull = shown(browser, "pull-1").await;
    assert_eq!(pull, format!("docker pull {host}/fresh/my-app:1.0"));
    docker.remove(&format!("{host}/fresh/my-app:1.0"));
    let pulled = docker.shell(&pull, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");
}

async fn assert_accessible_now(browser: &Browser, name: &str) {
    wharf_e2e::browser::assert_accessible(&browser.client, name).await;
}
