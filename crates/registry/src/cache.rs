//! Repository content kept in memory, so a pull's manifest GET or HEAD and its blob HEADs
//! answer without a database round trip.
//!
//! A manifest is immutable once pushed (its digest is its content), and so is a blob's size,
//! so the cache holds, per repository, manifests by digest, the tag → digest mapping of the
//! tags that were asked for, and the size of the blobs linked to it. What can change is
//! whether a repository still holds a manifest or a blob and where its tags point; every such
//! change sends `repository:<name>` on Postgres's invalidation channel (migrations `licenses`
//! and `blob_link_invalidation`), and the server's listener calls
//! [`ContentCache::invalidate`], which drops the whole repository's entries. The registry's
//! own PUT and DELETE handlers invalidate the local cache right after their commit too, so a
//! client reads its own writes on the instance that took them; other instances follow when
//! the notification reaches them (milliseconds). Only what exists is cached: a blob linked
//! or a manifest pushed later is simply not found in the cache and read from the database.
//!
//! The cache serves only while notifications are known to flow ([`ContentCache::mark_synced`]);
//! after a lost listener connection it is emptied and every read goes to the database until
//! the listener is back, as the entitlement view does. A read that started before an
//! invalidation never stores its (possibly stale) answer: every invalidation bumps a
//! generation that the `insert` functions check under the same lock.
//!
//! Memory is bounded by `capacity` bytes (content plus a fixed per-entry overhead); beyond
//! it whole repositories are dropped until half the capacity is used. A capacity of 0
//! disables the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

/// A manifest as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedManifest {
    /// Its digest.
    pub digest: Arc<str>,
    /// Its stored media type.
    pub media_type: Arc<str>,
    /// Its size in bytes.
    pub size: u64,
    /// Its bytes as pushed (empty when read for a HEAD without the cache).
    pub bytes: Bytes,
}

impl CachedManifest {
    fn cost(&self) -> usize {
        ENTRY_OVERHEAD + self.bytes.len() + self.media_type.len() + self.digest.len()
    }
}

/// Bytes counted for an entry beyond its content: the maps' slots, keys and `Arc`s.
const ENTRY_OVERHEAD: usize = 256;

/// Proof that a database read started after the last invalidation seen: taken before the
/// read, given back to [`ContentCache::insert`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

#[derive(Debug, Default)]
struct Repository {
    tags: HashMap<Box<str>, Arc<str>>,
    manifests: HashMap<Arc<str>, Arc<CachedManifest>>,
    blobs: HashMap<Box<str>, u64>,
    cost: usize,
}

#[derive(Debug, Default)]
struct State {
    synced: bool,
    generation: u64,
    repositories: HashMap<Box<str>, Repository>,
    cost: usize,
}

impl State {
    fn clear(&mut self) {
        self.generation += 1;
        self.repositories.clear();
        self.cost = 0;
    }
}

/// The cache; share it as `Arc<ContentCache>` between the registry and the listener.
#[derive(Debug)]
pub struct ContentCache {
    capacity: usize,
    state: Mutex<State>,
}

impl ContentCache {
    /// An empty cache of at most `capacity` bytes, not serving until
    /// [`mark_synced`](Self::mark_synced).
    pub fn new(capacity: usize) -> Self {
        Self { capacity, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind, still consistent enough
        // to clear; never propagate the poison into request handling.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether anything is ever cached.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The manifest `tag` points at in `repository`, if cached.
    pub fn by_tag(&self, repository: &str, tag: &str) -> Option<Arc<CachedManifest>> {
        let state = self.state();
        let repo = state.repositories.get(repository)?;
        let digest = repo.tags.get(tag)?;
        repo.manifests.get(digest).cloned()
    }

    /// The manifest `digest` in `repository`, if cached.
    pub fn by_digest(&self, repository: &str, digest: &str) -> Option<Arc<CachedManifest>> {
        let state = self.state();
        state.repositories.get(repository)?.manifests.get(digest).cloned()
    }

    /// The size of blob `digest` if cached as linked to `repository`.
    pub fn blob_size(&self, repository: &str, digest: &str) -> Option<u64> {
        let state = self.state();
        state.repositories.get(repository)?.blobs.get(digest).copied()
    }

    /// A ticket for a database read whose answer may be cached, or `None` when nothing may
    /// be (disabled, or not synchronised with the database's notifications).
    pub fn ticket(&self) -> Option<Ticket> {
        if !self.enabled() {
            return None;
        }
        let state = self.state();
        state.synced.then_some(Ticket(state.generation))
    }

    /// Stores what a read found: `manifest` in `repository`, and `tag` → its digest when it
    /// was read by tag. Ignored when anything was invalidated since `ticket` was taken, or
    /// when the manifest alone would take more than an eighth of the capacity.
    pub fn insert(
        &self,
        ticket: Ticket,
        repository: &str,
        tag: Option<&str>,
        manifest: CachedManifest,
    ) {
        let cost = manifest.cost() + tag.map_or(0, |tag| ENTRY_OVERHEAD + tag.len());
        if cost > self.capacity / 8 {
            return;
        }
        let mut state = self.state();
        let Some(repo) = self.admit(&mut state, ticket, repository, cost) else { return };
        let digest = manifest.digest.clone();
        let mut added = 0;
        if !repo.manifests.contains_key(&digest) {
            added += manifest.cost();
            repo.manifests.insert(digest.clone(), Arc::new(manifest));
        }
        if let Some(tag) = tag
            && repo.tags.insert(tag.into(), digest).is_none()
        {
            added += ENTRY_OVERHEAD + tag.len();
        }
        repo.cost += added;
        state.cost += added;
    }

    /// Stores that blob `digest` of `size` bytes is linked to `repository`; ignored when
    /// anything was invalidated since `ticket` was taken.
    pub fn insert_blob(&self, ticket: Ticket, repository: &str, digest: &str, size: u64) {
        let cost = ENTRY_OVERHEAD + digest.len();
        let mut state = self.state();
        let Some(repo) = self.admit(&mut state, ticket, repository, cost) else { return };
        if repo.blobs.insert(digest.into(), size).is_none() {
            repo.cost += cost;
            state.cost += cost;
        }
    }

    /// The repository's entry to store `cost` more bytes in, making room if needed; `None`
    /// when the ticket is stale.
    fn admit<'s>(
        &self,
        state: &'s mut State,
        ticket: Ticket,
        repository: &str,
        cost: usize,
    ) -> Option<&'s mut Repository> {
        if !state.synced || state.generation != ticket.0 {
            return None;
        }
        if state.cost + cost > self.capacity {
            self.shrink(state);
        }
        Some(state.repositories.entry(repository.into()).or_default())
    }

    /// Drops repositories until at most half the capacity is used.
    fn shrink(&self, state: &mut State) {
        let target = self.capacity / 2;
        let mut dropped = Vec::new();
        let mut cost = state.cost;
        for (name, repo) in &state.repositories {
            if cost <= target {
                break;
            }
            cost -= repo.cost;
            dropped.push(name.clone());
        }
        for name in dropped {
            state.repositories.remove(&name);
        }
        state.cost = cost;
    }

    /// Forgets everything about `repository`: its tags or manifests changed.
    pub fn invalidate(&self, repository: &str) {
        let mut state = self.state();
        state.generation += 1;
        if let Some(repo) = state.repositories.remove(repository) {
            state.cost -= repo.cost;
        }
    }

    /// Notifications are flowing: start caching, from nothing.
    pub fn mark_synced(&self) {
        let mut state = self.state();
        state.clear();
        state.synced = true;
    }

    /// Notifications may be missed: forget everything and stop caching.
    pub fn mark_unsynced(&self) {
        let mut state = self.state();
        state.clear();
        state.synced = false;
    }

    /// Bytes accounted to what is cached.
    pub fn used(&self) -> usize {
        self.state().cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(digest: &str, size: usize) -> CachedManifest {
        CachedManifest {
            digest: digest.into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: size as u64,
            bytes: Bytes::from(vec![b'x'; size]),
        }
    }

    fn synced(capacity: usize) -> ContentCache {
        let cache = ContentCache::new(capacity);
        cache.mark_synced();
        cache
    }

    #[test]
    fn serves_nothing_until_synced() {
        let cache = ContentCache::new(1 << 20);
        assert!(cache.ticket().is_none());
        cache.mark_synced();
        let ticket = cache.ticket().unwrap();
        cache.mark_unsynced();
        cache.insert(ticket, "a/b", Some("1"), manifest("sha256:1", 10));
        assert!(cache.by_tag("a/b", "1").is_none());
        assert!(cache.ticket().is_none());
    }

    #[test]
    fn a_disabled_cache_hands_out_no_tickets() {
        let cache = synced(0);
        assert!(!cache.enabled());
        assert!(cache.ticket().is_none());
    }

    #[test]
    fn finds_by_tag_and_digest_within_the_repository_only() {
        let cache = synced(1 << 20);
        let ticket = cache.ticket().unwrap();
        cache.insert(ticket, "a/b", Some("1"), manifest("sha256:1", 10));
        assert_eq!(&*cache.by_tag("a/b", "1").unwrap().digest, "sha256:1");
        assert_eq!(cache.by_digest("a/b", "sha256:1").unwrap().bytes.len(), 10);
        assert!(cache.by_tag("a/c", "1").is_none());
        assert!(cache.by_digest("a/c", "sha256:1").is_none());
        assert!(cache.by_tag("a/b", "2").is_none());
        // Read by digest: the tag is not learnt.
        let ticket = cache.ticket().unwrap();
        cache.insert(ticket, "a/b", None, manifest("sha256:2", 10));
        assert!(cache.by_digest("a/b", "sha256:2").is_some());
        assert!(cache.by_tag("a/b", "2").is_none());
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_stored() {
        let cache = synced(1 << 20);
        let ticket = cache.ticket().unwrap();
        // The tag moved (in any repository) while the read was under way.
        cache.invalidate("x/y");
        cache.insert(ticket, "a/b", Some("1"), manifest("sha256:old", 10));
        assert!(cache.by_tag("a/b", "1").is_none());
        assert_eq!(cache.used(), 0);
    }

    #[test]
    fn invalidation_drops_the_repository_and_its_cost() {
        let cache = synced(1 << 20);
        let ticket = cache.ticket().unwrap();
        cache.insert(ticket, "a/b", Some("1"), manifest("sha256:1", 100));
        cache.insert(ticket, "a/c", Some("1"), manifest("sha256:1", 100));
        let both = cache.used();
        cache.invalidate("a/b");
        assert!(cache.by_digest("a/b", "sha256:1").is_none());
        assert!(cache.by_digest("a/c", "sha256:1").is_some());
        assert_eq!(cache.used(), both / 2);
    }

    #[test]
    fn stays_within_its_capacity() {
        let capacity = 64 * 1024;
        let cache = synced(capacity);
        for i in 0..1_000 {
            let ticket = cache.ticket().unwrap();
            cache.insert(
                ticket,
                &format!("org/r{i}"),
                Some("1"),
                manifest(&format!("sha256:{i}"), 1000),
            );
            assert!(cache.used() <= capacity, "{} > {capacity}", cache.used());
        }
        assert!(cache.by_tag("org/r999", "1").is_some(), "the latest entry is kept");
        // Too big for the cache: never stored.
        let ticket = cache.ticket().unwrap();
        cache.insert(ticket, "org/big", None, manifest("sha256:big", capacity / 4));
        assert!(cache.by_digest("org/big", "sha256:big").is_none());
    }

    #[test]
    fn blob_sizes_are_kept_per_repository_until_invalidated() {
        let cache = synced(1 << 20);
        let ticket = cache.ticket().unwrap();
        cache.insert_blob(ticket, "a/b", "sha256:l", 42);
        assert_eq!(cache.blob_size("a/b", "sha256:l"), Some(42));
        assert_eq!(cache.blob_size("a/c", "sha256:l"), None);
        cache.invalidate("a/b");
        assert_eq!(cache.blob_size("a/b", "sha256:l"), None);
        cache.insert_blob(ticket, "a/b", "sha256:l", 42);
        assert_eq!(cache.blob_size("a/b", "sha256:l"), None, "stale ticket");
        assert_eq!(cache.used(), 0);
    }

    #[test]
    fn storing_the_same_entry_twice_counts_it_once() {
        let cache = synced(1 << 20);
        let ticket = cache.ticket().unwrap();
        cache.insert(ticket, "a/b", Some("1"), manifest("sha256:1", 10));
        let once = cache.used();
        cache.insert(ticket, "a/b", Some("1"), manifest("sha256:1", 10));
        assert_eq!(cache.used(), once);
    }
}
