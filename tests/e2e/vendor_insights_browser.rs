//! The dashboard, analytics and audit log in a real browser (headless Chromium against a
//! real `wharf serve`), empty and then with the demo's data in them (the server restarted
//! with `--demo`: the seeder `just demo` runs), each checked with axe-core (WCAG 2.1 A and
//! AA: zero violations), including a filter form showing its errors. The test adds what a
//! demo has no reason to hold: a customer whose name is markup, with a pull, and a denied
//! pull in the audit log. The figures themselves are tested without a browser in
//! `vendor_insights.rs`.

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
    let mut wharf = Wharf::start(data.path(), &options).await;
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

    // The demo, seeded at start; the session cookie (host-scoped) stays valid.
    wharf.stop();
    let mut env = options.env.clone();
    env.insert("WHARF_DEMO".to_owned(), "true".to_owned());
    wharf.restart(&ServeOptions { env, ..options.clone() }).await;
    let base = wharf.url.clone();
    markup_customer_and_a_denied_pull(&pool, org).await;
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
        ("/vendor/vendor/audit".to_owned(), "audit log", "license.create"),
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

/// A customer named `Globex <b>Corp</b>` with a token and one pull of `vendor/web:1.0.0`
/// (so it is in the reports by customer), and a denied pull in the audit log.
async fn markup_customer_and_a_denied_pull(pool: &wharf_db::PgPool, org: Uuid) {
    let customer = wharf_db::testing::customer(pool, org, "Globex <b>Corp</b>").await.id;
    let (token, _) = wharf_e2e::insert_token(
        pool,
        org,
        wharf_db::tokens::TokenOwner::Customer { customer_id: customer },
    )
    .await;
    let digest: String = sqlx::query_scalar(
        "select t.digest from tags t join repositories r on r.id = t.repository_id
         where r.name = 'vendor/web' and t.name = '1.0.0'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let pull = wharf_db::usage::NewPullEvent {
        id: Uuid::now_v7(),
        at: OffsetDateTime::now_utc() - time::Duration::hours(2),
        organization_id: org,
        customer_id: Some(customer),
        token_id: token,
        repository: "vendor/web".into(),
        reference: "1.0.0".into(),
        tag: Some("1.0.0".into()),
        digest,
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        client_addr: Some("198.51.100.7".into()),
        user_agent: Some("docker/27.3.1".into()),
        client_kind: "docker",
        requests: 1,
    };
    wharf_db::usage::insert_pull_events(pool, &[pull]).await.unwrap();
    let denied = wharf_db::audit::NewAuditEntry {
        outcome: "denied",
        client_addr: Some("203.0.113.9".into()),
        ..wharf_db::audit::NewAuditEntry::success(
            Some(org),
            "token",
            Some(token),
            "pull.denied",
            "vendor/tools/cli:2.0.0".to_owned(),
            Some("vendor/tools/cli:2.0.0".to_owned()),
            serde_json::json!({ "reason": "not entitled" }),
        )
    };
    wharf_db::audit::append(pool, &[denied]).await.unwrap();
}
