//! The entitlement decisions, computed directly from licenses and repository facts.
//!
//! [`Decider`] answers one question at a time (tag, manifest by digest, blob, referrers,
//! catalog, repository access) by following the rules literally; it is the reference the
//! precomputed [`crate::EntitledSet`] is tested against, and is fine for one-off questions such
//! as the portal's "why can't I pull this". Hot paths should use [`Decider::precompute`].
//! Vendor members are not customers: the caller lets them see their whole organization.

use std::{
    collections::{HashMap, HashSet, hash_map::Entry},
    sync::Arc,
};

use time::{Duration, OffsetDateTime};

use crate::{
    decision::{AllowReason, Decision, DenyReason, GrantRef},
    entitled_set::EntitledSet,
    facts::{Digest, RepositoryFacts},
    grant::Grant,
    license::{License, LicenseState, Reach},
    selector::TagCandidate,
};

/// Decisions for one customer (its licenses) at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Decider<'a> {
    licenses: &'a [License],
    now: OffsetDateTime,
    retag_grace: Duration,
}

/// A grant whose pattern covers the repository at hand, with its license's state.
#[derive(Debug)]
struct Applicable<'a> {
    license: &'a License,
    index: usize,
    grant: &'a Grant,
    state: LicenseState,
}

/// The grants that cover one repository, at one instant.
#[derive(Debug)]
pub(crate) struct RepositoryRules<'a> {
    applicable: Vec<Applicable<'a>>,
}

impl<'a> RepositoryRules<'a> {
    pub(crate) fn new(licenses: &'a [License], repository: &str, now: OffsetDateTime) -> Self {
        let applicable = licenses
            .iter()
            .flat_map(|license| {
                let state = license.state_at(now);
                license
                    .grants()
                    .iter()
                    .enumerate()
                    .filter(|(_, grant)| grant.covers_repository(repository))
                    .map(move |(index, grant)| Applicable { license, index, grant, state })
            })
            .collect();
        Self { applicable }
    }

    /// Whether the tag `tag`, set at `pushed_at`, is entitled: the best grant (longest reach,
    /// first on ties), or the most specific denial.
    pub(crate) fn tag(
        &self,
        tag: &TagCandidate<'_>,
        pushed_at: OffsetDateTime,
    ) -> Result<(GrantRef, Reach), DenyReason> {
        let mut best: Option<(GrantRef, Reach)> = None;
        let mut denial = DenyReason::NoGrantForRepository;
        for a in &self.applicable {
            let outcome = if !a.grant.tags().matches_candidate(tag) {
                Err(DenyReason::TagNotSelected)
            } else if !a.grant.published_in_window(pushed_at) {
                Err(DenyReason::PublishedOutsideWindow)
            } else {
                a.state.admit(a.license.id(), pushed_at)
            };
            match outcome {
                Ok(reach) => {
                    if best.is_none_or(|(_, r)| reach > r) {
                        best = Some((
                            GrantRef {
                                license: a.license.id(),
                                grant: a.index,
                                kept_release: reach != Reach::Unlimited,
                            },
                            reach,
                        ));
                    }
                    if reach == Reach::Unlimited {
                        break;
                    }
                }
                Err(reason) if reason.rank() > denial.rank() => denial = reason,
                Err(_) => {}
            }
        }
        best.ok_or(denial)
    }

    /// The instants after `now` at which a covering license changes state.
    pub(crate) fn next_change_after(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.applicable.iter().filter_map(|a| a.license.next_change_after(now)).min()
    }
}

/// A manifest entitled on its own: the digest of an entitled tag, now or recently.
#[derive(Debug)]
pub(crate) struct Root<'f> {
    pub(crate) digest: &'f Digest,
    pub(crate) reach: Reach,
    pub(crate) reason: AllowReason,
    /// For a history entry: when its grace window closes.
    pub(crate) grace_ends: Option<OffsetDateTime>,
}

/// The current digests of entitled tags.
pub(crate) fn tag_roots<'f>(
    rules: &RepositoryRules<'_>,
    facts: &'f RepositoryFacts,
) -> Vec<Root<'f>> {
    facts
        .tags()
        .iter()
        .filter_map(|tag| {
            let (grant, reach) = rules.tag(&TagCandidate::new(&tag.name), tag.pushed_at).ok()?;
            Some(Root {
                digest: &tag.digest,
                reach,
                reason: AllowReason::Tagged { tag: Arc::from(tag.name.as_str()), grant },
                grace_ends: None,
            })
        })
        .collect()
}

/// The digests entitled tags pointed at until recently: history entries still inside the
/// grace window (`until > now - grace`, i.e. `now < until + grace`) whose tag was entitled
/// with the entry's `from` as push time.
pub(crate) fn history_roots<'f>(
    rules: &RepositoryRules<'_>,
    facts: &'f RepositoryFacts,
    now: OffsetDateTime,
    retag_grace: Duration,
) -> Vec<Root<'f>> {
    let horizon = now.checked_sub(retag_grace);
    facts
        .history()
        .iter()
        .filter(|entry| horizon.is_none_or(|h| entry.until > h))
        .filter_map(|entry| {
            let (grant, reach) = rules.tag(&TagCandidate::new(&entry.tag), entry.from).ok()?;
            Some(Root {
                digest: &entry.digest,
                reach,
                reason: AllowReason::RecentlyTagged {
                    tag: Arc::from(entry.tag.as_str()),
                    grant,
                    until: entry.until,
                },
                grace_ends: entry.until.checked_add(retag_grace),
            })
        })
        .collect()
}

impl<'a> Decider<'a> {
    /// Decisions for a customer holding `licenses`, at `now`. `retag_grace` is how long a
    /// tag's previous digest stays pullable after a re-tag or tag deletion (negative is zero).
    #[must_use]
    pub fn new(licenses: &'a [License], now: OffsetDateTime, retag_grace: Duration) -> Self {
        Self { licenses, now, retag_grace: retag_grace.max(Duration::ZERO) }
    }

    /// The instant decisions are made at.
    #[must_use]
    pub fn now(&self) -> OffsetDateTime {
        self.now
    }

    /// The re-tag grace window.
    #[must_use]
    pub fn retag_grace(&self) -> Duration {
        self.retag_grace
    }

    /// The licenses.
    #[must_use]
    pub fn licenses(&self) -> &'a [License] {
        self.licenses
    }

    pub(crate) fn rules(&self, repository: &str) -> RepositoryRules<'a> {
        RepositoryRules::new(self.licenses, repository, self.now)
    }

    /// May the token service grant pull on `repository`? Yes for a public repository, or
    /// when a grant of an active license (or of an expired `keep_released` one) covers it.
    pub fn repository_access(&self, repository: &str, public: bool) -> Decision {
        if public {
            return Decision::Allowed(AllowReason::Public);
        }
        // The first covering grant of an active license; else of a license keeping released
        // versions; else the most specific denial.
        let mut kept = None;
        let mut denial = DenyReason::NoGrantForRepository;
        for license in self.licenses {
            let Some(index) = license.grants().iter().position(|g| g.covers_repository(repository))
            else {
                continue;
            };
            let grant =
                |kept_release| GrantRef { license: license.id(), grant: index, kept_release };
            let state = license.state_at(self.now);
            match state {
                LicenseState::Active => {
                    return Decision::Allowed(AllowReason::Granted { grant: grant(false) });
                }
                LicenseState::KeepsReleased { .. } => {
                    kept.get_or_insert(grant(true));
                }
                _ => {
                    if let Some(reason) = state.denial(license.id())
                        && reason.rank() > denial.rank()
                    {
                        denial = reason;
                    }
                }
            }
        }
        match kept {
            Some(grant) => Decision::Allowed(AllowReason::Granted { grant }),
            None => Decision::Denied(denial),
        }
    }

    /// May the customer get the manifest tagged `tag` (and see the tag in `tags/list`)?
    pub fn manifest_by_tag(&self, facts: &RepositoryFacts, tag: &str) -> Decision {
        let Some(fact) = facts.tag(tag) else {
            return Decision::Denied(DenyReason::UnknownTag);
        };
        if facts.is_public() {
            return Decision::Allowed(AllowReason::Public);
        }
        match self.rules(facts.name()).tag(&TagCandidate::new(tag), fact.pushed_at) {
            Ok((grant, _)) => Decision::Allowed(AllowReason::Granted { grant }),
            Err(reason) => Decision::Denied(reason),
        }
    }

    /// The entitled tags of the repository, sorted.
    #[must_use]
    pub fn visible_tags<'f>(&self, facts: &'f RepositoryFacts) -> Vec<&'f str> {
        facts
            .tags()
            .iter()
            .filter(|t| self.manifest_by_tag(facts, &t.name).is_allowed())
            .map(|t| t.name.as_str())
            .collect()
    }

    /// May the customer get the manifest `digest`? Allowed when it is an entitled tag's
    /// digest (now, or within the grace window), a child of an allowed index, or a referrer
    /// of an allowed manifest, recursively. Under an expired `keep_released` license,
    /// manifests reached that way must also have been pushed before expiry.
    pub fn manifest_by_digest(&self, facts: &RepositoryFacts, digest: &str) -> Decision {
        if facts.is_public() {
            return Decision::Allowed(AllowReason::Public);
        }
        let rules = self.rules(facts.name());
        let mut root_of: HashMap<&str, (Reach, AllowReason)> = HashMap::new();
        let roots = tag_roots(&rules, facts).into_iter().chain(history_roots(
            &rules,
            facts,
            self.now,
            self.retag_grace,
        ));
        for root in roots {
            match root_of.entry(root.digest.as_str()) {
                Entry::Occupied(mut e) if root.reach > e.get().0 => {
                    e.insert((root.reach, root.reason));
                }
                Entry::Occupied(_) => {}
                Entry::Vacant(e) => {
                    e.insert((root.reach, root.reason));
                }
            }
        }
        if let Some((_, reason)) = root_of.get(digest) {
            return Decision::Allowed(reason.clone());
        }
        let Some(manifest) = facts.manifest(digest) else {
            return Decision::Denied(DenyReason::ManifestNotEntitled);
        };
        // The manifest is allowed with reach `r` when a path leads to it from a root with
        // reach >= r through manifests all pushed within `r`. Try every reach level.
        let mut levels: Vec<Reach> = root_of.values().map(|(r, _)| *r).collect();
        levels.sort_unstable_by(|a, b| b.cmp(a));
        levels.dedup();
        for level in levels {
            if !level.admits(manifest.pushed_at) {
                continue;
            }
            let mut visited = HashSet::new();
            let parents =
                facts
                    .indexes_containing(digest)
                    .iter()
                    .map(|index| (index, AllowReason::IndexChild { index: index.clone() }))
                    .chain(manifest.subject.iter().map(|subject| {
                        (subject, AllowReason::Referrer { subject: subject.clone() })
                    }));
            for (parent, reason) in parents {
                if reaches(facts, &root_of, level, parent, &mut visited) {
                    return Decision::Allowed(reason);
                }
            }
        }
        Decision::Denied(DenyReason::ManifestNotEntitled)
    }

    /// May the customer get the blob `digest`? Allowed when an allowed manifest of this
    /// repository references it as config or layer (anything, in a public repository).
    pub fn blob(&self, facts: &RepositoryFacts, digest: &str) -> Decision {
        if facts.is_public() {
            return Decision::Allowed(AllowReason::Public);
        }
        facts
            .manifests_using_blob(digest)
            .iter()
            .find(|m| self.manifest_by_digest(facts, m.as_str()).is_allowed())
            .map_or(Decision::Denied(DenyReason::BlobNotEntitled), |m| {
                Decision::Allowed(AllowReason::ReferencedBy { manifest: m.clone() })
            })
    }

    /// The allowed referrers of `subject`, sorted by digest; empty when the subject is unknown
    /// or not allowed.
    #[must_use]
    pub fn referrers<'f>(&self, facts: &'f RepositoryFacts, subject: &str) -> Vec<&'f Digest> {
        if !self.manifest_by_digest(facts, subject).is_allowed() {
            return Vec::new();
        }
        facts
            .referrers_of(subject)
            .iter()
            .filter(|r| self.manifest_by_digest(facts, r.as_str()).is_allowed())
            .collect()
    }

    /// The repositories to list in `_catalog`: those with at least one visible tag (so a
    /// repository is listed only when the customer can pull something from it by name),
    /// sorted by name.
    #[must_use]
    pub fn catalog<'f>(
        &self,
        repositories: impl IntoIterator<Item = &'f RepositoryFacts>,
    ) -> Vec<&'f str> {
        let mut names: Vec<&str> = repositories
            .into_iter()
            .filter(|facts| {
                facts.tags().iter().any(|t| self.manifest_by_tag(facts, &t.name).is_allowed())
            })
            .map(RepositoryFacts::name)
            .collect();
        names.sort_unstable();
        names
    }

    /// Precomputes every answer for one repository (see [`EntitledSet`]).
    #[must_use]
    pub fn precompute(&self, facts: &RepositoryFacts) -> EntitledSet {
        EntitledSet::build(self.licenses, facts, self.now, self.retag_grace)
    }
}

/// Whether `start` is allowed with reach at least `level`, walking up through indexes and
/// subjects: it is a root with reach >= `level`, or it was pushed within `level` and one of its
/// parents is (recursively). `visited` prunes nodes already known to fail at this level.
fn reaches(
    facts: &RepositoryFacts,
    root_of: &HashMap<&str, (Reach, AllowReason)>,
    level: Reach,
    start: &Digest,
    visited: &mut HashSet<Digest>,
) -> bool {
    let mut stack = vec![start.clone()];
    while let Some(node) = stack.pop() {
        if !visited.insert(node.clone()) {
            continue;
        }
        if root_of.get(node.as_str()).is_some_and(|(r, _)| *r >= level) {
            return true;
        }
        let Some(manifest) = facts.manifest(node.as_str()) else {
            continue;
        };
        if !level.admits(manifest.pushed_at) {
            continue;
        }
        stack.extend(facts.indexes_containing(node.as_str()).iter().cloned());
        stack.extend(manifest.subject.iter().cloned());
    }
    false
}

#[cfg(test)]
mod tests;
