//! The recorder's request side: GETs and HEADs coalesced where they are served.
//!
//! A manifest GET looks its event up in [`PendingPulls`] by what it borrows from the request
//! (repository, reference, digest, media type, `User-Agent`: nothing is copied or parsed to
//! look): a GET identical to one already pending in the same second adds one to its count
//! under a shard's mutex and allocates nothing. Only the first GET of an event copies its
//! strings, formats the client address and parses the `User-Agent`. A HEAD does the same in
//! [`PendingHeads`], keyed by day instead of second and by client kind instead of
//! `User-Agent`. The writer takes both tables whole, so it hashes nothing per GET.
//!
//! Both tables are bounded by the number of distinct entries they hold: when the writer is
//! behind and the bound is reached, new entries are refused (and counted as dropped by the
//! caller) while GETs of pending entries are still counted.

use std::{
    collections::{HashMap, hash_map::Entry},
    hash::{Hash, Hasher},
    net::IpAddr,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
};

use time::{Date, OffsetDateTime};
use uuid::Uuid;
use wharf_db::usage::NewPullEvent;

use super::client::ClientKind;

/// Shards of each table (requests on different cores rarely wait for each other).
const SHARDS: usize = 8;

/// What makes a GET the same pull event as another: everything but the sub-second time.
#[derive(Debug, Clone, Copy, Hash)]
pub(super) struct PullKey<'a> {
    /// Unix time in seconds.
    pub second: i64,
    pub organization_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub token_id: Uuid,
    pub repository: &'a str,
    pub reference: &'a str,
    pub tag: Option<&'a str>,
    pub digest: &'a str,
    pub media_type: &'a str,
    pub client_addr: Option<IpAddr>,
    /// Already cut to the recorded length.
    pub user_agent: Option<&'a str>,
}

/// A pending pull event: the event (its `requests` counting GETs, its id not given yet), the
/// order of its first GET among all GETs, its client address as an address, and the time of
/// its latest GET.
#[derive(Debug)]
pub(super) struct PendingPull {
    pub event: NewPullEvent,
    pub order: u64,
    pub addr: Option<IpAddr>,
    pub last: OffsetDateTime,
}

impl PendingPull {
    fn is(&self, k: &PullKey<'_>) -> bool {
        let e = &self.event;
        e.at.unix_timestamp() == k.second
            && e.organization_id == k.organization_id
            && e.customer_id == k.customer_id
            && e.token_id == k.token_id
            && self.addr == k.client_addr
            && e.digest == k.digest
            && e.repository == k.repository
            && e.reference == k.reference
            && e.tag.as_deref() == k.tag
            && e.media_type == k.media_type
            && e.user_agent.as_deref() == k.user_agent
    }
}

/// What a HEAD is counted under: the manifest (token, repository, digest: what a GET must
/// match to take it back) and the counter's group (day, organization, customer, reference,
/// client kind).
#[derive(Debug, Clone, Copy, Hash)]
pub(super) struct HeadKey<'a> {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub token_id: Uuid,
    pub repository: &'a str,
    pub digest: &'a str,
    pub organization_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub reference: &'a str,
    pub client_kind: ClientKind,
}

/// The HEADs of one [`HeadKey`]: how many, the first and the latest.
#[derive(Debug)]
pub(super) struct PendingHead {
    pub day: Date,
    pub token_id: Uuid,
    pub repository: String,
    pub digest: String,
    pub organization_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub reference: String,
    pub client_kind: ClientKind,
    pub unix_day: i64,
    pub checks: i64,
    pub first: OffsetDateTime,
    pub last: OffsetDateTime,
}

impl PendingHead {
    fn is(&self, k: &HeadKey<'_>) -> bool {
        self.unix_day == k.day
            && self.token_id == k.token_id
            && self.organization_id == k.organization_id
            && self.customer_id == k.customer_id
            && self.client_kind == k.client_kind
            && self.digest == k.digest
            && self.repository == k.repository
            && self.reference == k.reference
    }
}

/// The outcome of recording one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    /// Counted in an entry already pending.
    Counted,
    /// A new entry; the table now holds this many.
    New(usize),
    /// The table is full (or closed): not recorded.
    Refused,
}

/// Entries keyed by a 64-bit hash of their key.
type Shard<T> = HashMap<u64, Slot<T>>;

/// The entries of one hash: nearly always one, held in the map itself (a new event allocates
/// no vector: at tens of thousands of distinct GETs a second the allocator is a good part of
/// what recording costs); the rare collisions share a vector.
#[derive(Debug)]
enum Slot<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Slot<T> {
    fn find(&mut self, is: impl Fn(&T) -> bool) -> Option<&mut T> {
        match self {
            Self::One(entry) => is(entry).then_some(entry),
            Self::Many(entries) => entries.iter_mut().find(|e| is(e)),
        }
    }

    fn push(&mut self, entry: T) {
        *self = match std::mem::replace(self, Self::Many(Vec::new())) {
            Self::One(first) => Self::Many(vec![first, entry]),
            Self::Many(mut entries) => {
                entries.push(entry);
                Self::Many(entries)
            }
        };
    }

    fn into_vec(self, out: &mut Vec<T>) {
        match self {
            Self::One(entry) => out.push(entry),
            Self::Many(entries) => out.extend(entries),
        }
    }
}

/// A bounded, sharded table of pending entries.
#[derive(Debug)]
struct Table<T> {
    shards: [Mutex<Shard<T>>; SHARDS],
    len: AtomicUsize,
    capacity: usize,
    closed: AtomicBool,
}

impl<T> Table<T> {
    fn new(capacity: usize) -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            len: AtomicUsize::new(0),
            capacity: capacity.max(1),
            closed: AtomicBool::new(false),
        }
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard<T>> {
        // The top bits pick the shard; the map hashes the whole value again.
        let i = usize::try_from(hash >> 61).unwrap_or(0) % SHARDS;
        self.shards[i].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `hash`'s entry for which `is` holds with `count`, or adds the one `new` makes.
    fn record(
        &self,
        hash: u64,
        is: impl Fn(&T) -> bool,
        count: impl FnOnce(&mut T),
        new: impl FnOnce() -> T,
    ) -> Recorded {
        if self.closed.load(Ordering::Relaxed) {
            return Recorded::Refused;
        }
        let mut shard = self.shard(hash);
        if let Some(entry) = shard.get_mut(&hash).and_then(|slot| slot.find(&is)) {
            count(entry);
            return Recorded::Counted;
        }
        let before = self.len.fetch_add(1, Ordering::Relaxed);
        if before >= self.capacity {
            self.len.fetch_sub(1, Ordering::Relaxed);
            return Recorded::Refused;
        }
        match shard.entry(hash) {
            Entry::Occupied(mut slot) => slot.get_mut().push(new()),
            Entry::Vacant(slot) => {
                slot.insert(Slot::One(new()));
            }
        }
        Recorded::New(before + 1)
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Every entry, taken out (the shards keep their allocations).
    fn take(&self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len());
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (_, slot) in shard.drain() {
                slot.into_vec(&mut out);
            }
        }
        self.len.fetch_sub(out.len(), Ordering::Relaxed);
        out
    }
}

/// Pull events waiting for the writer.
#[derive(Debug)]
pub(super) struct PendingPulls {
    table: Table<PendingPull>,
    /// The order of the next new event.
    next: AtomicU64,
}

impl PendingPulls {
    pub fn new(capacity: usize) -> Self {
        Self { table: Table::new(capacity), next: AtomicU64::new(0) }
    }

    /// Counts a GET served at `at` (whose second is `key.second`).
    pub fn record(&self, key: &PullKey<'_>, at: OffsetDateTime) -> Recorded {
        self.table.record(
            fx_hash(key),
            |p| p.is(key),
            |p| {
                p.event.requests = p.event.requests.saturating_add(1);
                p.last = p.last.max(at);
            },
            || PendingPull {
                event: NewPullEvent {
                    // Given when written: a UUIDv7 takes a `getrandom` system call, one per
                    // event rather than one per GET.
                    id: Uuid::nil(),
                    at,
                    organization_id: key.organization_id,
                    customer_id: key.customer_id,
                    token_id: key.token_id,
                    repository: key.repository.to_owned(),
                    reference: key.reference.to_owned(),
                    tag: key.tag.map(str::to_owned),
                    digest: key.digest.to_owned(),
                    media_type: key.media_type.to_owned(),
                    client_addr: key.client_addr.map(|a| a.to_string()),
                    user_agent: key.user_agent.map(str::to_owned),
                    client_kind: ClientKind::from_user_agent(key.user_agent).as_str(),
                    requests: 1,
                },
                order: self.next.fetch_add(1, Ordering::Relaxed),
                addr: key.client_addr,
                last: at,
            },
        )
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Refuses every GET from now on (at shutdown).
    pub fn close(&self) {
        self.table.closed.store(true, Ordering::Relaxed);
    }

    /// The pending events in the order of their first GET.
    pub fn take(&self) -> Vec<PendingPull> {
        let mut pulls = self.table.take();
        pulls.sort_unstable_by_key(|p| p.order);
        pulls
    }
}

/// Version checks waiting for the writer.
#[derive(Debug)]
pub(super) struct PendingHeads {
    table: Table<PendingHead>,
}

impl PendingHeads {
    pub fn new(capacity: usize) -> Self {
        Self { table: Table::new(capacity) }
    }

    /// Counts a HEAD answered at `at` (whose day is `key.day`).
    pub fn record(&self, key: &HeadKey<'_>, at: OffsetDateTime) -> Recorded {
        self.table.record(
            fx_hash(key),
            |h| h.is(key),
            |h| {
                h.checks += 1;
                h.first = h.first.min(at);
                h.last = h.last.max(at);
            },
            || PendingHead {
                day: at.date(),
                token_id: key.token_id,
                repository: key.repository.to_owned(),
                digest: key.digest.to_owned(),
                organization_id: key.organization_id,
                customer_id: key.customer_id,
                reference: key.reference.to_owned(),
                client_kind: key.client_kind,
                unix_day: key.day,
                checks: 1,
                first: at,
                last: at,
            },
        )
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Refuses every HEAD from now on (at shutdown).
    pub fn close(&self) {
        self.table.closed.store(true, Ordering::Relaxed);
    }

    pub fn take(&self) -> Vec<PendingHead> {
        self.table.take()
    }
}

/// Days since the Unix epoch of `at` (UTC).
pub(super) fn unix_day(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(86_400)
}

/// A fast 64-bit hash (the multiply-rotate hash of rustc's `FxHasher`): keys are hashed on
/// every request, and a table's entries are compared in full on a match, so a weak hash only
/// costs a comparison.
fn fx_hash(value: &impl Hash) -> u64 {
    let mut hasher = Fx(0);
    value.hash(&mut hasher);
    hasher.finish()
}

struct Fx(u64);

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // Spread the high bits down too (the shard is picked by the top bits).
        self.0 ^ (self.0 >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries whose hashes collide are kept apart, counted apart and all taken.
    #[test]
    fn colliding_hashes_keep_their_entries_apart() {
        let table: Table<(u32, u32)> = Table::new(10);
        let record = |key: u32| table.record(7, |e| e.0 == key, |e| e.1 += 1, || (key, 1));
        assert_eq!(record(1), Recorded::New(1));
        assert_eq!(record(2), Recorded::New(2));
        assert_eq!(record(1), Recorded::Counted);
        assert_eq!(record(3), Recorded::New(3));
        assert_eq!(record(2), Recorded::Counted);
        assert_eq!(record(2), Recorded::Counted);
        let mut taken = table.take();
        taken.sort_unstable();
        assert_eq!(taken, vec![(1, 2), (2, 3), (3, 1)]);
        assert_eq!(table.len(), 0);
        assert_eq!(record(2), Recorded::New(1), "taken whole");
    }
}
