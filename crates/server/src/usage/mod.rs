//! Usage analytics: the server's [`UsageSink`], which turns what the registry served into
//! pull events and daily byte counts, written off the request path.
//!
//! On the request path a served manifest becomes a [`NewPullEvent`] (time, ids, repository,
//! reference, digest, media type, client address and kind) and a finished blob body a byte
//! count; both go into one bounded [`Batcher`] and the request moves on. The batcher's task
//! writes pull events with one multi-row INSERT per batch (which also copies customer and
//! token names and resolves tags, platforms and the index roll-up in SQL, see
//! `wharf_db::usage`) and adds byte counts, aggregated in memory per (token, repository,
//! digest, day), with one upsert. When the buffer is full (a slow or stalled database),
//! events are dropped and counted; a pull never waits.

pub mod client;

use std::{collections::HashMap, sync::Arc, time::Duration};

use time::{Date, OffsetDateTime};
use uuid::Uuid;
use wharf_db::{
    PgPool,
    usage::{BlobBytes, NewPullEvent},
};
use wharf_registry::{
    name::Reference,
    usage::{BlobServed, ManifestServed, UsageSink},
};

use self::client::{ClientKind, TrustedProxies};
use crate::{
    batch::{Batcher, BatcherTask, Flush},
    metrics::METRICS,
};

/// How often buffered usage is written, at the latest.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Most events written by one statement.
const MAX_BATCH: usize = 1_000;
/// Longest `User-Agent` kept.
const MAX_USER_AGENT: usize = 512;

/// Settings of the recorder.
#[derive(Debug, Clone)]
pub struct UsageSettings {
    /// How many events may wait in memory for the writer.
    pub buffer: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
}

/// What requests hand to the writer.
#[derive(Debug)]
enum Item {
    Pull(NewPullEvent),
    Bytes { day: Date, served: BlobServed },
}

/// The [`UsageSink`] of `wharf serve`.
#[derive(Debug)]
pub struct UsageRecorder {
    batcher: Batcher<Item>,
    proxies: TrustedProxies,
}

impl UsageRecorder {
    /// Starts the background writer.
    pub fn start(pool: PgPool, settings: UsageSettings) -> (Arc<Self>, BatcherTask) {
        let writer = Writer { pool, pulls: Vec::new(), bytes: HashMap::new() };
        // The writer's pending batch is bounded too, so at most twice `buffer` events wait.
        let max_batch = settings.buffer.clamp(1, MAX_BATCH);
        let (batcher, task) =
            Batcher::start("usage events", writer, settings.buffer, max_batch, FLUSH_EVERY);
        (Arc::new(Self { batcher, proxies: settings.trusted_proxies }), task)
    }

    fn record(&self, item: Item) {
        if !self.batcher.record(item) {
            METRICS.usage_events_dropped.inc();
        }
    }
}

impl UsageSink for UsageRecorder {
    fn manifest_served(&self, served: ManifestServed<'_>) {
        METRICS.pulls.inc();
        let header = |name: &str| served.headers.get(name).and_then(|v| v.to_str().ok());
        let user_agent = header("user-agent").map(|ua| truncate(ua, MAX_USER_AGENT));
        let forwarded = served.headers.get_all("x-forwarded-for").iter();
        let client_addr = self
            .proxies
            .client_addr(served.peer, forwarded.filter_map(|v| v.to_str().ok()))
            .map(|addr| addr.to_string());
        let (reference, tag) = match served.reference {
            Reference::Tag(tag) => (tag.as_str().to_owned(), Some(tag.as_str().to_owned())),
            Reference::Digest(digest) => (digest.as_str().to_owned(), None),
        };
        self.record(Item::Pull(NewPullEvent {
            id: Uuid::now_v7(),
            at: OffsetDateTime::now_utc(),
            organization_id: served.organization_id,
            customer_id: served.attribution.customer_id,
            token_id: served.attribution.token_id,
            repository: served.repository.as_str().to_owned(),
            reference,
            tag,
            digest: served.digest.as_str().to_owned(),
            media_type: served.media_type.to_owned(),
            client_kind: ClientKind::from_user_agent(user_agent.as_deref()).as_str(),
            client_addr,
            user_agent,
        }));
    }

    fn blob_served(&self, served: BlobServed) {
        METRICS.blob_bytes.add(served.bytes);
        if served.bytes == 0 {
            return;
        }
        self.record(Item::Bytes { day: OffsetDateTime::now_utc().date(), served });
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

struct Writer {
    pool: PgPool,
    pulls: Vec<NewPullEvent>,
    bytes: HashMap<(Uuid, String, String, Date), BlobBytes>,
}

impl Flush for Writer {
    type Item = Item;

    fn add(&mut self, item: Item) {
        match item {
            Item::Pull(event) => self.pulls.push(event),
            Item::Bytes { day, served } => {
                let key = (served.attribution.token_id, served.repository, served.digest, day);
                let entry = self.bytes.entry(key.clone()).or_insert_with(|| BlobBytes {
                    day,
                    organization_id: served.organization_id,
                    token_id: key.0,
                    customer_id: served.attribution.customer_id,
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
        if !self.pulls.is_empty() {
            let pulls = std::mem::take(&mut self.pulls);
            if let Err(err) = wharf_db::usage::insert_pull_events(&self.pool, &pulls).await {
                METRICS.usage_write_failures.inc();
                tracing::warn!(events = pulls.len(), "writing pull events failed: {err}");
            }
        }
        if !self.bytes.is_empty() {
            let rows: Vec<BlobBytes> = self.bytes.drain().map(|(_, row)| row).collect();
            if let Err(err) = wharf_db::usage::add_blob_bytes(&self.pool, &rows).await {
                METRICS.usage_write_failures.inc();
                tracing::warn!(rows = rows.len(), "writing bytes served failed: {err}");
            }
        }
    }
}
