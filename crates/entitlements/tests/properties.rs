//! Property tests over random repositories: manifest graphs with nested indexes, shared
//! layers, referrers (and referrers of referrers), moving tags with history, and random
//! licenses. They check the decisions against each other and the precomputed
//! `EntitledSet` against the direct `Decider`, through the public API only.

// The strategies below run outside `#[test]` functions, where clippy.toml's test allowance
// does not reach; they only unwrap fixtures built from literals.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use time::{Duration, OffsetDateTime, macros::datetime};
use wharf_entitlements::{
    Decider, Digest, EntitledSet, ExpiryPolicy, Grant, License, LicenseId, ManifestContent,
    ManifestFact, RepositoryFacts, TagFact, TagHistoryFact, TagSelector,
};

const BASE: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);
const REPOSITORY: &str = "acme/app";
const TAGS: [&str; 12] = [
    "latest",
    "1.0.0",
    "1.2.3",
    "v1.2.3",
    "1.5.0-rc.1",
    "2.0.0",
    "2.0.0-rc.1",
    "1.2.3_build.5",
    "dev",
    "1.2",
    "01.2.3",
    "sha256-m1.sig",
];
const BLOBS: usize = 8;
const GHOST: &str = "sha256:ghost";

fn t(minutes: i64) -> OffsetDateTime {
    BASE + Duration::minutes(minutes)
}

fn manifest_digest(i: usize) -> Digest {
    Digest::new(format!("sha256:m{i}"))
}

fn blob_digest(i: usize) -> Digest {
    Digest::new(format!("sha256:b{i}"))
}

/// A reference to a manifest: mostly an existing one, sometimes a digest that is not there.
fn target(n: usize) -> impl Strategy<Value = Digest> {
    prop_oneof![
        6 => (0..n).prop_map(manifest_digest),
        1 => Just(Digest::new(GHOST)),
    ]
}

fn manifests() -> impl Strategy<Value = Vec<ManifestFact>> {
    (1usize..14).prop_flat_map(|n| {
        let one = move |i: usize| {
            let image =
                (0..BLOBS, prop::collection::vec(0..BLOBS, 0..3)).prop_map(|(config, layers)| {
                    ManifestContent::Image {
                        config: blob_digest(config),
                        layers: layers.into_iter().map(blob_digest).collect(),
                    }
                });
            // Children point at earlier manifests (content addressing makes indexes acyclic),
            // or at nothing.
            let index = prop::collection::vec(
                prop_oneof![
                    4 => (0..i.max(1)).prop_map(manifest_digest),
                    1 => Just(Digest::new(GHOST)),
                ],
                0..4,
            )
            .prop_map(|children| ManifestContent::Index { children });
            let content =
                if i == 0 { image.boxed() } else { prop_oneof![2 => image, 1 => index].boxed() };
            // Subjects may point anywhere, even forwards: cycles must not hang anything.
            let subject = prop::option::weighted(0.4, target(n));
            (content, subject, 0i64..100).prop_map(move |(content, subject, pushed)| ManifestFact {
                digest: manifest_digest(i),
                pushed_at: t(pushed),
                content,
                subject,
                artifact_type: None,
            })
        };
        (0..n).map(one).collect::<Vec<_>>()
    })
}

fn selector() -> impl Strategy<Value = TagSelector> {
    prop_oneof![
        Just(TagSelector::all()),
        Just(TagSelector::exact(["latest"]).unwrap()),
        Just(TagSelector::exact(["1.0.0", "2.0.0", "dev"]).unwrap()),
        Just(TagSelector::glob("1.*").unwrap()),
        Just(TagSelector::glob("*-rc*").unwrap()),
        Just(TagSelector::glob("sha256-*.sig").unwrap()),
        (any::<bool>(), any::<bool>()).prop_map(|(v, pre)| TagSelector::semver(
            ">=1.0.0 <2.0.0",
            v,
            pre
        )
        .unwrap()),
        (any::<bool>(), any::<bool>())
            .prop_map(|(v, pre)| TagSelector::semver("^2", v, pre).unwrap()),
    ]
}

fn grant() -> impl Strategy<Value = Grant> {
    let repository = prop::sample::select(vec!["acme/app", "acme/*", "acme/other", "acme/app/*"]);
    let bounds = (prop::option::of(0i64..100), prop::option::of(1i64..60));
    (repository, selector(), bounds).prop_map(|(repository, tags, (after, length))| {
        let after = after.map(t);
        let before = length.map(|l| after.unwrap_or(BASE) + Duration::minutes(l));
        Grant::new("acme", repository, tags, after, before).unwrap()
    })
}

fn license() -> impl Strategy<Value = License> {
    (
        any::<u8>(),
        0i64..100,
        prop::option::of(1i64..120),
        prop::bool::ANY,
        prop::bool::weighted(0.1),
        prop::collection::vec(grant(), 1..3),
    )
        .prop_map(|(id, starts, length, keep, suspended, grants)| {
            let policy = if keep { ExpiryPolicy::KeepReleased } else { ExpiryPolicy::Revoke };
            License::new(
                LicenseId(u128::from(id)),
                t(starts),
                length.map(|l| t(starts + l)),
                policy,
                suspended,
                grants,
            )
            .unwrap()
        })
}

#[derive(Debug, Clone)]
struct Case {
    facts: RepositoryFacts,
    licenses: Vec<License>,
    now: OffsetDateTime,
    grace: Duration,
    later: OffsetDateTime,
}

fn case() -> impl Strategy<Value = Case> {
    manifests().prop_flat_map(|manifests| {
        let n = manifests.len();
        let tags = prop::collection::vec(
            (prop::sample::select(TAGS.to_vec()), target(n), 0i64..100),
            0..8,
        );
        let history = prop::collection::vec(
            (prop::sample::select(TAGS.to_vec()), target(n), 0i64..100, 0i64..60),
            0..6,
        );
        (
            Just(manifests),
            tags,
            history,
            prop::collection::vec(license(), 0..4),
            prop::bool::weighted(0.1),
            0i64..200,
            0i64..30,
            0i64..300,
        )
            .prop_map(|(manifests, tags, history, licenses, public, now, grace, later)| {
                Case {
                    facts: RepositoryFacts::new(
                        REPOSITORY,
                        public,
                        tags.into_iter()
                            .map(|(name, digest, pushed)| TagFact {
                                name: name.to_owned(),
                                digest,
                                pushed_at: t(pushed),
                            })
                            .collect(),
                        history
                            .into_iter()
                            .map(|(tag, digest, from, length)| TagHistoryFact {
                                tag: tag.to_owned(),
                                digest,
                                from: t(from),
                                until: t(from + length),
                            })
                            .collect(),
                        manifests,
                    ),
                    licenses,
                    now: t(now),
                    grace: Duration::minutes(grace),
                    later: t(now + later),
                }
            })
    })
}

/// Every digest worth asking about: all manifests, all blobs, and a ghost.
fn all_manifest_digests(facts: &RepositoryFacts) -> Vec<Digest> {
    let mut digests: Vec<Digest> = facts.manifests().map(|m| m.digest.clone()).collect();
    digests.push(Digest::new(GHOST));
    digests.sort();
    digests
}

fn all_blob_digests() -> Vec<Digest> {
    (0..BLOBS).map(blob_digest).chain([Digest::new("sha256:no-such-blob")]).collect()
}

/// The allowed tags, manifests and blobs of a precomputed set, for comparing two sets.
fn snapshot(set: &EntitledSet, facts: &RepositoryFacts) -> (Vec<String>, Vec<bool>, Vec<bool>) {
    (
        set.visible_tags().map(str::to_owned).collect(),
        all_manifest_digests(facts).iter().map(|d| set.allows_manifest(d.as_str())).collect(),
        all_blob_digests().iter().map(|d| set.allows_blob(d.as_str())).collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A blob is allowed exactly when some allowed manifest of the repository references it.
    #[test]
    fn blob_allowed_iff_an_allowed_manifest_references_it(case in case()) {
        let decider = Decider::new(&case.licenses, case.now, case.grace);
        for blob in all_blob_digests() {
            let allowed = decider.blob(&case.facts, blob.as_str()).is_allowed();
            if case.facts.is_public() {
                prop_assert!(allowed);
                continue;
            }
            let referenced = case.facts.manifests().any(|m| {
                m.blobs().any(|b| *b == blob)
                    && decider.manifest_by_digest(&case.facts, m.digest.as_str()).is_allowed()
            });
            prop_assert_eq!(allowed, referenced, "blob {}", blob);
        }
    }

    /// The visible tag list is exactly the tags whose manifest GET by tag is allowed, and a
    /// manifest reachable by an allowed tag is reachable by its digest too.
    #[test]
    fn visible_tags_are_the_pullable_tags(case in case()) {
        let decider = Decider::new(&case.licenses, case.now, case.grace);
        let visible = decider.visible_tags(&case.facts);
        let pullable: Vec<&str> = case
            .facts
            .tags()
            .iter()
            .filter(|t| decider.manifest_by_tag(&case.facts, &t.name).is_allowed())
            .map(|t| t.name.as_str())
            .collect();
        prop_assert_eq!(&visible, &pullable);
        for tag in case.facts.tags() {
            if decider.manifest_by_tag(&case.facts, &tag.name).is_allowed() {
                prop_assert!(
                    decider.manifest_by_digest(&case.facts, tag.digest.as_str()).is_allowed(),
                    "tag {} allowed but not its digest", tag.name
                );
            }
        }
        let set = decider.precompute(&case.facts);
        prop_assert_eq!(set.visible_tags().collect::<Vec<_>>(), visible);
        prop_assert_eq!(set.is_listed(), !pullable.is_empty());
        prop_assert_eq!(
            decider.catalog([&case.facts]).len(),
            usize::from(!pullable.is_empty())
        );
        // Whatever can be pulled by tag, the token service must let the customer ask for.
        if !pullable.is_empty() {
            prop_assert!(
                decider
                    .repository_access(case.facts.name(), case.facts.is_public())
                    .is_allowed()
            );
        }
    }

    /// The precomputed set answers every question like the direct decisions.
    #[test]
    fn precomputed_set_agrees_with_direct_decisions(case in case()) {
        let decider = Decider::new(&case.licenses, case.now, case.grace);
        let set = decider.precompute(&case.facts);
        for tag in TAGS.iter().chain(&["missing"]) {
            prop_assert_eq!(
                set.manifest_by_tag(tag),
                decider.manifest_by_tag(&case.facts, tag),
                "tag {}", tag
            );
            prop_assert_eq!(set.allows_tag(tag), set.manifest_by_tag(tag).is_allowed());
        }
        for digest in all_manifest_digests(&case.facts) {
            let direct = decider.manifest_by_digest(&case.facts, digest.as_str());
            let fast = set.manifest_by_digest(digest.as_str());
            prop_assert_eq!(direct.is_allowed(), fast.is_allowed(), "manifest {}", digest);
            prop_assert_eq!(set.allows_manifest(digest.as_str()), fast.is_allowed());
            let direct_referrers: Vec<Digest> =
                decider.referrers(&case.facts, digest.as_str()).into_iter().cloned().collect();
            prop_assert_eq!(set.referrers(digest.as_str()), direct_referrers.as_slice());
        }
        for blob in all_blob_digests() {
            prop_assert_eq!(
                set.blob(blob.as_str()),
                decider.blob(&case.facts, blob.as_str()),
                "blob {}", blob
            );
        }
    }

    /// Referrers are listed only for allowed subjects, and only allowed ones.
    #[test]
    fn referrers_are_filtered(case in case()) {
        let decider = Decider::new(&case.licenses, case.now, case.grace);
        for subject in all_manifest_digests(&case.facts) {
            let listed = decider.referrers(&case.facts, subject.as_str());
            if !decider.manifest_by_digest(&case.facts, subject.as_str()).is_allowed() {
                prop_assert!(listed.is_empty());
            }
            for r in listed {
                prop_assert!(decider.manifest_by_digest(&case.facts, r.as_str()).is_allowed());
                prop_assert_eq!(
                    case.facts.manifest(r.as_str()).and_then(|m| m.subject.as_ref()),
                    Some(&subject)
                );
            }
        }
    }

    /// When no license keeps released versions, the allowed manifests are closed under index
    /// children and referrers.
    #[test]
    fn allowed_manifests_are_closed(case in case()) {
        let decider = Decider::new(&case.licenses, case.now, case.grace);
        let set = decider.precompute(&case.facts);
        let keeps = case
            .licenses
            .iter()
            .any(|l| matches!(l.state_at(case.now), wharf_entitlements::LicenseState::KeepsReleased { .. }));
        if !keeps {
            for m in case.facts.manifests() {
                if !set.allows_manifest(m.digest.as_str()) {
                    continue;
                }
                for child in m.children() {
                    if case.facts.manifest(child.as_str()).is_some() {
                        prop_assert!(set.allows_manifest(child.as_str()), "child {}", child);
                    }
                }
                for r in case.facts.referrers_of(m.digest.as_str()) {
                    prop_assert!(set.allows_manifest(r.as_str()), "referrer {}", r);
                }
            }
        }
    }

    /// Until `valid_until`, recomputing gives the same view: a cache may keep it that long.
    #[test]
    fn view_is_stable_until_valid_until(case in case()) {
        let set = EntitledSet::build(&case.licenses, &case.facts, case.now, case.grace);
        if set.is_current_at(case.later) {
            let later = EntitledSet::build(&case.licenses, &case.facts, case.later, case.grace);
            prop_assert_eq!(snapshot(&set, &case.facts), snapshot(&later, &case.facts));
        }
        if let Some(until) = set.valid_until() {
            prop_assert!(until > case.now);
        }
    }
}
