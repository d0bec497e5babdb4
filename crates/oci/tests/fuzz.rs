//! Fuzzing the OCI grammar on stable Rust: digests, repository names, tags and references
//! from arbitrary strings and bytes, and from generators of valid and nearly valid values.
//!
//! Each property runs `WHARF_FUZZ_CASES` cases (256 by default, in `just test`; `just fuzz`
//! runs many more). Asserted: no panic, inputs of bounded size, and round trips (what parses
//! prints back as the same text, and that text parses to the same value).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use wharf_oci::name::{MAX_NAME_LEN, check_component, is_valid_org_slug};
use wharf_oci::tag::MAX_TAG_LEN;
use wharf_oci::{Algorithm, Digest, Reference, RepositoryName, Tag};

fn config() -> ProptestConfig {
    let cases = std::env::var("WHARF_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// Any string of up to `max` chars, from the whole of Unicode or from the grammar's alphabet
/// plus the characters that separate its parts.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..max).prop_map(|c| c.into_iter().collect()),
        proptest::collection::vec(
            prop::sample::select("abz09AZ._-/:@+*%\\ \t\n\u{0}é".chars().collect::<Vec<_>>()),
            0..max
        )
        .prop_map(|c| c.into_iter().collect()),
        proptest::collection::vec(any::<u8>(), 0..max)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn digest() -> impl Strategy<Value = String> {
    prop_oneof!["sha256:[0-9a-f]{64}", "sha512:[0-9a-f]{128}"]
}

const COMPONENT: &str = "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,3}";

fn name() -> impl Strategy<Value = String> {
    proptest::collection::vec(COMPONENT, 2..6).prop_map(|c| c.join("/"))
}

fn tag() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
}

/// `valid` with one character replaced, inserted or removed.
fn mutate(valid: String) -> impl Strategy<Value = String> {
    let len = valid.chars().count();
    (0..=len, any::<char>(), 0..3u8).prop_map(move |(at, c, how)| {
        let mut chars: Vec<char> = valid.chars().collect();
        match how {
            0 if at < chars.len() => chars[at] = c,
            1 => chars.insert(at, c),
            _ if at < chars.len() => {
                chars.remove(at);
            }
            _ => chars.push(c),
        }
        chars.into_iter().collect()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics_and_round_trips(s in text(300)) {
        if let Ok(d) = Digest::parse(&s) {
            prop_assert_eq!(d.to_string(), s.clone());
            prop_assert_eq!(Digest::parse(d.as_str()), Ok(d.clone()));
            prop_assert!(d.algorithm().is_valid_encoded(d.encoded()));
        }
        if let Ok(n) = RepositoryName::parse(&s) {
            prop_assert_eq!(n.as_str(), s.as_str());
            prop_assert!(s.len() <= MAX_NAME_LEN);
            prop_assert!(is_valid_org_slug(n.org_slug()));
        }
        if let Ok(t) = Tag::parse(&s) {
            prop_assert_eq!(t.as_str(), s.as_str());
            prop_assert!(s.len() <= MAX_TAG_LEN);
        }
        if let Ok(r) = Reference::parse(&s) {
            prop_assert_eq!(r.to_string(), s.clone());
            prop_assert_eq!(Reference::parse(&r.to_string()), Ok(r.clone()));
        }
        let _ = check_component(&s);
        let _ = is_valid_org_slug(&s);
        let _ = s.parse::<Algorithm>();
    }

    #[test]
    fn valid_digests_round_trip(s in digest()) {
        let d = Digest::parse(&s).unwrap();
        prop_assert_eq!(d.as_str(), s.as_str());
        prop_assert_eq!(d.algorithm().to_string(), s.split_once(':').unwrap().0);
        prop_assert_eq!(Reference::parse(&s), Ok(Reference::Digest(d)));
        let json = serde_json::to_string(&Digest::parse(&s).unwrap()).unwrap();
        prop_assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), Digest::parse(&s).unwrap());
    }

    #[test]
    fn nearly_valid_digests_never_panic(s in digest().prop_flat_map(mutate)) {
        if let Ok(d) = Digest::parse(&s) {
            prop_assert_eq!(d.as_str(), s.as_str());
            prop_assert!(d.algorithm().is_valid_encoded(d.encoded()));
        }
        let _ = Reference::parse(&s);
    }

    #[test]
    fn valid_names_round_trip(s in name()) {
        prop_assume!(s.len() <= MAX_NAME_LEN);
        let n = RepositoryName::parse(&s).unwrap();
        prop_assert_eq!(n.to_string(), s.clone());
        prop_assert_eq!(format!("{}/{}", n.org_slug(), n.path()), s.clone());
        let json = serde_json::to_string(&n).unwrap();
        prop_assert_eq!(serde_json::from_str::<RepositoryName>(&json).unwrap(), n);
    }

    #[test]
    fn nearly_valid_names_never_panic(s in name().prop_flat_map(mutate)) {
        if let Ok(n) = RepositoryName::parse(&s) {
            prop_assert_eq!(n.as_str(), s.as_str());
            prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()
                || b"._-/".contains(&b)));
        }
    }

    #[test]
    fn valid_tags_round_trip(s in tag()) {
        let t = Tag::parse(&s).unwrap();
        prop_assert_eq!(t.to_string(), s.clone());
        prop_assert_eq!(Reference::parse(&s), Ok(Reference::Tag(t)));
    }

    #[test]
    fn nearly_valid_tags_never_panic(s in tag().prop_flat_map(mutate)) {
        if let Ok(t) = Tag::parse(&s) {
            prop_assert_eq!(t.as_str(), s.as_str());
            prop_assert!(s.len() <= MAX_TAG_LEN);
        }
        if let Ok(r) = Reference::parse(&s) {
            prop_assert_eq!(r.as_str(), s.as_str());
        }
    }
}

/// Parsers are linear: megabyte inputs built to make a backtracking or quadratic parser slow
/// are refused quickly. The bound is generous (a linear parse takes milliseconds even in a
/// debug build on a loaded machine; a quadratic one would take minutes).
#[test]
fn large_inputs_are_refused_quickly() {
    let inputs = [
        "a".repeat(1 << 20),
        "a-".repeat(1 << 19),
        "a/".repeat(1 << 19),
        "a__".repeat(1 << 18),
        format!("sha256:{}", "a".repeat(1 << 20)),
        ":".repeat(1 << 20),
        "@".repeat(1 << 20),
    ];
    let started = Instant::now();
    for s in &inputs {
        assert!(Digest::parse(s).is_err());
        assert!(RepositoryName::parse(s).is_err());
        assert!(Tag::parse(s).is_err());
        assert!(Reference::parse(s).is_err());
        let _ = check_component(s);
    }
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}
