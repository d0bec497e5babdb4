//! The in-memory view of who may pull what: every customer's licenses, every repository's
//! facts, and the precomputed [`EntitledSet`] of each (customer, repository) pair in use.
//!
//! Owns caching and invalidation only; every decision is made by `wharf-entitlements`. A
//! registry request asks [`EntitlementView::set_for`] and then answers each question with a
//! hash lookup; nothing is read from the database while the view is current.
//!
//! Kept current across instances by the notifications of the `licenses` migration (a
//! license, grant or repository changed) through [`super::invalidation`]; an instance that
//! makes a change also applies it locally before answering. A set is also rebuilt when the
//! clock passes its [`EntitledSet::valid_until`] (a license starting or expiring, a re-tag
//! grace window closing). Fail closed: while the notification connection is down the view
//! caches nothing and reads the database on every request, so a database outage is a 503,
//! never a stale answer.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use wharf_auth::principal::Principal;
use wharf_db::{PgPool, licenses, registry::facts};
use wharf_entitlements::{Decider, EntitledSet, License, RepositoryFacts};

/// Whose entitlements: a customer of a vendor organization, or an anonymous caller (who
/// holds no license and sees public repositories only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A customer (through one of its access tokens).
    Customer {
        /// The vendor organization.
        org_id: Uuid,
        /// The customer.
        customer_id: Uuid,
    },
    /// No credentials.
    Anonymous,
}

impl Subject {
    /// Whose entitlements decide what `principal` sees; `None` for vendors (they see their
    /// whole organization and nothing of others', public repositories aside).
    pub fn of(principal: &Principal) -> Option<Self> {
        match principal {
            Principal::CustomerToken { org_id, customer_id, .. } => {
                Some(Subject::Customer { org_id: *org_id, customer_id: *customer_id })
            }
            Principal::Anonymous => Some(Subject::Anonymous),
            Principal::VendorMember { .. } | Principal::VendorApiToken { .. } => None,
        }
    }

    fn key(self) -> Uuid {
        match self {
            Self::Customer { customer_id, .. } => customer_id,
            Self::Anonymous => Uuid::nil(),
        }
    }
}

/// The database could not answer: the request must fail closed (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// How many (subject, repository) sets one instance keeps before evicting the least recently
/// used half; each is small (hash sets of the entitled tags, manifests and blobs).
const MAX_SETS: usize = 20_000;
/// How many repositories' facts one instance keeps (including "does not exist").
const MAX_REPOSITORIES: usize = 20_000;

#[derive(Debug)]
struct CachedSet {
    set: Arc<EntitledSet>,
    used: u64,
}

/// A repository's facts with its owner; `None` facts when it does not exist.
#[derive(Debug)]
struct RepositoryEntry {
    organization_id: Option<Uuid>,
    facts: RepositoryFacts,
}

#[derive(Debug, Default)]
struct State {
    /// Whether notifications are being received; while not, nothing is cached.
    synced: bool,
    /// Bumped by every invalidation: a load that started before it must not be cached.
    epoch: u64,
    /// Use counter for eviction.
    tick: u64,
    licenses: HashMap<Uuid, Arc<[License]>>,
    repositories: HashMap<String, Arc<RepositoryEntry>>,
    sets: HashMap<Uuid, HashMap<String, CachedSet>>,
    set_count: usize,
}

impl State {
    fn clear(&mut self) {
        self.epoch += 1;
        self.licenses.clear();
        self.repositories.clear();
        self.sets.clear();
        self.set_count = 0;
    }

    fn forget_subject(&mut self, key: Uuid) {
        self.epoch += 1;
        self.licenses.remove(&key);
        if let Some(sets) = self.sets.remove(&key) {
            self.set_count -= sets.len();
        }
    }

    fn forget_repository(&mut self, name: &str) {
        self.epoch += 1;
        self.repositories.remove(name);
        let mut removed = 0;
        for sets in self.sets.values_mut() {
            removed += usize::from(sets.remove(name).is_some());
        }
        self.set_count -= removed;
    }

    fn insert_set(&mut self, key: Uuid, repository: &str, set: Arc<EntitledSet>) {
        if self.set_count >= MAX_SETS {
            self.evict_half();
        }
        self.tick += 1;
        let cached = CachedSet { set, used: self.tick };
        if self.sets.entry(key).or_default().insert(repository.to_owned(), cached).is_none() {
            self.set_count += 1;
        }
    }

    /// Drops the least recently used half of the sets.
    fn evict_half(&mut self) {
        let mut uses: Vec<u64> =
            self.sets.values().flat_map(|m| m.values().map(|c| c.used)).collect();
        let middle = uses.len() / 2;
        let (_, cutoff, _) = uses.select_nth_unstable(middle);
        let cutoff = *cutoff;
        for sets in self.sets.values_mut() {
            sets.retain(|_, c| c.used > cutoff);
        }
        self.sets.retain(|_, m| !m.is_empty());
        self.set_count = self.sets.values().map(HashMap::len).sum();
    }
}

/// The shared entitlement view.
#[derive(Debug)]
pub struct EntitlementView {
    pool: PgPool,
    retag_grace: Duration,
    state: Mutex<State>,
}

impl EntitlementView {
    /// An empty view, not yet synchronised (it caches nothing until
    /// [`EntitlementView::mark_synced`]). `retag_grace` is how long a digest stays pullable
    /// after its entitled tag moved away; it must be at least the bearer token lifetime.
    pub fn new(pool: PgPool, retag_grace: Duration) -> Arc<Self> {
        Arc::new(Self { pool, retag_grace, state: Mutex::new(State::default()) })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything a subject may see in one repository, now.
    pub async fn set_for(
        &self,
        subject: Subject,
        repository: &str,
        now: OffsetDateTime,
    ) -> Result<Arc<EntitledSet>, Unavailable> {
        let key = subject.key();
        let epoch = {
            let mut state = self.state();
            state.tick += 1;
            let tick = state.tick;
            if let Some(cached) = state.sets.get_mut(&key).and_then(|m| m.get_mut(repository))
                && cached.set.is_current_at(now)
            {
                cached.used = tick;
                return Ok(cached.set.clone());
            }
            state.synced.then_some(state.epoch)
        };
        let licenses = self.licenses(subject).await?;
        let entry = self.repository(repository, now).await?;
        let set = Arc::new(build(subject, &licenses, &entry, now, self.retag_grace));
        let mut state = self.state();
        if epoch.is_some_and(|e| e == state.epoch) {
            state.insert_set(key, repository, set.clone());
        }
        Ok(set)
    }

    /// Whether the token service may grant `subject` pull on `repository` (owned by the
    /// subject's vendor): an active grant (or an expired `keep_released` one) covers it, or
    /// the repository is public.
    pub async fn may_pull(
        &self,
        subject: Subject,
        repository: &str,
        now: OffsetDateTime,
    ) -> Result<bool, Unavailable> {
        let licenses = self.licenses(subject).await?;
        let entry = self.repository(repository, now).await?;
        let public = entry.facts.is_public();
        let own = match subject {
            Subject::Customer { org_id, .. } => entry.organization_id.is_none_or(|o| o == org_id),
            Subject::Anonymous => false,
        };
        let licenses: &[License] = if own { &licenses } else { &[] };
        Ok(Decider::new(licenses, now, self.retag_grace)
            .repository_access(repository, public)
            .is_allowed())
    }

    /// Whether `repository` exists and is public.
    pub async fn is_public(
        &self,
        repository: &str,
        now: OffsetDateTime,
    ) -> Result<bool, Unavailable> {
        Ok(self.repository(repository, now).await?.facts.is_public())
    }

    /// The repositories `subject` finds in `_catalog` among `names` (its vendor's): those
    /// with at least one visible tag.
    pub async fn catalog(
        &self,
        subject: Subject,
        names: &[String],
        now: OffsetDateTime,
    ) -> Result<HashSet<String>, Unavailable> {
        let licenses = self.licenses(subject).await?;
        let mut listed = HashSet::new();
        for name in names {
            // Only repositories some grant covers can list anything (public ones aside, which
            // the catalog of a vendor's customer lists too).
            let covered =
                licenses.iter().flat_map(|l| l.grants()).any(|g| g.covers_repository(name));
            if !covered && !self.repository(name, now).await?.facts.is_public() {
                continue;
            }
            if self.set_for(subject, name, now).await?.is_listed() {
                listed.insert(name.clone());
            }
        }
        Ok(listed)
    }

    async fn licenses(&self, subject: Subject) -> Result<Arc<[License]>, Unavailable> {
        let Subject::Customer { org_id, customer_id } = subject else {
            return Ok(Arc::from(Vec::new()));
        };
        let epoch = {
            let state = self.state();
            if let Some(licenses) = state.licenses.get(&customer_id) {
                return Ok(licenses.clone());
            }
            state.synced.then_some(state.epoch)
        };
        let loaded: Arc<[License]> = licenses::entitlements_of(&self.pool, org_id, customer_id)
            .await
            .map_err(|err| {
                tracing::error!("loading licenses failed: {err}");
                Unavailable
            })?
            .into();
        let mut state = self.state();
        if epoch.is_some_and(|e| e == state.epoch) {
            state.licenses.insert(customer_id, loaded.clone());
        }
        Ok(loaded)
    }

    async fn repository(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Arc<RepositoryEntry>, Unavailable> {
        let epoch = {
            let state = self.state();
            if let Some(entry) = state.repositories.get(name) {
                return Ok(entry.clone());
            }
            state.synced.then_some(state.epoch)
        };
        let loaded =
            facts::load(&self.pool, name, now - self.retag_grace).await.map_err(|err| {
                tracing::error!("loading repository facts failed: {err}");
                Unavailable
            })?;
        let entry = Arc::new(match loaded {
            Some(l) => RepositoryEntry { organization_id: Some(l.organization_id), facts: l.facts },
            None => RepositoryEntry {
                organization_id: None,
                facts: RepositoryFacts::new(name, false, vec![], vec![], vec![]),
            },
        });
        let mut state = self.state();
        if epoch.is_some_and(|e| e == state.epoch) {
            if state.repositories.len() >= MAX_REPOSITORIES {
                state.repositories.clear();
            }
            state.repositories.insert(name.to_owned(), entry.clone());
        }
        Ok(entry)
    }

    /// Applies one notification payload: `entitlements:<customer>`, `customer:<customer>`
    /// or `repository:<name>`. Anything else is ignored.
    pub fn apply(&self, payload: &str) {
        let Some((kind, id)) = payload.split_once(':') else { return };
        let mut state = self.state();
        match kind {
            "entitlements" | "customer" => {
                if let Ok(id) = id.parse::<Uuid>() {
                    state.forget_subject(id);
                }
            }
            "repository" => state.forget_repository(id),
            _ => {}
        }
    }

    /// Notifications are flowing again: start caching, from nothing.
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
}

/// The set for `subject` in a repository: its licenses apply only inside its own vendor's
/// repositories; anywhere else (and for anonymous callers) only a public repository shows.
fn build(
    subject: Subject,
    licenses: &[License],
    entry: &RepositoryEntry,
    now: OffsetDateTime,
    retag_grace: Duration,
) -> EntitledSet {
    let own = match subject {
        Subject::Customer { org_id, .. } => entry.organization_id == Some(org_id),
        Subject::Anonymous => false,
    };
    let licenses = if own { licenses } else { &[] };
    EntitledSet::build(licenses, &entry.facts, now, retag_grace)
}

#[cfg(test)]
mod tests {
    use wharf_db::{
        customers,
        licenses::{self, LicenseInput},
        registry::{blobs, manifests, repositories},
    };
    use wharf_entitlements::{ExpiryPolicy, Grant, TagSelector};

    use super::*;

    const GRACE: Duration = Duration::minutes(6);

    /// Organization `acme`, repository `acme/app` with tags `1.0` and `2.0`, a customer with
    /// a license on `1.0` only.
    async fn world(pool: &PgPool) -> (Uuid, Uuid, Uuid) {
        let org = wharf_db::testing::org(pool, "acme").await;
        let repo =
            repositories::find_or_create(pool, org.id, "acme", "acme/app").await.unwrap().unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let config = format!("sha256:{}", "c".repeat(64));
        blobs::record(&mut conn, repo.id, &config, 2).await.unwrap();
        for (tag, fill) in [("1.0", '1'), ("2.0", '2')] {
            let digest = format!("sha256:{}", fill.to_string().repeat(64));
            let manifest = manifests::NewManifest {
                digest: &digest,
                media_type: "application/vnd.oci.image.manifest.v1+json",
                artifact_type: None,
                bytes: tag.as_bytes(),
                subject: None,
                annotations: serde_json::json!({}),
                blobs: vec![manifests::BlobReference {
                    kind: manifests::BlobKind::Config,
                    digest: config.clone(),
                    media_type: "x".into(),
                    size: 2,
                    external: false,
                }],
                children: vec![],
            };
            manifests::put(pool, repo.id, &manifest, Some(tag)).await.unwrap();
        }
        let customer = customers::create(pool, org.id, "Globex").await.unwrap();
        let grants =
            [Grant::new("acme", "acme/app", TagSelector::exact(["1.0"]).unwrap(), None, None)
                .unwrap()];
        let license =
            licenses::create(pool, org.id, customer.id, &input(&grants)).await.unwrap().unwrap();
        (org.id, customer.id, license.id)
    }

    fn input(grants: &[Grant]) -> LicenseInput<'_> {
        LicenseInput {
            name: "Gold",
            starts_at: OffsetDateTime::now_utc() - Duration::days(1),
            expires_at: None,
            on_expiry: ExpiryPolicy::Revoke,
            suspended: false,
            notes: "",
            grants,
        }
    }

    #[sqlx::test(migrator = "wharf_db::MIGRATOR")]
    async fn cached_while_synced_until_a_notification_names_it(pool: PgPool) {
        let (org, customer, license) = world(&pool).await;
        let subject = Subject::Customer { org_id: org, customer_id: customer };
        let view = EntitlementView::new(pool.clone(), GRACE);
        view.mark_synced();
        let now = OffsetDateTime::now_utc();
        let set = view.set_for(subject, "acme/app", now).await.unwrap();
        assert!(set.allows_tag("1.0") && !set.allows_tag("2.0"));
        assert!(view.may_pull(subject, "acme/app", now).await.unwrap());
        assert!(!view.may_pull(subject, "acme/other", now).await.unwrap());

        // Widened in the database: the view keeps its answer (no listener here) ...
        let both = [Grant::new("acme", "acme/app", TagSelector::All, None, None).unwrap()];
        licenses::replace(&pool, org, license, &input(&both)).await.unwrap().unwrap();
        let cached = view.set_for(subject, "acme/app", now).await.unwrap();
        assert!(Arc::ptr_eq(&set, &cached), "served from memory");
        // ... until the notification for this customer arrives; another customer's changes
        // nothing.
        view.apply(&format!("entitlements:{}", Uuid::new_v4()));
        assert!(Arc::ptr_eq(&set, &view.set_for(subject, "acme/app", now).await.unwrap()));
        view.apply(&format!("entitlements:{customer}"));
        assert!(view.set_for(subject, "acme/app", now).await.unwrap().allows_tag("2.0"));

        // A repository notification drops the facts: a deleted tag disappears.
        assert!(
            wharf_db::registry::tags::delete(
                &pool,
                repositories::find(&pool, "acme/app").await.unwrap().unwrap().id,
                "2.0"
            )
            .await
            .unwrap()
        );
        assert!(view.set_for(subject, "acme/app", now).await.unwrap().allows_tag("2.0"));
        view.apply("repository:acme/app");
        assert!(!view.set_for(subject, "acme/app", now).await.unwrap().allows_tag("2.0"));

        // The clock alone invalidates a set past its `valid_until`.
        let mut ending = input(&both);
        ending.expires_at = Some(now + Duration::minutes(1));
        licenses::replace(&pool, org, license, &ending).await.unwrap().unwrap();
        view.apply(&format!("entitlements:{customer}"));
        assert!(view.set_for(subject, "acme/app", now).await.unwrap().allows_tag("1.0"));
        let later = now + Duration::minutes(2);
        assert!(!view.set_for(subject, "acme/app", later).await.unwrap().allows_tag("1.0"));
    }

    #[sqlx::test(migrator = "wharf_db::MIGRATOR")]
    async fn unsynced_it_reads_the_database_every_time_and_fails_closed(pool: PgPool) {
        let (org, customer, license) = world(&pool).await;
        let subject = Subject::Customer { org_id: org, customer_id: customer };
        let view = EntitlementView::new(pool.clone(), GRACE);
        let now = OffsetDateTime::now_utc();
        assert!(view.set_for(subject, "acme/app", now).await.unwrap().allows_tag("1.0"));
        let mut suspended = input(&[]);
        suspended.suspended = true;
        licenses::replace(&pool, org, license, &suspended).await.unwrap().unwrap();
        assert!(
            !view.set_for(subject, "acme/app", now).await.unwrap().allows_tag("1.0"),
            "nothing cached while notifications may be missed"
        );
        // Anonymous callers and other vendors' customers see nothing private.
        assert!(!view.set_for(Subject::Anonymous, "acme/app", now).await.unwrap().is_listed());
        let stranger = Subject::Customer { org_id: Uuid::new_v4(), customer_id: customer };
        assert!(!view.may_pull(stranger, "acme/app", now).await.unwrap());
        pool.close().await;
        assert_eq!(view.set_for(subject, "acme/app", now).await.unwrap_err(), Unavailable);
    }
}
