//! The whole router in process (`wharf_e2e::house`): every front door answers through the
//! binary's own layers, and the customer's "what can I pull" answer of the API is the
//! registry's, from the same cached entitlement view, before and after a license changes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::http::{Method, StatusCode};
use serde_json::json;
use wharf_db::tokens::TokenOwner;
use wharf_e2e::{
    house::{PUBLIC_URL, TestApp, Vendor, basic},
    insert_token,
};
use wharf_entitlements::{Grant, TagSelector};

#[tokio::test]
async fn every_front_door_answers_in_process() {
    let house = TestApp::start().await;
    assert_eq!(house.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(house.get("/readyz").await.status, StatusCode::OK);

    let challenge = house.get("/v2/").await;
    assert_eq!(challenge.status, StatusCode::UNAUTHORIZED);
    let expected = format!("Bearer realm=\"{PUBLIC_URL}/token\",service=\"wharf.test\"");
    assert_eq!(challenge.header("www-authenticate"), Some(expected.as_str()));

    let api = house.get("/api/v1/customers").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.header("content-type"), Some("application/problem+json"));

    let vendor = house.vendor("acme").await.token;
    let bearer = format!("Bearer {vendor}");
    let customers = house.call(Method::GET, "/api/v1/customers", Some(&bearer), None).await;
    assert_eq!(customers.status, StatusCode::OK, "{customers:?}");

    // The token service, then the registry with the bearer token it signed.
    let token = house
        .call(Method::GET, "/token?scope=registry:catalog:*", Some(&basic(&vendor)), None)
        .await;
    assert_eq!(token.status, StatusCode::OK, "{token:?}");
    let signed = format!("Bearer {}", token.json()["token"].as_str().unwrap());
    let catalog = house.call(Method::GET, "/v2/_catalog", Some(&signed), None).await;
    assert_eq!(catalog.status, StatusCode::OK, "{catalog:?}");
    assert_eq!(catalog.json(), json!({"repositories": []}));

    // A reference that cannot be a tag: the caller is asked to authenticate like for any
    // pull, then told the manifest is unknown (as for any name that does not exist).
    let invalid = "/v2/acme/app/manifests/.INVALID_MANIFEST_NAME";
    assert_eq!(house.get(invalid).await.status, StatusCode::UNAUTHORIZED);
    let unknown = house.call(Method::GET, invalid, Some(&basic(&vendor)), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{unknown:?}");
    assert_eq!(unknown.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");

    // Schemes are case-insensitive on every door (RFC 9110).
    let shouted = basic(&vendor).replacen("Basic", "BASIC", 1);
    assert_eq!(house.call(Method::GET, "/v2/", Some(&shouted), None).await.status, StatusCode::OK);
    let lower = bearer.replacen("Bearer", "bearer", 1);
    let customers = house.call(Method::GET, "/api/v1/customers", Some(&lower), None).await;
    assert_eq!(customers.status, StatusCode::OK);
}

#[tokio::test]
async fn the_api_lists_what_the_registry_lets_a_customer_pull() {
    let house = TestApp::start().await;
    let Vendor { org, token: vendor, .. } = house.vendor("acme").await;
    let push = basic(&vendor);
    house.push_image(&push, "acme/app", "1.0.0").await;
    house.push_image(&push, "acme/app", "2.0.0").await;
    house.push_image(&push, "acme/other", "1.0.0").await;

    let globex = wharf_db::testing::customer(&house.pool, org.id, "Globex").await;
    let grant =
        Grant::new("acme", "acme/app", TagSelector::exact(["1.0.0"]).unwrap(), None, None).unwrap();
    let license =
        wharf_db::testing::license(&house.pool, org.id, globex.id, "Basic", &[grant]).await;
    let (_, customer) =
        insert_token(&house.pool, org.id, TokenOwner::Customer { customer_id: globex.id }).await;

    let vendor = format!("Bearer {vendor}");
    let customer = basic(&customer);
    let entitlements = format!("/api/v1/customers/{}/entitlements", globex.id);
    let (api, registry) = listed(&house, &vendor, &customer, &entitlements).await;
    assert_eq!(api, json!([{"name": "acme/app", "tags": ["1.0.0"]}]));
    assert_eq!(api, registry, "the API and the registry agree");

    // A wider license through the API: both answers change at once, together.
    let body = json!({
        "name": "Everything",
        "starts_at": "2020-01-01T00:00:00Z",
        "on_expiry": "revoke",
        "suspended": false,
        "notes": "",
        "grants": [{"repository": "acme/*", "tags": {"kind": "all"}}],
    });
    let path = format!("/api/v1/licenses/{}", license.id);
    let replaced = house.call(Method::PUT, &path, Some(&vendor), Some(body)).await;
    assert_eq!(replaced.status, StatusCode::OK, "{replaced:?}");
    let (api, registry) = listed(&house, &vendor, &customer, &entitlements).await;
    assert_eq!(
        api,
        json!([
            {"name": "acme/app", "tags": ["1.0.0", "2.0.0"]},
            {"name": "acme/other", "tags": ["1.0.0"]},
        ])
    );
    assert_eq!(api, registry, "the API and the registry agree");
}

/// What the API says the customer can pull, and what the registry lets it list (its catalog,
/// then each repository's tags), in the API's shape.
async fn listed(
    house: &TestApp,
    vendor: &str,
    customer: &str,
    entitlements: &str,
) -> (serde_json::Value, serde_json::Value) {
    let api = house.call(Method::GET, entitlements, Some(vendor), None).await;
    assert_eq!(api.status, StatusCode::OK, "{api:?}");
    let mut registry = Vec::new();
    let catalog = house.call(Method::GET, "/v2/_catalog", Some(customer), None).await;
    for name in catalog.json()["repositories"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        let path = format!("/v2/{name}/tags/list");
        let tags = house.call(Method::GET, &path, Some(customer), None).await;
        registry.push(json!({"name": name, "tags": tags.json()["tags"]}));
    }
    (api.json()["repositories"].clone(), json!(registry))
}

#[tokio::test]
async fn two_authorization_headers_are_refused_on_every_door() {
    let house = TestApp::start().await;
    let vendor = house.vendor("acme").await.token;
    let good = [basic(&vendor), format!("Bearer {vendor}")];
    for path in ["/v2/", "/token", "/api/v1/customers"] {
        // One of the two would be accepted alone; together, whatever their order, neither is.
        let alone = if path.starts_with("/api") { &good[1] } else { &good[0] };
        let answer = house.call(Method::GET, path, Some(alone), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path} alone: {answer:?}");
        for (first, second) in [(alone.as_str(), "Basic eDp5"), ("Basic eDp5", alone.as_str())] {
            let request = axum::http::Request::get(path)
                .header("authorization", first)
                .header("authorization", second)
                .body(axum::body::Body::empty())
                .unwrap();
            let answer = house.send(request).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}: {answer:?}");
        }
    }
}

/// The challenge of a `/v2` answer.
fn challenge(answer: &wharf_e2e::house::TestResponse) -> String {
    answer.header("www-authenticate").unwrap_or_default().to_owned()
}

#[tokio::test]
async fn challenges_ask_for_what_a_push_or_a_mount_needs() {
    let house = TestApp::start().await;
    let realm = format!("Bearer realm=\"{PUBLIC_URL}/token\",service=\"wharf.test\"");
    let push = house.call(Method::POST, "/v2/acme/app/blobs/uploads/", None, None).await;
    assert_eq!(push.status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&push), format!("{realm},scope=\"repository:acme/app:pull,push\""));
    let digest = format!("sha256:{}", "a".repeat(64));
    let path = format!("/v2/acme/app/blobs/uploads/?mount={digest}&from=acme/base");
    let mount = house.call(Method::POST, &path, None, None).await;
    assert_eq!(
        challenge(&mount),
        format!("{realm},scope=\"repository:acme/app:pull,push repository:acme/base:pull\"")
    );
    let pull = house.get("/v2/acme/app/tags/list").await;
    assert_eq!(challenge(&pull), format!("{realm},scope=\"repository:acme/app:pull\""));
}

#[tokio::test]
async fn rejected_bearer_tokens_say_why_in_the_challenge() {
    use time::{Duration, OffsetDateTime};
    use wharf_app::credentials::Authenticated;
    use wharf_auth::{principal::Principal, scope::parse_scopes};

    let house = TestApp::start().await;
    let Vendor { org, token_id, .. } = house.vendor("acme").await;
    let who = Authenticated {
        principal: Principal::VendorApiToken {
            token_id,
            org_id: org.id,
            role: wharf_auth::principal::Role::Owner,
            read_only: false,
        },
        org_slug: "acme".into(),
        user_id: Some(org.owner),
        expires_at: None,
    };
    let credentials = &house.app.credentials;
    let sign = |access: &str, at: OffsetDateTime| {
        let access = parse_scopes([access]).unwrap();
        credentials.issue(&who, &who.principal.subject(), access, at).unwrap().token
    };
    use secrecy::ExposeSecret as _;
    let good = sign("repository:acme/app:pull", OffsetDateTime::now_utc());
    let answer = tags_with(&house, good.expose_secret()).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "a good token: {answer:?}");

    // Unreadable, tampered with, expired: `invalid_token`.
    let mut tampered = good.expose_secret().to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let expired = sign("repository:acme/app:pull", OffsetDateTime::now_utc() - Duration::hours(2));
    for token in ["garbage".to_owned(), tampered, expired.expose_secret().to_owned()] {
        let answer = tags_with(&house, &token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(challenge(&answer).ends_with(",error=\"invalid_token\""), "{answer:?}");
    }
    // Valid but without the action, or with `*`, which a token never grants: `insufficient_scope`.
    for access in ["repository:acme/other:pull", "repository:acme/app:*"] {
        let token = sign(access, OffsetDateTime::now_utc());
        let answer = tags_with(&house, token.expose_secret()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{access}");
        assert!(challenge(&answer).ends_with(",error=\"insufficient_scope\""), "{answer:?}");
    }
}

/// `GET /v2/acme/app/tags/list` with `Authorization: Bearer <token>`.
async fn tags_with(house: &TestApp, token: &str) -> wharf_e2e::house::TestResponse {
    let bearer = format!("Bearer {token}");
    house.call(Method::GET, "/v2/acme/app/tags/list", Some(&bearer), None).await
}

#[tokio::test]
async fn pull_events_are_written_on_a_connection_of_their_own() {
    // The usage writer writes on a connection of its own (named in `pg_stat_activity`), never
    // one of the request pool's: a flood of events cannot starve requests of connections.
    let house = wharf_e2e::house::TestApp::start().await;
    let vendor = house.vendor("acme").await;
    let auth = wharf_e2e::house::basic(&vendor.token);
    house.push_image(&auth, "acme/app", "1.0").await;
    let pulled =
        house.call(axum::http::Method::GET, "/v2/acme/app/manifests/1.0", Some(&auth), None).await;
    assert_eq!(pulled.status, axum::http::StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (events, writers): (i64, i64) = sqlx::query_as(
            "select (select count(*) from pull_events),
                    (select count(*) from pg_stat_activity
                      where application_name = $1 and datname = current_database())",
        )
        .bind(wharf_app::USAGE_WRITER)
        .fetch_one(&house.pool)
        .await
        .unwrap();
        if events > 0 {
            assert_eq!(writers, 1, "the pull event went through the writer's own connection");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no pull event written");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
