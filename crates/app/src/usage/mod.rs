//! Usage analytics: the [`UsageRecorder`], which turns what the registry served into pull
//! events and daily byte counts, written off the request path. (The binary hands it what the
//! registry reports through its `UsageSink`.)
//!
//! On the request path a served manifest GET is counted in the recorder's table of pending
//! pull events (`pending.rs`) and a finished blob body's byte count goes into a bounded
//! [`Batcher`]; the request moves on. The batcher's task takes the table whole every second
//! (or as soon as 1,000 events wait), writes the pull events in batches (`COPY` of
//! rows whose customer and token names, tags, platforms and index roll-up are resolved once
//! per batch, see `wharf_db::usage`) and adds byte counts, aggregated in memory per (token,
//! repository, digest, day), with one upsert. When the table is full (a slow or stalled
//! database), new events are dropped and counted; a pull never waits.
//!
//! GETs that differ only in their time within one second (same organization, token,
//! repository, reference, digest, media type, client address and user agent) are one event
//! whose `requests` counts them, coalesced where they are served: such a GET finds its event
//! by what it borrows from the request and adds one to its count, copying, formatting and
//! parsing nothing. A client polling a tag in a loop costs a counter increment per GET and
//! the database one row per second, which is what keeps recording within a few percent of
//! not recording at all (docs/performance.md).
//!
//! A manifest HEAD is a version check, not a pull: the recorder counts checks in memory per
//! (day, organization, customer, repository, reference, client kind) and adds each batch's
//! counts to `version_checks_daily` with one upsert, so a flood of HEADs from Watchtower or
//! Renovate costs a counter increment each (on the request side, like identical GETs) and a
//! handful of rows per flush. A HEAD is held
//! [`CHECK_HOLD`] before it is counted: a GET of the same manifest (same token, repository
//! and digest) in that time is the pull the HEAD began (docker resolves a tag with a HEAD,
//! then GETs the digest) and takes one pending check back, so such a pull is a pull only.

pub mod client;
mod pending;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use http::{HeaderMap, HeaderName};
use time::{Date, OffsetDateTime};
use uuid::Uuid;
use wharf_db::{
    PgPool,
    usage::{BlobBytes, NewPullEvent, VersionChecks},
};

use self::{
    client::{ClientKind, TrustedProxies},
    pending::{HeadKey, PendingHead, PendingHeads, PendingPulls, PullKey, Recorded},
};
use crate::{
    batch::{Batcher, BatcherTask, Flush},
    metrics::COUNTERS,
};

/// How often buffered usage is written, at the latest.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Pending pull events that wake the writer.
const WAKE_AT: usize = 1_000;
/// Most events written by one transaction (one `COPY`). Each of a batch's round trips waits
/// for both sides to be scheduled, which on a saturated machine is most of a batch's time,
/// so larger batches write a burst sooner (docs/performance.md, "Request ids, and where the
/// usage writer's drops come from").
const MAX_BATCH: usize = 5_000;
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

/// What requests hand to the batcher (pulls and version checks go into the recorder's
/// [`pending`] tables instead).
#[derive(Debug)]
struct ServedBytes {
    day: Date,
    served: BlobBytesServed,
}

/// The usage recorder of `wharf serve`.
#[derive(Debug)]
pub struct UsageRecorder {
    batcher: Batcher<ServedBytes>,
    pulls: Arc<PendingPulls>,
    heads: Arc<PendingHeads>,
    /// Pending pull events that wake the writer.
    max_batch: usize,
    proxies: TrustedProxies,
    /// GETs and HEADs dropped with their table full (as the batcher counts its own).
    dropped: AtomicU64,
}

/// `X-Forwarded-For`.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

impl UsageRecorder {
    /// Starts the background writer.
    pub fn start(pool: PgPool, settings: UsageSettings) -> (Arc<Self>, BatcherTask) {
        let pulls = Arc::new(PendingPulls::new(settings.buffer));
        let heads = Arc::new(PendingHeads::new(settings.buffer));
        let writer = Writer {
            pool,
            pulls: pulls.clone(),
            heads: heads.clone(),
            bytes: HashMap::new(),
            checks: PendingChecks::default(),
        };
        let max_batch = settings.buffer.clamp(1, WAKE_AT);
        let (batcher, task) =
            Batcher::start("usage events", writer, settings.buffer, max_batch, FLUSH_EVERY);
        let proxies = settings.trusted_proxies;
        let dropped = AtomicU64::new(0);
        let recorder = Self { batcher, pulls, heads, max_batch, proxies, dropped };
        (Arc::new(recorder), task)
    }

    /// Records a manifest GET as a pull event; never waits (a full buffer drops it). A GET
    /// identical to one pending in the same second only adds to its count, allocating
    /// nothing.
    pub fn manifest_pulled(&self, served: ManifestPull<'_>) {
        COUNTERS.pulls.inc();
        let at = OffsetDateTime::now_utc();
        let forwarded = served.headers.get_all(X_FORWARDED_FOR).iter();
        let key = PullKey {
            second: at.unix_timestamp(),
            organization_id: served.organization_id,
            customer_id: served.customer_id,
            token_id: served.token_id,
            repository: served.repository,
            reference: served.reference,
            tag: served.tag,
            digest: served.digest,
            media_type: served.media_type,
            client_addr: self
                .proxies
                .client_addr(served.peer, forwarded.filter_map(|v| v.to_str().ok())),
            user_agent: user_agent(served.headers),
        };
        match self.pulls.record(&key, at) {
            Recorded::Counted => {}
            Recorded::New(pending) => {
                if pending == self.max_batch {
                    self.batcher.wake();
                }
            }
            Recorded::Refused => self.dropped(),
        }
    }

    /// Counts a GET or HEAD refused by a full table, and logs it (the first time, then every
    /// 1,000th), as the batcher does.
    fn dropped(&self) {
        COUNTERS.usage_events_dropped.inc();
        let before = self.dropped.fetch_add(1, Ordering::Relaxed);
        if before.is_multiple_of(1000) {
            tracing::warn!(
                what = "usage events",
                dropped_total = before + 1,
                "the background writer is behind: dropped a record"
            );
        }
    }

    /// Counts a manifest HEAD as a version check (unless a GET of the same manifest by the
    /// same token follows within [`CHECK_HOLD`]); never waits.
    pub fn manifest_checked(&self, served: ManifestPull<'_>) {
        COUNTERS.version_checks.inc();
        let at = OffsetDateTime::now_utc();
        let key = HeadKey {
            day: pending::unix_day(at),
            token_id: served.token_id,
            repository: served.repository,
            digest: served.digest,
            organization_id: served.organization_id,
            customer_id: served.customer_id,
            reference: served.reference,
            client_kind: ClientKind::from_user_agent(user_agent(served.headers)),
        };
        if self.heads.record(&key, at) == Recorded::Refused {
            self.dropped();
        }
    }

    /// Adds a blob body's bytes to its token's daily count; never waits.
    pub fn blob_bytes_served(&self, served: BlobBytesServed) {
        COUNTERS.blob_bytes.add(served.bytes);
        if served.bytes == 0 {
            return;
        }
        let item = ServedBytes { day: OffsetDateTime::now_utc().date(), served };
        if !self.batcher.record(item) {
            COUNTERS.usage_events_dropped.inc();
        }
    }
}

/// The request's `User-Agent` as recorded, borrowed.
fn user_agent(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::USER_AGENT)?.to_str().ok()?;
    Some(client::recorded_user_agent(value))
}

struct Writer {
    pool: PgPool,
    pulls: Arc<PendingPulls>,
    heads: Arc<PendingHeads>,
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
    /// Holds HEADs the request side counted.
    fn add(&mut self, head: PendingHead) {
        let group = (
            head.day,
            head.organization_id,
            head.customer_id,
            head.reference,
            head.client_kind.as_str(),
        );
        let manifest = (head.token_id, head.repository, head.digest);
        let held = self.held.entry(manifest).or_default().entry(group).or_insert(Held {
            checks: 0,
            first: head.first,
            last: head.last,
        });
        held.checks += head.checks;
        held.first = held.first.min(head.first);
        held.last = held.last.max(head.last);
    }

    /// `gets` GETs of `manifest`, the latest at `until`: each takes back one HEAD of it
    /// still held that came before (the pull it began), the earliest first.
    fn pulled(&mut self, manifest: &(Uuid, String, String), gets: i32, until: OffsetDateTime) {
        let Some(groups) = self.held.get_mut(manifest) else { return };
        for _ in 0..gets {
            let earliest = groups
                .iter()
                .filter(|(_, h)| h.first <= until)
                .min_by_key(|(_, h)| h.first)
                .map(|(g, _)| g.clone());
            let Some(group) = earliest else { break };
            if let Some(held) = groups.get_mut(&group) {
                held.checks -= 1;
                if held.checks == 0 {
                    groups.remove(&group);
                }
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

impl Flush for Writer {
    type Item = ServedBytes;

    fn add(&mut self, ServedBytes { day, served }: ServedBytes) {
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
        entry.bytes = entry.bytes.saturating_add(i64::try_from(served.bytes).unwrap_or(i64::MAX));
        entry.requests += 1;
    }

    fn pending(&self) -> usize {
        // Held checks wait for their time, not for a full batch: they count as one, so that
        // every tick flushes them.
        self.pulls.len()
            + self.bytes.len()
            + usize::from(self.checks.len() > 0 || self.heads.len() > 0)
    }

    async fn flush(&mut self) {
        self.write(false).await;
    }

    async fn finish(&mut self) {
        self.pulls.close();
        self.heads.close();
        self.write(true).await;
    }
}

impl Writer {
    /// Writes the pending pulls and bytes, and the checks whose hold is over (all of them
    /// when `all`, at shutdown).
    async fn write(&mut self, all: bool) {
        // Pulls first: a HEAD counted after this is after every GET taken here, so none of
        // them can be the pull it began.
        let pulls = self.pulls.take();
        for head in self.heads.take() {
            self.checks.add(head);
        }
        if self.checks.len() > 0 {
            for p in &pulls {
                let e = &p.event;
                let manifest = (e.token_id, e.repository.clone(), e.digest.clone());
                self.checks.pulled(&manifest, e.requests, p.last);
            }
        }
        let started = std::time::Instant::now();
        let mut ids = EventIds::new();
        let events: Vec<NewPullEvent> =
            pulls.into_iter().map(|p| NewPullEvent { id: ids.next(), ..p.event }).collect();
        for batch in events.chunks(MAX_BATCH) {
            if let Err(err) = wharf_db::usage::insert_pull_events(&self.pool, batch).await {
                COUNTERS.usage_write_failures.inc();
                tracing::warn!(events = batch.len(), "writing pull events failed: {err}");
            }
        }
        if !events.is_empty() {
            // How long the database takes a write (`RUST_LOG=wharf_app::usage=debug`): the
            // buffer must hold what arrives meanwhile, or the recorder drops.
            tracing::debug!(
                events = events.len(),
                ms = started.elapsed().as_secs_f64() * 1e3,
                "wrote pull events"
            );
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

/// The ids of the events of one write: UUIDv7s of the current millisecond, a 12-bit counter
/// and 62 bits from a generator seeded once per write. `Uuid::now_v7` takes its random bits
/// from a `getrandom` system call per id, which at tens of thousands of distinct GETs a second
/// was a system call per GET; here it is one per write. Ids increase within a write (after
/// 4,096 ids the millisecond moves on, so the counter never wraps) and are unique: the
/// generator (SplitMix64) maps distinct inputs to distinct outputs, and every write draws a
/// new seed.
struct EventIds {
    millis: u64,
    seed: u64,
    next: u64,
}

impl EventIds {
    fn new() -> Self {
        let now = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let millis = u64::try_from(now).unwrap_or(0);
        Self { millis, seed: Uuid::new_v4().as_u64_pair().0, next: 0 }
    }

    fn next(&mut self) -> Uuid {
        let n = self.next;
        self.next += 1;
        let counter = u16::try_from(n % 4096).unwrap_or(0);
        let random = split_mix_64(self.seed.wrapping_add(n));
        let mut bytes = [0; 10];
        bytes[..2].copy_from_slice(&counter.to_be_bytes());
        bytes[2..].copy_from_slice(&random.to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(self.millis + n / 4096, &bytes).into_uuid()
    }
}

/// SplitMix64's output function: a bijection of `u64` that spreads consecutive inputs.
fn split_mix_64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use time::macros::datetime;

    use super::*;

    const ADDR: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));

    fn get<'a>(at: OffsetDateTime, reference: &'a str, user_agent: &'a str) -> PullKey<'a> {
        PullKey {
            second: at.unix_timestamp(),
            organization_id: Uuid::from_u128(1),
            customer_id: Some(Uuid::from_u128(2)),
            token_id: Uuid::from_u128(3),
            repository: "vendor/app",
            reference,
            tag: (!reference.starts_with("sha256:")).then_some(reference),
            digest: "sha256:aa",
            media_type: "application/vnd.oci.image.manifest.v1+json",
            client_addr: ADDR,
            user_agent: Some(user_agent),
        }
    }

    fn head(at: OffsetDateTime, token: u128, reference: &str, kind: ClientKind) -> PendingHead {
        let heads = PendingHeads::new(10);
        let key = HeadKey {
            day: pending::unix_day(at),
            token_id: Uuid::from_u128(token),
            repository: "vendor/app",
            digest: "sha256:aa",
            organization_id: Uuid::from_u128(1),
            customer_id: Some(Uuid::from_u128(2)),
            reference,
            client_kind: kind,
        };
        assert_eq!(heads.record(&key, at), Recorded::New(1));
        heads.take().pop().unwrap()
    }

    fn manifest(token: u128) -> (Uuid, String, String) {
        (Uuid::from_u128(token), "vendor/app".into(), "sha256:aa".into())
    }

    #[test]
    fn heads_count_per_group_once_held_and_a_get_takes_its_head_back() {
        let t0 = datetime!(2026-11-24 10:00:00 UTC);
        let ms = time::Duration::milliseconds;
        let mut checks = PendingChecks::default();
        // A flood of HEADs of one tag by one token: one counter.
        for i in 0..500 {
            checks.add(head(t0 + ms(i), 3, "1.0", ClientKind::Docker));
        }
        // Another client kind and a HEAD by digest: groups of their own.
        checks.add(head(t0 + ms(10), 3, "1.0", ClientKind::Other));
        checks.add(head(t0 + ms(20), 3, "sha256:aa", ClientKind::Docker));
        // docker pulls with token 4: HEAD of the tag, then GET of the digest: no check.
        checks.add(head(t0 + ms(30), 4, "1.0", ClientKind::Docker));
        checks.pulled(&manifest(4), 1, t0 + ms(31));
        // A GET of something never HEADed changes nothing.
        checks.pulled(&manifest(5), 1, t0 + ms(31));
        // A GET before the HEAD does not take it back.
        checks.add(head(t0 + ms(40), 7, "1.0", ClientKind::Docker));
        checks.pulled(&manifest(7), 3, t0 + ms(39));
        // A HEAD later on is still held.
        checks.add(head(t0 + ms(1500), 6, "1.0", ClientKind::Docker));
        let taken = checks.take(Some(t0 + ms(1000)));
        let mut seen: Vec<_> =
            taken.iter().map(|c| (c.reference.as_str(), c.client_kind, c.checks)).collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("1.0", "docker", 1),
                ("1.0", "docker", 500),
                ("1.0", "other", 1),
                ("sha256:aa", "docker", 1)
            ]
        );
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
    fn several_gets_take_back_as_many_heads_as_came_before_them() {
        let t0 = datetime!(2026-11-24 10:00:00 UTC);
        let ms = time::Duration::milliseconds;
        let mut checks = PendingChecks::default();
        checks.add(head(t0, 3, "1.0", ClientKind::Docker));
        checks.add(head(t0 + ms(5), 3, "1.0", ClientKind::Docker));
        checks.add(head(t0 + ms(7), 3, "1.0", ClientKind::Podman));
        // Five GETs in one event: three HEADs to take back, no more.
        checks.pulled(&manifest(3), 5, t0 + ms(100));
        assert_eq!(checks.len(), 0);
    }

    #[test]
    fn heads_coalesce_on_the_request_side_per_day_and_client_kind() {
        let heads = PendingHeads::new(2);
        let t0 = datetime!(2026-11-24 10:00:00 UTC);
        let key = |reference, kind| HeadKey {
            day: pending::unix_day(t0),
            token_id: Uuid::from_u128(3),
            repository: "vendor/app",
            digest: "sha256:aa",
            organization_id: Uuid::from_u128(1),
            customer_id: None,
            reference,
            client_kind: kind,
        };
        for i in 0..100 {
            let at = t0 + time::Duration::milliseconds(i);
            let ua = format!("Watchtower/{i}");
            let kind = ClientKind::from_user_agent(Some(&ua));
            let expected = if i == 0 { Recorded::New(1) } else { Recorded::Counted };
            assert_eq!(heads.record(&key("1.0", kind), at), expected);
        }
        assert_eq!(heads.record(&key("1.0", ClientKind::Helm), t0), Recorded::New(2));
        // Full: a new group is refused, a known one still counted.
        assert_eq!(heads.record(&key("2.0", ClientKind::Helm), t0), Recorded::Refused);
        assert_eq!(heads.record(&key("1.0", ClientKind::Helm), t0), Recorded::Counted);
        let mut taken = heads.take();
        taken.sort_by_key(|h| h.checks);
        assert_eq!(taken.len(), 2);
        assert_eq!((taken[0].client_kind, taken[0].checks), (ClientKind::Helm, 2));
        assert_eq!((taken[1].client_kind, taken[1].checks), (ClientKind::Other, 100));
        assert_eq!(taken[1].first, t0);
        assert_eq!(taken[1].last, t0 + time::Duration::milliseconds(99));
        assert_eq!(heads.len(), 0);
    }

    #[test]
    fn identical_gets_in_one_second_are_one_event_in_first_arrival_order() {
        let pending = PendingPulls::new(100);
        let at = |ms| datetime!(2026-11-24 10:00:00 UTC) + time::Duration::milliseconds(ms);
        assert_eq!(pending.record(&get(at(100), "1.0", "docker/27"), at(100)), Recorded::New(1));
        pending.record(&get(at(200), "sha256:aa", "docker/27"), at(200));
        for ms in [300, 400, 999] {
            assert_eq!(pending.record(&get(at(ms), "1.0", "docker/27"), at(ms)), Recorded::Counted);
        }
        // Another second, another user agent, another address: events of their own.
        pending.record(&get(at(1000), "1.0", "docker/27"), at(1000));
        pending.record(&get(at(500), "1.0", "helm/3"), at(500));
        let other_addr = PullKey { client_addr: None, ..get(at(600), "1.0", "docker/27") };
        pending.record(&other_addr, at(600));
        assert_eq!(pending.len(), 5);

        let taken = pending.take();
        assert_eq!(pending.len(), 0);
        let seen: Vec<_> = taken
            .iter()
            .map(|p| (p.event.reference.as_str(), p.event.at.second(), p.event.requests))
            .collect();
        assert_eq!(
            seen,
            [("1.0", 0, 4), ("sha256:aa", 0, 1), ("1.0", 1, 1), ("1.0", 0, 1), ("1.0", 0, 1)]
        );
        let first = &taken[0];
        assert_eq!((first.event.at, first.last), (at(100), at(999)));
        assert_eq!(first.event.client_addr.as_deref(), Some("192.0.2.1"));
        assert_eq!(first.event.client_kind, "docker");
        assert_eq!(first.event.tag.as_deref(), Some("1.0"));
        assert_eq!(taken[1].event.tag, None);
        assert_eq!(taken[3].event.user_agent.as_deref(), Some("helm/3"));
        assert_eq!(taken[3].event.client_kind, "helm");
        assert_eq!(taken[4].event.client_addr, None);
    }

    #[test]
    fn a_full_table_refuses_new_events_but_counts_known_ones_and_a_closed_one_refuses_all() {
        let pending = PendingPulls::new(2);
        let at = datetime!(2026-11-24 10:00:00 UTC);
        assert_eq!(pending.record(&get(at, "1.0", "a"), at), Recorded::New(1));
        assert_eq!(pending.record(&get(at, "1.0", "b"), at), Recorded::New(2));
        assert_eq!(pending.record(&get(at, "1.0", "c"), at), Recorded::Refused);
        assert_eq!(pending.record(&get(at, "1.0", "a"), at), Recorded::Counted);
        assert_eq!(pending.len(), 2);
        assert_eq!(pending.take().len(), 2);
        assert_eq!(pending.record(&get(at, "1.0", "c"), at), Recorded::New(1));
        pending.close();
        assert_eq!(pending.record(&get(at, "1.0", "c"), at), Recorded::Refused);
    }

    #[test]
    fn event_ids_are_v7_increasing_and_unique_within_and_across_writes() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 {
            let mut ids = EventIds::new();
            let batch: Vec<Uuid> = (0..10_000).map(|_| ids.next()).collect();
            assert!(batch.windows(2).all(|w| w[0] < w[1]), "increasing within a write");
            for id in batch {
                assert_eq!(id.get_version_num(), 7);
                assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
                assert!(seen.insert(id), "unique");
            }
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let (secs, _) = EventIds::new().next().get_timestamp().unwrap().to_unix();
        assert!(secs.abs_diff(u64::try_from(now).unwrap()) <= 1, "the current time");
    }
}
