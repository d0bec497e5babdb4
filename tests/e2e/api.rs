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
    assert_eq!(paths.len(), 17, "{:?}", paths.keys().collect::<Vec<_>>());
    // Read-only, so that probing writes nothing; writes then answer 403, reads 200/404.
    let probe =
        s.owner.with_token(&token_for(&s.database_url, "vendor", "admin@wharf.local", true));
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let concrete = path
                .trim_start_matches("/api/v1")
                .replace("{id}", "01a20c40-0000-7000-8000-000000000000")
                .replace("{name}", "vendor/app");
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
