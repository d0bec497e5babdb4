//! The vendor portal's dashboard, analytics and audit log, in process (`TestApp`): real
//! pushes and pulls through `/v2` feed the pages; the figures, the CSV exports (formula
//! prefixes defused), the filters (bad input answered with a message, never a 500), who may
//! see the audit log, and another organization's slug answering 404.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use secrecy::{ExposeSecret as _, SecretString};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_db::{
    audit::{self, NewAuditEntry},
    testing::OrgFixture,
    tokens::TokenOwner,
};
use wharf_e2e::{
    house::{TestApp, basic},
    insert_token,
};
use wharf_entitlements::{Grant, TagSelector};

const PASSWORD: &str = "correct horse battery";
const FORMULA: &str = "=HYPERLINK(\"http://evil.test\",\"x\")";

fn password_hash() -> String {
    let hasher = wharf_auth::password::PasswordHasher::recommended().unwrap();
    hasher.hash(&SecretString::from(PASSWORD.to_owned())).unwrap().expose_secret().to_owned()
}

/// A house with organization `acme` (its owner signs in with [`PASSWORD`]) and `rival`.
async fn house() -> (TestApp, OrgFixture, OrgFixture) {
    let house = TestApp::start().await;
    let hash = password_hash();
    let acme = wharf_db::testing::org_with_password(&house.pool, "acme", &hash).await;
    let rival = wharf_db::testing::org_with_password(&house.pool, "rival", &hash).await;
    (house, acme, rival)
}

async fn sign_in(house: &TestApp, email: &str) {
    house.use_cookies(Default::default());
    let answer = house.sign_in(email, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
}

/// `GET path` on `/v2` with a token; retried for a few seconds while the registry's views
/// catch up with a license just written to the database.
async fn registry(house: &TestApp, method: &str, path: &str, token: &str) -> (StatusCode, Vec<u8>) {
    let started = Instant::now();
    loop {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, basic(token))
            .header(header::ACCEPT, "application/vnd.oci.image.manifest.v1+json")
            .body(Body::empty())
            .unwrap();
        let answer = house.send(request).await;
        if answer.status == StatusCode::OK || started.elapsed() > Duration::from_secs(10) {
            return (answer.status, answer.body.to_vec());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The CSV line of `table` whose key is `key`.
fn csv_row<'a>(csv: &'a str, table: &str, key: &str) -> Option<&'a str> {
    csv.lines().find(|l| l.starts_with(&format!("{table},{key},")))
}

#[tokio::test]
async fn the_dashboard_and_analytics_show_real_pulls_and_export_them_safely() {
    let (mut house, acme, rival) = house().await;
    sign_in(&house, &acme.owner_email).await;

    // Empty: the dashboard says what to do first.
    let empty = house.page("/vendor/acme").await;
    assert_eq!(empty.status, StatusCode::OK);
    let html = empty.text();
    assert!(html.contains("docker push wharf.test/acme/my-app:1.0"), "{html}");
    assert!(html.contains("Create a customer"), "{html}");
    assert!(html.contains("No pulls in the last 30 days"), "{html}");

    // Push two images, make a licensed customer with a formula for a name and an idle one.
    let (_, vendor_token) = insert_token(
        &house.pool,
        acme.id,
        TokenOwner::Vendor { user_id: acme.owner, read_only: false },
    )
    .await;
    house.push_image(&basic(&vendor_token), "acme/app", "1.0").await;
    house.push_image(&basic(&vendor_token), "acme/tools/cli", "2.0").await;
    let evil = wharf_db::testing::customer(&house.pool, acme.id, FORMULA).await;
    let idle = wharf_db::testing::customer(&house.pool, acme.id, "Initech").await;
    let rivals = wharf_db::testing::customer(&house.pool, rival.id, "Rival's customer").await;
    let grants = [Grant::new("acme", "acme/*", TagSelector::all(), None, None).unwrap()];
    wharf_db::testing::license(&house.pool, acme.id, evil.id, "All", &grants).await;
    let (_, customer_token) =
        insert_token(&house.pool, acme.id, TokenOwner::Customer { customer_id: evil.id }).await;

    // Three pulls of acme/app:1.0 and a layer download; a HEAD is a version check, not a pull.
    let (status, manifest) =
        registry(&house, "GET", "/v2/acme/app/manifests/1.0", &customer_token).await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1100)).await; // not coalesced into one event
        registry(&house, "GET", "/v2/acme/app/manifests/1.0", &customer_token).await;
    }
    let (status, _) = registry(&house, "HEAD", "/v2/acme/app/manifests/1.0", &customer_token).await;
    assert_eq!(status, StatusCode::OK);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let (status, blob) =
        registry(&house, "GET", &format!("/v2/acme/app/blobs/{layer}"), &customer_token).await;
    assert_eq!(status, StatusCode::OK);
    house.flush().await;

    let dashboard = house.page("/vendor/acme").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    let html = dashboard.text();
    assert!(!html.contains("docker push wharf.test/acme/my-app:1.0"), "pushed already");
    assert!(html.contains("3 pulls in the last 30 days"), "{html}");
    assert!(html.contains(r#"role="img""#));
    assert!(html.contains("acme/tools/cli:2.0") && html.contains("acme/app:1.0"), "{html}");
    assert!(html.contains("href=\"/vendor/acme/artifacts/tools/cli\""), "{html}");
    assert!(html.contains(&format!("href=\"/vendor/acme/customers/{}\"", evil.id)), "{html}");
    assert!(html.contains(&format!("href=\"/vendor/acme/customers/{}\"", idle.id)), "never pulled");
    assert!(!html.contains("<a href=\"http://evil.test"), "names are escaped");
    assert!(html.contains("=HYPERLINK(&#34;http://evil.test&#34;"), "{html}");

    let analytics = house.page("/vendor/acme/analytics").await;
    assert_eq!(analytics.status, StatusCode::OK);
    let html = analytics.text();
    assert!(html.contains("Download CSV"), "{html}");
    // The HEAD after the GETs is a version check (no GET followed it), shown apart.
    assert!(html.contains("<dt>Version checks</dt><dd>1</dd>"), "{html}");
    assert!(html.contains("Version checks by customer"), "{html}");

    let csv = house.page("/vendor/acme/analytics.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let csv = csv.text();
    assert_eq!(csv.lines().next(), Some("table,key,name,pulls,bytes,checks"));
    let total = csv.lines().nth(1).unwrap();
    assert_eq!(total, format!("total,last 30 days,,3,{},1", blob.len()), "{csv}");
    let customer = csv_row(&csv, "customer", &evil.id.to_string()).unwrap();
    assert_eq!(
        customer,
        format!("customer,{},\"'=HYPERLINK(\"\"http://evil.test\"\",\"\"x\"\")\",3,,", evil.id),
        "the formula is defused"
    );
    assert_eq!(csv_row(&csv, "repository", "acme/app"), Some("repository,acme/app,,3,,"));
    assert_eq!(csv_row(&csv, "tag", "acme/app:1.0"), Some("tag,acme/app:1.0,,3,,"));
    assert!(csv.lines().any(|l| l.starts_with("client,") && l.ends_with(",3,,")), "{csv}");
    assert_eq!(
        csv_row(&csv, "checks-customer", &evil.id.to_string()),
        Some(
            format!(
                "checks-customer,{},\"'=HYPERLINK(\"\"http://evil.test\"\",\"\"x\"\")\",,,1",
                evil.id
            )
            .as_str()
        ),
        "{csv}"
    );
    assert_eq!(
        csv_row(&csv, "checks-repository", "acme/app"),
        Some("checks-repository,acme/app,,,,1")
    );
    let today = OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        csv_row(&csv, "day", &today),
        Some(format!("day,{today},,3,{},1", blob.len()).as_str()),
        "{csv}"
    );

    // Narrowed to a customer, a repository, dates.
    let by_idle = house.page(&format!("/vendor/acme/analytics.csv?customer={}", idle.id)).await;
    assert!(by_idle.text().contains("total,last 30 days,,0,0,0"), "{}", by_idle.text());
    let by_evil = house.page(&format!("/vendor/acme/analytics?customer={}", evil.id)).await;
    assert_eq!(by_evil.status, StatusCode::OK);
    let by_repo = house.page("/vendor/acme/analytics.csv?repository=acme%2Ftools%2Fcli").await;
    assert!(by_repo.text().contains("total,last 30 days,,0,0,0"), "{}", by_repo.text());
    let dated = house
        .page(&format!("/vendor/acme/analytics.csv?period=custom&from={today}&to={today}"))
        .await;
    assert!(dated.text().contains(",,3,"), "{}", dated.text());

    // Bad filters: a message beside the field, status 422, never a 500.
    for (query, message) in [
        ("from=yesterday&to=2026-01-01", "not a date"),
        ("period=custom&from=2026-02-01&to=2026-01-01", "comes before"),
        ("period=365", "choose one of the periods"),
        ("customer=acme", "not a customer of this organization"),
    ] {
        let answer = house.page(&format!("/vendor/acme/analytics?{query}")).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(answer.text().contains(message), "{query}: {}", answer.text());
        assert!(answer.text().contains("aria-invalid=\"true\""), "{query}");
        let csv = house.page(&format!("/vendor/acme/analytics.csv?{query}")).await;
        assert_eq!(csv.status, StatusCode::BAD_REQUEST, "{query}");
    }
    // Another organization's customer reads like one that does not exist.
    let foreign = house.page(&format!("/vendor/acme/analytics?customer={}", rivals.id)).await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!foreign.text().contains("Rival&#39;s customer"));
    let missing = house.page(&format!("/vendor/acme/analytics?customer={}", Uuid::new_v4())).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Another organization's pages: 404, as for one that does not exist.
    for path in [
        "/vendor/rival",
        "/vendor/rival/analytics",
        "/vendor/rival/analytics.csv",
        "/vendor/nope/analytics",
    ] {
        assert_eq!(house.page(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// An audit entry of `org` by `actor`.
fn entry(
    org: Uuid,
    actor: &str,
    action: &str,
    outcome: &'static str,
    target_name: &str,
) -> NewAuditEntry {
    NewAuditEntry {
        actor_name: Some(actor.to_owned()),
        outcome,
        client_addr: Some("192.0.2.7".to_owned()),
        ..NewAuditEntry::success(
            Some(org),
            "user",
            Some(Uuid::new_v4()),
            action,
            format!("customer:{}", Uuid::new_v4()),
            Some(target_name.to_owned()),
            serde_json::json!({ "note": "=1+1" }),
        )
    }
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_exports_for_admins_only() {
    let (house, acme, rival) = house().await;
    let hash = password_hash();
    for (email, role) in [
        ("viewer@acme.test", "viewer"),
        ("dev@acme.test", "developer"),
        ("admin@acme.test", "admin"),
    ] {
        wharf_db::accounts::create_user(&house.pool, acme.id, email, &hash, role).await.unwrap();
    }
    let mut entries = Vec::new();
    for i in 0..55 {
        entries.push(entry(
            acme.id,
            "alice@acme.test",
            "customer.create",
            "success",
            &format!("Customer {i}"),
        ));
    }
    for _ in 0..3 {
        entries.push(entry(
            acme.id,
            "mallory",
            "token.use_revoked",
            "denied",
            "=cmd|' /C calc'!A0",
        ));
    }
    entries.push(entry(acme.id, "bob@acme.test", "license.replace", "success", "Gold"));
    entries.push(entry(rival.id, "rival@rival.test", "license.replace", "denied", "Rival secret"));
    audit::append(&house.pool, &entries).await.unwrap();

    sign_in(&house, "admin@acme.test").await;
    let first = house.page("/vendor/acme/audit").await;
    assert_eq!(first.status, StatusCode::OK);
    let html = first.text();
    assert_eq!(html.matches("<td class=\"nowrap\">").count(), 50, "one page of 50");
    assert!(!html.contains("Rival secret"), "only this organization's entries");
    assert!(html.contains("license.replace") && html.contains("Gold"), "newest first");
    assert!(html.contains("192.0.2.7"));
    let older = html
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|href| href.contains("before="))
        .expect("a link to older entries")
        .replace("&amp;", "&");
    let second = house.page(&older).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.text().matches("<td class=\"nowrap\">").count(), 9, "the rest");

    let denied = house.page("/vendor/acme/audit?result=denied").await.text();
    assert_eq!(denied.matches("<td class=\"nowrap\">").count(), 3);
    assert!(denied.contains("=cmd|&#39; /C calc&#39;!A0"), "escaped in the page");
    let family = house.page("/vendor/acme/audit?action=license").await.text();
    assert_eq!(family.matches("<td class=\"nowrap\">").count(), 1);
    let by_actor = house.page("/vendor/acme/audit?actor=mallory").await.text();
    assert_eq!(by_actor.matches("<td class=\"nowrap\">").count(), 3);
    let today = OffsetDateTime::now_utc().date();
    let old = house.page("/vendor/acme/audit?from=2020-01-01&to=2020-01-31").await.text();
    assert!(old.contains("No entry matches these filters"), "{old}");
    let recent =
        house.page(&format!("/vendor/acme/audit?period=custom&from={today}&to={today}")).await;
    assert_eq!(recent.text().matches("<td class=\"nowrap\">").count(), 50);

    let csv = house.page("/vendor/acme/audit.csv?result=denied").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-disposition").unwrap().contains("audit.csv"));
    let csv = csv.text();
    assert_eq!(csv.lines().count(), 4, "the header and the three denied entries: {csv}");
    assert!(csv.lines().skip(1).all(|l| l.contains(",'=cmd|' /C calc'!A0,denied,")), "{csv}");
    let all = house.page("/vendor/acme/audit.csv").await.text();
    assert_eq!(all.lines().count(), 60, "every entry, not one page");
    assert!(!all.contains("Rival secret"));

    for (query, message) in [
        ("result=maybe", "choose one of the results"),
        ("from=2026-13-01&to=2026-12-31", "not a date"),
        ("period=custom", "give the first day"),
    ] {
        let answer = house.page(&format!("/vendor/acme/audit?{query}")).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(answer.text().contains(message), "{query}");
        assert_eq!(
            house.page(&format!("/vendor/acme/audit.csv?{query}")).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    for path in ["/vendor/rival/audit", "/vendor/rival/audit.csv"] {
        assert_eq!(house.page(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }

    // Viewers and developers: refused, and not offered the section.
    for email in ["viewer@acme.test", "dev@acme.test"] {
        sign_in(&house, email).await;
        for path in ["/vendor/acme/audit", "/vendor/acme/audit.csv"] {
            assert_eq!(house.page(path).await.status, StatusCode::FORBIDDEN, "{email} {path}");
        }
        let dashboard = house.page("/vendor/acme").await;
        assert_eq!(dashboard.status, StatusCode::OK);
        assert!(!dashboard.text().contains("href=\"/vendor/acme/audit\""), "{email}");
        assert_eq!(house.page("/vendor/acme/analytics").await.status, StatusCode::OK, "{email}");
    }
    // Nobody signed in: sign in first, then back here.
    house.use_cookies(Default::default());
    let anonymous = house.page("/vendor/acme/audit?result=denied").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert!(anonymous.location().unwrap().starts_with("/sign-in?next="));
}
