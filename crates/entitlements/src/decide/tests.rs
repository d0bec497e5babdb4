//! Table-driven tests of the decisions; every case is checked against both the direct
//! [`Decider`] and the precomputed [`EntitledSet`].

use time::{Duration, OffsetDateTime, macros::datetime};

use super::*;
use crate::{
    ExpiryPolicy, Grant, LicenseId, ManifestContent, ManifestFact, TagFact, TagHistoryFact,
    TagSelector,
};

const BASE: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

fn t(minutes: i64) -> OffsetDateTime {
    BASE + Duration::minutes(minutes)
}

fn d(name: &str) -> Digest {
    Digest::new(format!("sha256:{name}"))
}

fn image(name: &str, pushed: i64, blobs: &[&str]) -> ManifestFact {
    ManifestFact {
        digest: d(name),
        pushed_at: t(pushed),
        content: ManifestContent::Image {
            config: d(&format!("{name}-config")),
            layers: blobs.iter().map(|b| d(b)).collect(),
        },
        subject: None,
        artifact_type: None,
    }
}

fn index(name: &str, pushed: i64, children: &[&str]) -> ManifestFact {
    ManifestFact {
        digest: d(name),
        pushed_at: t(pushed),
        content: ManifestContent::Index { children: children.iter().map(|c| d(c)).collect() },
        subject: None,
        artifact_type: None,
    }
}

fn referrer(name: &str, pushed: i64, subject: &str) -> ManifestFact {
    ManifestFact {
        subject: Some(d(subject)),
        artifact_type: Some("application/vnd.dev.cosign.artifact.sig.v1+json".into()),
        ..image(name, pushed, &[])
    }
}

fn tag(name: &str, digest: &str, pushed: i64) -> TagFact {
    TagFact { name: name.into(), digest: d(digest), pushed_at: t(pushed) }
}

fn grant(repository: &str, tags: TagSelector) -> Grant {
    Grant::new("acme", repository, tags, None, None).unwrap()
}

fn license(
    id: u128,
    starts: i64,
    expires: Option<i64>,
    policy: ExpiryPolicy,
    grants: Vec<Grant>,
) -> License {
    License::new(LicenseId(id), t(starts), expires.map(t), policy, false, grants).unwrap()
}

fn all_of(repository: &str) -> Vec<Grant> {
    vec![grant(repository, TagSelector::all())]
}

/// Visible tags from both implementations (asserted equal).
fn visible(licenses: &[License], facts: &RepositoryFacts, now: OffsetDateTime) -> Vec<String> {
    let decider = Decider::new(licenses, now, Duration::minutes(10));
    let direct: Vec<String> = decider.visible_tags(facts).into_iter().map(str::to_owned).collect();
    let set: Vec<String> = decider.precompute(facts).visible_tags().map(str::to_owned).collect();
    assert_eq!(direct, set, "visible tags at {now}");
    direct
}

/// The tag decision from both implementations (asserted equal).
fn tag_decision(
    licenses: &[License],
    facts: &RepositoryFacts,
    now: OffsetDateTime,
    name: &str,
) -> Decision {
    let decider = Decider::new(licenses, now, Duration::minutes(10));
    let direct = decider.manifest_by_tag(facts, name);
    assert_eq!(direct, decider.precompute(facts).manifest_by_tag(name), "{name}");
    direct
}

/// Whether a manifest is allowed, from both implementations (asserted equal).
fn manifest_allowed(
    licenses: &[License],
    facts: &RepositoryFacts,
    now: OffsetDateTime,
    grace: Duration,
    digest: &str,
) -> bool {
    let decider = Decider::new(licenses, now, grace);
    let direct = decider.manifest_by_digest(facts, &d(digest).to_string());
    let set = decider.precompute(facts);
    let precomputed = set.manifest_by_digest(&d(digest).to_string());
    assert_eq!(direct.is_allowed(), precomputed.is_allowed(), "{digest} at {now}");
    assert_eq!(set.allows_manifest(&d(digest).to_string()), precomputed.is_allowed());
    direct.is_allowed()
}

fn blob_allowed(
    licenses: &[License],
    facts: &RepositoryFacts,
    now: OffsetDateTime,
    blob: &str,
) -> bool {
    let decider = Decider::new(licenses, now, Duration::minutes(10));
    let direct = decider.blob(facts, &d(blob).to_string());
    let set = decider.precompute(facts);
    assert_eq!(direct, set.blob(&d(blob).to_string()), "{blob}");
    direct.is_allowed()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Tags pushed at different times, for the window and expiry tables.
fn timeline_repo() -> RepositoryFacts {
    RepositoryFacts::new(
        "acme/app",
        false,
        vec![
            tag("old", "m50", 50),
            tag("mid", "m150", 150),
            tag("late", "m199", 199),
            tag("at-expiry", "m200", 200),
            tag("later", "m300", 300),
        ],
        vec![],
        vec![
            image("m50", 50, &["l50"]),
            image("m150", 150, &["l150"]),
            image("m199", 199, &["l199"]),
            image("m200", 200, &["l200"]),
            image("m300", 300, &["l300"]),
        ],
    )
}

#[test]
fn revoke_and_keep_released_around_the_window() {
    let facts = timeline_repo();
    let everything = ["at-expiry", "late", "later", "mid", "old"];
    let kept = ["late", "mid", "old"];
    // (policy, now in minutes, visible tags); the license runs [100, 200).
    let cases: &[(ExpiryPolicy, i64, &[&str])] = &[
        (ExpiryPolicy::Revoke, 99, &[]),
        (ExpiryPolicy::KeepReleased, 99, &[]),
        (ExpiryPolicy::Revoke, 100, &everything),
        (ExpiryPolicy::KeepReleased, 100, &everything),
        (ExpiryPolicy::Revoke, 199, &everything),
        (ExpiryPolicy::KeepReleased, 199, &everything),
        (ExpiryPolicy::Revoke, 200, &[]),
        (ExpiryPolicy::KeepReleased, 200, &kept),
        (ExpiryPolicy::Revoke, 10_000, &[]),
        (ExpiryPolicy::KeepReleased, 10_000, &kept),
    ];
    for (policy, now, expected) in cases {
        let licenses = [license(1, 100, Some(200), *policy, all_of("acme/app"))];
        assert_eq!(visible(&licenses, &facts, t(*now)), strings(expected), "{policy:?} at {now}");
    }
    let id = LicenseId(1);
    let revoke = [license(1, 100, Some(200), ExpiryPolicy::Revoke, all_of("acme/app"))];
    let keep = [license(1, 100, Some(200), ExpiryPolicy::KeepReleased, all_of("acme/app"))];
    assert_eq!(
        tag_decision(&revoke, &facts, t(99), "old"),
        Decision::Denied(DenyReason::LicenseNotStarted { license: id })
    );
    assert_eq!(
        tag_decision(&revoke, &facts, t(300), "old"),
        Decision::Denied(DenyReason::LicenseExpired { license: id })
    );
    assert_eq!(
        tag_decision(&keep, &facts, t(300), "at-expiry"),
        Decision::Denied(DenyReason::PushedAfterExpiry { license: id })
    );
    assert_eq!(
        tag_decision(&keep, &facts, t(300), "old"),
        Decision::Allowed(AllowReason::Granted {
            grant: GrantRef { license: id, grant: 0, kept_release: true }
        })
    );
    assert_eq!(
        tag_decision(&keep, &facts, t(300), "missing"),
        Decision::Denied(DenyReason::UnknownTag)
    );
    // Blobs follow their manifests.
    assert!(blob_allowed(&keep, &facts, t(300), "l199"));
    assert!(!blob_allowed(&keep, &facts, t(300), "l200"));
    assert!(!blob_allowed(&revoke, &facts, t(300), "l50"));
}

#[test]
fn suspended_grants_nothing() {
    let facts = timeline_repo();
    let suspended = [License::new(
        LicenseId(3),
        t(0),
        None,
        ExpiryPolicy::KeepReleased,
        true,
        all_of("acme/app"),
    )
    .unwrap()];
    assert!(visible(&suspended, &facts, t(500)).is_empty());
    assert_eq!(
        tag_decision(&suspended, &facts, t(500), "old"),
        Decision::Denied(DenyReason::LicenseSuspended { license: LicenseId(3) })
    );
    assert!(!manifest_allowed(&suspended, &facts, t(500), Duration::ZERO, "m50"));
    let decider = Decider::new(&suspended, t(500), Duration::ZERO);
    assert!(!decider.repository_access("acme/app", false).is_allowed());
    assert_eq!(decider.precompute(&facts).valid_until(), None);
}

#[test]
fn published_bounds() {
    let facts = timeline_repo();
    let bounded =
        Grant::new("acme", "acme/app", TagSelector::all(), Some(t(150)), Some(t(200))).unwrap();
    let licenses = [license(1, 0, None, ExpiryPolicy::Revoke, vec![bounded])];
    assert_eq!(visible(&licenses, &facts, t(400)), strings(&["late", "mid"]));
    assert_eq!(
        tag_decision(&licenses, &facts, t(400), "old"),
        Decision::Denied(DenyReason::PublishedOutsideWindow)
    );
    assert_eq!(
        tag_decision(&licenses, &facts, t(400), "at-expiry"),
        Decision::Denied(DenyReason::PublishedOutsideWindow)
    );
}

#[test]
fn most_specific_denial_wins() {
    let facts = timeline_repo();
    let licenses = [
        license(
            1,
            0,
            None,
            ExpiryPolicy::Revoke,
            vec![grant("acme/app", TagSelector::glob("m*").unwrap())],
        ),
        license(2, 0, Some(10), ExpiryPolicy::Revoke, all_of("acme/app")),
        license(3, 0, None, ExpiryPolicy::Revoke, all_of("acme/other")),
    ];
    // License 1 does not select `old` (rank 2); license 2 would, but expired (rank 6).
    assert_eq!(
        tag_decision(&licenses, &facts, t(400), "old"),
        Decision::Denied(DenyReason::LicenseExpired { license: LicenseId(2) })
    );
    assert_eq!(visible(&licenses, &facts, t(400)), strings(&["mid"]));
    let none: [License; 0] = [];
    assert_eq!(
        tag_decision(&none, &facts, t(400), "old"),
        Decision::Denied(DenyReason::NoGrantForRepository)
    );
    let elsewhere = [license(3, 0, None, ExpiryPolicy::Revoke, all_of("acme/other"))];
    assert_eq!(
        tag_decision(&elsewhere, &facts, t(400), "old"),
        Decision::Denied(DenyReason::NoGrantForRepository)
    );
    let unselected = [license(
        1,
        0,
        None,
        ExpiryPolicy::Revoke,
        vec![grant("acme/app", TagSelector::exact(["x"]).unwrap())],
    )];
    assert_eq!(
        tag_decision(&unselected, &facts, t(400), "old"),
        Decision::Denied(DenyReason::TagNotSelected)
    );
}

#[test]
fn latest_is_matched_by_name_only() {
    let facts = RepositoryFacts::new(
        "acme/app",
        false,
        vec![tag("1.0.0", "img", 10), tag("latest", "img", 10), tag("2.0.0", "img2", 20)],
        vec![],
        vec![image("img", 10, &["l1"]), image("img2", 20, &["l2"])],
    );
    let semver = [license(
        1,
        0,
        None,
        ExpiryPolicy::Revoke,
        vec![grant("acme/app", TagSelector::semver(">=1.0.0 <2.0.0", false, false).unwrap())],
    )];
    assert_eq!(visible(&semver, &facts, t(100)), strings(&["1.0.0"]));
    assert_eq!(
        tag_decision(&semver, &facts, t(100), "latest"),
        Decision::Denied(DenyReason::TagNotSelected)
    );
    // The digest is allowed through `1.0.0`, even though `latest` is not.
    assert!(manifest_allowed(&semver, &facts, t(100), Duration::ZERO, "img"));
    let latest_only = [license(
        1,
        0,
        None,
        ExpiryPolicy::Revoke,
        vec![grant("acme/app", TagSelector::exact(["latest"]).unwrap())],
    )];
    assert_eq!(visible(&latest_only, &facts, t(100)), strings(&["latest"]));
    assert!(manifest_allowed(&latest_only, &facts, t(100), Duration::ZERO, "img"));
    assert!(!manifest_allowed(&latest_only, &facts, t(100), Duration::ZERO, "img2"));
    let decider = Decider::new(&latest_only, t(100), Duration::ZERO);
    assert_eq!(
        decider.manifest_by_digest(&facts, "sha256:img"),
        Decision::Allowed(AllowReason::Tagged {
            tag: Arc::from("latest"),
            grant: GrantRef { license: LicenseId(1), grant: 0, kept_release: false }
        })
    );
}

#[test]
fn prefix_patterns_and_repository_access() {
    let licenses = [
        license(1, 0, None, ExpiryPolicy::Revoke, all_of("acme/charts/*")),
        license(2, 0, Some(10), ExpiryPolicy::KeepReleased, all_of("acme/kept")),
        license(3, 0, Some(10), ExpiryPolicy::Revoke, all_of("acme/gone")),
        license(4, 50, None, ExpiryPolicy::Revoke, all_of("acme/soon")),
    ];
    let decider = Decider::new(&licenses, t(20), Duration::ZERO);
    let cases = [
        ("acme/charts/app", false, true),
        ("acme/charts/a/b", false, true),
        ("acme/charts", false, false),
        ("acme/chartsx/app", false, false),
        ("acme/app", false, false),
        ("acme/app", true, true),
        ("acme/kept", false, true),
        ("acme/gone", false, false),
        ("acme/soon", false, false),
        ("other/charts/app", false, false),
    ];
    for (repository, public, expected) in cases {
        assert_eq!(
            decider.repository_access(repository, public).is_allowed(),
            expected,
            "{repository}"
        );
    }
    assert_eq!(
        decider.repository_access("acme/kept", false),
        Decision::Allowed(AllowReason::Granted {
            grant: GrantRef { license: LicenseId(2), grant: 0, kept_release: true }
        })
    );
    assert_eq!(
        decider.repository_access("acme/gone", false),
        Decision::Denied(DenyReason::LicenseExpired { license: LicenseId(3) })
    );
    assert_eq!(
        decider.repository_access("acme/soon", false),
        Decision::Denied(DenyReason::LicenseNotStarted { license: LicenseId(4) })
    );
    assert_eq!(
        decider.repository_access("acme/app", false),
        Decision::Denied(DenyReason::NoGrantForRepository)
    );
    assert_eq!(decider.repository_access("acme/app", true), Decision::Allowed(AllowReason::Public));
    // Tags in a repository below the prefix are entitled; the prefix itself is not.
    let below = RepositoryFacts::new(
        "acme/charts/a/b",
        false,
        vec![tag("1.0.0", "m", 1)],
        vec![],
        vec![image("m", 1, &[])],
    );
    let at_prefix = RepositoryFacts::new(
        "acme/charts",
        false,
        vec![tag("1.0.0", "m", 1)],
        vec![],
        vec![image("m", 1, &[])],
    );
    assert_eq!(visible(&licenses, &below, t(20)), strings(&["1.0.0"]));
    assert!(visible(&licenses, &at_prefix, t(20)).is_empty());
}

#[test]
fn retag_grace_window_boundaries() {
    // `latest` moved from `old` to `new` at minute 100; grace is 10 minutes.
    let facts = RepositoryFacts::new(
        "acme/app",
        false,
        vec![tag("latest", "new", 100)],
        vec![TagHistoryFact { tag: "latest".into(), digest: d("old"), from: t(0), until: t(100) }],
        vec![image("old", 0, &["l-old"]), image("new", 100, &["l-new"])],
    );
    let licenses = [license(1, 0, None, ExpiryPolicy::Revoke, all_of("acme/app"))];
    let grace = Duration::minutes(10);
    let eps = Duration::milliseconds(1);
    for (now, expected) in
        [(t(100), true), (t(105), true), (t(110) - eps, true), (t(110), false), (t(500), false)]
    {
        assert_eq!(manifest_allowed(&licenses, &facts, now, grace, "old"), expected, "{now}");
        assert!(manifest_allowed(&licenses, &facts, now, grace, "new"));
    }
    assert!(!manifest_allowed(&licenses, &facts, t(100), Duration::ZERO, "old"));
    let set = Decider::new(&licenses, t(105), grace).precompute(&facts);
    assert_eq!(set.valid_until(), Some(t(110)));
    assert!(set.is_current_at(t(110) - eps));
    assert!(!set.is_current_at(t(110)));
    assert!(set.allows_blob("sha256:l-old"));
    let later = Decider::new(&licenses, t(110), grace).precompute(&facts);
    assert!(!later.allows_blob("sha256:l-old"));
    assert_eq!(later.valid_until(), None);
    // The history entry only counts when the tag was entitled.
    let other_tags = [license(
        1,
        0,
        None,
        ExpiryPolicy::Revoke,
        vec![grant("acme/app", TagSelector::exact(["stable"]).unwrap())],
    )];
    assert!(!manifest_allowed(&other_tags, &facts, t(101), grace, "old"));
    // Under an expired keep_released license, an assignment made after expiry does not count.
    let kept = [license(1, 0, Some(50), ExpiryPolicy::KeepReleased, all_of("acme/app"))];
    assert!(manifest_allowed(&kept, &facts, t(101), grace, "old"));
    assert!(!manifest_allowed(&kept, &facts, t(101), grace, "new"));
}

/// tag `1.0` -> idx1 -> [idx2 -> [img2], img1]; img3 is not part of it but shares a layer.
fn nested_repo() -> RepositoryFacts {
    RepositoryFacts::new(
        "acme/app",
        false,
        vec![tag("1.0", "idx1", 10), tag("dev", "img3", 10)],
        vec![],
        vec![
            index("idx1", 10, &["idx2", "img1"]),
            index("idx2", 9, &["img2"]),
            image("img1", 8, &["shared", "l1"]),
            image("img2", 8, &["l2"]),
            image("img3", 8, &["shared", "l3"]),
            referrer("sig-img2", 20, "img2"),
        ],
    )
}

#[test]
fn nested_indexes() {
    let facts = nested_repo();
    let licenses = [license(
        1,
        0,
        None,
        ExpiryPolicy::Revoke,
        vec![grant("acme/app", TagSelector::exact(["1.0"]).unwrap())],
    )];
    let now = t(100);
    for (digest, expected) in [
        ("idx1", true),
        ("idx2", true),
        ("img1", true),
        ("img2", true),
        ("sig-img2", true),
        ("img3", false),
        ("unknown", false),
    ] {
        assert_eq!(
            manifest_allowed(&licenses, &facts, now, Duration::ZERO, digest),
            expected,
            "{digest}"
        );
    }
    for (blob, expected) in [
        ("l1", true),
        ("l2", true),
        ("shared", true),
        ("img1-config", true),
        ("l3", false),
        ("img3-config", false),
        ("nope", false),
    ] {
        assert_eq!(blob_allowed(&licenses, &facts, now, blob), expected, "{blob}");
    }
    let decider = Decider::new(&licenses, now, Duration::ZERO);
    assert_eq!(
        decider.manifest_by_digest(&facts, "sha256:img2"),
        Decision::Allowed(AllowReason::IndexChild { index: d("idx2") })
    );
    assert_eq!(
        decider.blob(&facts, "sha256:shared"),
        Decision::Allowed(AllowReason::ReferencedBy { manifest: d("img1") })
    );
}

#[test]
fn referrers_of_referrers() {
    let facts = RepositoryFacts::new(
        "acme/app",
        false,
        vec![tag("1.0.0", "img1", 10), tag("2.0.0", "img3", 10)],
        vec![],
        vec![
            image("img1", 10, &["l1"]),
            image("img3", 10, &["l3"]),
            referrer("sig1", 11, "img1"),
            referrer("sbom", 12, "img1"),
            referrer("sbom-sig", 13, "sbom"),
            referrer("sbom-sig-sig", 14, "sbom-sig"),
            referrer("sig3", 11, "img3"),
            referrer("orphan", 11, "missing"),
        ],
    );
    let licenses = [license(
        1,
        0,
        None,
        ExpiryPolicy::Revoke,
        vec![grant("acme/app", TagSelector::exact(["1.0.0"]).unwrap())],
    )];
    let now = t(100);
    for (digest, expected) in [
        ("sig1", true),
        ("sbom", true),
        ("sbom-sig", true),
        ("sbom-sig-sig", true),
        ("sig3", false),
        ("orphan", false),
    ] {
        assert_eq!(
            manifest_allowed(&licenses, &facts, now, Duration::ZERO, digest),
            expected,
            "{digest}"
        );
    }
    let decider = Decider::new(&licenses, now, Duration::ZERO);
    let set = decider.precompute(&facts);
    for (subject, expected) in [
        ("img1", vec![d("sbom"), d("sig1")]),
        ("sbom", vec![d("sbom-sig")]),
        ("img3", vec![]),
        ("missing", vec![]),
        ("nothing", vec![]),
    ] {
        let subject = d(subject).to_string();
        let direct: Vec<Digest> =
            decider.referrers(&facts, &subject).into_iter().cloned().collect();
        assert_eq!(direct, expected, "{subject}");
        assert_eq!(set.referrers(&subject), expected.as_slice(), "{subject}");
    }
    assert_eq!(
        decider.manifest_by_digest(&facts, "sha256:sbom-sig"),
        Decision::Allowed(AllowReason::Referrer { subject: d("sbom") })
    );
}

#[test]
fn keep_released_cuts_off_later_referrers() {
    let facts = RepositoryFacts::new(
        "acme/app",
        false,
        vec![tag("1.0.0", "idx", 100)],
        vec![],
        vec![
            index("idx", 100, &["img-early", "img-late"]),
            image("img-early", 90, &["l-early"]),
            // A child pushed after expiry (unusual, but the rule still applies).
            image("img-late", 250, &["l-late"]),
            referrer("sig-before", 150, "idx"),
            referrer("sig-after", 250, "idx"),
            referrer("sig-of-sig", 160, "sig-after"),
        ],
    );
    let kept = [license(1, 0, Some(200), ExpiryPolicy::KeepReleased, all_of("acme/app"))];
    let now = t(300);
    for (digest, expected) in [
        ("idx", true),
        ("img-early", true),
        ("img-late", false),
        ("sig-before", true),
        ("sig-after", false),
        ("sig-of-sig", false),
    ] {
        assert_eq!(
            manifest_allowed(&kept, &facts, now, Duration::ZERO, digest),
            expected,
            "{digest}"
        );
    }
    assert!(!blob_allowed(&kept, &facts, now, "l-late"));
    // Another, active license reaches everything.
    let both = [kept[0].clone(), license(2, 0, None, ExpiryPolicy::Revoke, all_of("acme/app"))];
    for digest in ["img-late", "sig-after", "sig-of-sig"] {
        assert!(manifest_allowed(&both, &facts, now, Duration::ZERO, digest), "{digest}");
    }
}

#[test]
fn public_repository_allows_everything() {
    let facts = RepositoryFacts::new(
        "acme/public",
        true,
        vec![tag("latest", "img1", 1)],
        vec![],
        vec![image("img1", 1, &["l1"]), referrer("sig", 2, "img1")],
    );
    let none: [License; 0] = [];
    assert_eq!(visible(&none, &facts, t(10)), strings(&["latest"]));
    assert!(manifest_allowed(&none, &facts, t(10), Duration::ZERO, "img1"));
    assert!(blob_allowed(&none, &facts, t(10), "l1"));
    let decider = Decider::new(&none, t(10), Duration::ZERO);
    assert_eq!(decider.referrers(&facts, "sha256:img1"), vec![&d("sig")]);
    assert_eq!(decider.precompute(&facts).referrers("sha256:img1"), &[d("sig")]);
    assert_eq!(
        tag_decision(&none, &facts, t(10), "nope"),
        Decision::Denied(DenyReason::UnknownTag)
    );
}

#[test]
fn catalog_lists_only_pullable_repositories() {
    let repo = |name: &str, public: bool, tags: Vec<TagFact>| {
        RepositoryFacts::new(name, public, tags, vec![], vec![image("m", 1, &[])])
    };
    let repositories = [
        repo("acme/b-grant-no-tag", false, vec![tag("dev", "m", 1)]),
        repo("acme/a-entitled", false, vec![tag("1.0.0", "m", 1)]),
        repo("acme/c-public", true, vec![tag("x", "m", 1)]),
        repo("acme/d-public-empty", true, vec![]),
        repo("acme/e-no-grant", false, vec![tag("1.0.0", "m", 1)]),
    ];
    let licenses = [license(
        1,
        0,
        None,
        ExpiryPolicy::Revoke,
        vec![
            grant("acme/a-entitled", TagSelector::semver("^1", false, false).unwrap()),
            grant("acme/b-grant-no-tag", TagSelector::semver("^1", false, false).unwrap()),
        ],
    )];
    let decider = Decider::new(&licenses, t(10), Duration::ZERO);
    assert_eq!(decider.catalog(&repositories), vec!["acme/a-entitled", "acme/c-public"]);
    let listed: Vec<String> = repositories
        .iter()
        .map(|r| decider.precompute(r))
        .filter(EntitledSet::is_listed)
        .map(|s| s.repository().to_owned())
        .collect();
    assert_eq!(listed, ["acme/a-entitled", "acme/c-public"]);
}

#[test]
fn valid_until_tracks_license_changes() {
    let facts = timeline_repo();
    let licenses = [
        license(1, 100, Some(200), ExpiryPolicy::Revoke, all_of("acme/app")),
        license(2, 150, None, ExpiryPolicy::Revoke, all_of("acme/other")),
    ];
    let at = |now| Decider::new(&licenses, t(now), Duration::ZERO).precompute(&facts);
    assert_eq!(at(0).valid_until(), Some(t(100)));
    assert_eq!(at(100).valid_until(), Some(t(200)));
    assert_eq!(at(200).valid_until(), None);
}

#[test]
fn vendor_view_allows_everything() {
    let facts = nested_repo();
    let set = EntitledSet::vendor(&facts, t(0));
    assert!(set.allows_everything());
    assert_eq!(set.visible_tags().collect::<Vec<_>>(), ["1.0", "dev"]);
    assert_eq!(set.manifest_by_digest("sha256:img3"), Decision::Allowed(AllowReason::Vendor));
    assert_eq!(set.blob("sha256:l3"), Decision::Allowed(AllowReason::Vendor));
    assert_eq!(set.referrers("sha256:img2"), &[d("sig-img2")]);
    assert_eq!(set.valid_until(), None);
}

/// The manifest decision (reason included) from both implementations (asserted equal).
fn manifest_decision(
    licenses: &[License],
    facts: &RepositoryFacts,
    now: OffsetDateTime,
    digest: &str,
) -> Decision {
    let decider = Decider::new(licenses, now, Duration::ZERO);
    let direct = decider.manifest_by_digest(facts, &d(digest).to_string());
    let set = decider.precompute(facts);
    assert_eq!(direct, set.manifest_by_digest(&d(digest).to_string()), "{digest} at {now}");
    direct
}

#[test]
fn keep_released_cut_off_is_exclusive_for_children_and_referrers() {
    // Expiry at minute 200: what was pushed at 200 exactly is "at or after expiry".
    let facts = RepositoryFacts::new(
        "acme/app",
        false,
        vec![tag("1.0.0", "idx", 100)],
        vec![],
        vec![
            index("idx", 100, &["child-before", "child-at"]),
            image("child-before", 199, &["l-before"]),
            image("child-at", 200, &["l-at"]),
            referrer("sig-before", 199, "idx"),
            referrer("sig-at", 200, "idx"),
            referrer("sig-of-sig-at", 199, "sig-at"),
        ],
    );
    let kept = [license(1, 0, Some(200), ExpiryPolicy::KeepReleased, all_of("acme/app"))];
    let now = t(300);
    for (digest, expected) in [
        ("idx", true),
        ("child-before", true),
        ("child-at", false),
        ("sig-before", true),
        ("sig-at", false),
        ("sig-of-sig-at", false),
    ] {
        assert_eq!(
            manifest_allowed(&kept, &facts, now, Duration::ZERO, digest),
            expected,
            "{digest}"
        );
    }
    assert!(blob_allowed(&kept, &facts, now, "l-before"));
    assert!(!blob_allowed(&kept, &facts, now, "l-at"));
    let decider = Decider::new(&kept, now, Duration::ZERO);
    assert_eq!(decider.referrers(&facts, "sha256:idx"), vec![&d("sig-before")]);
    assert_eq!(decider.precompute(&facts).referrers("sha256:idx"), &[d("sig-before")]);
}

#[test]
fn digest_tagged_under_licenses_of_different_reach() {
    // One tag is kept by an expired keep_released license (cut-off 200), the other, on the
    // same index, is granted by an active license. The index's child and referrer, pushed
    // after the cut-off, come with the active license's tag, whatever the order of tags
    // (facts list them by name) and of licenses.
    let manifests = vec![
        index("idx", 100, &["child-late"]),
        image("child-late", 250, &["l-late"]),
        referrer("sig-late", 250, "idx"),
    ];
    let facts = RepositoryFacts::new(
        "acme/app",
        false,
        vec![tag("1.0.0", "idx", 100), tag("stable", "idx", 100)],
        vec![],
        manifests,
    );
    let now = t(300);
    for (kept_tag, active_tag) in [("1.0.0", "stable"), ("stable", "1.0.0")] {
        let kept = license(
            1,
            0,
            Some(200),
            ExpiryPolicy::KeepReleased,
            vec![grant("acme/app", TagSelector::exact([kept_tag]).unwrap())],
        );
        let active = license(
            2,
            0,
            None,
            ExpiryPolicy::Revoke,
            vec![grant("acme/app", TagSelector::exact([active_tag]).unwrap())],
        );
        for licenses in [[kept.clone(), active.clone()], [active.clone(), kept.clone()]] {
            for digest in ["idx", "child-late", "sig-late"] {
                assert!(
                    manifest_allowed(&licenses, &facts, now, Duration::ZERO, digest),
                    "{digest} ({kept_tag} kept)"
                );
            }
            assert!(blob_allowed(&licenses, &facts, now, "l-late"));
            // The index is named through the tag of the longest reach.
            assert_eq!(
                manifest_decision(&licenses, &facts, now, "idx"),
                Decision::Allowed(AllowReason::Tagged {
                    tag: Arc::from(active_tag),
                    grant: GrantRef { license: LicenseId(2), grant: 0, kept_release: false },
                })
            );
        }
        // With the keep_released license alone, the late child and referrer are out.
        let alone = [kept.clone()];
        assert!(manifest_allowed(&alone, &facts, now, Duration::ZERO, "idx"));
        assert!(!manifest_allowed(&alone, &facts, now, Duration::ZERO, "child-late"));
        assert!(!manifest_allowed(&alone, &facts, now, Duration::ZERO, "sig-late"));
    }
}

#[test]
fn two_keep_released_licenses_the_later_cut_off_reaches_further() {
    // `a` is kept until 150, `b` until 250; both point at the index. A child pushed at 200 is
    // reachable through `b` only.
    let licenses = [
        license(
            1,
            0,
            Some(150),
            ExpiryPolicy::KeepReleased,
            vec![grant("acme/app", TagSelector::exact(["a"]).unwrap())],
        ),
        license(
            2,
            0,
            Some(250),
            ExpiryPolicy::KeepReleased,
            vec![grant("acme/app", TagSelector::exact(["b"]).unwrap())],
        ),
    ];
    let facts = RepositoryFacts::new(
        "acme/app",
        false,
        vec![tag("a", "idx", 100), tag("b", "idx", 100)],
        vec![],
        vec![
            index("idx", 100, &["child"]),
            image("child", 200, &[]),
            referrer("sig", 200, "child"),
        ],
    );
    let now = t(400);
    assert!(manifest_allowed(&licenses, &facts, now, Duration::ZERO, "child"));
    assert!(manifest_allowed(&licenses, &facts, now, Duration::ZERO, "sig"));
    assert_eq!(
        manifest_decision(&licenses, &facts, now, "idx"),
        Decision::Allowed(AllowReason::Tagged {
            tag: Arc::from("b"),
            grant: GrantRef { license: LicenseId(2), grant: 0, kept_release: true },
        })
    );
    let first_only = [licenses[0].clone()];
    assert!(!manifest_allowed(&first_only, &facts, now, Duration::ZERO, "child"));
}

#[test]
fn ties_name_the_first_license_and_grant() {
    let facts = timeline_repo();
    let now = t(400);
    // Two grants of the same state and reach: the first license, then the first grant, wins.
    let granted = |licenses: &[License]| match tag_decision(licenses, &facts, now, "old") {
        Decision::Allowed(AllowReason::Granted { grant }) => grant,
        other => panic!("{other:?}"),
    };
    let two_grants = [license(
        1,
        0,
        None,
        ExpiryPolicy::Revoke,
        vec![
            grant("acme/app", TagSelector::all()),
            grant("acme/app", TagSelector::glob("o*").unwrap()),
        ],
    )];
    assert_eq!(
        granted(&two_grants),
        GrantRef { license: LicenseId(1), grant: 0, kept_release: false }
    );
    let active_pair = [
        license(5, 0, None, ExpiryPolicy::Revoke, all_of("acme/app")),
        license(4, 0, None, ExpiryPolicy::Revoke, all_of("acme/app")),
    ];
    assert_eq!(
        granted(&active_pair),
        GrantRef { license: LicenseId(5), grant: 0, kept_release: false }
    );
    let kept_pair = [
        license(5, 0, Some(200), ExpiryPolicy::KeepReleased, all_of("acme/app")),
        license(4, 0, Some(200), ExpiryPolicy::KeepReleased, all_of("acme/app")),
    ];
    assert_eq!(
        granted(&kept_pair),
        GrantRef { license: LicenseId(5), grant: 0, kept_release: true }
    );
    // Longest reach wins over order: an active license after a keep_released one, and the
    // later of two cut-offs.
    let kept_then_active = [
        license(5, 0, Some(200), ExpiryPolicy::KeepReleased, all_of("acme/app")),
        license(4, 0, None, ExpiryPolicy::Revoke, all_of("acme/app")),
    ];
    assert_eq!(
        granted(&kept_then_active),
        GrantRef { license: LicenseId(4), grant: 0, kept_release: false }
    );
    let short_then_long = [
        license(5, 0, Some(150), ExpiryPolicy::KeepReleased, all_of("acme/app")),
        license(4, 0, Some(250), ExpiryPolicy::KeepReleased, all_of("acme/app")),
        license(3, 0, Some(200), ExpiryPolicy::KeepReleased, all_of("acme/app")),
    ];
    assert_eq!(
        granted(&short_then_long),
        GrantRef { license: LicenseId(4), grant: 0, kept_release: true }
    );
    // Equal denials: the first license is named.
    let expired_pair = [
        license(5, 0, Some(10), ExpiryPolicy::Revoke, all_of("acme/app")),
        license(4, 0, Some(20), ExpiryPolicy::Revoke, all_of("acme/app")),
    ];
    assert_eq!(
        tag_decision(&expired_pair, &facts, now, "old"),
        Decision::Denied(DenyReason::LicenseExpired { license: LicenseId(5) })
    );
    let decider = Decider::new(&expired_pair, now, Duration::ZERO);
    assert_eq!(
        decider.repository_access("acme/app", false),
        Decision::Denied(DenyReason::LicenseExpired { license: LicenseId(5) })
    );
    let not_started_pair = [
        license(5, 500, None, ExpiryPolicy::Revoke, all_of("acme/app")),
        license(4, 600, None, ExpiryPolicy::Revoke, all_of("acme/app")),
    ];
    assert_eq!(
        Decider::new(&not_started_pair, now, Duration::ZERO).repository_access("acme/app", false),
        Decision::Denied(DenyReason::LicenseNotStarted { license: LicenseId(5) })
    );
    // A higher rank later in the list still wins over a lower one first.
    let mixed = [
        license(5, 500, None, ExpiryPolicy::Revoke, all_of("acme/app")),
        license(4, 0, Some(10), ExpiryPolicy::Revoke, all_of("acme/app")),
        license(3, 600, None, ExpiryPolicy::Revoke, all_of("acme/app")),
    ];
    assert_eq!(
        Decider::new(&mixed, now, Duration::ZERO).repository_access("acme/app", false),
        Decision::Denied(DenyReason::LicenseExpired { license: LicenseId(4) })
    );
    assert_eq!(
        tag_decision(&mixed, &facts, now, "old"),
        Decision::Denied(DenyReason::LicenseExpired { license: LicenseId(4) })
    );
    // Repository access: an active license wins wherever it is; among keep_released ones,
    // the first; the first covering grant of the license is named.
    let access = [
        license(5, 0, Some(200), ExpiryPolicy::KeepReleased, all_of("acme/app")),
        license(4, 0, Some(300), ExpiryPolicy::KeepReleased, all_of("acme/app")),
        license(
            3,
            0,
            None,
            ExpiryPolicy::Revoke,
            vec![grant("acme/other", TagSelector::all()), grant("acme/app", TagSelector::all())],
        ),
    ];
    let decider = Decider::new(&access, now, Duration::ZERO);
    assert_eq!(
        decider.repository_access("acme/app", false),
        Decision::Allowed(AllowReason::Granted {
            grant: GrantRef { license: LicenseId(3), grant: 1, kept_release: false }
        })
    );
    let decider = Decider::new(&access[..2], now, Duration::ZERO);
    assert_eq!(
        decider.repository_access("acme/app", false),
        Decision::Allowed(AllowReason::Granted {
            grant: GrantRef { license: LicenseId(5), grant: 0, kept_release: true }
        })
    );
}

#[test]
fn decider_and_set_accessors() {
    let licenses = [license(1, 0, None, ExpiryPolicy::Revoke, all_of("acme/app"))];
    let decider = Decider::new(&licenses, t(5), Duration::minutes(3));
    assert_eq!(decider.now(), t(5));
    assert_eq!(decider.retag_grace(), Duration::minutes(3));
    assert_eq!(decider.licenses(), &licenses[..]);
    assert_eq!(Decider::new(&licenses, t(5), Duration::minutes(-3)).retag_grace(), Duration::ZERO);
    let facts = timeline_repo();
    let set = decider.precompute(&facts);
    assert_eq!(set.repository(), "acme/app");
    assert_eq!(set.computed_at(), t(5));
    assert!(!set.allows_everything());
    assert!(set.allows_tag("old") && !set.allows_tag("missing"));
    assert!(set.is_listed());
    assert!(!set.is_current_at(t(4)));
    assert!(set.is_current_at(t(5)));
    let none: [License; 0] = [];
    let empty = Decider::new(&none, t(5), Duration::ZERO).precompute(&facts);
    assert!(!empty.is_listed() && !empty.allows_tag("old"));
    assert_eq!(empty.repository(), "acme/app");
}

#[test]
fn one_digest_under_two_tags_of_equal_reach_names_the_first_tag() {
    let facts = RepositoryFacts::new(
        "acme/app",
        false,
        vec![tag("b", "img", 10), tag("a", "img", 20)],
        vec![TagHistoryFact { tag: "c".into(), digest: d("img"), from: t(0), until: t(30) }],
        vec![image("img", 10, &[])],
    );
    for licenses in [
        vec![license(1, 0, None, ExpiryPolicy::Revoke, all_of("acme/app"))],
        vec![license(1, 0, Some(100), ExpiryPolicy::KeepReleased, all_of("acme/app"))],
    ] {
        let kept_release = licenses[0].expires_at().is_some();
        assert_eq!(
            manifest_decision(&licenses, &facts, t(200), "img"),
            Decision::Allowed(AllowReason::Tagged {
                tag: Arc::from("a"),
                grant: GrantRef { license: LicenseId(1), grant: 0, kept_release },
            })
        );
    }
}
