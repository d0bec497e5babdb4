//! Usage analytics: the [`UsageRecorder`], which turns what the registry served into pull
//! events and daily byte counts, written off the request path. (The binary hands it what the
//! registry reports through its `UsageSink`.)
//!
//! On the request path a served manifest becomes a [`NewPullEvent`] (time, ids, repository,
//! reference, digest, media type, client address and kind) and a finished blob body a byte
//! count; both go into one bounded [`Batcher`] and the request moves on. The batcher's task
//! writes pull events with one multi-row INSERT per batch (which also copies customer and
//! token names and resolves tags, platforms and the index roll-up in SQL, see
//! `wharf_db::usage`) and adds byte counts, aggregated in memory per (token, repository,
//! digest, day), with one upsert. When the buffer is full (a slow or stalled database),
//! events are dropped and counted; a pull never waits.
//!
//! GETs that differ only in their time within one second (same organization, token,
//! repository, reference, digest, media type, client address and user agent) are coalesced
//! into one event whose `requests` counts them: a client polling a tag in a loop costs the
//! database one row per second instead of one per GET, which is what keeps recording within
//! a few percent of not recording at all (docs/performance.md).
//!
//! A manifest HEAD is a version check, not a pull: the recorder counts checks in memory per
//! (day, organization, customer, repository, reference, client kind) and adds each batch's
//! counts to `version_checks_daily` with one upsert, so a flood of HEADs from Watchtower or
//! Renovate costs a hash-map increment each and a handful of rows per flush. A HEAD is held
//! [`CHECK_HOLD`] before it is counted: a GET of the same manifest (same token, repository
//! and digest) in that time is the pull the HEAD began (docker resolves a tag with a HEAD,
//! then GETs the digest) and takes one pending check back, so such a pull is a pull only.

pub mod client;

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::Arc,
    time::Duration,
};

use http::HeaderMap;
use time::{Date, OffsetDateTime};
use uuid::Uuid;
use wharf_db::{
    PgPool,
    usage::{BlobBytes, NewPullEvent, VersionChecks},
};

use self::client::{ClientKind, TrustedProxies};
use crate::{
    batch::{Batcher, BatcherTask, Flush},
    metrics::COUNTERS,
};

/// How often buffered usage is written, at the latest.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Most events written by one statement.
const MAX_BATCH: usize = 1_000;
/// How long a HEAD waits before it counts as a version check (a GET of the same manifest by
/// the same token in that time makes it part of a pull instead).
pub const CHECK_HOLD: Duration = Duration::from_secs(1);

/// Settings of the recorder.
#[derive(Debug, Clone)]
pub struct UsageSettings {
    /// How many events may wait in memory for the writer.
    pub buffer: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
}

/// A manifest served to a caller with an access token: by a GET (a pull) or a HEAD (a
/// version check).
#[derive(Debug)]
pub struct ManifestPull<'a> {
    /// The organization owning the repository (the caller's, or its vendor's).
    pub organization_id: Uuid,
    /// The access token that pulled.
    pub token_id: Uuid,
    /// Its customer, if it is a customer's token.
    pub customer_id: Option<Uuid>,
    /// Repository.
    pub repository: &'a str,
    /// The reference as requested: a tag or a digest.
    pub reference: &'a str,
    /// The tag, when the reference is one.
    pub tag: Option<&'a str>,
    /// The digest served.
    pub digest: &'a str,
    /// Its media type.
    pub media_type: &'a str,
    /// The request's headers (`User-Agent`, `X-Forwarded-For`).
    pub headers: &'a HeaderMap,
    /// The connection's peer address, when known.
    pub peer: Option<std::net::IpAddr>,
}

/// Bytes of one blob body sent to a caller with an access token, reported once when the body
/// ended.
#[derive(Debug, Clone)]
pub struct BlobBytesServed {
    /// The organization owning the repository.
    pub organization_id: Uuid,
    /// The access token that pulled.
    pub token_id: Uuid,
    /// Its customer, if it is a customer's token.
    pub customer_id: Option<Uuid>,
    /// Repository name.
    pub repository: String,
    /// Blob digest.
    pub digest: String,
    /// Bytes sent.
    pub bytes: u64,
}

/// What requests hand to the writer.
#[derive(Debug)]
enum Item {
    Pull(NewPullEvent),
    Bytes { day: Date, served: BlobBytesServed },
    Check(Check),
}

/// A manifest HEAD, as the writer holds it.
#[derive(Debug)]
struct Check {
    at: OffsetDateTime,
    /// What a GET must match to take it back: token, repository, digest.
    manifest: (Uuid, String, String),
    organization_id: Uuid,
    customer_id: Option<Uuid>,
    reference: String,
    client_kind: &'static str,
}

/// The usage recorder of `wharf serve`.
#[derive(Debug)]
pub struct UsageRecorder {
    batcher: Batcher<Item>,
    proxies: TrustedProxies,
}

impl UsageRecorder {
    /// Starts the background writer.
    pub fn start(pool: PgPool, settings: UsageSettings) -> (Arc<Self>, BatcherTask) {
        let writer = Writer {
            pool,
            pulls: PendingPulls::default(),
            bytes: HashMap::new(),
            checks: PendingChecks::default(),
        };
        // The writer's pending batch is bounded too, so at most twice `buffer` events wait.
        let max_batch = settings.buffer.clamp(1, MAX_BATCH);
        let (batcher, task) =
            Batcher::start("usage events", writer, settings.buffer, max_batch, FLUSH_EVERY);
        (Arc::new(Self { batcher, proxies: settings.trusted_proxies }), task)
    }

    fn record(&self, item: Item) {
        if !self.batcher.record(item) {
            COUNTERS.usage_events_dropped.inc();
        }
    }

    /// Records a manifest GET as a pull event; never waits (a full buffer drops it).
    pub fn manifest_pulled(&self, served: ManifestPull<'_>) {
        COUNTERS.pulls.inc();
        let header = |name: &str| served.headers.get(name).and_then(|v| v.to_str().ok());
        let user_agent = header("user-agent").map(client::user_agent);
        let forwarded = served.headers.get_all("x-forwarded-for").iter();
        let client_addr = self
            .proxies
            .client_addr(served.peer, forwarded.filter_map(|v| v.to_str().ok()))
            .map(|addr| addr.to_string());
        self.record(Item::Pull(NewPullEvent {
            // Given when written (`PendingPulls::take`): a UUIDv7 takes a `getrandom` system
            // call, one per event rather than one per GET.
            id: Uuid::nil(),
            at: OffsetDateTime::now_utc(),
            organization_id: served.organization_id,
            customer_id: served.customer_id,
            token_id: served.token_id,
            repository: served.repository.to_owned(),
            reference: served.reference.to_owned(),
            tag: served.tag.map(str::to_owned),
            digest: served.digest.to_owned(),
            media_type: served.media_type.to_owned(),
            client_kind: ClientKind::from_user_agent(user_agent.as_deref()).as_str(),
            client_addr,
            user_agent,
            requests: 1,
        }));
    }

    /// Counts a manifest HEAD as a version check (unless a GET of the same manifest by the
    /// same token follows within [`CHECK_HOLD`]); never waits.
    pub fn manifest_checked(&self, served: ManifestPull<'_>) {
        COUNTERS.version_checks.inc();
        let user_agent = served.headers.get("user-agent").and_then(|v| v.to_str().ok());
        self.record(Item::Check(Check {
            at: OffsetDateTime::now_utc(),
            manifest: (served.token_id, served.repository.to_owned(), served.digest.to_owned()),
            organization_id: served.organization_id,
            customer_id: served.customer_id,
            reference: served.reference.to_owned(),
            client_kind: ClientKind::from_user_agent(user_agent).as_str(),
        }));
    }

    /// Adds a blob body's bytes to its token's daily count; never waits.
    pub fn blob_bytes_served(&self, served: BlobBytesServed) {
        COUNTERS.blob_bytes.add(served.bytes);
        if served.bytes == 0 {
            return;
        }
        self.record(Item::Bytes { day: OffsetDateTime::now_utc().date(), served });
    }
}

struct Writer {
    pool: PgPool,
    pulls: PendingPulls,
    bytes: HashMap<(Uuid, String, String, Date), BlobBytes>,
    checks: PendingChecks,
}

/// The key of a version-check counter: day, organization, customer, reference, client kind
/// (the repository is in the manifest key).
type CheckGroup = (Date, Uuid, Option<Uuid>, String, &'static str);

/// One held group of HEADs: how many, the first (to know when the hold is over) and the
/// latest.
#[derive(Debug, Clone, Copy)]
struct Held {
    checks: i64,
    first: OffsetDateTime,
    last: OffsetDateTime,
}

/// Version checks waiting to be counted, per manifest (token, repository, digest) so that a
/// GET finds the HEAD it follows.
#[derive(Default)]
struct PendingChecks {
    held: HashMap<(Uuid, String, String), HashMap<CheckGroup, Held>>,
}

impl PendingChecks {
    fn add(&mut self, check: Check) {
        let group = (
            check.at.date(),
            check.organization_id,
            check.customer_id,
            check.reference,
            check.client_kind,
        );
        let held = self.held.entry(check.manifest).or_default().entry(group).or_insert(Held {
            checks: 0,
            first: check.at,
            last: check.at,
        });
        held.checks += 1;
        held.last = held.last.max(check.at);
    }

    /// A GET of `manifest`: takes back one HEAD of it still held (the pull it began).
    fn pulled(&mut self, manifest: &(Uuid, String, String)) {
        let Some(groups) = self.held.get_mut(manifest) else { return };
        let Some(group) = groups.iter().min_by_key(|(_, h)| h.first).map(|(g, _)| g.clone()) else {
            return;
        };
        if let Some(held) = groups.get_mut(&group) {
            held.checks -= 1;
            if held.checks == 0 {
                groups.remove(&group);
            }
        }
        if groups.is_empty() {
            self.held.remove(manifest);
        }
    }

    fn len(&self) -> usize {
        self.held.len()
    }

    /// The counts whose first HEAD is at or before `before` (all when `None`), taken out.
    fn take(&mut self, before: Option<OffsetDateTime>) -> Vec<VersionChecks> {
        let mut out = Vec::new();
        self.held.retain(|(_, repository, _), groups| {
            groups.retain(|(day, org, customer, reference, kind), held| {
                if before.is_some_and(|before| held.first > before) {
                    return true;
                }
                out.push(VersionChecks {
                    day: *day,
                    organization_id: *org,
                    customer_id: *customer,
                    repository: repository.clone(),
                    reference: reference.clone(),
                    client_kind: kind,
                    checks: held.checks,
                    last_check_at: held.last,
                });
                false
            });
            !groups.is_empty()
        });
        out
    }
}

/// Pull events waiting to be written, identical GETs in one second coalesced.
#[derive(Default)]
struct PendingPulls {
    /// Per event, the order of its first GET (the roll-up links a child GET to an index GET
    /// that came before it) and how many GETs it stands for.
    events: HashMap<SamePull, (usize, i32)>,
}

impl PendingPulls {
    fn add(&mut self, event: NewPullEvent) {
        let next = self.events.len();
        let (_, requests) = self.events.entry(SamePull(event)).or_insert((next, 0));
        *requests = requests.saturating_add(1);
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    /// The events in the order of their first GET, each with its count and an id of its
    /// own.
    fn take(&mut self) -> Vec<NewPullEvent> {
        let mut events: Vec<_> = self.events.drain().collect();
        events.sort_unstable_by_key(|(_, (order, _))| *order);
        events
            .into_iter()
            .map(|(SamePull(event), (_, requests))| NewPullEvent {
                id: Uuid::now_v7(),
                requests,
                ..event
            })
            .collect()
    }
}

/// A pending pull event, equal to another when both are the same GET in the same second:
/// everything but the id, the sub-second time and the count.
struct SamePull(NewPullEvent);

impl SamePull {
    fn key(&self) -> impl Eq + Hash + '_ {
        let e = &self.0;
        (
            e.at.unix_timestamp(),
            e.organization_id,
            e.customer_id,
            e.token_id,
            (&e.repository, &e.reference, &e.tag, &e.digest, &e.media_type),
            (&e.client_addr, &e.user_agent, e.client_kind),
        )
    }
}

impl PartialEq for SamePull {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for SamePull {}

impl Hash for SamePull {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl Flush for Writer {
    type Item = Item;

    fn add(&mut self, item: Item) {
        match item {
            Item::Pull(event) => {
                if !self.checks.held.is_empty() {
                    let manifest = (event.token_id, event.repository.clone(), event.digest.clone());
                    self.checks.pulled(&manifest);
                }
                self.pulls.add(event);
            }
            Item::Check(check) => self.checks.add(check),
            Item::Bytes { day, served } => {
                let key = (served.token_id, served.repository, served.digest, day);
                let entry = self.bytes.entry(key.clone()).or_insert_with(|| BlobBytes {
                    day,
                    organization_id: served.organization_id,
                    token_id: key.0,
                    customer_id: served.customer_id,
                    repository: key.1,
                    digest: key.2,
                    bytes: 0,
                    requests: 0,
                });
                entry.bytes =
                    entry.bytes.saturating_add(i64::try_from(served.bytes).unwrap_or(i64::MAX));
                entry.requests += 1;
            }
        }
    }

    fn pending(&self) -> usize {
        // Held checks wait for their time, not for a full batch: they count as one, so that
        // every tick flushes them.
        self.pulls.len() + self.bytes.len() + usize::from(self.checks.len() > 0)
    }

    async fn flush(&mut self) {
        self.write(false).await;
    }

    async fn finish(&mut self) {
        self.write(true).await;
    }
}

impl Writer {
    /// Writes the pending pulls and bytes, and the checks whose hold is over (all of them
    /// when `all`, at shutdown).
    async fn write(&mut self, all: bool) {
        if self.pulls.len() > 0 {
            let pulls = self.pulls.take();
            if let Err(err) = wharf_db::usage::insert_pull_events(&self.pool, &pulls).await {
                COUNTERS.usage_write_failures.inc();
                tracing::warn!(events = pulls.len(), "writing pull events failed: {err}");
            }
        }
        if !self.bytes.is_empty() {
            let rows: Vec<BlobBytes> = self.bytes.drain().map(|(_, row)| row).collect();
            if let Err(err) = wharf_db::usage::add_blob_bytes(&self.pool, &rows).await {
                COUNTERS.usage_write_failures.inc();
                tracing::warn!(rows = rows.len(), "writing bytes served failed: {err}");
            }
        }
        let hold = time::Duration::try_from(CHECK_HOLD).unwrap_or(time::Duration::SECOND);
        let checks = self.checks.take((!all).then(|| OffsetDateTime::now_utc() - hold));
        if !checks.is_empty()
            && let Err(err) = wharf_db::usage::add_version_checks(&self.pool, &checks).await
        {
            COUNTERS.usage_write_failures.inc();
            tracing::warn!(rows = checks.len(), "writing version checks failed: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn get(at: OffsetDateTime, reference: &str, user_agent: &str) -> NewPullEvent {
        let org = Uuid::from_u128(1);
        NewPullEvent {
            id: Uuid::now_v7(),
            at,
            organization_id: org,
            customer_id: Some(Uuid::from_u128(2)),
            token_id: Uuid::from_u128(3),
            repository: "vendor/app".into(),
            reference: reference.into(),
            tag: (!reference.starts_with("sha256:")).then(|| reference.into()),
            digest: "sha256:aa".into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            client_addr: Some("192.0.2.1".into()),
            user_agent: Some(user_agent.into()),
            client_kind: "docker",
            requests: 1,
        }
    }

    fn head(at: OffsetDateTime, token: u128, reference: &str, kind: &'static str) -> Check {
        Check {
            at,
            manifest: (Uuid::from_u128(token), "vendor/app".into(), "sha256:aa".into()),
            organization_id: Uuid::from_u128(1),
            customer_id: Some(Uuid::from_u128(2)),
            reference: reference.into(),
            client_kind: kind,
        }
    }

    #[test]
    fn heads_count_per_group_once_held_and_a_get_takes_its_head_back() {
        let t0 = datetime!(2026-11-24 10:00:00 UTC);
        let ms = time::Duration::milliseconds;
        let mut checks = PendingChecks::default();
        // A flood of HEADs of one tag by one token: one counter.
        for i in 0..500 {
            checks.add(head(t0 + ms(i), 3, "1.0", "docker"));
        }
        // Another client kind and a HEAD by digest: groups of their own.
        checks.add(head(t0 + ms(10), 3, "1.0", "other"));
        checks.add(head(t0 + ms(20), 3, "sha256:aa", "docker"));
        // docker pulls with token 4: HEAD of the tag, then GET of the digest: no check.
        checks.add(head(t0 + ms(30), 4, "1.0", "docker"));
        checks.pulled(&(Uuid::from_u128(4), "vendor/app".into(), "sha256:aa".into()));
        // A GET of something never HEADed changes nothing.
        checks.pulled(&(Uuid::from_u128(5), "vendor/app".into(), "sha256:aa".into()));
        // A HEAD later on is still held.
        checks.add(head(t0 + ms(1500), 6, "1.0", "docker"));
        let taken = checks.take(Some(t0 + ms(1000)));
        let mut seen: Vec<_> =
            taken.iter().map(|c| (c.reference.as_str(), c.client_kind, c.checks)).collect();
        seen.sort();
        assert_eq!(seen, [("1.0", "docker", 500), ("1.0", "other", 1), ("sha256:aa", "docker", 1)]);
        let flood = taken.iter().find(|c| c.checks == 500).unwrap();
        assert_eq!(flood.last_check_at, t0 + ms(499));
        assert_eq!((flood.day, flood.repository.as_str()), (t0.date(), "vendor/app"));
        assert_eq!(checks.len(), 1);
        // At shutdown everything held is written.
        let rest = checks.take(None);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].checks, 1);
        assert_eq!(checks.len(), 0);
    }

    #[test]
    fn identical_gets_in_one_second_are_one_event_in_first_arrival_order() {
        let mut pending = PendingPulls::default();
        let first = get(datetime!(2026-11-24 10:00:00.100 UTC), "1.0", "docker/27");
        pending.add(first);
        pending.add(get(datetime!(2026-11-24 10:00:00.200 UTC), "sha256:aa", "docker/27"));
        for ms in [300, 400, 999] {
            let at = datetime!(2026-11-24 10:00:00 UTC) + time::Duration::milliseconds(ms);
            pending.add(get(at, "1.0", "docker/27"));
        }
        // Another second, another user agent: events of their own.
        pending.add(get(datetime!(2026-11-24 10:00:01.000 UTC), "1.0", "docker/27"));
        pending.add(get(datetime!(2026-11-24 10:00:00.500 UTC), "1.0", "helm/3"));
        assert_eq!(pending.len(), 4);

        let events = pending.take();
        assert_eq!(pending.len(), 0);
        let seen: Vec<_> =
            events.iter().map(|e| (e.reference.as_str(), e.at.second(), e.requests)).collect();
        assert_eq!(seen, [("1.0", 0, 4), ("sha256:aa", 0, 1), ("1.0", 1, 1), ("1.0", 0, 1)]);
        let mut ids: Vec<_> = events.iter().map(|e| e.id).collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7), "{ids:?}");
        ids.dedup();
        assert_eq!(ids.len(), 4);
        assert_eq!(events[0].at, datetime!(2026-11-24 10:00:00.100 UTC));
        assert_eq!(events[3].user_agent.as_deref(), Some("helm/3"));
    }
}
