//! Demo data for the vendor portal's report pages (dashboard, analytics, audit log), written
//! straight into the database: repositories with tags, customers (one never pulls, one has
//! markup in its name), licenses (one ending soon), pull events over the last 30 days as the
//! usage recorder writes them, tokens used lately and audit entries. For the browser tests
//! and the screenshots.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use wharf_db::{
    PgPool,
    audit::{self, NewAuditEntry},
    tokens::TokenOwner,
};
use wharf_entitlements::{Grant, TagSelector};

/// What [`seed`] made.
#[derive(Debug, Clone)]
pub struct Reports {
    /// The customers who pulled, busiest first.
    pub customers: Vec<Uuid>,
    /// The customer who never pulled.
    pub idle: Uuid,
}

/// Seeds the report pages' demo data into organization `org` (slug `slug`).
pub async fn seed(pool: &PgPool, org: Uuid, slug: &str) -> Reports {
    let now = OffsetDateTime::now_utc();
    let repositories = ["app", "app-worker", "charts/app", "tools/cli"];
    for (r, name) in repositories.iter().enumerate() {
        let repo = Uuid::now_v7();
        sqlx::query("insert into repositories (id, organization_id, name) values ($1, $2, $3)")
            .bind(repo)
            .bind(org)
            .bind(format!("{slug}/{name}"))
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "with pushed as (
                 insert into manifests (repository_id, digest, media_type, size, bytes, pushed_at)
                 select $1, 'sha256:' || md5($1::text || t),
                        'application/vnd.oci.image.manifest.v1+json', 2, '{}',
                        $2 - (t * 37 + $3) * interval '1 hour'
                 from generate_series(0, 4) t
                 returning digest, pushed_at
             )
             insert into tags (repository_id, name, digest, pushed_at)
             select $1, '2.' || (4 - row_number() over (order by pushed_at desc) + 1) || '.0',
                    digest, pushed_at
             from pushed",
        )
        .bind(repo)
        .bind(now)
        .bind(r as i32 * 5)
        .execute(pool)
        .await
        .unwrap();
    }
    let names = ["Globex <b>Corp</b>", "Initrode", "Umbrella Health", "Soylent Foods", "Hooli"];
    let mut customers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let customer = wharf_db::testing::customer(pool, org, name).await.id;
        let grants =
            [Grant::new(slug, &format!("{slug}/*"), TagSelector::all(), None, None).unwrap()];
        let license = wharf_db::testing::license(pool, org, customer, "Enterprise", &grants).await;
        if i == 1 {
            sqlx::query(
                "update licenses set expires_at = now() + interval '12 days' where id = $1",
            )
            .bind(license.id)
            .execute(pool)
            .await
            .unwrap();
        }
        let (token, _) =
            crate::insert_token(pool, org, TokenOwner::Customer { customer_id: customer }).await;
        sqlx::query("update access_tokens set name = 'ci', last_used_at = now() - $2 * interval '47 minutes' where id = $1")
            .bind(token)
            .bind(i as i32 + 1)
            .execute(pool)
            .await
            .unwrap();
        customers.push(customer);
    }
    let idle = wharf_db::testing::customer(pool, org, "Vandelay Industries").await.id;
    // Pull events: busier customers first, more on weekdays, more lately.
    sqlx::query(
        "insert into pull_events (id, at, organization_id, customer_id, customer_name, token_id,
                                  token_name, repository, reference, digest, tags, media_type,
                                  client_addr, user_agent, client_kind)
         select gen_random_uuid(),
                now() - (d * interval '1 day') - (n * interval '7 minutes'),
                $1, c.id, c.name, c.id, 'ci', $2 || '/' || (array['app', 'app-worker', 'charts/app', 'tools/cli'])[1 + n % 4],
                '2.' || (n % 3) || '.0', 'sha256:' || md5(n::text), array['2.' || (n % 3) || '.0'],
                'application/vnd.oci.image.manifest.v1+json', ('198.51.100.' || (1 + n % 50))::inet,
                'docker/27.3.1', (array['docker', 'docker', 'containerd', 'helm', 'podman'])[1 + n % 5]
         from generate_series(0, 29) d,
              lateral generate_series(1, 6 + (30 - d) / 3 + case when extract(isodow from now() - d * interval '1 day') < 6 then 8 else 0 end) n,
              lateral (select id, name from customers where id = any($3) order by id offset (n * n + d) % $4 limit 1) c",
    )
    .bind(org)
    .bind(slug)
    .bind(&customers)
    .bind(customers.len() as i64)
    .execute(pool)
    .await
    .unwrap();
    let actions = [
        ("customer.create", "success", "Initrode"),
        ("license.replace", "success", "Enterprise"),
        ("token.issue", "success", "ci"),
        ("manifest.push", "success", "app:2.4.0"),
        ("pull.denied", "denied", "tools/cli:2.0.0"),
        ("token.revoke", "success", "old laptop"),
        ("license.suspend", "failure", "Trial"),
    ];
    // Oldest first, as they would have been written.
    let entries: Vec<NewAuditEntry> = (0..40)
        .rev()
        .map(|i| {
            let (action, outcome, target) = actions[i % actions.len()];
            NewAuditEntry {
                at: now - Duration::minutes(i as i64 * 83),
                actor_name: Some(if i % 3 == 0 {
                    "ci token (wharf_vnd_7Hq…)".into()
                } else {
                    "ada@acme.test".into()
                }),
                outcome,
                client_addr: Some(format!("203.0.113.{}", 10 + i % 7)),
                ..NewAuditEntry::success(
                    Some(org),
                    if i % 3 == 0 { "token" } else { "user" },
                    None,
                    action,
                    format!("{}:{}", action.split('.').next().unwrap_or("x"), Uuid::new_v4()),
                    Some(target.to_owned()),
                    serde_json::json!({ "by": "demo" }),
                )
            }
        })
        .collect();
    audit::append(pool, &entries).await.unwrap();
    // Bytes served, per customer token, repository and day.
    sqlx::query(
        "insert into blob_bytes_daily (day, organization_id, token_id, customer_id, customer_name,
                                       repository, digest, bytes, requests)
         select (now() - d * interval '1 day')::date, $1, c, c, 'demo', $2 || '/app',
                'sha256:' || md5(c::text), (40 + d * 7) * 1048576 + (d * 7919), 3 + d % 4
         from unnest($3::uuid[]) c, generate_series(0, 29) d",
    )
    .bind(org)
    .bind(slug)
    .bind(&customers)
    .execute(pool)
    .await
    .unwrap();
    Reports { customers, idle }
}
