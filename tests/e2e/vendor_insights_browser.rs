//! The dashboard, analytics and audit log in a real browser (headless Chromium against a
//! real `wharf serve`), with data in them, each checked with axe-core (WCAG 2.1 A and AA:
//! zero violations), including a filter form showing its errors. The figures themselves are
//! tested without a browser in `vendor_insights.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::HashMap, time::Duration};

use fantoccini::Locator;
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_e2e::{
    ServeOptions, Wharf,
    browser::{Browser, assert_accessible},
    fresh_database, scratch_dir,
};

#[tokio::test]
async fn the_dashboard_analytics_and_audit_log_pass_axe_with_data() {
    let data = scratch_dir();
    let database_url = fresh_database().await;
    let options = ServeOptions { database_url: Some(database_url.clone()), env: HashMap::new() };
    let wharf = Wharf::start(data.path(), &options).await;
    let (email, password) = wharf.first_admin();
    let base = wharf.url.clone();
    let pool = wharf_db::PgPool::connect(&database_url).await.unwrap();
    let org: Uuid = sqlx::query_scalar("select id from organizations where slug = 'vendor'")
        .fetch_one(&pool)
        .await
        .unwrap();

    let browser = Browser::start().await;
    browser.goto(&format!("{base}/sign-in")).await;
    for (id, text) in [("email", email.as_str()), ("password", password.as_str())] {
        browser.client.find(Locator::Id(id)).await.unwrap().send_keys(text).await.unwrap();
    }
    browser
        .client
        .find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !browser.source().await.contains("Pulls, last 30 days") {
        assert!(std::time::Instant::now() < deadline, "{}", browser.source().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_accessible(&browser.client, "empty dashboard").await;

    wharf_e2e::reports::seed(&pool, org, "vendor").await;
    let today = OffsetDateTime::now_utc().date();
    for (path, name, expect) in [
        ("/vendor/vendor".to_owned(), "dashboard", "Most active customers"),
        ("/vendor/vendor/analytics".to_owned(), "analytics", "By repository"),
        ("/vendor/vendor/analytics?period=90".to_owned(), "analytics, 90 days", "By tag"),
        (
            "/vendor/vendor/analytics?period=custom&from=2026-02-30&to=".to_owned(),
            "analytics with bad dates",
            "not a date",
        ),
        ("/vendor/vendor/audit".to_owned(), "audit log", "license.replace"),
        (
            format!("/vendor/vendor/audit?result=denied&period=custom&from={today}&to={today}"),
            "audit log, filtered",
            "denied",
        ),
    ] {
        browser.goto(&format!("{base}{path}")).await;
        let html = browser.source().await;
        assert!(html.contains(expect), "{name}: no {expect:?} in\n{html}");
        assert!(!html.contains("<b>Corp</b>"), "{name}: names are escaped");
        assert_accessible(&browser.client, name).await;
    }
    browser.close().await;
}
