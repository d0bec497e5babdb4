//! `just screenshots`: a PNG of every portal page at a laptop width (1280×800) and a phone
//! width (390×844), from a seeded demo dataset, so the pages can be looked at.
//!
//! Starts two `wharf serve` on fresh databases (one with open sign-up and an SMTP server,
//! one as shipped: sign-up closed, no mail) and drives headless Chromium through them.
//! Usage: `screenshots <output directory>` with `DATABASE_URL` pointing at a Postgres it may
//! create databases in (`tests/with-postgres.sh` gives one).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "screenshots/customer.rs"]
mod customer;

use std::{collections::HashMap, path::PathBuf, time::Duration};

use fantoccini::Locator;
use wharf_app::accounts::Inviter;
use wharf_auth::principal::Role;
use wharf_e2e::{
    ServeOptions, Wharf, browser::Browser, fresh_database, scratch_dir, smtp::SmtpServer,
};

const SIZES: [(&str, u32, u32); 2] = [("desktop", 1280, 800), ("phone", 390, 844)];

struct Shooter {
    browser: Browser,
    out: PathBuf,
    count: usize,
}

impl Shooter {
    async fn shoot(&mut self, name: &str) {
        for (label, width, height) in SIZES {
            self.browser.set_window_size(width, height).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let path = self.out.join(format!("{name}-{label}.png"));
            self.browser.screenshot_png(&path).await;
            self.count += 1;
        }
        self.browser.set_window_size(1280, 800).await;
    }

    async fn page(&mut self, url: &str, name: &str) {
        self.browser.goto(url).await;
        self.shoot(name).await;
    }

    async fn fill(&self, id: &str, text: &str) {
        let field = self.browser.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn submit(&self) {
        self.click("main form button[type=submit]").await;
    }

    /// Clicks what `css` selects and lets the page answer.
    async fn click(&self, css: &str) {
        self.browser.client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

async fn serve(env: &[(&str, &str)]) -> (Wharf, tempfile::TempDir, String) {
    let data = scratch_dir();
    let database_url = fresh_database().await;
    let options = ServeOptions {
        database_url: Some(database_url.clone()),
        env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>(),
    };
    (Wharf::start(data.path(), &options).await, data, database_url)
}

#[tokio::main]
async fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/screenshots".into()));
    std::fs::create_dir_all(&out).unwrap();
    let smtp = SmtpServer::start();

    // The demo: Acme (the first start's "vendor" renamed), a customer Globex with a user,
    // an open invitation, sign-up open, mail on.
    let (wharf, _data, database_url) =
        serve(&[("WHARF_SIGNUP", "open"), ("WHARF_SMTP_URL", &smtp.url()), ("WHARF_DEMO", "true")])
            .await;
    let base = wharf.url.clone();
    let (email, password) = wharf.first_admin();
    let pool = wharf_db::PgPool::connect(&database_url).await.unwrap();
    sqlx::query("update organizations set name = 'Acme Corp' where slug = 'vendor'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("update users set name = 'Ada Admin' where email = $1")
        .bind(&email)
        .execute(&pool)
        .await
        .unwrap();
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
    let (audit, _writer) = wharf_app::audit::AuditLog::start(pool.clone(), Default::default());
    let accounts = wharf_app::accounts::Accounts::new(
        pool.clone(),
        audit,
        wharf_app::accounts::AccountSettings::default(),
    )
    .unwrap();
    let owner: uuid::Uuid = sqlx::query_scalar("select id from users where email = $1")
        .bind(&email)
        .fetch_one(&pool)
        .await
        .unwrap();
    accounts
        .invite_member(org, Inviter::User(owner), "sam@acme.test", Role::Developer)
        .await
        .unwrap();
    let invitation = accounts
        .invite_member(org, Inviter::User(owner), "new.hire@acme.test", Role::Viewer)
        .await
        .unwrap();

    let mut shots = Shooter { browser: Browser::start().await, out: out.clone(), count: 0 };
    shots.page(&format!("{base}/sign-in"), "sign-in").await;
    shots.fill("email", &email).await;
    shots.fill("password", "not the password").await;
    shots.submit().await;
    shots.shoot("sign-in-error").await;
    shots.page(&format!("{base}/forgot-password"), "forgot-password").await;
    shots.fill("email", &email).await;
    shots.submit().await;
    shots.shoot("forgot-password-sent").await;
    let mail = smtp.wait_for_message(&email).await;
    let reset =
        mail.text().split_whitespace().find(|w| w.contains("/reset-password/")).unwrap().to_owned();
    shots.page(&reset, "reset-password").await;
    shots.page(&format!("{base}/reset-password/wharf_pwr_expired"), "reset-password-invalid").await;
    shots
        .page(&format!("{base}/invitation/{}", invitation.token.expose_secret()), "invitation")
        .await;
    shots.page(&format!("{base}/invitation/wharf_inv_used"), "invitation-invalid").await;
    shots.page(&format!("{base}/sign-up"), "sign-up").await;
    shots.fill("org_name", "Initech").await;
    shots.fill("org_slug", "Initech Inc").await;
    shots.fill("email", "founder@initech.test").await;
    shots.fill("password", "short").await;
    shots.submit().await;
    shots.shoot("sign-up-errors").await;

    shots.page(&format!("{base}/sign-in"), "sign-in").await;
    shots.fill("email", &email).await;
    shots.fill("password", &password).await;
    shots.submit().await;
    shots.page(&format!("{base}/choose"), "choose").await;
    shots.page(&format!("{base}/vendor/vendor"), "vendor-dashboard").await;
    shots.page(&format!("{base}/vendor/vendor/analytics"), "vendor-analytics").await;
    // Below the filters: the totals (pulls, bytes, version checks) and the tables.
    shots
        .browser
        .client
        .execute("document.getElementById('totals-heading').scrollIntoView()", vec![])
        .await
        .unwrap();
    shots.shoot("vendor-analytics-totals").await;
    shots
        .page(
            &format!("{base}/vendor/vendor/analytics?from=2026-02-30&to=x"),
            "vendor-analytics-bad-filter",
        )
        .await;
    shots.page(&format!("{base}/vendor/vendor/audit"), "vendor-audit").await;
    shots.page(&format!("{base}/customer/vendor/{}", customer.id), "customer-home").await;
    customer::shoot(&mut shots, &base, &database_url, &pool, org, customer.id).await;
    shots.page(&format!("{base}/vendor/vendor/invitations"), "invitations").await;

    // The vendor portal, on the demo data (`wharf serve --demo`).
    let globex =
        wharf_db::customers::find_by_name(&pool, org, "Globex Corporation").await.unwrap().unwrap();
    let license =
        wharf_db::licenses::list_for_customer(&pool, org, globex.id).await.unwrap().remove(0);
    let v = format!("{base}/vendor/vendor");
    for (path, name) in [
        ("/artifacts".to_owned(), "vendor-artifacts"),
        ("/artifacts/web".to_owned(), "vendor-repository"),
        ("/artifacts/charts/web".to_owned(), "vendor-repository-chart"),
        ("/artifacts/web/-/tags/2.0.0".to_owned(), "vendor-tag"),
        ("/artifacts/agent/-/tags/3.1.0".to_owned(), "vendor-tag-multi-platform"),
        ("/artifacts/web/-/tags/1.0.0/delete".to_owned(), "vendor-confirm-delete-tag"),
        ("/customers".to_owned(), "vendor-customers"),
        (format!("/customers/{}", globex.id), "vendor-customer"),
        (format!("/customers/{}/bundle", globex.id), "vendor-customer-bundle"),
        (format!("/licenses/{}", license.id), "vendor-license"),
        ("/team".to_owned(), "vendor-team"),
        ("/tokens".to_owned(), "vendor-tokens"),
    ] {
        shots.page(&format!("{v}{path}"), name).await;
    }
    shots.page(&format!("{v}/customers/{}/licenses/new", globex.id), "vendor-license-new").await;
    shots.fill("name", "Support add-on").await;
    shots.fill("grant-0-repository", "vendor/web").await;
    shots.fill("grant-0-value", "^1.1").await;
    shots.click("button[name=intent][value=preview]").await;
    shots
        .browser
        .client
        .execute("document.getElementById('license-preview').scrollIntoView()", vec![])
        .await
        .unwrap();
    shots.shoot("vendor-license-preview").await;
    // The bundle form's lower half: the format choice and the import commands.
    shots.browser.goto(&format!("{v}/customers/{}/bundle", globex.id)).await;
    shots
        .browser
        .client
        .execute("document.getElementById('compression-zstd').scrollIntoView()", vec![])
        .await
        .unwrap();
    shots.shoot("vendor-customer-bundle-format").await;
    shots.page(&format!("{v}/tokens"), "vendor-tokens").await;
    shots.fill("name", "release pipeline").await;
    shots.click("section form button[type=submit]").await;
    shots.shoot("vendor-token-created").await;
    shots.page(&format!("{base}/account"), "account").await;
    shots.page(&format!("{base}/account/sessions/end-others"), "confirm-end-sessions").await;
    shots.page(&format!("{base}/no/such/page"), "not-found").await;

    // As shipped: sign-up closed, no mail (the invitation link is shown once).
    let (plain, _data2, _db2) = serve(&[]).await;
    let (email, password) = plain.first_admin();
    let base = plain.url.clone();
    shots.page(&format!("{base}/sign-up"), "sign-up-closed").await;
    shots.page(&format!("{base}/forgot-password"), "forgot-password-no-mail").await;
    shots.page(&format!("{base}/sign-in"), "sign-in").await;
    shots.fill("email", &email).await;
    shots.fill("password", &password).await;
    shots.submit().await;
    shots.page(&format!("{base}/vendor/vendor"), "vendor-dashboard-empty").await;
    shots.page(&format!("{base}/vendor/vendor/invitations"), "invitations-empty").await;
    shots.fill("email", "colleague@example.test").await;
    shots.submit().await;
    shots.shoot("invitation-link-once").await;
    shots.page(&format!("{base}/choose"), "choose-one").await;

    eprintln!("wrote {} screenshots to {}", shots.count, out.display());
    shots.browser.close().await;
}
