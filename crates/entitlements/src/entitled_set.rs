//! The precomputed view of one customer's entitlements in one repository.
//!
//! [`EntitledSet::build`] applies the same rules as [`crate::Decider`] once, for every tag,
//! manifest and blob of a repository, into hash maps, so that each request is an O(1) lookup.
//! The view depends on the clock: [`EntitledSet::valid_until`] is the earliest instant at
//! which it could change (a license starting or expiring, a re-tag grace window closing); a
//! cache must rebuild it then, and whenever the facts or the licenses change. No I/O here.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use time::{Duration, OffsetDateTime};

use crate::{
    decide::{RepositoryRules, Root, history_roots},
    decision::{AllowReason, Decision, DenyReason},
    facts::{Digest, RepositoryFacts},
    license::License,
    selector::TagCandidate,
};

/// Every decision for one customer in one repository, precomputed.
#[derive(Debug, Clone)]
pub struct EntitledSet {
    repository: String,
    /// Set when everything is allowed (public repository, vendor member), with the reason.
    everything: Option<AllowReason>,
    computed_at: OffsetDateTime,
    valid_until: Option<OffsetDateTime>,
    /// Every current tag, with its decision.
    tags: HashMap<Arc<str>, Decision>,
    /// The allowed tags, sorted.
    visible_tags: Vec<Arc<str>>,
    /// Allowed manifests.
    manifests: HashMap<Digest, AllowReason>,
    /// Allowed blobs, with the (smallest-digest) allowed manifest that references each.
    blobs: HashMap<Digest, Digest>,
    /// Allowed referrers of allowed subjects, sorted by digest.
    referrers: HashMap<Digest, Vec<Digest>>,
}

impl EntitledSet {
    /// Computes the view for a customer holding `licenses`, at `now`, with the re-tag grace
    /// window `retag_grace` (negative is zero).
    #[must_use]
    pub fn build(
        licenses: &[License],
        facts: &RepositoryFacts,
        now: OffsetDateTime,
        retag_grace: Duration,
    ) -> Self {
        let retag_grace = retag_grace.max(Duration::ZERO);
        if facts.is_public() {
            return Self::everything(facts, now, AllowReason::Public);
        }
        let rules = RepositoryRules::new(licenses, facts.name(), now);

        let mut tags = HashMap::with_capacity(facts.tags().len());
        let mut visible_tags = Vec::new();
        let mut roots = Vec::new();
        for tag in facts.tags() {
            let name: Arc<str> = Arc::from(tag.name.as_str());
            let decision = match rules.tag(&TagCandidate::new(&tag.name), tag.pushed_at) {
                Ok((grant, reach)) => {
                    visible_tags.push(name.clone());
                    roots.push(Root {
                        digest: &tag.digest,
                        reach,
                        reason: AllowReason::Tagged { tag: name.clone(), grant },
                        grace_ends: None,
                    });
                    Decision::Allowed(AllowReason::Granted { grant })
                }
                Err(reason) => Decision::Denied(reason),
            };
            tags.insert(name, decision);
        }
        roots.extend(history_roots(&rules, facts, now, retag_grace));

        let valid_until = roots
            .iter()
            .filter_map(|r| r.grace_ends)
            .filter(|t| *t > now)
            .chain(rules.next_change_after(now))
            .min();

        // Close over index children and referrers, longest reach first, so each manifest is
        // reached with the longest reach it can have.
        roots.sort_by_key(|root| std::cmp::Reverse(root.reach));
        let mut manifests: HashMap<Digest, AllowReason> = HashMap::new();
        let mut queue = VecDeque::new();
        for root in roots {
            if manifests.contains_key(root.digest.as_str()) {
                continue;
            }
            manifests.insert(root.digest.clone(), root.reason);
            queue.push_back((root.digest.clone(), root.reach));
            while let Some((digest, reach)) = queue.pop_front() {
                // A root may be missing from the facts (a dangling tag); its referrers still
                // follow it, as in the direct decision.
                let children = facts.manifest(digest.as_str()).map_or(&[][..], |m| m.children());
                let children = children
                    .iter()
                    .map(|child| (child, AllowReason::IndexChild { index: digest.clone() }));
                let referrers = facts
                    .referrers_of(digest.as_str())
                    .iter()
                    .map(|r| (r, AllowReason::Referrer { subject: digest.clone() }));
                for (next, reason) in children.chain(referrers) {
                    if manifests.contains_key(next.as_str()) {
                        continue;
                    }
                    if facts.manifest(next.as_str()).is_some_and(|m| reach.admits(m.pushed_at)) {
                        manifests.insert(next.clone(), reason);
                        queue.push_back((next.clone(), reach));
                    }
                }
            }
        }

        let mut allowed: Vec<&Digest> = manifests.keys().collect();
        allowed.sort_unstable();
        let mut blobs = HashMap::new();
        let mut referrers = HashMap::new();
        for digest in allowed {
            if let Some(manifest) = facts.manifest(digest.as_str()) {
                for blob in manifest.blobs() {
                    blobs.entry(blob.clone()).or_insert_with(|| digest.clone());
                }
            }
            let list: Vec<Digest> = facts
                .referrers_of(digest.as_str())
                .iter()
                .filter(|r| manifests.contains_key(r.as_str()))
                .cloned()
                .collect();
            if !list.is_empty() {
                referrers.insert(digest.clone(), list);
            }
        }

        Self {
            repository: facts.name().to_owned(),
            everything: None,
            computed_at: now,
            valid_until,
            tags,
            visible_tags,
            manifests,
            blobs,
            referrers,
        }
    }

    /// The view of a vendor member of the organization that owns the repository: everything
    /// is allowed, with the reason [`AllowReason::Vendor`]. Checking membership is the
    /// caller's job; this is a convenience so that one type serves every pull.
    #[must_use]
    pub fn vendor(facts: &RepositoryFacts, now: OffsetDateTime) -> Self {
        Self::everything(facts, now, AllowReason::Vendor)
    }

    /// Every tag, manifest and blob allowed, for `reason`.
    fn everything(facts: &RepositoryFacts, now: OffsetDateTime, reason: AllowReason) -> Self {
        let visible_tags: Vec<Arc<str>> =
            facts.tags().iter().map(|t| Arc::from(t.name.as_str())).collect();
        let tags =
            visible_tags.iter().map(|t| (t.clone(), Decision::Allowed(reason.clone()))).collect();
        // Every subject, known or not, with all its referrers.
        let referrers = facts
            .manifests()
            .filter_map(|m| m.subject.as_ref())
            .map(|subject| (subject.clone(), facts.referrers_of(subject.as_str()).to_vec()))
            .collect();
        Self {
            repository: facts.name().to_owned(),
            everything: Some(reason),
            computed_at: now,
            valid_until: None,
            tags,
            visible_tags,
            manifests: HashMap::new(),
            blobs: HashMap::new(),
            referrers,
        }
    }

    /// The repository.
    #[must_use]
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Whether everything is allowed (public repository, or a vendor's view).
    #[must_use]
    pub fn allows_everything(&self) -> bool {
        self.everything.is_some()
    }

    /// The instant the view was computed for.
    #[must_use]
    pub fn computed_at(&self) -> OffsetDateTime {
        self.computed_at
    }

    /// The earliest instant after [`EntitledSet::computed_at`] at which the view could change
    /// with the same facts and licenses; `None` if only a change of facts or licenses can.
    #[must_use]
    pub fn valid_until(&self) -> Option<OffsetDateTime> {
        self.valid_until
    }

    /// Whether the view still holds at `now` (same facts and licenses assumed).
    #[must_use]
    pub fn is_current_at(&self, now: OffsetDateTime) -> bool {
        self.computed_at <= now && self.valid_until.is_none_or(|until| now < until)
    }

    /// The manifest tagged `tag` (and the tag's presence in `tags/list`).
    pub fn manifest_by_tag(&self, tag: &str) -> Decision {
        self.tags.get(tag).cloned().unwrap_or(Decision::Denied(DenyReason::UnknownTag))
    }

    /// The manifest `digest`.
    pub fn manifest_by_digest(&self, digest: &str) -> Decision {
        if let Some(reason) = &self.everything {
            return Decision::Allowed(reason.clone());
        }
        self.manifests
            .get(digest)
            .map_or(Decision::Denied(DenyReason::ManifestNotEntitled), |reason| {
                Decision::Allowed(reason.clone())
            })
    }

    /// The blob `digest`.
    pub fn blob(&self, digest: &str) -> Decision {
        if let Some(reason) = &self.everything {
            return Decision::Allowed(reason.clone());
        }
        self.blobs.get(digest).map_or(Decision::Denied(DenyReason::BlobNotEntitled), |manifest| {
            Decision::Allowed(AllowReason::ReferencedBy { manifest: manifest.clone() })
        })
    }

    /// Whether the tag `tag` is visible and its manifest may be fetched through it (no
    /// reason, no allocation).
    #[must_use]
    pub fn allows_tag(&self, tag: &str) -> bool {
        self.tags.get(tag).is_some_and(Decision::is_allowed)
    }

    /// Whether the manifest `digest` is allowed (no reason, no allocation).
    #[must_use]
    pub fn allows_manifest(&self, digest: &str) -> bool {
        self.everything.is_some() || self.manifests.contains_key(digest)
    }

    /// Whether the blob `digest` is allowed (no reason, no allocation).
    #[must_use]
    pub fn allows_blob(&self, digest: &str) -> bool {
        self.everything.is_some() || self.blobs.contains_key(digest)
    }

    /// The visible tags, sorted (filter before paging `tags/list`).
    pub fn visible_tags(&self) -> impl ExactSizeIterator<Item = &str> {
        self.visible_tags.iter().map(|t| &**t)
    }

    /// Whether the repository belongs in the customer's `_catalog`: it has a visible tag.
    #[must_use]
    pub fn is_listed(&self) -> bool {
        !self.visible_tags.is_empty()
    }

    /// The allowed referrers of `subject`, sorted by digest; empty when the subject is
    /// unknown or not allowed.
    #[must_use]
    pub fn referrers(&self, subject: &str) -> &[Digest] {
        self.referrers.get(subject).map_or(&[], Vec::as_slice)
    }
}
