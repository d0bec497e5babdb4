//! Fuzzing what vendors (through the API and the portal) hand to the entitlement rules, on
//! stable Rust: semver ranges, tag globs, tag selectors in their JSON shape, repository
//! patterns, and tags read as versions — from arbitrary input and from generators of valid
//! and nearly valid values.
//!
//! Each property runs `WHARF_FUZZ_CASES` cases (256 by default, in `just test`; `just fuzz`
//! runs many more). Asserted: no panic on bounded inputs; round trips (a selector's JSON
//! shape validates back to the same selector, a range parses back from its text); a glob
//! made from a tag matches that tag.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use wharf_entitlements::selector::tag_version;
use wharf_entitlements::{RepositoryPattern, SemverRange, TagSelector, TagSelectorSpec};

fn config() -> ProptestConfig {
    let cases = std::env::var("WHARF_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..max).prop_map(|c| c.into_iter().collect()),
        proptest::collection::vec(
            prop::sample::select("0123456789.*xX^~=<>, |-+_vabrc \t/é".chars().collect::<Vec<_>>()),
            0..max
        )
        .prop_map(|c| c.into_iter().collect()),
    ]
}

fn version_text() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "v"]),
        0u64..4,
        0u64..4,
        0u64..4,
        proptest::option::of(prop::sample::select(vec!["alpha", "alpha.1", "rc.1", "0", "beta-2"])),
        proptest::option::of(prop::sample::select(vec!["build.7", "001", "x"])),
        prop::sample::select(vec!["+", "_"]),
    )
        .prop_map(|(v, a, b, c, pre, build, plus)| {
            let mut s = format!("{v}{a}.{b}.{c}");
            if let Some(pre) = pre {
                s.push('-');
                s.push_str(pre);
            }
            if let Some(build) = build {
                s.push_str(plus);
                s.push_str(build);
            }
            s
        })
}

fn comparator() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "=", ">", ">=", "<", "<=", "~", "^"]),
        0u64..4,
        proptest::option::of((
            prop_oneof![Just("*".to_owned()), (0u64..4).prop_map(|n| n.to_string())],
            proptest::option::of(0u64..4),
        )),
        proptest::option::of(prop::sample::select(vec!["alpha", "rc.1", "0"])),
    )
        .prop_map(|(op, major, rest, pre)| {
            let mut s = format!("{op}{major}");
            if let Some((minor, patch)) = rest {
                s.push('.');
                s.push_str(&minor);
                if let Some(patch) = patch.filter(|_| minor != "*") {
                    s.push_str(&format!(".{patch}"));
                    if let Some(pre) = pre {
                        s.push_str(&format!("-{pre}"));
                    }
                }
            }
            s
        })
}

fn range() -> impl Strategy<Value = String> {
    (proptest::collection::vec(comparator(), 1..4), prop::sample::select(vec![", ", " ", ","]))
        .prop_map(|(c, sep)| c.join(sep))
}

fn tag() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,40}"
}

fn spec() -> impl Strategy<Value = TagSelectorSpec> {
    prop_oneof![
        Just(TagSelectorSpec::All),
        proptest::collection::vec(prop_oneof![tag(), text(20)], 0..4)
            .prop_map(|values| TagSelectorSpec::Exact { values }),
        prop_oneof!["[a-z0-9*._-]{0,20}", text(20)]
            .prop_map(|pattern| TagSelectorSpec::Glob { pattern }),
        (prop_oneof![range(), text(30)], any::<bool>(), any::<bool>()).prop_map(
            |(range, allow_v_prefix, include_prereleases)| TagSelectorSpec::Semver {
                range,
                allow_v_prefix,
                include_prereleases,
            }
        ),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_ranges_never_panic_and_round_trip(s in prop_oneof![text(80), range()], tags in proptest::collection::vec(prop_oneof![version_text(), tag()], 0..6)) {
        if let Ok(r) = SemverRange::parse(&s) {
            prop_assert_eq!(r.as_str(), s.as_str());
            let again = SemverRange::parse(r.as_str()).unwrap();
            for t in &tags {
                if let Some(v) = tag_version(t, true) {
                    prop_assert_eq!(r.contains(&v, false), again.contains(&v, false));
                    prop_assert_eq!(r.contains(&v, true), again.contains(&v, true));
                    // Admitting pre-releases never removes a version.
                    prop_assert!(!r.contains(&v, false) || r.contains(&v, true));
                }
            }
        }
    }

    #[test]
    fn arbitrary_tags_read_as_versions_never_panic(s in prop_oneof![text(80), version_text()]) {
        for allow_v in [false, true] {
            if let Some(v) = tag_version(&s, allow_v) {
                // What reads as a version prints back as the tag, up to the `v` and `_` → `+`.
                let bare = if allow_v { s.strip_prefix('v').unwrap_or(&s) } else { &s };
                prop_assert_eq!(v.to_string(), bare.replace('_', "+"));
            }
        }
    }

    #[test]
    fn selectors_never_panic_and_round_trip(spec in spec(), tags in proptest::collection::vec(prop_oneof![tag(), version_text(), text(30)], 0..6)) {
        let json = serde_json::to_string(&spec).unwrap();
        prop_assert_eq!(serde_json::from_str::<TagSelectorSpec>(&json).unwrap(), spec.clone());
        if let Ok(selector) = spec.validate() {
            let again = selector.to_spec().validate().unwrap();
            for t in &tags {
                prop_assert_eq!(selector.matches(t), again.matches(t));
            }
        }
    }

    #[test]
    fn arbitrary_selector_json_never_panics(s in text(120)) {
        if let Ok(spec) = serde_json::from_str::<TagSelectorSpec>(&s) {
            let _ = spec.validate();
        }
        let _ = serde_json::from_str::<TagSelectorSpec>(&format!("{{\"kind\":\"glob\",\"pattern\":{}}}", serde_json::to_string(&s).unwrap()))
            .map(|spec| spec.validate());
    }

    /// A glob made from a tag by replacing any parts of it with `*` matches the tag; globs
    /// and tags of any text never panic.
    #[test]
    fn globs_made_from_a_tag_match_it(
        t in tag(),
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..4), 0..4),
        other in text(60),
    ) {
        let mut chars: Vec<char> = t.chars().collect();
        for (at, len) in cuts {
            let start = at.index(chars.len() + 1);
            let end = (start + len).min(chars.len());
            chars.splice(start..end, ['*']);
        }
        let pattern: String = chars.into_iter().collect();
        if let Ok(glob) = TagSelector::glob(&pattern) {
            prop_assert!(glob.matches(&t), "{} !~ {}", t, pattern);
            let _ = glob.matches(&other);
        }
        if let Ok(glob) = TagSelector::glob(&other) {
            prop_assert!(glob.matches(&other) || other.contains('*'));
            let _ = glob.matches(&t);
        }
    }

    #[test]
    fn repository_patterns_never_panic(org in prop_oneof!["[a-z0-9]{1,8}", text(20)], pattern in prop_oneof![text(80), "[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,3}(/\\*)?"], repo in text(60)) {
        let full = format!("{org}/{pattern}");
        for p in [&pattern, &full] {
            if let Ok(parsed) = RepositoryPattern::parse(&org, p) {
                let org_prefix = format!("{org}/");
                // `org/*` is every repository of the organization: its name is the org itself.
                prop_assert!(parsed.name().starts_with(&org_prefix)
                    || (parsed.is_prefix() && parsed.name() == org));
                prop_assert_eq!(RepositoryPattern::parse(&org, p), Ok(parsed.clone()));
                let _ = parsed.matches(&repo);
                prop_assert_eq!(parsed.matches(parsed.name()), !parsed.is_prefix());
            }
        }
    }
}

/// Long inputs are refused or matched quickly (the bound is generous: a linear parse or
/// match takes milliseconds; a backtracking glob on 128-character worst cases would not).
#[test]
fn long_inputs_are_handled_quickly() {
    let started = Instant::now();
    for s in
        ["1".repeat(1 << 20), ">=1.0.0, ".repeat(1 << 16), "*".repeat(1 << 20), "^".repeat(1 << 20)]
    {
        let _ = SemverRange::parse(&s);
        let _ = TagSelector::glob(&s);
        let _ = tag_version(&s, true);
        let _ = RepositoryPattern::parse("acme", &s);
    }
    // The worst case for a glob: many stars and a tag that almost matches, at the maximum
    // lengths (128 characters each), many times.
    let glob = TagSelector::glob(&"*a".repeat(64)).unwrap();
    let tag = format!("{}b", "a".repeat(127));
    for _ in 0..10_000 {
        assert!(!glob.matches(&tag));
    }
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}
