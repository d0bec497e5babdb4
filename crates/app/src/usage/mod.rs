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
    usage::{BlobBytes, NewPullEvent},
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

/// Settings of the recorder.
#[derive(Debug, Clone)]
pub struct UsageSettings {
    /// How many events may wait in memory for the writer.
    pub buffer: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
}

/// A manifest served by a GET (never a HEAD) to a caller with an access token.
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
        let writer = Writer { pool, pulls: PendingPulls::default(), bytes: HashMap::new() };
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
            Item::Pull(event) => self.pulls.add(event),
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
        self.pulls.len() + self.bytes.len()
    }

    async fn flush(&mut self) {
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
