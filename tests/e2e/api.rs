//! The vendor JSON API (`/api/v1`) against the real binary and database: every endpoint's
//! happy path, validation errors naming the field, other organizations' ids, roles and
//! read-only tokens, revoked tokens, paging, the OpenAPI document (every response is checked
//! against its schemas), and the docs/api.md walkthrough ending in a real pull.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};
use wharf_e2e::{
    Wharf,
    api::{Api, OpenApi, Reply, admin, push_image, token_for},
    bearer_token, scratch_dir, wharf_with_vendor_token,
};

struct Setup {
    _scratch: tempfile::TempDir,
    wharf: Wharf,
    database_url: String,
    /// The owner of organization `vendor`.
    owner: Api,
    openapi: OpenApi,
}

async fn setup_with(env: &[(&str, &str)]) -> Setup {
    let scratch = scratch_dir();
    let env: HashMap<String, String> =
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let (wharf, token) = wharf_with_vendor_token(&scratch.path().join("data"), env).await;
    let database_url = wharf.options().database_url.clone().unwrap();
    let owner = Api::new(&wharf, Some(&token));
    let openapi = OpenApi::fetch(&wharf).await;
    Setup { _scratch: scratch, wharf, database_url, owner, openapi }
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

impl Setup {
    /// Checks `reply` against the document and returns its body.
    #[track_caller]
    fn ok(&self, method: &str, path: &str, reply: &Reply, status: u16) -> Value {
        self.openapi.check(method, path, reply);
        reply.expect(status).clone()
    }

    /// A second organization, `globex`, and its owner's API.
    fn globex(&self) -> Api {
        admin(
            &self.database_url,
            &[
                "create-org",
                "--slug",
                "globex",
                "--name",
                "Globex",
                "--owner-email",
                "owner@globex.test",
            ],
        );
        self.owner.with_token(&token_for(&self.database_url, "globex", "owner@globex.test", false))
    }

    /// A member of `vendor` with `role`, and its API.
    fn member(&self, role: &str) -> Api {
        let email = format!("{role}@vendor.test");
        admin(
            &self.database_url,
            &["create-user", "--org", "vendor", "--email", &email, "--role", role],
        );
        self.owner.with_token(&token_for(&self.database_url, "vendor", &email, false))
    }

    async fn customer(&self, name: &str) -> String {
        let reply = self.owner.post("/customers", &json!({ "name": name })).await;
        self.ok("post", "/api/v1/customers", &reply, 201)["id"].as_str().unwrap().to_owned()
    }
}

fn at(offset: Duration) -> String {
    (OffsetDateTime::now_utc() + offset).format(&Rfc3339).unwrap()
}

/// A license valid since yesterday, granting `vendor/app` by a semver range.
fn semver_license(name: &str, range: &str) -> Value {
    json!({
        "name": name,
        "starts_at": at(-Duration::days(1)),
        "expires_at": null,
        "on_expiry": "revoke",
        "suspended": false,
        "grants": [{
            "repository": "vendor/app",
            "tags": { "kind": "semver", "range": range, "allow_v_prefix": false, "include_prereleases": false },
            "published_after": null,
            "published_before": null
        }]
    })
}

#[tokio::test]
async fn customers_create_get_change_page_and_delete() {
    let s = setup().await;
    let created = s.owner.post("/customers", &json!({ "name": "  Initech " })).await;
    let body = s.ok("post", "/api/v1/customers", &created, 201);
    assert_eq!((body["name"].as_str(), body["disabled"].as_bool()), (Some("Initech"), Some(false)));
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.headers["location"], format!("/api/v1/customers/{id}").as_str());

    let got = s.owner.get(&format!("/customers/{id}")).await;
    assert_eq!(s.ok("get", "/api/v1/customers/{id}", &got, 200), body);

    // PATCH changes what is given.
    let path = format!("/customers/{id}");
    let renamed = s.owner.patch(&path, &json!({ "name": "Initech AG" })).await;
    let renamed = s.ok("patch", "/api/v1/customers/{id}", &renamed, 200);
    assert_eq!(
        (renamed["name"].as_str(), renamed["disabled"].as_bool()),
        (Some("Initech AG"), Some(false))
    );
    let disabled = s.owner.patch(&path, &json!({ "disabled": true })).await;
    let disabled = s.ok("patch", "/api/v1/customers/{id}", &disabled, 200);
    assert_eq!(
        (disabled["name"].as_str(), disabled["disabled"].as_bool()),
        (Some("Initech AG"), Some(true))
    );
    let both = s.owner.patch(&path, &json!({ "name": "Initech", "disabled": false })).await;
    assert_eq!(s.ok("patch", "/api/v1/customers/{id}", &both, 200)["disabled"], false);

    // Names are unique within the vendor: 409 naming the field, nothing changes.
    let other = s.customer("Umbrella").await;
    let taken = s.owner.post("/customers", &json!({ "name": "Initech" })).await;
    s.openapi.check("post", "/api/v1/customers", &taken);
    taken.problem(409, Some("name"));
    let taken = s
        .owner
        .patch(&format!("/customers/{other}"), &json!({ "name": "Initech", "disabled": true }))
        .await;
    s.openapi.check("patch", "/api/v1/customers/{id}", &taken);
    taken.problem(409, Some("name"));
    let unchanged = s.owner.get(&format!("/customers/{other}")).await;
    assert_eq!(unchanged.body["disabled"], false, "a refused PATCH changes nothing");

    // Delete: 204, then unknown everywhere.
    let deleted = s.owner.delete(&path).await;
    s.ok("delete", "/api/v1/customers/{id}", &deleted, 204);
    for reply in [
        s.owner.get(&path).await,
        s.owner.delete(&path).await,
        s.owner.patch(&path, &json!({ "disabled": true })).await,
        s.owner.get(&format!("{path}/licenses")).await,
        s.owner.get(&format!("{path}/tokens")).await,
        s.owner.get(&format!("{path}/entitlements")).await,
    ] {
        reply.problem(404, None);
    }
}

#[tokio::test]
async fn customers_page_with_cursors() {
    let s = setup().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(s.customer(&format!("customer {i}")).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("/customers?limit=3&cursor={c}"),
            None => "/customers?limit=3".to_owned(),
        };
        let page = s.owner.get(&query).await;
        let page = s.ok("get", "/api/v1/customers", &page, 200);
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "oldest first, each once");
    // Exactly a full last page: no cursor after it.
    let all = s.owner.get("/customers?limit=7").await;
    assert_eq!(s.ok("get", "/api/v1/customers", &all, 200)["next_cursor"], Value::Null);
    let default = s.owner.get("/customers").await;
    assert_eq!(default.body["items"].as_array().unwrap().len(), 7);

    for bad in ["limit=0", "limit=201", "limit=x"] {
        let reply = s.owner.get(&format!("/customers?{bad}")).await;
        s.openapi.check("get", "/api/v1/customers", &reply);
        reply.problem(400, Some("limit"));
    }
    let reply = s.owner.get("/customers?cursor=not-a-cursor").await;
    reply.problem(400, Some("cursor"));
}

#[tokio::test]
async fn licenses_create_list_get_replace_and_delete() {
    let s = setup().await;
    let customer = s.customer("Initech").await;
    let path = format!("/customers/{customer}/licenses");
    let empty = s.owner.get(&path).await;
    assert_eq!(s.ok("get", "/api/v1/customers/{id}/licenses", &empty, 200)["items"], json!([]));

    let mut input = semver_license("Gold", ">=1.0.0 <2.0.0");
    input["notes"] = json!("renewal in March");
    let created = s.owner.post(&path, &input).await;
    let license = s.ok("post", "/api/v1/customers/{id}/licenses", &created, 201);
    let id = license["id"].as_str().unwrap().to_owned();
    assert_eq!(created.headers["location"], format!("/api/v1/licenses/{id}").as_str());
    assert_eq!(license["customer_id"], customer.as_str());
    assert_eq!(license["on_expiry"], "revoke");
    assert_eq!(license["grants"], input["grants"], "grants come back as given");
    assert_eq!(license["notes"], "renewal in March");

    // Defaults: suspended false, no expiry, no notes; flags of semver default to false.
    let minimal = json!({
        "name": "Minimal",
        "starts_at": at(-Duration::days(1)),
        "on_expiry": "keep_released",
        "grants": [{ "repository": "vendor/charts/*", "tags": { "kind": "semver", "range": "^1.2" } }]
    });
    let created = s.owner.post(&path, &minimal).await;
    let second = s.ok("post", "/api/v1/customers/{id}/licenses", &created, 201);
    assert_eq!(
        (second["suspended"].as_bool(), second["expires_at"].is_null()),
        (Some(false), true)
    );
    assert_eq!(second["grants"][0]["tags"]["allow_v_prefix"], false);
    assert_eq!(second["grants"][0]["published_after"], Value::Null);

    let listed = s.owner.get(&path).await;
    let listed = s.ok("get", "/api/v1/customers/{id}/licenses", &listed, 200);
    let ids: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str(), second["id"].as_str().unwrap()]);

    let got = s.owner.get(&format!("/licenses/{id}")).await;
    assert_eq!(s.ok("get", "/api/v1/licenses/{id}", &got, 200), license);

    // PUT replaces everything, grants included.
    let replacement = json!({
        "name": "Gold 2027",
        "starts_at": "2026-06-01T00:00:00Z",
        "expires_at": "2030-01-01T00:00:00Z",
        "on_expiry": "keep_released",
        "suspended": true,
        "grants": [
            { "repository": "vendor/app", "tags": { "kind": "exact", "values": ["1.2.0", "latest"] } },
            { "repository": "vendor/*", "tags": { "kind": "glob", "pattern": "*-alpine" },
              "published_after": "2026-01-01T00:00:00Z", "published_before": "2027-01-01T00:00:00Z" }
        ]
    });
    let replaced = s.owner.put(&format!("/licenses/{id}"), &replacement).await;
    let replaced = s.ok("put", "/api/v1/licenses/{id}", &replaced, 200);
    assert_eq!(replaced["name"], "Gold 2027");
    assert_eq!(replaced["notes"], "", "notes not given are replaced too");
    assert_eq!(replaced["suspended"], true);
    assert_eq!(replaced["expires_at"], "2030-01-01T00:00:00Z");
    assert_eq!(replaced["grants"].as_array().unwrap().len(), 2);
    assert_eq!(replaced["grants"][1]["published_before"], "2027-01-01T00:00:00Z");
    assert_eq!(s.owner.get(&format!("/licenses/{id}")).await.body, replaced);

    let deleted = s.owner.delete(&format!("/licenses/{id}")).await;
    s.ok("delete", "/api/v1/licenses/{id}", &deleted, 204);
    s.owner.get(&format!("/licenses/{id}")).await.problem(404, None);
    s.owner.delete(&format!("/licenses/{id}")).await.problem(404, None);
    s.owner.put(&format!("/licenses/{id}"), &replacement).await.problem(404, None);
    let unknown_customer =
        s.owner.post(&format!("/customers/{}/licenses", uuid::Uuid::now_v7()), &input).await;
    unknown_customer.problem(404, None);
}

#[tokio::test]
async fn validation_errors_name_the_field_and_change_nothing() {
    let s = setup().await;
    let customer = s.customer("Initech").await;
    let licenses = format!("/customers/{customer}/licenses");
    let with_grant = |grant: Value| {
        let mut body = semver_license("Gold", ">=1.0.0");
        body["grants"] = json!([{ "repository": "vendor/app", "tags": { "kind": "all" } }, grant]);
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "bad semver range",
            with_grant(
                json!({ "repository": "vendor/app", "tags": { "kind": "semver", "range": ">=1.0.0 <" } }),
            ),
            "grants[1].tags.range",
        ),
        (
            "alternatives in a semver range",
            with_grant(
                json!({ "repository": "vendor/app", "tags": { "kind": "semver", "range": "^1 || ^2" } }),
            ),
            "grants[1].tags.range",
        ),
        (
            "glob with illegal characters",
            with_grant(
                json!({ "repository": "vendor/app", "tags": { "kind": "glob", "pattern": "1.[0-9]+" } }),
            ),
            "grants[1].tags.pattern",
        ),
        (
            "unknown repository pattern",
            with_grant(json!({ "repository": "vendor/app*", "tags": { "kind": "all" } })),
            "grants[1].repository",
        ),
        (
            "another organization's repository",
            with_grant(json!({ "repository": "globex/app", "tags": { "kind": "all" } })),
            "grants[1].repository",
        ),
        (
            "the bare organization",
            with_grant(json!({ "repository": "vendor", "tags": { "kind": "all" } })),
            "grants[1].repository",
        ),
        (
            "an empty exact list",
            with_grant(
                json!({ "repository": "vendor/app", "tags": { "kind": "exact", "values": [] } }),
            ),
            "grants[1].tags.values",
        ),
        (
            "an unknown selector kind",
            with_grant(
                json!({ "repository": "vendor/app", "tags": { "kind": "regex", "pattern": ".*" } }),
            ),
            "grants[1].tags.kind",
        ),
        (
            "an empty publish window",
            with_grant(json!({ "repository": "vendor/app", "tags": { "kind": "all" },
                "published_after": "2026-02-01T00:00:00Z", "published_before": "2026-01-01T00:00:00Z" })),
            "grants[1].published_before",
        ),
        (
            "an unknown field in a grant",
            with_grant(
                json!({ "repository": "vendor/app", "tags": { "kind": "all" }, "published_befor": null }),
            ),
            "grants[1].published_befor",
        ),
        (
            "expiry before start",
            json!({ "name": "Gold", "starts_at": "2026-06-01T00:00:00Z", "expires_at": "2026-05-01T00:00:00Z",
                    "on_expiry": "revoke", "grants": [] }),
            "expires_at",
        ),
        (
            "expiry at start",
            json!({ "name": "Gold", "starts_at": "2026-06-01T00:00:00Z", "expires_at": "2026-06-01T00:00:00Z",
                    "on_expiry": "revoke", "grants": [] }),
            "expires_at",
        ),
        (
            "an unknown top-level field",
            json!({ "name": "Gold", "starts_at": "2026-06-01T00:00:00Z", "on_expiry": "revoke", "grants": [], "seats": 5 }),
            "seats",
        ),
        (
            "a missing field",
            json!({ "name": "Gold", "starts_at": "2026-06-01T00:00:00Z", "grants": [] }),
            "on_expiry",
        ),
        (
            "an unknown expiry policy",
            json!({ "name": "Gold", "starts_at": "2026-06-01T00:00:00Z", "on_expiry": "forever", "grants": [] }),
            "on_expiry",
        ),
        (
            "a date that is not RFC 3339",
            json!({ "name": "Gold", "starts_at": "June 1st", "on_expiry": "revoke", "grants": [] }),
            "starts_at",
        ),
        (
            "an empty name",
            json!({ "name": " ", "starts_at": "2026-06-01T00:00:00Z", "on_expiry": "revoke", "grants": [] }),
            "name",
        ),
    ];
    for (what, body, field) in &cases {
        let reply = s.owner.post(&licenses, body).await;
        s.openapi.check("post", "/api/v1/customers/{id}/licenses", &reply);
        let problem = reply.problem(400, Some(field));
        assert!(problem["detail"].as_str().unwrap().starts_with(field), "{what}: {problem}");
    }

    // The same validation on PUT.
    let good = s.owner.post(&licenses, &semver_license("Gold", ">=1.0.0 <2.0.0")).await;
    let id = good.expect(201)["id"].as_str().unwrap().to_owned();
    for (_, body, field) in &cases {
        let reply = s.owner.put(&format!("/licenses/{id}"), body).await;
        reply.problem(400, Some(field));
    }
    assert_eq!(s.owner.get(&format!("/licenses/{id}")).await.body, good.body, "nothing changed");
    let listed = s.owner.get(&licenses).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "nothing was created");

    // Malformed JSON, the wrong shape, no JSON at all.
    for raw in [&b"{\"name\": \"Gold\", "[..], b"not json", b"{\"name\":\"x\"} {}"] {
        let reply = s
            .owner
            .send_raw(Method::POST, &licenses, Some(("application/json", raw.to_vec())))
            .await;
        s.openapi.check("post", "/api/v1/customers/{id}/licenses", &reply);
        let problem = reply.problem(400, None);
        assert!(problem["detail"].as_str().unwrap().starts_with("malformed JSON"), "{problem}");
    }
    let reply =
        s.owner.send_raw(Method::POST, &licenses, Some(("application/json", b"[]".to_vec()))).await;
    reply.problem(400, None);
    let reply = s
        .owner
        .send_raw(Method::POST, "/customers", Some(("text/plain", b"{\"name\":\"x\"}".to_vec())))
        .await;
    s.openapi.check("post", "/api/v1/customers", &reply);
    reply.problem(415, None);

    // Customers and tokens.
    s.owner.post("/customers", &json!({ "name": "" })).await.problem(400, Some("name"));
    s.owner
        .post("/customers", &json!({ "name": "x".repeat(201) }))
        .await
        .problem(400, Some("name"));
    s.owner
        .post("/customers", &json!({ "name": "x", "id": "mine" }))
        .await
        .problem(400, Some("id"));
    s.owner
        .patch(&format!("/customers/{customer}"), &json!({ "name": null }))
        .await
        .problem(400, Some("name"));
    s.owner
        .patch(&format!("/customers/{customer}"), &json!({ "disabled": "yes" }))
        .await
        .problem(400, Some("disabled"));
    let tokens = format!("/customers/{customer}/tokens");
    s.owner.post(&tokens, &json!({ "name": "" })).await.problem(400, Some("name"));
    s.owner.post(&tokens, &json!({ "name": "x".repeat(101) })).await.problem(400, Some("name"));
    let past = json!({ "name": "k8s", "expires_at": at(-Duration::minutes(1)) });
    let reply = s.owner.post(&tokens, &past).await;
    s.openapi.check("post", "/api/v1/customers/{id}/tokens", &reply);
    reply.problem(400, Some("expires_at"));
    assert_eq!(s.owner.get(&tokens).await.body["items"], json!([]), "no token was issued");
}

#[tokio::test]
async fn customer_tokens_issue_list_work_and_revoke() {
    let s = setup().await;
    let customer = s.customer("Initech").await;
    let path = format!("/customers/{customer}/tokens");
    let expires = at(Duration::days(30));
    let issued =
        s.owner.post(&path, &json!({ "name": "k8s pull secret", "expires_at": expires })).await;
    let token = s.ok("post", "/api/v1/customers/{id}/tokens", &issued, 201);
    assert_eq!(issued.headers["cache-control"], "no-store");
    let plaintext = token["token"].as_str().unwrap().to_owned();
    assert!(plaintext.starts_with("wharf_cst_") && plaintext.len() == 48, "{plaintext}");
    assert!(plaintext.starts_with(token["prefix"].as_str().unwrap()));
    assert_eq!(
        OffsetDateTime::parse(token["expires_at"].as_str().unwrap(), &Rfc3339)
            .unwrap()
            .unix_timestamp(),
        OffsetDateTime::parse(&expires, &Rfc3339).unwrap().unix_timestamp()
    );
    let id = token["id"].as_str().unwrap().to_owned();
    let forever = s.owner.post(&path, &json!({ "name": "ci" })).await;
    assert_eq!(
        s.ok("post", "/api/v1/customers/{id}/tokens", &forever, 201)["expires_at"],
        Value::Null
    );

    let listed = s.owner.get(&path).await;
    let listed = s.ok("get", "/api/v1/customers/{id}/tokens", &listed, 200);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["id"], id.as_str(), "newest first");
    assert_eq!(items[1]["customer_id"], customer.as_str());
    assert!(!listed.to_string().contains(&plaintext), "lists never show the token");

    // It works at the token service, as a customer.
    let login = reqwest::Client::new()
        .get(format!("{}/token?scope=repository:vendor/app:pull", s.wharf.url))
        .basic_auth("ci", Some(&plaintext))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 200);
    // A customer token is not an API credential.
    s.owner.with_token(&plaintext).get("/customers").await.problem(401, None);

    let revoked = s.owner.delete(&format!("/tokens/{id}")).await;
    s.ok("delete", "/api/v1/tokens/{id}", &revoked, 204);
    let again = s.owner.delete(&format!("/tokens/{id}")).await;
    s.ok("delete", "/api/v1/tokens/{id}", &again, 204);
    let login = reqwest::Client::new()
        .get(format!("{}/token", s.wharf.url))
        .basic_auth("ci", Some(&plaintext))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 401, "revoked at once");
    let listed = s.owner.get(&path).await;
    assert!(listed.body["items"][1]["revoked_at"].is_string());
    assert!(listed.body["items"][0]["revoked_at"].is_null());

    s.owner.delete(&format!("/tokens/{}", uuid::Uuid::now_v7())).await.problem(404, None);
    s.owner.delete("/tokens/not-a-uuid").await.problem(404, None);
    s.owner
        .post(&format!("/customers/{}/tokens", uuid::Uuid::now_v7()), &json!({ "name": "x" }))
        .await
        .problem(404, None);
}

#[tokio::test]
async fn vendor_tokens_cannot_be_revoked_here() {
    let s = setup().await;
    let pool = wharf_db::PgPool::connect(&s.database_url).await.unwrap();
    let vendor_tokens: Vec<uuid::Uuid> =
        sqlx::query_scalar("select id from access_tokens where kind = 'vendor'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(vendor_tokens.len(), 1);
    s.owner.delete(&format!("/tokens/{}", vendor_tokens[0])).await.problem(404, None);
    s.ok("get", "/api/v1/customers", &s.owner.get("/customers").await, 200);
}

#[tokio::test]
async fn another_organizations_ids_are_unknown() {
    let s = setup().await;
    let globex = s.globex();
    let customer = s.customer("Initech").await;
    let license = s
        .owner
        .post(&format!("/customers/{customer}/licenses"), &semver_license("Gold", "*"))
        .await;
    let license = license.expect(201)["id"].as_str().unwrap().to_owned();
    let token =
        s.owner.post(&format!("/customers/{customer}/tokens"), &json!({ "name": "k8s" })).await;
    let token = token.expect(201)["id"].as_str().unwrap().to_owned();
    push_image(&s.wharf, s.owner.token(), "vendor/app", "1.0.0").await;

    let patch = json!({ "disabled": true });
    // Valid for globex, so that only the id decides.
    let mut input = semver_license("Mine", "*");
    input["grants"][0]["repository"] = json!("globex/app");
    let new_token = json!({ "name": "mine" });
    let mut bodies = Vec::new();
    for ids in [
        [customer.as_str(), license.as_str(), token.as_str()],
        ["01a20c40-0000-7000-8000-000000000000"; 3],
    ] {
        let [c, l, t] = ids;
        let answers = [
            globex.get(&format!("/customers/{c}")).await,
            globex.patch(&format!("/customers/{c}"), &patch).await,
            globex.delete(&format!("/customers/{c}")).await,
            globex.get(&format!("/customers/{c}/licenses")).await,
            globex.post(&format!("/customers/{c}/licenses"), &input).await,
            globex.get(&format!("/customers/{c}/tokens")).await,
            globex.post(&format!("/customers/{c}/tokens"), &new_token).await,
            globex.get(&format!("/customers/{c}/entitlements")).await,
            globex.get(&format!("/licenses/{l}")).await,
            globex.put(&format!("/licenses/{l}"), &input).await,
            globex.delete(&format!("/licenses/{l}")).await,
            globex.delete(&format!("/tokens/{t}")).await,
        ];
        let mut these = Vec::new();
        for reply in answers {
            these.push(reply.problem(404, None).clone());
        }
        bodies.push(these);
    }
    assert_eq!(bodies[0], bodies[1], "another organization's ids answer like unknown ones");
    let existing = globex.get("/repositories/vendor/app/tags").await;
    let missing = globex.get("/repositories/vendor/never-pushed/tags").await;
    assert_eq!(existing.problem(404, None), missing.problem(404, None));
    let theirs = globex.get("/customers").await;
    assert_eq!(s.ok("get", "/api/v1/customers", &theirs, 200)["items"], json!([]));
    let repositories = globex.get("/repositories").await;
    assert_eq!(s.ok("get", "/api/v1/repositories", &repositories, 200)["items"], json!([]));

    // Nothing changed for the owner.
    let mine = s.owner.get(&format!("/customers/{customer}")).await;
    assert_eq!(mine.expect(200)["disabled"], false);
    s.owner.get(&format!("/licenses/{license}")).await.expect(200);
    let tokens = s.owner.get(&format!("/customers/{customer}/tokens")).await;
    assert!(tokens.body["items"][0]["revoked_at"].is_null());
    // Globex's own grants cannot name vendor's repositories either.
    let theirs = globex.post("/customers", &json!({ "name": "Initech" })).await;
    let theirs = theirs.expect(201)["id"].as_str().unwrap().to_owned();
    let grab =
        globex.post(&format!("/customers/{theirs}/licenses"), &semver_license("Grab", "*")).await;
    grab.problem(400, Some("grants[0].repository"));
}

#[tokio::test]
async fn roles_read_only_tokens_and_bad_credentials() {
    let s = setup().await;
    let customer = s.customer("Initech").await;
    let license = s
        .owner
        .post(&format!("/customers/{customer}/licenses"), &semver_license("Gold", "*"))
        .await;
    let license = license.expect(201)["id"].as_str().unwrap().to_owned();
    let token =
        s.owner.post(&format!("/customers/{customer}/tokens"), &json!({ "name": "k8s" })).await;
    let token = token.expect(201)["id"].as_str().unwrap().to_owned();

    let read_only =
        s.owner.with_token(&token_for(&s.database_url, "vendor", "admin@wharf.local", true));
    let viewer = s.member("viewer");
    let developer = s.member("developer");
    let admin_member = s.member("admin");

    for (who, api) in
        [("read-only owner token", &read_only), ("viewer", &viewer), ("developer", &developer)]
    {
        // Reads work.
        for path in [
            "/customers".to_owned(),
            format!("/customers/{customer}"),
            format!("/customers/{customer}/licenses"),
            format!("/customers/{customer}/tokens"),
            format!("/customers/{customer}/entitlements"),
            format!("/licenses/{license}"),
            "/repositories".to_owned(),
        ] {
            assert_eq!(api.get(&path).await.status, 200, "{who} reads {path}");
        }
        // Writes are refused before anything is read, invalid bodies included.
        let writes = [
            api.post("/customers", &json!({ "name": "Mine" })).await,
            api.post("/customers", &json!({ "nonsense": true })).await,
            api.patch(&format!("/customers/{customer}"), &json!({ "disabled": true })).await,
            api.delete(&format!("/customers/{customer}")).await,
            api.post(&format!("/customers/{customer}/licenses"), &semver_license("X", "*")).await,
            api.put(&format!("/licenses/{license}"), &semver_license("X", "*")).await,
            api.delete(&format!("/licenses/{license}")).await,
            api.post(&format!("/customers/{customer}/tokens"), &json!({ "name": "x" })).await,
            api.delete(&format!("/tokens/{token}")).await,
            api.delete(&format!("/tokens/{}", uuid::Uuid::now_v7())).await,
        ];
        for reply in writes {
            let problem = json!({ "$ref": "#/components/schemas/Problem" });
            s.openapi.validate(&problem, &reply.body).unwrap();
            reply.problem(403, None);
        }
    }
    assert_eq!(s.owner.get("/customers").await.body["items"].as_array().unwrap().len(), 1);
    assert!(
        s.owner.get(&format!("/customers/{customer}/tokens")).await.body["items"][0]["revoked_at"]
            .is_null()
    );

    // An admin manages customers.
    let reply = admin_member
        .patch(&format!("/customers/{customer}"), &json!({ "name": "Initech AG" }))
        .await;
    assert_eq!(reply.expect(200)["name"], "Initech AG");

    // No credentials, other schemes, garbage, customer tokens, revoked tokens: 401.
    let anonymous = Api::new(&s.wharf, None);
    let missing = anonymous.get("/customers").await;
    s.openapi.check("get", "/api/v1/customers", &missing);
    missing.problem(401, None);
    assert_eq!(missing.headers["www-authenticate"], "Bearer realm=\"wharf\"");
    let garbage = s.owner.with_token("wharf_vnd_garbage").get("/customers").await;
    garbage.problem(401, None);
    assert!(garbage.headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    let basic = reqwest::Client::new()
        .get(format!("{}/api/v1/customers", s.wharf.url))
        .basic_auth("ci", Some(s.owner.token()))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 401, "Bearer only");

    let pool = wharf_db::PgPool::connect(&s.database_url).await.unwrap();
    sqlx::query("update access_tokens set revoked_at = now() where kind = 'vendor' and read_only")
        .execute(&pool)
        .await
        .unwrap();
    let revoked = read_only.get("/customers").await;
    s.openapi.check("get", "/api/v1/customers", &revoked);
    revoked.problem(401, None);
    // A token whose member became a viewer loses its writes at once.
    sqlx::query("update organization_members set role = 'viewer' where user_id = (select id from users where email = 'admin@vendor.test')")
        .execute(&pool)
        .await
        .unwrap();
    admin_member.post("/customers", &json!({ "name": "Later" })).await.problem(403, None);
}

#[tokio::test]
async fn failed_authentication_is_throttled() {
    let s = setup_with(&[("WHARF_AUTH_FAILURE_LIMIT", "3")]).await;
    let bad = s.owner.with_token("wharf_vnd_0000000000000000000000000000000000000x");
    for _ in 0..3 {
        bad.get("/customers").await.problem(401, None);
    }
    let throttled = bad.get("/customers").await;
    s.openapi.check("get", "/api/v1/customers", &throttled);
    throttled.problem(429, None);
    assert!(throttled.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    // The limit is per client address: the owner is throttled too, from the same address.
    s.owner.get("/customers").await.problem(429, None);
}

#[tokio::test]
async fn repositories_and_tags_with_digests_sizes_and_push_times() {
    let s = setup().await;
    let token = s.owner.token().to_owned();
    let v1 = push_image(&s.wharf, &token, "vendor/app", "1.2.0").await;
    push_image(&s.wharf, &token, "vendor/app", "2.0.0").await;
    push_image(&s.wharf, &token, "vendor/charts/app", "0.1.0").await;

    let listed = s.owner.get("/repositories").await;
    let listed = s.ok("get", "/api/v1/repositories", &listed, 200);
    let names: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["vendor/app", "vendor/charts/app"]);
    assert_eq!(listed["items"][0]["tag_count"], 2);
    assert_eq!(listed["items"][0]["public"], false);
    assert!(listed["items"][0]["last_pushed_at"].is_string());

    let first = s.owner.get("/repositories?limit=1").await;
    let first = s.ok("get", "/api/v1/repositories", &first, 200);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = s.owner.get(&format!("/repositories?limit=1&cursor={cursor}")).await;
    let second = s.ok("get", "/api/v1/repositories", &second, 200);
    assert_eq!(second["items"][0]["name"], "vendor/charts/app");
    assert_eq!(second["next_cursor"], Value::Null);

    let tags = s.owner.get("/repositories/vendor/app/tags").await;
    let tags = s.ok("get", "/api/v1/repositories/{name}/tags", &tags, 200);
    let one = &tags["items"][0];
    assert_eq!((one["name"].as_str(), one["digest"].as_str()), (Some("1.2.0"), Some(v1.as_str())));
    assert_eq!(one["media_type"], "application/vnd.oci.image.manifest.v1+json");
    let manifest_size = one["manifest_size"].as_i64().unwrap();
    let config_size = r#"{"architecture":"amd64","os":"linux","tag":"1.2.0"}"#.len() as i64;
    let layer_size = "layer of vendor/app:1.2.0".len() as i64 * 100;
    assert_eq!(one["size"].as_i64().unwrap(), manifest_size + config_size + layer_size);
    let page = s.owner.get("/repositories/vendor/app/tags?limit=1").await;
    let page = s.ok("get", "/api/v1/repositories/{name}/tags", &page, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let rest = s
        .owner
        .get(&format!(
            "/repositories/vendor/app/tags?cursor={}",
            page["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(rest.expect(200)["items"][0]["name"], "2.0.0");
    let nested = s.owner.get("/repositories/vendor/charts/app/tags").await;
    assert_eq!(
        s.ok("get", "/api/v1/repositories/{name}/tags", &nested, 200)["items"][0]["name"],
        "0.1.0"
    );

    for missing in [
        "/repositories/vendor/nope/tags",
        "/repositories/vendor/app",
        "/repositories/vendor/app/tagsx",
    ] {
        s.owner.get(missing).await.problem(404, None);
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_served() {
    let s = setup().await;
    let customer = s.customer("Initech").await;
    let doc = s.openapi.doc().clone();
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 30, "{:?}", paths.keys().collect::<Vec<_>>());
    // Read-only, so that probing writes nothing; writes then answer 403, reads 200/404.
    let probe =
        s.owner.with_token(&token_for(&s.database_url, "vendor", "admin@wharf.local", true));
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let concrete = path
                .trim_start_matches("/api/v1")
                .replace("{id}", "01a20c40-0000-7000-8000-000000000000")
                .replace("{user_id}", "01a20c40-0000-7000-8000-000000000001")
                .replace("{invitation}", "01a20c40-0000-7000-8000-000000000002")
                .replace("{name}", "vendor/app")
                .replace("{tag}", "1.0.0")
                .replace("{reference}", "sha256:0000");
            let reply = probe
                .send(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &concrete,
                    Some(&json!({})),
                )
                .await;
            if item.get(method).is_some() {
                assert_ne!(reply.status, 405, "{method} {path} is documented but not served");
                if reply.status == 404 {
                    assert_ne!(
                        reply.body["detail"].as_str().unwrap(),
                        "no such endpoint; see /api/v1/openapi.json",
                        "{method} {path}"
                    );
                }
                s.openapi.check(method, path, &reply);
            } else if path.starts_with("/api/v1/repositories/{name}")
                && ["get", "patch", "delete"].contains(&method)
            {
                // One wildcard serves every path below a repository, and a method documented
                // on one of them (PATCH `{name}`) reaches it on the others too: never a
                // success there.
                assert!(reply.status >= 400, "{method} {path} answered {}", reply.status);
                reply.problem(reply.status, reply.body["field"].as_str());
            } else {
                assert_eq!(reply.status, 405, "{method} {path} is served but not documented");
                reply.problem(405, None);
            }
        }
    }
    let unknown = s.owner.get("/nothing/here").await;
    unknown.problem(404, None);
    // The document is public and served as JSON.
    let raw = reqwest::get(format!("{}/api/v1/openapi.json", s.wharf.url)).await.unwrap();
    assert_eq!(raw.headers()["content-type"], "application/json");
    assert!(s.owner.get(&format!("/customers/{customer}")).await.status == 200);
}

/// The walkthrough of docs/api.md, for real: push with a vendor token, then create a
/// customer, a license with a semver grant and a token through the API, and pull as the
/// customer: 1.2.0 is entitled, 2.0.0 is not.
#[tokio::test]
async fn walkthrough_license_a_customer_and_pull() {
    let s = setup().await;
    let vendor_token = s.owner.token().to_owned();
    let v1 = push_image(&s.wharf, &vendor_token, "vendor/app", "1.2.0").await;
    push_image(&s.wharf, &vendor_token, "vendor/app", "2.0.0").await;

    let customer = s.owner.post("/customers", &json!({ "name": "Initech" })).await;
    let customer =
        s.ok("post", "/api/v1/customers", &customer, 201)["id"].as_str().unwrap().to_owned();
    let license = s
        .owner
        .post(
            &format!("/customers/{customer}/licenses"),
            &json!({
                "name": "Initech 2026",
                "starts_at": at(-Duration::days(1)),
                "expires_at": null,
                "on_expiry": "keep_released",
                "grants": [{
                    "repository": "vendor/app",
                    "tags": { "kind": "semver", "range": ">=1.0.0 <2.0.0" }
                }]
            }),
        )
        .await;
    s.ok("post", "/api/v1/customers/{id}/licenses", &license, 201);
    let token = s
        .owner
        .post(&format!("/customers/{customer}/tokens"), &json!({ "name": "initech-prod" }))
        .await;
    let token = s.ok("post", "/api/v1/customers/{id}/tokens", &token, 201)["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let entitlements = s.owner.get(&format!("/customers/{customer}/entitlements")).await;
    let entitlements = s.ok("get", "/api/v1/customers/{id}/entitlements", &entitlements, 200);
    assert_eq!(
        entitlements,
        json!({ "repositories": [{ "name": "vendor/app", "tags": ["1.2.0"] }] })
    );

    // Raw protocol: the token service, then the registry.
    let jwt = bearer_token(&s.wharf, &token, "repository:vendor/app:pull").await;
    let client = reqwest::Client::new();
    let accept = "application/vnd.oci.image.manifest.v1+json";
    let entitled = client
        .get(format!("{}/v2/vendor/app/manifests/1.2.0", s.wharf.url))
        .bearer_auth(&jwt)
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(entitled.status().as_u16(), 200);
    assert_eq!(entitled.headers()["docker-content-digest"], v1.as_str());
    let other = client
        .get(format!("{}/v2/vendor/app/manifests/2.0.0", s.wharf.url))
        .bearer_auth(&jwt)
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 404);
    let error: Value = other.json().await.unwrap();
    assert_eq!(error["errors"][0]["code"], "MANIFEST_UNKNOWN");
    let tags: Value = client
        .get(format!("{}/v2/vendor/app/tags/list", s.wharf.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!(["1.2.0"]));

    // A real client (the Rust OCI client, through the token service like docker does).
    use oci_client::{
        Client, Reference,
        client::{ClientConfig, ClientProtocol},
        secrets::RegistryAuth,
    };
    let host = s.wharf.url.trim_start_matches("http://");
    let auth = RegistryAuth::Basic("initech".into(), token.clone());
    let layer_type = "application/vnd.oci.image.layer.v1.tar";
    let pull = |tag: &str| {
        let reference: Reference = format!("{host}/vendor/app:{tag}").parse().unwrap();
        let auth = auth.clone();
        async move {
            let client =
                Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() });
            client.pull(&reference, &auth, vec![layer_type]).await
        }
    };
    let pulled = pull("1.2.0").await.expect("an entitled tag pulls");
    assert_eq!(pulled.digest.as_deref(), Some(v1.as_str()));
    assert_eq!(pulled.layers[0].data.as_ref(), "layer of vendor/app:1.2.0".repeat(100).as_bytes());
    assert!(pull("2.0.0").await.is_err(), "2.0.0 is outside the grant");

    // Suspending the license through the API stops the next pull.
    let mut suspended =
        s.owner.get(&format!("/customers/{customer}/licenses")).await.body["items"][0].clone();
    let id = suspended["id"].as_str().unwrap().to_owned();
    for field in ["id", "customer_id", "created_at", "updated_at"] {
        suspended.as_object_mut().unwrap().remove(field);
    }
    suspended["suspended"] = json!(true);
    s.owner.put(&format!("/licenses/{id}"), &suspended).await.expect(200);
    assert!(pull("1.2.0").await.is_err(), "a suspended license grants nothing");
    let entitlements = s.owner.get(&format!("/customers/{customer}/entitlements")).await;
    assert_eq!(entitlements.body, json!({ "repositories": [] }));
}

/// The audit entries of `action`, newest first, as the owner reads them, once there are
/// at least `least` of them (the log is written in batches) or after five seconds.
async fn audited(s: &Setup, action: &str, least: usize) -> Vec<Value> {
    let mut found = Vec::new();
    for _ in 0..50 {
        let audit = s.owner.get("/audit?limit=200").await;
        let audit = s.ok("get", "/api/v1/audit", &audit, 200);
        found = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect();
        if found.len() >= least {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    found
}

/// Pushes `manifest` (a JSON document of `media_type`) to `repository:reference` with a
/// vendor token, its `blobs` first. Returns its digest.
async fn push_manifest(
    s: &Setup,
    repository: &str,
    reference: &str,
    media_type: &str,
    manifest: &Value,
    blobs: &[&[u8]],
) -> String {
    let jwt = wharf_e2e::bearer_token(
        &s.wharf,
        s.owner.token(),
        &format!("repository:{repository}:pull,push"),
    )
    .await;
    let client = reqwest::Client::new();
    for blob in blobs {
        let pushed = client
            .post(format!(
                "{}/v2/{repository}/blobs/uploads/?digest={}",
                s.wharf.url,
                wharf_e2e::api::digest_of(blob)
            ))
            .bearer_auth(&jwt)
            .header("content-type", "application/octet-stream")
            .body(blob.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status().as_u16(), 201, "blob upload");
    }
    let bytes = serde_json::to_vec(manifest).unwrap();
    let put = client
        .put(format!("{}/v2/{repository}/manifests/{reference}", s.wharf.url))
        .bearer_auth(&jwt)
        .header("content-type", media_type)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201, "manifest push: {}", put.text().await.unwrap());
    wharf_e2e::api::digest_of(&bytes)
}

#[tokio::test]
async fn repository_rules_and_deleting_tags_and_manifests() {
    let s = setup().await;
    let token = s.owner.token().to_owned();
    push_image(&s.wharf, &token, "vendor/charts/app", "1.0.0").await;
    let v11 = push_image(&s.wharf, &token, "vendor/charts/app", "1.1.0").await;
    let v2 = push_image(&s.wharf, &token, "vendor/charts/app", "2.0.0").await;
    let doc = "/api/v1/repositories/{name}";
    let path = "/repositories/vendor/charts/app";
    let rules = |listed: &Value| {
        let it = &listed["items"][0];
        (it["public"].as_bool().unwrap(), it["immutable_tags"].as_bool().unwrap())
    };
    let listed = s.owner.get("/repositories").await;
    assert_eq!(rules(&s.ok("get", "/api/v1/repositories", &listed, 200)), (false, false));

    // Owners and admins set the rules; only what is given changes.
    let changed = s.owner.patch(path, &json!({ "immutable_tags": true })).await;
    let changed = s.ok("patch", doc, &changed, 200);
    assert_eq!(
        changed,
        json!({ "name": "vendor/charts/app", "public": false, "immutable_tags": true })
    );
    let admin_member = s.member("admin");
    let changed = admin_member.patch(path, &json!({ "public": true })).await;
    assert_eq!(s.ok("patch", doc, &changed, 200)["public"], true);
    assert_eq!(rules(&s.owner.get("/repositories").await.body), (true, true));
    // Bad bodies: 400 naming the field, nothing changes.
    for (body, field) in [
        (json!({ "public": null }), Some("public")),
        (json!({ "public": "yes" }), Some("public")),
        (json!({ "immutable_tags": 1 }), Some("immutable_tags")),
        (json!({ "visibility": "public" }), Some("visibility")),
        (json!({}), None),
    ] {
        let reply = s.owner.patch(path, &body).await;
        s.openapi.check("patch", doc, &reply);
        reply.problem(400, field);
    }
    assert_eq!(rules(&s.owner.get("/repositories").await.body), (true, true));
    s.owner
        .patch("/repositories/vendor/nope", &json!({ "public": false }))
        .await
        .problem(404, None);

    // Developers and up delete; viewers and read-only tokens do not, whatever the body.
    let viewer = s.member("viewer");
    let read_only =
        s.owner.with_token(&token_for(&s.database_url, "vendor", "admin@wharf.local", true));
    let developer = s.member("developer");
    for (who, api) in [("viewer", &viewer), ("read-only", &read_only), ("developer", &developer)] {
        let patch = api.patch(path, &json!({ "public": false })).await;
        s.openapi.check("patch", doc, &patch);
        patch.problem(403, None);
        assert_eq!(api.patch(path, &json!({ "nonsense": 1 })).await.status, 403, "{who}");
        if who == "developer" {
            continue;
        }
        let tag = api.delete(&format!("{path}/tags/1.0.0")).await;
        s.openapi.check("delete", "/api/v1/repositories/{name}/tags/{tag}", &tag);
        tag.problem(403, None);
        let manifest = api.delete(&format!("{path}/manifests/{v2}")).await;
        s.openapi.check("delete", "/api/v1/repositories/{name}/manifests/{reference}", &manifest);
        manifest.problem(403, None);
    }
    assert_eq!(rules(&s.owner.get("/repositories").await.body), (true, true));
    assert_eq!(s.owner.get("/repositories").await.body["items"][0]["tag_count"], 3);

    // A developer deletes a tag: its manifest stays, by digest.
    let v1 = s.owner.get(&format!("{path}/manifests/1.0.0")).await.expect(200)["digest"].clone();
    let deleted = developer.delete(&format!("{path}/tags/1.0.0")).await;
    s.openapi.check("delete", "/api/v1/repositories/{name}/tags/{tag}", &deleted);
    deleted.expect(204);
    let tags = s.owner.get(&format!("{path}/tags")).await.expect(200).clone();
    let names: Vec<&str> =
        tags["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["1.1.0", "2.0.0"]);
    let kept = s.owner.get(&format!("{path}/manifests/{}", v1.as_str().unwrap())).await;
    assert_eq!(kept.expect(200)["tags"], json!([]));
    developer.delete(&format!("{path}/tags/1.0.0")).await.problem(404, None);

    // A manifest by digest, with its tags; a tag is not a digest.
    developer.delete(&format!("{path}/manifests/1.1.0")).await.problem(400, Some("digest"));
    let gone = developer.delete(&format!("{path}/manifests/{v11}")).await;
    s.openapi.check("delete", "/api/v1/repositories/{name}/manifests/{reference}", &gone);
    gone.expect(204);
    s.owner.get(&format!("{path}/manifests/{v11}")).await.problem(404, None);
    s.owner.get(&format!("{path}/manifests/1.1.0")).await.problem(404, None);
    developer.delete(&format!("{path}/manifests/{v11}")).await.problem(404, None);
    assert_eq!(s.owner.get("/repositories").await.body["items"][0]["tag_count"], 1);

    // Audited once each, as the token that acted.
    let developer_token =
        developer.get("/vendor-tokens").await.expect(200)["items"][0]["id"].clone();
    let tag_deleted = audited(&s, "tag.delete", 1).await;
    assert_eq!(tag_deleted.len(), 1, "{tag_deleted:?}");
    assert_eq!(tag_deleted[0]["target"], "vendor/charts/app:1.0.0");
    assert_eq!(
        (&tag_deleted[0]["actor_kind"], &tag_deleted[0]["actor_id"]),
        (&json!("token"), &developer_token)
    );
    assert_eq!(audited(&s, "manifest.delete", 1).await.len(), 1);
    assert_eq!(audited(&s, "repository.tag_immutability", 1).await.len(), 1);
    assert_eq!(audited(&s, "repository.visibility", 1).await.len(), 1);
}

#[tokio::test]
async fn an_artifacts_details_platforms_layers_and_referrers() {
    let s = setup().await;
    let doc = "/api/v1/repositories/{name}/manifests/{reference}";
    let image = push_image(&s.wharf, s.owner.token(), "vendor/charts/app", "1.0.0").await;
    let config = br#"{"architecture":"amd64","os":"linux","tag":"1.0.0"}"#;
    let layer = "layer of vendor/charts/app:1.0.0".repeat(100);

    let by_tag = s.owner.get("/repositories/vendor/charts/app/manifests/1.0.0").await;
    let body = s.ok("get", doc, &by_tag, 200);
    assert_eq!(body["digest"], image.as_str());
    assert_eq!(body["repository"], "vendor/charts/app");
    assert_eq!(body["kind"], "image");
    assert_eq!(body["media_type"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(body["tags"], json!(["1.0.0"]));
    assert_eq!(body["config"]["size"], config.len());
    assert_eq!(body["config"]["media_type"], "application/vnd.oci.image.config.v1+json");
    assert_eq!(body["layers"][0]["size"], layer.len());
    assert_eq!(body["layers"][0]["external"], false);
    assert_eq!((body["children"].clone(), body["referrers"].clone()), (json!([]), json!([])));
    let by_digest =
        s.owner.get(&format!("/repositories/vendor/charts/app/manifests/{image}")).await;
    assert_eq!(s.ok("get", doc, &by_digest, 200), body);

    // A signature-like artifact whose subject is the image, and an index of the image.
    let empty = b"{}";
    let sbom = b"{\"spdxVersion\":\"SPDX-2.3\"}";
    let referrer = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": wharf_e2e::api::digest_of(empty),
            "size": 2
        },
        "layers": [{
            "mediaType": "application/spdx+json",
            "digest": wharf_e2e::api::digest_of(sbom),
            "size": sbom.len()
        }],
        "subject": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": image,
            "size": body["size"]
        },
        "annotations": { "org.opencontainers.image.created": "2026-01-01T00:00:00Z" }
    });
    let media = "application/vnd.oci.image.manifest.v1+json";
    let sbom_digest =
        push_manifest(&s, "vendor/charts/app", "sbom", media, &referrer, &[empty, sbom]).await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": image,
            "size": body["size"],
            "platform": { "os": "linux", "architecture": "amd64" }
        }],
        "annotations": { "org.opencontainers.image.title": "<b>app</b>" }
    });
    push_manifest(
        &s,
        "vendor/charts/app",
        "multi",
        "application/vnd.oci.image.index.v1+json",
        &index,
        &[],
    )
    .await;

    let with_referrer =
        s.owner.get(&format!("/repositories/vendor/charts/app/manifests/{image}")).await;
    let with_referrer = s.ok("get", doc, &with_referrer, 200);
    assert_eq!(with_referrer["referrers"].as_array().unwrap().len(), 1);
    let one = &with_referrer["referrers"][0];
    assert_eq!(one["digest"], sbom_digest.as_str());
    assert_eq!(one["artifact_type"], "application/spdx+json");
    assert_eq!(one["annotations"]["org.opencontainers.image.created"], "2026-01-01T00:00:00Z");
    let sbom_view = s.owner.get("/repositories/vendor/charts/app/manifests/sbom").await;
    let sbom_view = s.ok("get", doc, &sbom_view, 200);
    assert_eq!(
        (sbom_view["kind"].as_str(), sbom_view["subject"].as_str()),
        (Some("artifact"), Some(image.as_str()))
    );

    let multi = s.owner.get("/repositories/vendor/charts/app/manifests/multi").await;
    let multi = s.ok("get", doc, &multi, 200);
    assert_eq!(multi["kind"], "index");
    assert_eq!(multi["config"], Value::Null);
    assert_eq!(multi["annotations"]["org.opencontainers.image.title"], "<b>app</b>");
    let child = &multi["children"][0];
    assert_eq!(
        (child["digest"].as_str(), child["platform"].as_str()),
        (Some(image.as_str()), Some("linux/amd64"))
    );
    assert_eq!(child["layers"][0]["size"], layer.len());
    assert_eq!(child["config"]["size"], config.len());

    // Unknown tags, digests and repositories, and another organization's: 404 alike.
    let globex = s.globex();
    let mut bodies = Vec::new();
    for (api, path) in [
        (&s.owner, "/repositories/vendor/charts/app/manifests/9.9.9".to_owned()),
        (&s.owner, format!("/repositories/vendor/charts/app/manifests/sha256:{}", "0".repeat(64))),
        (&globex, "/repositories/vendor/charts/app/manifests/1.0.0".to_owned()),
        (&globex, format!("/repositories/vendor/charts/app/manifests/{image}")),
        (&s.owner, "/repositories/vendor/nope/manifests/1.0.0".to_owned()),
    ] {
        let reply = api.get(&path).await;
        s.openapi.check("get", doc, &reply);
        reply.problem(404, None);
        bodies.push(reply.body["detail"].clone());
    }
    assert_eq!(bodies[2], bodies[4], "another organization's repository is unknown");
    // So are its writes.
    let never = json!({ "public": true });
    let theirs = globex.patch("/repositories/vendor/charts/app", &never).await;
    let missing = globex.patch("/repositories/globex/never", &never).await;
    assert_eq!(theirs.problem(404, None), missing.problem(404, None));
    globex.delete("/repositories/vendor/charts/app/tags/1.0.0").await.problem(404, None);
    globex
        .delete(&format!("/repositories/vendor/charts/app/manifests/{image}"))
        .await
        .problem(404, None);
    let still = s.owner.get("/repositories").await;
    assert_eq!(still.expect(200)["items"][0]["public"], false);
    assert_eq!(still.body["items"][0]["tag_count"], 3);
    // Viewers read details too.
    assert_eq!(
        s.member("viewer").get("/repositories/vendor/charts/app/manifests/multi").await.status,
        200
    );
}

/// The user id of member `email`, as the owner reads it.
async fn member_id(s: &Setup, email: &str) -> String {
    let members = s.owner.get("/members").await;
    let members = s.ok("get", "/api/v1/members", &members, 200).clone();
    members["items"].as_array().unwrap().iter().find(|m| m["email"] == email).unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn team_roles_removal_and_the_last_owner() {
    let s = setup().await;
    let doc = "/api/v1/members/{user_id}";
    let admin_member = s.member("admin");
    let developer = s.member("developer");
    let viewer = s.member("viewer");
    let read_only =
        s.owner.with_token(&token_for(&s.database_url, "vendor", "admin@wharf.local", true));
    let listed = viewer.get("/members").await;
    let listed = s.ok("get", "/api/v1/members", &listed, 200);
    let roles: Vec<(&str, &str)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("admin@vendor.test", "admin"),
            ("admin@wharf.local", "owner"),
            ("developer@vendor.test", "developer"),
            ("viewer@vendor.test", "viewer"),
        ]
    );
    let owner_id = member_id(&s, "admin@wharf.local").await;
    let developer_id = member_id(&s, "developer@vendor.test").await;
    let viewer_id = member_id(&s, "viewer@vendor.test").await;

    // Developers, viewers and read-only tokens change nothing, whatever the body.
    for api in [&developer, &viewer, &read_only] {
        let reply = api.patch(&format!("/members/{viewer_id}"), &json!({ "role": "admin" })).await;
        s.openapi.check("patch", doc, &reply);
        reply.problem(403, None);
        api.patch(&format!("/members/{viewer_id}"), &json!({ "x": 1 })).await.problem(403, None);
        let reply = api.delete(&format!("/members/{viewer_id}")).await;
        s.openapi.check("delete", doc, &reply);
        reply.problem(403, None);
    }
    // An admin can neither make an owner nor touch one.
    let path = format!("/members/{developer_id}");
    admin_member.patch(&path, &json!({ "role": "owner" })).await.problem(403, None);
    admin_member
        .patch(&format!("/members/{owner_id}"), &json!({ "role": "viewer" }))
        .await
        .problem(403, None);
    admin_member.delete(&format!("/members/{owner_id}")).await.problem(403, None);
    // Bad bodies: 400 on the field.
    for (body, field) in [
        (json!({ "role": "boss" }), "role"),
        (json!({ "role": null }), "role"),
        (json!({}), "role"),
        (json!({ "role": "viewer", "email": "x" }), "email"),
    ] {
        let reply = s.owner.patch(&path, &body).await;
        s.openapi.check("patch", doc, &reply);
        reply.problem(400, Some(field));
    }
    // The last owner stays.
    let last = s.owner.patch(&format!("/members/{owner_id}"), &json!({ "role": "admin" })).await;
    s.openapi.check("patch", doc, &last);
    last.problem(409, None);
    s.owner.delete(&format!("/members/{owner_id}")).await.problem(409, None);
    // Unknown ids and another organization's members: 404 alike.
    let globex = s.globex();
    let globex_owner = globex.get("/members").await.expect(200)["items"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [globex_owner.as_str(), "01a20c40-0000-7000-8000-000000000000", "not-a-uuid"] {
        let reply = s.owner.patch(&format!("/members/{id}"), &json!({ "role": "viewer" })).await;
        s.openapi.check("patch", doc, &reply);
        reply.problem(404, None);
        s.owner.delete(&format!("/members/{id}")).await.problem(404, None);
    }
    globex.delete(&format!("/members/{developer_id}")).await.problem(404, None);
    let unchanged = s.owner.get("/members").await.expect(200).clone();
    assert_eq!(unchanged, listed);

    // An admin changes a developer's role: the token follows at once.
    let changed = admin_member.patch(&path, &json!({ "role": "viewer" })).await;
    let changed = s.ok("patch", doc, &changed, 200);
    assert_eq!(
        (changed["email"].as_str(), changed["role"].as_str()),
        (Some("developer@vendor.test"), Some("viewer"))
    );
    push_image(&s.wharf, s.owner.token(), "vendor/app", "1.0.0").await;
    developer.delete("/repositories/vendor/app/tags/1.0.0").await.problem(403, None);
    // The owner removes the viewer: its token stops at once.
    let removed = s.owner.delete(&format!("/members/{viewer_id}")).await;
    s.openapi.check("delete", doc, &removed);
    removed.expect(204);
    viewer.get("/members").await.problem(401, None);
    s.owner.delete(&format!("/members/{viewer_id}")).await.problem(404, None);

    // Audited as the member who acted.
    let admin_id = member_id(&s, "admin@vendor.test").await;
    let changes = audited(&s, "member.role_change", 1).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0]["actor_kind"].as_str(), changes[0]["actor_id"].as_str()),
        (Some("user"), Some(admin_id.as_str()))
    );
    assert_eq!(changes[0]["detail"], json!({ "before": "developer", "after": "viewer" }));
    let removals = audited(&s, "member.remove", 1).await;
    assert_eq!(removals.len(), 1);
    assert_eq!(removals[0]["actor_id"].as_str(), Some(owner_id.as_str()));
}

#[tokio::test]
async fn invitations_members_and_customer_users_with_a_link_when_there_is_no_mail() {
    let s = setup().await;
    let list_doc = "/api/v1/invitations";
    let customer = s.customer("Initech").await;
    let admin_member = s.member("admin");
    let developer = s.member("developer");
    let read_only =
        s.owner.with_token(&token_for(&s.database_url, "vendor", "admin@wharf.local", true));

    let invited = admin_member
        .post("/invitations", &json!({ "email": "New@Example.test", "role": "developer" }))
        .await;
    let body = s.ok("post", list_doc, &invited, 201).clone();
    assert_eq!(invited.headers["cache-control"], "no-store");
    assert_eq!(
        (body["email"].as_str(), body["role"].as_str(), body["status"].as_str()),
        (Some("new@example.test"), Some("developer"), Some("open"))
    );
    assert_eq!(
        (body["delivery"].as_str(), body["invited_by"].as_str()),
        (Some("link"), Some("admin@vendor.test"))
    );
    let link = body["link"].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/invitation/wharf_inv_", s.wharf.url)), "{link}");
    // The link works (the page that accepts it), and is never shown again.
    let page = reqwest::get(link).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("new@example.test"));
    let listed = s.owner.get("/invitations").await;
    let listed = s.ok("get", list_doc, &listed, 200).clone();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["mail"], Value::Null);
    assert!(!listed.to_string().contains("wharf_inv_"));
    let id = body["id"].as_str().unwrap().to_owned();

    // Refusals change nothing: roles, read-only tokens, bad input, members already in.
    for api in [&developer, &read_only] {
        let reply =
            api.post("/invitations", &json!({ "email": "x@example.test", "role": "viewer" })).await;
        s.openapi.check("post", list_doc, &reply);
        reply.problem(403, None);
        api.delete(&format!("/invitations/{id}")).await.problem(403, None);
        api.post(
            &format!("/customers/{customer}/invitations"),
            &json!({ "email": "x@example.test", "role": "member" }),
        )
        .await
        .problem(403, None);
    }
    let reply = developer.get("/invitations").await;
    s.openapi.check("get", list_doc, &reply);
    reply.problem(403, None);
    assert_eq!(read_only.get("/invitations").await.status, 200, "an owner's read-only token reads");
    admin_member
        .post("/invitations", &json!({ "email": "boss@example.test", "role": "owner" }))
        .await
        .problem(403, None);
    for (body, status, field) in [
        (json!({ "email": "not an address", "role": "viewer" }), 400, "email"),
        (json!({ "email": "x@example.test", "role": "boss" }), 400, "role"),
        (json!({ "email": "x@example.test" }), 400, "role"),
        (json!({ "email": "x@example.test", "role": "viewer", "name": "X" }), 400, "name"),
        (json!({ "email": "developer@vendor.test", "role": "viewer" }), 409, "email"),
    ] {
        let reply = s.owner.post("/invitations", &body).await;
        s.openapi.check("post", list_doc, &reply);
        reply.problem(status, Some(field));
    }
    assert_eq!(s.owner.get("/invitations").await.body["items"].as_array().unwrap().len(), 1);

    // Another organization's invitations are unknown.
    let globex = s.globex();
    assert_eq!(globex.get("/invitations").await.expect(200)["items"], json!([]));
    let theirs = globex.delete(&format!("/invitations/{id}")).await;
    let missing = globex.delete("/invitations/01a20c40-0000-7000-8000-000000000000").await;
    s.openapi.check("delete", "/api/v1/invitations/{id}", &theirs);
    assert_eq!(theirs.problem(404, None), missing.problem(404, None));

    // Revoking: once.
    let revoked = admin_member.delete(&format!("/invitations/{id}")).await;
    s.openapi.check("delete", "/api/v1/invitations/{id}", &revoked);
    revoked.expect(204);
    assert_eq!(s.owner.get("/invitations").await.body["items"][0]["status"], "revoked");
    admin_member.delete(&format!("/invitations/{id}")).await.problem(404, None);
    let page = reqwest::get(link).await.unwrap().text().await.unwrap();
    assert!(!page.contains("new@example.test"), "a revoked link no longer works");

    // A customer's users.
    let doc = "/api/v1/customers/{id}/invitations";
    let path = format!("/customers/{customer}/invitations");
    let invited =
        s.owner.post(&path, &json!({ "email": "ops@initech.test", "role": "admin" })).await;
    let body = s.ok("post", doc, &invited, 201).clone();
    assert_eq!(
        (body["customer_id"].as_str(), body["role"].as_str(), body["delivery"].as_str()),
        (Some(customer.as_str()), Some("admin"), Some("link"))
    );
    assert!(body["link"].as_str().unwrap().contains("/invitation/wharf_inv_"));
    let customer_invitation = body["id"].as_str().unwrap().to_owned();
    let listed = developer.get(&path).await;
    let listed = s.ok("get", doc, &listed, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    for (body, field) in [
        (json!({ "email": "ops@initech.test", "role": "owner" }), "role"),
        (json!({ "email": "", "role": "member" }), "email"),
    ] {
        let reply = s.owner.post(&path, &body).await;
        s.openapi.check("post", doc, &reply);
        reply.problem(400, Some(field));
    }
    // Another organization: the customer is unknown.
    let revoke_doc = "/api/v1/customers/{id}/invitations/{invitation}";
    let one = format!("{path}/{customer_invitation}");
    for reply in [
        globex.get(&path).await,
        globex.post(&path, &json!({ "email": "x@example.test", "role": "member" })).await,
        globex.delete(&one).await,
        s.owner.get("/customers/01a20c40-0000-7000-8000-000000000000/invitations").await,
        s.owner.delete(&format!("/customers/{customer}/invitations/{id}")).await,
    ] {
        reply.problem(404, None);
    }
    let revoked = admin_member.delete(&one).await;
    s.openapi.check("delete", revoke_doc, &revoked);
    revoked.expect(204);
    assert_eq!(s.owner.get(&path).await.body["items"][0]["status"], "revoked");

    // Audited as the members who acted.
    let admin_id = member_id(&s, "admin@vendor.test").await;
    let created = audited(&s, "invitation.create", 2).await;
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(created[1]["actor_id"].as_str(), Some(admin_id.as_str()));
    assert_eq!(audited(&s, "invitation.revoke", 2).await.len(), 2);
}

#[tokio::test]
async fn invitations_are_mailed_when_smtp_is_configured() {
    let smtp = wharf_e2e::smtp::SmtpServer::start();
    let url = smtp.url();
    let s = setup_with(&[("WHARF_SMTP_URL", url.as_str())]).await;
    let invited = s
        .owner
        .post("/invitations", &json!({ "email": "new@example.test", "role": "viewer" }))
        .await;
    let body = s.ok("post", "/api/v1/invitations", &invited, 201).clone();
    assert_eq!(
        (body["delivery"].as_str(), body["link"].as_str(), body["mail"].as_str()),
        (Some("mailed"), None, Some("queued"))
    );
    let mail = smtp.wait_for_message("new@example.test").await;
    let text = mail.text();
    assert!(text.contains(&format!("{}/invitation/wharf_inv_", s.wharf.url)), "{text}");
    assert!(text.contains("as viewer"), "{text}");
    // The list tells what became of it.
    let mut status = Value::Null;
    for _ in 0..50 {
        status = s.owner.get("/invitations").await.expect(200)["items"][0]["mail"].clone();
        if status == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "sent");
}

#[tokio::test]
async fn members_issue_list_and_revoke_their_own_vendor_tokens() {
    let s = setup().await;
    let doc = "/api/v1/vendor-tokens";
    let developer = s.member("developer");
    let viewer = s.member("viewer");

    let mine = developer.get(doc.trim_start_matches("/api/v1")).await;
    let mine = s.ok("get", doc, &mine, 200).clone();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "only the caller's own: {mine}");
    let first = mine["items"][0]["id"].as_str().unwrap().to_owned();

    let issued = developer
        .post("/vendor-tokens", &json!({ "name": "ci", "expires_at": at(Duration::days(30)) }))
        .await;
    let body = s.ok("post", doc, &issued, 201).clone();
    assert_eq!(issued.headers["cache-control"], "no-store");
    assert_eq!(
        (body["role"].as_str(), body["read_only"].as_bool()),
        (Some("developer"), Some(false))
    );
    let ci = developer.with_token(body["token"].as_str().unwrap());
    assert!(body["token"].as_str().unwrap().starts_with(&body["prefix"].as_str().unwrap()[..9]));
    // It acts as the developer: pushes, deletes tags.
    push_image(&s.wharf, ci.token(), "vendor/app", "1.0.0").await;
    ci.delete("/repositories/vendor/app/tags/1.0.0").await.expect(204);
    let listed = developer.get("/vendor-tokens").await;
    let listed = s.ok("get", doc, &listed, 200).clone();
    let names: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ci", "e2e"]);
    assert!(!listed.to_string().contains(body["token"].as_str().unwrap()));

    // A read-only token reads, and changes nothing (no new tokens either).
    let ro =
        developer.post("/vendor-tokens", &json!({ "name": "dashboards", "read_only": true })).await;
    let ro_body = s.ok("post", doc, &ro, 201).clone();
    assert_eq!(ro_body["read_only"], true);
    let ro = developer.with_token(ro_body["token"].as_str().unwrap());
    assert_eq!(ro.get("/vendor-tokens").await.status, 200);
    for reply in [
        ro.post("/vendor-tokens", &json!({ "name": "escalate" })).await,
        ro.post("/vendor-tokens", &json!({ "nonsense": true })).await,
        ro.delete(&format!("/vendor-tokens/{first}")).await,
    ] {
        reply.problem(403, None);
    }
    // A viewer makes tokens for themselves, with the viewer's role.
    let theirs = viewer.post("/vendor-tokens", &json!({ "name": "mine" })).await;
    assert_eq!(s.ok("post", doc, &theirs, 201)["role"], "viewer");
    let theirs = theirs.body["id"].as_str().unwrap().to_owned();

    // Bad input: 400 naming the field, nothing issued.
    for (body, field) in [
        (json!({ "name": "" }), "name"),
        (json!({ "name": "x".repeat(101) }), "name"),
        (json!({ "name": "old", "expires_at": at(-Duration::days(1)) }), "expires_at"),
        (json!({ "name": "x", "expires_at": "tomorrow" }), "expires_at"),
        (json!({ "name": "x", "member": "admin@wharf.local" }), "member"),
        (json!({ "read_only": true }), "name"),
    ] {
        let reply = developer.post("/vendor-tokens", &body).await;
        s.openapi.check("post", doc, &reply);
        reply.problem(400, Some(field));
    }
    assert_eq!(developer.get("/vendor-tokens").await.body["items"].as_array().unwrap().len(), 3);

    // Another member's token, or another organization's, is unknown; it keeps working.
    let one = "/api/v1/vendor-tokens/{id}";
    let globex = s.globex();
    for (api, id) in [
        (&s.owner, first.as_str()),
        (&developer, theirs.as_str()),
        (&globex, first.as_str()),
        (&developer, "01a20c40-0000-7000-8000-000000000000"),
    ] {
        let reply = api.delete(&format!("/vendor-tokens/{id}")).await;
        s.openapi.check("delete", one, &reply);
        reply.problem(404, None);
    }
    assert_eq!(developer.get("/vendor-tokens").await.status, 200);
    assert_eq!(viewer.get("/vendor-tokens").await.status, 200);

    // Revoking one's own: at once.
    let revoked =
        developer.delete(&format!("/vendor-tokens/{}", body["id"].as_str().unwrap())).await;
    s.openapi.check("delete", one, &revoked);
    revoked.expect(204);
    ci.get("/vendor-tokens").await.problem(401, None);
    let listed = developer.get("/vendor-tokens").await.expect(200).clone();
    let revoked: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["revoked_at"].is_string())
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(revoked, ["ci"]);

    // Audited as the token that acted: the operator made three tokens (the owner's, the
    // developer's, the viewer's), the API three (`ci`, `dashboards`, the viewer's `mine`).
    let issued = audited(&s, "token.create", 6).await;
    assert_eq!(issued.len(), 6, "{issued:?}");
    let by_first = issued.iter().filter(|e| e["actor_id"].as_str() == Some(first.as_str()));
    let names: Vec<&str> = by_first.map(|e| e["target_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dashboards", "ci"]);
    assert_eq!(audited(&s, "token.revoke", 1).await.len(), 1);
}
