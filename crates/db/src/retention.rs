//! Retention: what is deleted once it is old enough, so no table grows without bound.
//!
//! Owns the age rules of the tables that only ever grow: closed tag history, the ids of
//! deleted access tokens, raw pull events, ended portal sessions and password-reset links
//! (with the outbox messages that carried them), and the audit log. Expired upload sessions are the garbage collector's
//! (`wharf_registry::gc`), since their data must be discarded from storage too. Each rule
//! keeps rows at least as long as a running instance can still need them:
//!
//! - tag history: only closed entries (`valid_until` set) are pruned; entitlements read
//!   closed entries for the re-tag grace window (the bearer token lifetime plus leeway, at
//!   most about an hour), and the audit log records every tag move for as long as it keeps
//!   entries;
//! - deleted access tokens: the revocation views read them for the bearer token lifetime
//!   (at most about an hour); kept [`DELETED_TOKEN_RETENTION_DAYS`] days;
//! - pull events: the raw events behind the pull lists and exports; the daily roll-ups
//!   (`pull_daily_rollup` and `pull_daily_totals` for pull counts, `blob_bytes_daily` for
//!   bytes) are kept whatever their age, and the reports read them for the days whose events
//!   are pruned (`pull_events_pruned`), so their counts stay the same;
//! - invitations: only ended ones (accepted, revoked or expired); the portal lists open
//!   invitations, the API the recent history, and the audit log keeps who invited whom for
//!   as long as it keeps entries.
//!
//! Several instances may prune at once: each delete is idempotent.

use time::{Duration, OffsetDateTime};

use crate::{DbError, PgPool};

/// Days the id of a deleted access token is kept for the revocation views (which need it for
/// the bearer token lifetime, at most an hour plus leeway).
pub const DELETED_TOKEN_RETENTION_DAYS: i64 = 7;

/// Days an ended password-reset link (used or expired) is kept.
pub const PASSWORD_RESET_RETENTION_DAYS: i64 = 30;

/// Rows deleted by one statement of a large prune, so one pass never holds a long lock.
const BATCH: i64 = 10_000;

/// How long each kind of row is kept, in days; `0` keeps it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Audit log entries.
    pub audit_days: u32,
    /// Closed tag history entries (at least 1 when not 0).
    pub tag_history_days: u32,
    /// Raw pull events (their counts stay in the daily roll-ups).
    pub pull_event_days: u32,
    /// Ended invitations (accepted, revoked or expired), counted from when they ended.
    pub invitation_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self { audit_days: 365, tag_history_days: 90, pull_event_days: 400, invitation_days: 90 }
    }
}

/// What one prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Expired portal sessions.
    pub sessions: u64,
    /// Password-reset links used or expired more than [`PASSWORD_RESET_RETENTION_DAYS`] ago.
    pub password_resets: u64,
    /// Audit log entries past their retention.
    pub audit_entries: u64,
    /// Closed tag history entries past their retention.
    pub tag_history: u64,
    /// Ids of tokens deleted more than [`DELETED_TOKEN_RETENTION_DAYS`] ago.
    pub deleted_tokens: u64,
    /// Raw pull events past their retention.
    pub pull_events: u64,
    /// Invitations ended before their retention.
    pub invitations: u64,
}

fn days_before(now: OffsetDateTime, days: u32) -> Option<OffsetDateTime> {
    (days > 0).then(|| now - Duration::days(i64::from(days)))
}

/// Applies every retention rule as of `now`.
pub async fn prune(
    pool: &PgPool,
    retention: &Retention,
    now: OffsetDateTime,
) -> Result<Pruned, DbError> {
    let mut pruned = Pruned {
        sessions: crate::sessions::prune_expired(pool).await?,
        password_resets: crate::sessions::prune_resets(
            pool,
            now - Duration::days(PASSWORD_RESET_RETENTION_DAYS),
        )
        .await?,
        deleted_tokens: prune_deleted_tokens(
            pool,
            now - Duration::days(DELETED_TOKEN_RETENTION_DAYS),
        )
        .await?,
        ..Pruned::default()
    };
    if let Some(before) = days_before(now, retention.audit_days) {
        pruned.audit_entries = crate::audit::prune(pool, before).await?;
    }
    if let Some(before) = days_before(now, retention.tag_history_days) {
        pruned.tag_history = prune_tag_history(pool, before).await?;
    }
    if let Some(before) = days_before(now, retention.pull_event_days) {
        pruned.pull_events = prune_pull_events(pool, before).await?;
    }
    if let Some(before) = days_before(now, retention.invitation_days) {
        pruned.invitations = prune_invitations(pool, before).await?;
    }
    Ok(pruned)
}

/// Deletes tag history entries closed before `before`; open entries (where a tag points
/// now) are never deleted.
pub async fn prune_tag_history(pool: &PgPool, before: OffsetDateTime) -> Result<u64, DbError> {
    batched(|| {
        sqlx::query!(
            "delete from tag_history where id in
                 (select id from tag_history
                  where valid_until is not null and valid_until < $1 limit $2)",
            before,
            BATCH,
        )
        .execute(pool)
    })
    .await
}

/// Forgets tokens deleted before `before`.
pub async fn prune_deleted_tokens(pool: &PgPool, before: OffsetDateTime) -> Result<u64, DbError> {
    batched(|| {
        sqlx::query!(
            "delete from deleted_access_tokens where id in
                 (select id from deleted_access_tokens where deleted_at < $1 limit $2)",
            before,
            BATCH,
        )
        .execute(pool)
    })
    .await
}

/// Deletes pull events recorded before `before`, after recording how far events are pruned
/// (`pull_events_pruned`): from then on, reports read the days up to `before`'s UTC day from
/// the daily roll-up (`pull_daily_rollup`), which the trigger on `pull_events` has kept
/// complete, so their counts do not change. The mark only moves forward.
pub async fn prune_pull_events(pool: &PgPool, before: OffsetDateTime) -> Result<u64, DbError> {
    sqlx::query!(
        "insert into pull_events_pruned (pruned_before) values ($1)
         on conflict (only_row) do update
             set pruned_before = greatest(pull_events_pruned.pruned_before,
                                          excluded.pruned_before)",
        before,
    )
    .execute(pool)
    .await?;
    batched(|| {
        sqlx::query!(
            "delete from pull_events where id in
                 (select id from pull_events where at < $1 limit $2)",
            before,
            BATCH,
        )
        .execute(pool)
    })
    .await
}

/// Deletes invitations that ended before `before`: accepted, revoked or expired, whichever
/// came first (an open invitation has not ended, so it is never deleted), with the outbox
/// messages about them. The audit log keeps its own record of each invitation's creation,
/// revocation and acceptance.
pub async fn prune_invitations(pool: &PgPool, before: OffsetDateTime) -> Result<u64, DbError> {
    batched(|| {
        sqlx::query!(
            "with ended as (
                 select id from invitations
                 where least(accepted_at, revoked_at, expires_at) < $1
                 limit $2
             ),
             mail as (
                 delete from mail_outbox
                 where about_kind = 'invitation' and about_id in (select id from ended)
             )
             delete from invitations where id in (select id from ended)",
            before,
            BATCH,
        )
        .execute(pool)
    })
    .await
}

/// Runs one `delete … limit BATCH` statement until it deletes fewer than a batch.
async fn batched<F, Fut>(mut statement: F) -> Result<u64, DbError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<sqlx::postgres::PgQueryResult, sqlx::Error>>,
{
    let mut total = 0;
    loop {
        let done = statement().await?;
        total += done.rows_affected();
        if done.rows_affected() < BATCH.unsigned_abs() {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::testing;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    async fn count(pool: &PgPool, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(pool).await.unwrap()
    }

    async fn repository(pool: &PgPool) -> Uuid {
        let org = testing::org(pool, "acme").await;
        crate::registry::repositories::find_or_create(pool, org.id, "acme", "acme/app")
            .await
            .unwrap()
            .unwrap()
            .id
    }

    async fn history(
        pool: &PgPool,
        repo: Uuid,
        tag: &str,
        from_days: i64,
        until_days: Option<i64>,
    ) {
        let at = |d: i64| now() - Duration::days(d);
        sqlx::query(
            "insert into tag_history (repository_id, tag, digest, valid_from, valid_until)
             values ($1, $2, $3, $4, $5)",
        )
        .bind(repo)
        .bind(tag)
        .bind(format!("sha256:{}", "a".repeat(64)))
        .bind(at(from_days))
        .bind(until_days.map(at))
        .execute(pool)
        .await
        .unwrap();
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn tag_history_keeps_open_and_recent_entries(pool: PgPool) {
        let repo = repository(&pool).await;
        history(&pool, repo, "old", 400, Some(100)).await; // closed long ago: pruned
        history(&pool, repo, "recent", 400, Some(10)).await; // closed within 90 days: kept
        history(&pool, repo, "grace", 1, Some(0)).await; // inside the re-tag grace window: kept
        history(&pool, repo, "open", 1000, None).await; // where a tag points now: kept
        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        assert_eq!(pruned.tag_history, 1);
        let left: Vec<String> = sqlx::query_scalar("select tag from tag_history order by tag")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(left, ["grace", "open", "recent"]);
        // 0 keeps everything.
        history(&pool, repo, "old", 400, Some(300)).await;
        let keep = Retention { tag_history_days: 0, ..Retention::default() };
        assert_eq!(prune(&pool, &keep, now()).await.unwrap().tag_history, 0);
        assert_eq!(count(&pool, "tag_history").await, 4);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn deleted_tokens_are_forgotten_after_a_week_and_not_before(pool: PgPool) {
        for days in [0, 1, 6, 8, 30] {
            sqlx::query("insert into deleted_access_tokens (id, deleted_at) values ($1, $2)")
                .bind(Uuid::new_v4())
                .bind(now() - Duration::days(days))
                .execute(&pool)
                .await
                .unwrap();
        }
        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        assert_eq!(pruned.deleted_tokens, 2);
        assert_eq!(count(&pool, "deleted_access_tokens").await, 3);
        // The revocation view's window (an hour) is still whole.
        let snapshot = crate::invalidation::snapshot(&pool, Duration::hours(2)).await.unwrap();
        assert_eq!(snapshot.tokens.len(), 1);
    }

    async fn pull(pool: &PgPool, org: Uuid, days: i64) {
        sqlx::query(
            "insert into pull_events (id, at, organization_id, token_id, repository, reference,
                                      digest, media_type, client_kind)
             values ($1, $2, $3, $4, 'acme/app', 'v1', $5,
                     'application/vnd.oci.image.manifest.v1+json', 'docker')",
        )
        .bind(Uuid::new_v4())
        .bind(now() - Duration::days(days))
        .bind(org)
        .bind(Uuid::new_v4())
        .bind(format!("sha256:{}", "b".repeat(64)))
        .execute(pool)
        .await
        .unwrap();
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn pull_events_expire_and_daily_bytes_stay(pool: PgPool) {
        let org = testing::org(&pool, "acme").await;
        for days in [0, 10, 399, 401, 1000] {
            pull(&pool, org.id, days).await;
        }
        sqlx::query(
            "insert into blob_bytes_daily (day, organization_id, token_id, repository, digest,
                                           bytes, requests)
             values (current_date - 1000, $1, $2, 'acme/app', 'sha256:x', 10, 1)",
        )
        .bind(org.id)
        .bind(Uuid::new_v4())
        .execute(&pool)
        .await
        .unwrap();
        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        assert_eq!(pruned.pull_events, 2);
        assert_eq!(count(&pool, "pull_events").await, 3);
        assert_eq!(count(&pool, "blob_bytes_daily").await, 1);
        let short = Retention { pull_event_days: 5, ..Retention::default() };
        assert_eq!(prune(&pool, &short, now()).await.unwrap().pull_events, 2);
        let forever = Retention { pull_event_days: 0, ..Retention::default() };
        assert_eq!(
            prune(&pool, &forever, now() + Duration::days(5000)).await.unwrap().pull_events,
            0
        );
        assert_eq!(count(&pool, "pull_events").await, 1);
    }

    /// One pull event `ago` before now (as the usage writer inserts them, so the roll-up
    /// triggers run), of `customer` (none: a vendor token).
    #[allow(clippy::too_many_arguments)]
    async fn pull_of(
        pool: &PgPool,
        org: Uuid,
        customer: Option<Uuid>,
        ago: Duration,
        repository: &str,
        tags: &[&str],
        client: &str,
        requests: i32,
        parent: Option<Uuid>,
    ) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query(
            "insert into pull_events (id, at, organization_id, customer_id, customer_name,
                                      token_id, repository, reference, digest, tags,
                                      media_type, client_kind, requests, parent_id)
             values ($1, $2, $3, $4, case when $4 is not null then 'Initech' end, $5, $6,
                     $7[1], 'sha256:' || md5($6), $7,
                     'application/vnd.oci.image.manifest.v1+json', $8, $9, $10)",
        )
        .bind(id)
        .bind(now() - ago)
        .bind(org)
        .bind(customer)
        .bind(Uuid::new_v4())
        .bind(repository)
        .bind(tags)
        .bind(client)
        .bind(requests)
        .bind(parent)
        .execute(pool)
        .await
        .unwrap();
        id
    }

    /// Every report over pulls and bytes of `org` from `since` to `until`, with and without
    /// each filter, grouped every way.
    async fn reports(
        pool: &PgPool,
        org: Uuid,
        customer: Uuid,
        (since, until): (OffsetDateTime, OffsetDateTime),
    ) -> Vec<String> {
        use crate::{insights, usage};
        let base =
            usage::PullFilter { since: Some(since), until: Some(until), ..Default::default() };
        let filters = [
            base.clone(),
            usage::PullFilter { customer_id: Some(customer), ..base.clone() },
            usage::PullFilter { repository: Some("acme/app".into()), ..base.clone() },
            usage::PullFilter { tag: Some("1.0".into()), ..base.clone() },
            usage::PullFilter { client_kind: Some("helm".into()), ..base.clone() },
            usage::PullFilter { since: None, until: None, ..base.clone() },
        ];
        let mut out = Vec::new();
        for filter in &filters {
            for group in [
                usage::PullGrouping::Day,
                usage::PullGrouping::Customer,
                usage::PullGrouping::Version,
            ] {
                let rows = usage::summarize_pulls(pool, org, filter, group).await.unwrap();
                out.push(format!("{filter:?} {group:?} {rows:?}"));
            }
        }
        let days_filter = insights::BreakdownFilter {
            since: since.date(),
            until: until.date(),
            customer_id: None,
            repository: None,
        };
        for (customer_id, repository) in
            [(None, None), (Some(customer), None), (None, Some("acme/app".to_owned()))]
        {
            let filter =
                insights::BreakdownFilter { customer_id, repository, ..days_filter.clone() };
            let rows = insights::pull_breakdown(pool, org, &filter, 10, &insights::Dimension::ALL)
                .await
                .unwrap();
            out.push(format!("{filter:?} {rows:?}"));
        }
        for group in [
            usage::BytesGrouping::Day,
            usage::BytesGrouping::Customer,
            usage::BytesGrouping::Repository,
        ] {
            let filter = usage::BytesFilter { since: Some(since.date()), ..Default::default() };
            let rows = usage::summarize_bytes(pool, org, &filter, group).await.unwrap();
            out.push(format!("{group:?} {rows:?}"));
        }
        let customers = crate::customers::overview(pool, org, None, None, 10).await.unwrap();
        out.push(format!("{:?}", customers.iter().map(|c| c.last_pull_at).collect::<Vec<_>>()));
        let idle = insights::customers_never_pulled(pool, org, 10).await.unwrap();
        out.push(format!("{:?}", idle.iter().map(|c| &c.name).collect::<Vec<_>>()));
        out
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn reports_count_the_same_pulls_and_bytes_after_events_are_pruned(pool: PgPool) {
        let acme = testing::org(&pool, "acme").await.id;
        let rival = testing::org(&pool, "rival").await.id;
        let initech = testing::customer(&pool, acme, "Initech").await.id;
        testing::customer(&pool, acme, "Idle").await;
        let day = Duration::days;
        // Pulls on both sides of the 400-day retention, one in the day the cut falls in.
        let old = pull_of(
            &pool,
            acme,
            Some(initech),
            day(1000),
            "acme/app",
            &["1.0", "latest"],
            "docker",
            3,
            None,
        )
        .await;
        pull_of(
            &pool,
            acme,
            Some(initech),
            day(1000),
            "acme/app",
            &["1.0"],
            "docker",
            1,
            Some(old),
        )
        .await;
        pull_of(
            &pool,
            acme,
            Some(initech),
            day(1000) + Duration::minutes(5),
            "acme/app",
            &["1.0", "latest"],
            "docker",
            2,
            None,
        )
        .await;
        pull_of(&pool, acme, None, day(700), "acme/cli", &["2.0"], "helm", 1, None).await;
        pull_of(&pool, acme, Some(initech), day(401), "acme/cli", &["2.0"], "helm", 4, None).await;
        pull_of(
            &pool,
            acme,
            Some(initech),
            day(400) - Duration::hours(1),
            "acme/app",
            &["1.0"],
            "podman",
            1,
            None,
        )
        .await;
        pull_of(&pool, acme, Some(initech), day(10), "acme/app", &["1.1"], "docker", 2, None).await;
        pull_of(&pool, acme, None, day(0), "acme/app", &["1.0"], "helm", 1, None).await;
        pull_of(&pool, rival, None, day(1000), "rival/app", &["1.0"], "docker", 5, None).await;
        for (days, bytes) in [(1000, 10), (10, 20)] {
            sqlx::query(
                "insert into blob_bytes_daily (day, organization_id, customer_id, customer_name,
                                               token_id, repository, digest, bytes, requests)
                 values (current_date - $1, $2, $3, 'Initech', $4, 'acme/app', 'sha256:x', $5, 1)",
            )
            .bind(days)
            .bind(acme)
            .bind(initech)
            .bind(Uuid::new_v4())
            .bind(bytes)
            .execute(&pool)
            .await
            .unwrap();
        }
        let t0 = now();
        let all = (t0 - day(2000), t0 + day(1));
        let month = (t0 - day(30), t0 + day(1));
        let before = reports(&pool, acme, initech, all).await;
        let recent = reports(&pool, acme, initech, month).await;
        // Every top-level pull counts its requests; the child GET does not count.
        assert_eq!(usage_since(&pool, acme, now() - Duration::days(2000)).await, 14);

        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        assert_eq!(pruned.pull_events, 6, "the pulls older than 400 days, the child included");
        assert_eq!(reports(&pool, acme, initech, all).await, before);
        assert_eq!(reports(&pool, acme, initech, month).await, recent);
        // A second pass, later and with a shorter retention, changes no count either.
        let short = Retention { pull_event_days: 5, ..Retention::default() };
        assert_eq!(prune(&pool, &short, now()).await.unwrap().pull_events, 2);
        assert_eq!(count(&pool, "pull_events").await, 1);
        assert_eq!(reports(&pool, acme, initech, all).await, before);
        assert_eq!(usage_since(&pool, acme, now() - Duration::days(2000)).await, 14);
        // Recent ranges stay exact to the instant: the raw events after the cut are read.
        let hour = usage_since(&pool, acme, now() - Duration::hours(1)).await;
        assert_eq!(hour, 1);
        // Deleting the organization deletes its roll-ups.
        sqlx::query("delete from organizations where id = $1")
            .bind(acme)
            .execute(&pool)
            .await
            .unwrap();
        let left: i64 =
            sqlx::query_scalar("select count(*) from pull_daily_rollup where organization_id = $1")
                .bind(acme)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(left, 0);
    }

    /// Pulls of `org` since `since`, from the per-day report.
    async fn usage_since(pool: &PgPool, org: Uuid, since: OffsetDateTime) -> i64 {
        let filter = crate::usage::PullFilter { since: Some(since), ..Default::default() };
        crate::usage::summarize_pulls(pool, org, &filter, crate::usage::PullGrouping::Day)
            .await
            .unwrap()
            .iter()
            .map(|r| r.pulls)
            .sum()
    }

    async fn invitation(pool: &PgPool, org: Uuid, email: &str, state: &str) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query(
            "insert into invitations (id, kind, organization_id, email, role, token_hash,
                                      created_at, expires_at, accepted_at, revoked_at)
             select $1, 'member', $2, $3, 'developer', sha256($3::bytea),
                    now() - interval '200 days' + s.created, now() - interval '200 days' + s.expires,
                    now() - interval '200 days' + s.accepted, now() - interval '200 days' + s.revoked
             from (values
                 ('open',           interval '199 days', interval '207 days', null::interval, null::interval),
                 ('open_old',       interval '0 days',   interval '300 days', null, null),
                 ('accepted_old',   interval '0 days',   interval '7 days',   interval '1 day', null),
                 ('accepted_new',   interval '190 days', interval '197 days', interval '191 days', null),
                 ('revoked_old',    interval '0 days',   interval '7 days',   null, interval '2 days'),
                 ('revoked_late',   interval '0 days',   interval '7 days',   null, interval '150 days'),
                 ('expired_old',    interval '0 days',   interval '7 days',   null, null),
                 ('expired_recent', interval '100 days', interval '150 days', null, null)
             ) s(state, created, expires, accepted, revoked)
             where s.state = $4",
        )
        .bind(id)
        .bind(org)
        .bind(email)
        .bind(state)
        .execute(pool)
        .await
        .unwrap();
        id
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn ended_invitations_are_pruned_with_their_mail_and_open_ones_kept(pool: PgPool) {
        let org = testing::org(&pool, "acme").await.id;
        let states = [
            "open",
            "open_old",
            "accepted_old",
            "accepted_new",
            "revoked_old",
            "revoked_late",
            "expired_old",
            "expired_recent",
        ];
        for state in states {
            let id = invitation(&pool, org, &format!("{state}@example.com"), state).await;
            sqlx::query(
                "insert into mail_outbox (id, organization_id, about_kind, about_id, recipient,
                                          subject, status, sent_at)
                 values ($1, $2, 'invitation', $3, 'x@example.com', 'Join', 'sent', now())",
            )
            .bind(Uuid::new_v4())
            .bind(org)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        }
        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        // Ended more than 90 days ago: accepted_old (199 days), revoked_old (198),
        // expired_old (193); revoked_late ended at its expiry (193 days ago), before the
        // revocation.
        assert_eq!(pruned.invitations, 4);
        let left: Vec<String> =
            sqlx::query_scalar("select split_part(email, '@', 1) from invitations order by 1")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(left, ["accepted_new", "expired_recent", "open", "open_old"]);
        assert_eq!(count(&pool, "mail_outbox").await, 4);
        // The portal's open invitations are all there.
        let open = crate::invitations::list_members(&pool, org).await.unwrap();
        let open =
            open.iter().filter(|i| i.status(now()) == crate::invitations::InvitationStatus::Open);
        assert_eq!(open.count(), 2);
        // 0 keeps ended invitations forever.
        let forever = Retention { invitation_days: 0, ..Retention::default() };
        assert_eq!(
            prune(&pool, &forever, now() + Duration::days(5000)).await.unwrap().invitations,
            0
        );
        assert_eq!(count(&pool, "invitations").await, 4);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn old_reset_links_go_with_the_mail_that_carried_them(pool: PgPool) {
        let user = Uuid::new_v4();
        sqlx::query(
            "insert into users (id, email, password_hash) values ($1, 'u@example.com', 'x')",
        )
        .bind(user)
        .execute(&pool)
        .await
        .unwrap();
        // Two resets: one from 40 days ago (pruned), one from today (kept); each with its
        // message. A message still queued is never deleted, however old.
        for (age, status) in [(40, "sent"), (0, "sent"), (40, "failed"), (45, "queued")] {
            let created = now() - Duration::days(age);
            let body = (status == "queued").then_some("link");
            sqlx::query(
                "insert into mail_outbox (id, about_kind, about_id, recipient, subject, status,
                                          body_text, body_html, created_at, sent_at)
                 values ($1, 'password_reset', $2, 'u@example.com', 'Reset', $3, $4, $4, $5,
                         case when $3 = 'sent' then $5 end)",
            )
            .bind(Uuid::new_v4())
            .bind(user)
            .bind(status)
            .bind(body)
            .bind(created)
            .execute(&pool)
            .await
            .unwrap();
        }
        for age in [40, 0] {
            let created = now() - Duration::days(age);
            sqlx::query(
                "insert into password_resets (id, user_id, token_hash, expires_at, created_at)
                 values ($1, $2, sha256($1::text::bytea), $3, $4)",
            )
            .bind(Uuid::new_v4())
            .bind(user)
            .bind(created + Duration::hours(1))
            .bind(created)
            .execute(&pool)
            .await
            .unwrap();
        }
        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        assert_eq!(pruned.password_resets, 1);
        assert_eq!(count(&pool, "password_resets").await, 1);
        let left: Vec<String> = sqlx::query_scalar(
            "select status || ':' || (extract(day from now() - created_at))::int
             from mail_outbox order by 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(left, ["queued:45", "sent:0"]);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn large_prunes_go_in_batches(pool: PgPool) {
        sqlx::query(
            "insert into deleted_access_tokens (id, deleted_at)
             select gen_random_uuid(), now() - interval '30 days' from generate_series(1, $1)",
        )
        .bind(i32::try_from(BATCH).unwrap() * 2 + 5)
        .execute(&pool)
        .await
        .unwrap();
        let pruned = prune(&pool, &Retention::default(), now()).await.unwrap();
        assert_eq!(pruned.deleted_tokens, BATCH.unsigned_abs() * 2 + 5);
        assert_eq!(count(&pool, "deleted_access_tokens").await, 0);
        // A second pass deletes nothing more.
        assert_eq!(prune(&pool, &Retention::default(), now()).await.unwrap(), Pruned::default());
    }
}
