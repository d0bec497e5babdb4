//! The audit log against the real binary: API writes with grants before and after, token
//! issue, revoke and use after revocation, pushes with tag moves, deletes, denied pulls
//! (rate-limited per token), request ids and client addresses; and the table refuses
//! changes except the retention job's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Row;
use wharf_e2e::{
    api::{Api, push_image},
    raw::RawRegistry,
    scratch_dir, wharf_with_vendor_token,
};

#[derive(Debug, Clone)]
struct Entry {
    actor_kind: String,
    actor_name: Option<String>,
    action: String,
    target: String,
    target_name: Option<String>,
    outcome: String,
    detail: Value,
    client_addr: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
}

async fn entries(pool: &sqlx::PgPool) -> Vec<Entry> {
    sqlx::query(
        "select actor_kind, actor_name, action, target, target_name, outcome, detail,
                host(client_addr) as client_addr, user_agent, request_id
         from audit_log order by id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| Entry {
        actor_kind: r.get("actor_kind"),
        actor_name: r.get("actor_name"),
        action: r.get("action"),
        target: r.get("target"),
        target_name: r.get("target_name"),
        outcome: r.get("outcome"),
        detail: r.get("detail"),
        client_addr: r.get("client_addr"),
        user_agent: r.get("user_agent"),
        request_id: r.get("request_id"),
    })
    .collect()
}

async fn wait_for(pool: &sqlx::PgPool, done: impl Fn(&[Entry]) -> bool) -> Vec<Entry> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = entries(pool).await;
        if done(&found) {
            return found;
        }
        assert!(Instant::now() < deadline, "audit log never matched: {found:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn license(range: &str) -> Value {
    json!({
        "name": "Gold",
        "starts_at": "2026-01-01T00:00:00Z",
        "on_expiry": "revoke",
        "grants": [{"repository": "vendor/app", "tags": {"kind": "semver", "range": range}}],
    })
}

#[tokio::test]
async fn security_relevant_actions_are_audited_and_entries_never_change() {
    let dir = scratch_dir();
    let (wharf, vendor_token) = wharf_with_vendor_token(dir.path(), Default::default()).await;
    let pool =
        sqlx::PgPool::connect(wharf.options().database_url.as_deref().unwrap()).await.unwrap();
    let api = Api::new(&wharf, Some(&vendor_token));

    // Vendor writes through the API.
    let customer = api.post("/customers", &json!({"name": "Initech"})).await;
    let customer_id = customer.expect(201)["id"].as_str().unwrap().to_owned();
    let created =
        api.post(&format!("/customers/{customer_id}/licenses"), &license(">=1.0.0 <2.0.0")).await;
    let license_id = created.expect(201)["id"].as_str().unwrap().to_owned();
    api.put(&format!("/licenses/{license_id}"), &license(">=1.0.0 <3.0.0")).await.expect(200);
    let issued = api
        .post(
            &format!("/customers/{customer_id}/tokens"),
            &json!({"name": "prod", "expires_at": null}),
        )
        .await;
    let token_id = issued.expect(201)["id"].as_str().unwrap().to_owned();
    let customer_token = issued.body["token"].as_str().unwrap().to_owned();

    // Pushes: a tag, then the same tag moved to another image; then its deletion.
    let first = push_image(&wharf, &vendor_token, "vendor/app", "1.0.0").await;
    let hidden = push_image(&wharf, &vendor_token, "vendor/app", "5.0.0").await;
    let vendor = RawRegistry::with_token(&wharf.url, &vendor_token);
    let moved = vendor.push_image("vendor/app", Some("1.0.0"), None).await;
    let _ = hidden;

    // Denied pulls: the customer asks three times for a tag its license does not cover.
    let customer = RawRegistry::with_token(&wharf.url, &customer_token);
    for _ in 0..3 {
        assert_eq!(customer.get("/v2/vendor/app/manifests/5.0.0").await.status, 404);
    }
    let client = reqwest::Client::new();
    // A second token of the customer asks the token service, twice, for a repository no
    // license covers: it gets an empty grant, and one denial is recorded.
    let second = api
        .post(
            &format!("/customers/{customer_id}/tokens"),
            &json!({"name": "second", "expires_at": null}),
        )
        .await;
    let second = second.expect(201)["token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let answer: Value = client
            .get(format!("{}/token?scope=repository:vendor/secret:pull", wharf.url))
            .basic_auth("initech", Some(&second))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["access"], Value::Null, "no access claim in the answer body");
    }
    let delete = client
        .delete(format!("{}/v2/vendor/app/manifests/5.0.0", wharf.url))
        .basic_auth("ci", Some(&vendor_token))
        .header("x-request-id", "req-delete-1")
        .header("user-agent", "e2e-audit")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status().as_u16(), 202);

    // Names are copied when the writer flushes (within a second): let it, before the
    // token and the customer go.
    wait_for(&pool, |e| e.iter().any(|e| e.action == "pull.denied")).await;

    // Revoke the customer's token, then try it twice.
    api.delete(&format!("/tokens/{token_id}")).await.expect(204);
    for _ in 0..2 {
        let refused = client
            .get(format!("{}/token?scope=repository:vendor/app:pull", wharf.url))
            .basic_auth("initech", Some(&customer_token))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 401);
    }
    wait_for(&pool, |e| e.iter().any(|e| e.action == "token.use_after_revoke")).await;
    api.delete(&format!("/customers/{customer_id}")).await.expect(204);

    let found = wait_for(&pool, |e| e.iter().any(|e| e.action == "customer.delete")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let found = {
        let later = entries(&pool).await;
        assert!(later.len() >= found.len());
        later
    };
    let actions: Vec<&str> = found.iter().map(|e| e.action.as_str()).collect();
    let count = |a: &str| actions.iter().filter(|x| **x == a).count();
    assert_eq!(count("customer.create"), 1, "{actions:?}");
    assert_eq!(count("license.create"), 1);
    assert_eq!(count("license.replace"), 1);
    assert_eq!(count("token.create"), 3, "the operator's vendor token and the customer's two");
    let by_operator = found.iter().find(|e| e.actor_kind == "operator").unwrap();
    assert_eq!(by_operator.action, "token.create");
    assert_eq!(by_operator.target_name.as_deref(), Some("e2e"));
    assert_eq!(count("token.revoke"), 1);
    assert_eq!(count("token.use_after_revoke"), 1, "twice in a minute: once");
    assert_eq!(count("pull.denied"), 2, "three times in a minute: once; once for the other");
    assert_eq!(count("manifest.push"), 3);
    assert_eq!(count("tag.delete"), 1);
    assert_eq!(count("customer.delete"), 1);

    let by = |a: &str| found.iter().find(|e| e.action == a).unwrap();
    let replace = by("license.replace");
    assert_eq!(replace.detail["before"]["grants"][0]["tags"]["range"], ">=1.0.0 <2.0.0");
    assert_eq!(replace.detail["after"]["grants"][0]["tags"]["range"], ">=1.0.0 <3.0.0");
    assert_eq!(replace.actor_kind, "token");
    assert_eq!(replace.actor_name.as_deref(), Some("e2e"), "the vendor token's name");
    assert_eq!(replace.client_addr.as_deref(), Some("127.0.0.1"));
    assert!(replace.request_id.as_deref().is_some_and(|r| !r.is_empty()), "set by the server");
    assert_eq!(by("customer.delete").target_name.as_deref(), Some("Initech"));
    let customer_token_entry =
        found.iter().find(|e| e.action == "token.create" && e.actor_kind == "token").unwrap();
    assert_eq!(customer_token_entry.target_name.as_deref(), Some("prod"));
    let revoked = by("token.use_after_revoke");
    assert_eq!(revoked.outcome, "denied");
    assert_eq!(revoked.target, format!("token:{token_id}"));
    assert_eq!(revoked.actor_name.as_deref(), Some("prod"));
    let denied = by("pull.denied");
    assert_eq!(denied.outcome, "denied");
    assert_eq!(denied.target, "vendor/app:5.0.0");
    assert_eq!(denied.actor_name.as_deref(), Some("prod"));
    let unlicensed = found.iter().find(|e| e.target == "vendor/secret").expect("token denial");
    assert_eq!(unlicensed.action, "pull.denied");
    assert_eq!(unlicensed.outcome, "denied");
    assert_eq!(unlicensed.actor_name.as_deref(), Some("second"));
    assert_eq!(unlicensed.client_addr.as_deref(), Some("127.0.0.1"));
    let pushes: Vec<&Entry> = found.iter().filter(|e| e.action == "manifest.push").collect();
    assert_eq!(pushes[0].detail["digest"], first.as_str());
    assert_eq!(pushes[2].target, "vendor/app:1.0.0");
    assert_eq!(pushes[2].detail["digest"], moved.manifest.as_str());
    assert_eq!(pushes[2].detail["moved_from"], first.as_str(), "the tag move");
    let deleted = by("tag.delete");
    assert_eq!(deleted.request_id.as_deref(), Some("req-delete-1"));
    assert_eq!(deleted.user_agent.as_deref(), Some("e2e-audit"));

    // Append-only: no update, no delete, no truncate; only the retention job deletes.
    for statement in
        ["update audit_log set outcome = 'success'", "delete from audit_log", "truncate audit_log"]
    {
        let err = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{statement}: {err}");
    }
    let n = found.len() as u64;
    assert_eq!(
        wharf_db::audit::prune(&pool, time::OffsetDateTime::now_utc() - time::Duration::days(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        wharf_db::audit::prune(&pool, time::OffsetDateTime::now_utc() + time::Duration::days(1))
            .await
            .unwrap(),
        n
    );
}
