//! The registry token service (`/token`) against the real binary and database: what a token
//! carries, who gets what, and how bad credentials are refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_auth::token::{TokenKind, generate};
use wharf_db::{
    PgPool, accounts, customers,
    tokens::{self, NewToken, TokenOwner},
};
use wharf_e2e::{ServeOptions, Wharf, fresh_database, scratch_dir};

struct Setup {
    _scratch: tempfile::TempDir,
    wharf: Wharf,
    pool: PgPool,
    vendor: String,
    read_only: String,
    customer: String,
    other_org: String,
}

async fn token_for(
    pool: &PgPool,
    org: Uuid,
    owner: TokenOwner,
    expires_at: Option<OffsetDateTime>,
) -> String {
    let kind = match owner {
        TokenOwner::Vendor { .. } => TokenKind::VendorApi,
        TokenOwner::Customer { .. } => TokenKind::CustomerAccess,
    };
    let generated = generate(kind);
    tokens::insert(
        pool,
        &NewToken {
            organization_id: org,
            owner,
            created_by: None,
            name: "test",
            hash: generated.hash.as_bytes(),
            display_prefix: &generated.display_prefix,
            expires_at,
        },
    )
    .await
    .unwrap();
    generated.plaintext.expose_secret().to_owned()
}

async fn setup(env: &[(&str, &str)]) -> Setup {
    let scratch = scratch_dir();
    let url = fresh_database().await;
    let env: HashMap<String, String> =
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let options = ServeOptions { database_url: Some(url.clone()), env };
    let wharf = Wharf::start(&scratch.path().join("data"), &options).await;
    let pool = PgPool::connect(&url).await.unwrap();

    let org = accounts::find_organization(&pool, "vendor").await.unwrap().unwrap();
    let admin = accounts::find_user_by_email(&pool, "admin@wharf.local").await.unwrap().unwrap();
    let vendor =
        token_for(&pool, org.id, TokenOwner::Vendor { user_id: admin.id, read_only: false }, None)
            .await;
    let read_only =
        token_for(&pool, org.id, TokenOwner::Vendor { user_id: admin.id, read_only: true }, None)
            .await;
    let customer_row = customers::create(&pool, org.id, "Globex").await.unwrap();
    let customer =
        token_for(&pool, org.id, TokenOwner::Customer { customer_id: customer_row.id }, None).await;

    let other = wharf_db::testing::org(&pool, "other").await;
    let other_org = token_for(
        &pool,
        other.id,
        TokenOwner::Vendor { user_id: other.owner, read_only: false },
        None,
    )
    .await;
    Setup { _scratch: scratch, wharf, pool, vendor, read_only, customer, other_org }
}

async fn get_token(
    wharf: &Wharf,
    query: &str,
    password: Option<&str>,
) -> (u16, HashMap<String, String>, Value) {
    let client = reqwest::Client::new();
    let mut request = client.get(format!("{}/token?{query}", wharf.url));
    if let Some(password) = password {
        request = request.basic_auth("ci", Some(password));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

/// Decodes a JWT's header and claims without verifying (the server verifies; tests look).
fn decode(jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact token");
    let part = |p: &str| {
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap())
            .unwrap()
    };
    (part(parts[0]), part(parts[1]))
}

fn actions(claims: &Value, name: &str) -> Vec<String> {
    let mut found: Vec<String> = claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "repository" && a["name"] == name)
        .flat_map(|a| {
            a["actions"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned())
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn vendor_token_gets_a_signed_token_with_its_rights() {
    let s = setup(&[]).await;
    let port = s.wharf.url.rsplit(':').next().unwrap().to_owned();
    let (status, _, body) = get_token(
        &s.wharf,
        "service=127.0.0.1:PORT&scope=repository:vendor/app:pull&offline_token=true&client_id=docker".replace("PORT", &port).as_str(),
        Some(&s.vendor),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token"], body["access_token"]);
    assert!(body.get("refresh_token").is_none(), "no refresh tokens: {body}");
    assert!(body["expires_in"].as_u64().unwrap() <= 300);
    assert!(body["issued_at"].as_str().unwrap().contains('T'));

    let (header, claims) = decode(body["token"].as_str().unwrap());
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(header.get("jwk").is_none());
    assert_eq!(claims["iss"], s.wharf.url.as_str());
    assert_eq!(claims["aud"], format!("127.0.0.1:{port}"));
    for claim in ["sub", "exp", "nbf", "iat", "jti"] {
        assert!(claims.get(claim).is_some(), "{claim} in {claims}");
    }
    assert_eq!(
        actions(&claims, "vendor/app"),
        ["delete", "pull", "push"],
        "an owner holds everything, see docs/registry-auth.md"
    );
    assert_eq!(claims["wharf"]["kind"], "vendor");

    // docker login: no scope at all.
    let (status, _, body) =
        get_token(&s.wharf, "account=ci&client_id=docker&offline_token=true", Some(&s.vendor))
            .await;
    assert_eq!(status, 200);
    assert_eq!(decode(body["token"].as_str().unwrap()).1["access"], serde_json::json!([]));
}

#[tokio::test]
async fn rights_follow_role_organization_and_kind() {
    let s = setup(&[]).await;
    let scope = "scope=repository:vendor/app:pull,push,delete&scope=repository:other/app:pull";
    let claims = |body: Value| decode(body["token"].as_str().unwrap()).1;

    let (_, _, body) = get_token(&s.wharf, scope, Some(&s.read_only)).await;
    let c = claims(body);
    assert_eq!(actions(&c, "vendor/app"), ["pull"], "read-only tokens only pull");
    assert!(actions(&c, "other/app").is_empty(), "nothing in another organization");

    let (_, _, body) = get_token(&s.wharf, scope, Some(&s.other_org)).await;
    let c = claims(body);
    assert!(actions(&c, "vendor/app").is_empty(), "organization B gets nothing in A");
    assert_eq!(actions(&c, "other/app"), ["delete", "pull", "push"]);

    // Another organization's existing and missing repositories answer alike.
    let (_, _, a) =
        get_token(&s.wharf, "scope=repository:vendor/app:pull", Some(&s.other_org)).await;
    let (_, _, b) =
        get_token(&s.wharf, "scope=repository:nosuchorg/app:pull", Some(&s.other_org)).await;
    assert_eq!(claims(a)["access"], claims(b)["access"]);

    // A customer never pushes, deletes or mounts; without licenses it pulls nothing either.
    let (status, _, body) = get_token(&s.wharf, scope, Some(&s.customer)).await;
    assert_eq!(status, 200);
    let c = claims(body);
    assert_eq!(c["wharf"]["kind"], "customer");
    assert!(c["access"].as_array().unwrap().is_empty(), "default deny: {c}");

    // Anonymous callers get a token with nothing in it.
    let (status, _, body) = get_token(&s.wharf, scope, None).await;
    assert_eq!(status, 200);
    assert!(claims(body)["access"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn every_bad_credential_gets_the_same_answer() {
    let s = setup(&[("WHARF_AUTH_FAILURE_LIMIT", "1000")]).await;
    let org = accounts::find_organization(&s.pool, "vendor").await.unwrap().unwrap();
    let admin = accounts::find_user_by_email(&s.pool, "admin@wharf.local").await.unwrap().unwrap();
    let owner = TokenOwner::Vendor { user_id: admin.id, read_only: false };

    let revoked = token_for(&s.pool, org.id, owner, None).await;
    let parsed = wharf_auth::token::parse(&revoked).unwrap();
    let id: Uuid = sqlx::query_scalar("select id from access_tokens where token_hash = $1")
        .bind(&parsed.hash.as_bytes()[..])
        .fetch_one(&s.pool)
        .await
        .unwrap();
    // A vendor API token: no code path revokes those yet, so by hand (the trigger notifies).
    sqlx::query("update access_tokens set revoked_at = now() where id = $1")
        .bind(id)
        .execute(&s.pool)
        .await
        .unwrap();

    let soon = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let expired = token_for(&s.pool, org.id, owner, Some(soon)).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let mut typo = s.vendor.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });
    let unknown = generate(TokenKind::VendorApi).plaintext.expose_secret().to_owned();

    let mut answers = Vec::new();
    for bad in [revoked.as_str(), expired.as_str(), typo.as_str(), unknown.as_str(), "hunter2", ""]
    {
        let (status, headers, body) =
            get_token(&s.wharf, "scope=repository:vendor/app:pull", Some(bad)).await;
        assert_eq!(status, 401, "{bad:?}: {body}");
        assert_eq!(
            headers.get("www-authenticate").map(String::as_str),
            Some("Basic realm=\"wharf\"")
        );
        assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
        answers.push(body);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "uniform: {answers:?}");

    let disabled_customer = customers::create(&s.pool, org.id, "Initech").await.unwrap();
    let token = token_for(
        &s.pool,
        org.id,
        TokenOwner::Customer { customer_id: disabled_customer.id },
        None,
    )
    .await;
    assert_eq!(get_token(&s.wharf, "", Some(&token)).await.0, 200);
    customers::update(&s.pool, org.id, disabled_customer.id, None, Some(true)).await.unwrap();
    assert_eq!(
        get_token(&s.wharf, "", Some(&token)).await.0,
        401,
        "a disabled customer is refused at once"
    );
}

#[tokio::test]
async fn a_token_never_outlives_its_access_token() {
    let s = setup(&[]).await;
    let org = accounts::find_organization(&s.pool, "vendor").await.unwrap().unwrap();
    let admin = accounts::find_user_by_email(&s.pool, "admin@wharf.local").await.unwrap().unwrap();
    let soon = OffsetDateTime::now_utc() + time::Duration::seconds(60);
    let short = token_for(
        &s.pool,
        org.id,
        TokenOwner::Vendor { user_id: admin.id, read_only: false },
        Some(soon),
    )
    .await;
    let (status, _, body) = get_token(&s.wharf, "", Some(&short)).await;
    assert_eq!(status, 200);
    assert!(body["expires_in"].as_u64().unwrap() <= 60, "{body}");
    let claims = decode(body["token"].as_str().unwrap()).1;
    assert!(claims["exp"].as_i64().unwrap() <= soon.unix_timestamp());
}

#[tokio::test]
async fn failed_attempts_are_throttled_per_address_and_recover() {
    let s = setup(&[("WHARF_AUTH_FAILURE_LIMIT", "3"), ("WHARF_AUTH_FAILURE_WINDOW", "2")]).await;
    for _ in 0..3 {
        assert_eq!(get_token(&s.wharf, "", Some("wharf_vnd_nope")).await.0, 401);
    }
    let (status, headers, body) = get_token(&s.wharf, "", Some(&s.vendor)).await;
    assert_eq!(status, 429, "the address is throttled, even with a good token: {body}");
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    let wait: u64 = headers["retry-after"].parse().unwrap();
    assert!((1..=2).contains(&wait));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(get_token(&s.wharf, "", Some(&s.vendor)).await.0, 200, "no lasting lockout");
}

#[tokio::test]
async fn post_form_and_bad_requests() {
    let s = setup(&[]).await;
    let client = reqwest::Client::new();
    let form = [
        ("grant_type", "password"),
        ("username", "ci"),
        ("password", s.vendor.as_str()),
        ("scope", "repository:vendor/app:pull"),
    ];
    let response = client.post(format!("{}/token", s.wharf.url)).form(&form).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        actions(&decode(body["access_token"].as_str().unwrap()).1, "vendor/app"),
        ["delete", "pull", "push"]
    );

    let refresh = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    let response =
        client.post(format!("{}/token", s.wharf.url)).form(&refresh).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);

    let (status, _, body) = get_token(&s.wharf, "service=evil.example.com", Some(&s.vendor)).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) =
        get_token(&s.wharf, "scope=repository:Bad%20Name:pull", Some(&s.vendor)).await;
    assert_eq!(status, 400, "{body}");
}
