//! Fuzzing the portal's two readers of client-supplied paths, on stable Rust: `safe_next`
//! (the `next=` of sign-in, which must never send anyone off the site) and `redact_secret`
//! (which keeps link secrets out of logs).
//!
//! Each property runs `WHARF_FUZZ_CASES` cases (256 by default, in `just test`; `just fuzz`
//! runs many more). Asserted: no panic; whatever `safe_next` accepts resolves, as a browser
//! resolves it (WHATWG URL parsing), to a URL on the same origin; `sign_in_then` round-trips
//! `next`; a redacted path never contains the secret.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use url::Url;
use wharf_portal::links::{SECRET_PREFIXES, redact_secret, safe_next, sign_in_then};

fn config() -> ProptestConfig {
    let cases = std::env::var("WHARF_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..max).prop_map(|c| c.into_iter().collect()),
        proptest::collection::vec(
            prop::sample::select(
                "/\\:.@?#%&=abc 2fF5C09\t\r\n\u{0}\u{a0}\u{3000}\u{2028}\u{feff}é"
                    .chars()
                    .collect::<Vec<_>>()
            ),
            0..max
        )
        .prop_map(|c| c.into_iter().collect()),
    ]
}

/// What an attacker would try as `next`.
fn next_candidate() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "/",
            "//",
            "///",
            "/\\",
            "\\",
            "\\\\",
            "/.//",
            "/./",
            "/..//",
            "https:",
            "http:/",
            "javascript:",
            "//%2f",
            "/%2f%2f",
            "%2f%2f",
            " /",
            "/\t/",
            "/\r\n/",
            "\u{0}/",
            "/@",
            "/:",
            "//:@",
            "/?",
            "/#",
        ]),
        prop::sample::select(vec!["evil.test", "evil.test/x", "@evil.test", "account", ""]),
        text(8),
    )
        .prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

fn assert_stays(next: &str) -> Result<(), TestCaseError> {
    let Some(ok) = safe_next(next) else {
        return Ok(());
    };
    prop_assert_eq!(ok, next);
    let base = Url::parse("https://wharf.test/sign-in?x=1").unwrap();
    let resolved = base.join(ok).unwrap();
    prop_assert_eq!(resolved.origin(), base.origin(), "{:?} leaves the site: {}", next, resolved);
    // The sign-in link carries it back unchanged.
    let link = sign_in_then(ok);
    if ok != "/" {
        let query = link.split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        prop_assert_eq!(pairs, vec![("next".to_owned(), ok.to_owned())]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_next_never_leaves_the_site(next in text(200)) {
        assert_stays(&next)?;
        assert_stays(&format!("/{next}"))?;
    }

    #[test]
    fn attacker_next_never_leaves_the_site(next in next_candidate()) {
        assert_stays(&next)?;
    }

    #[test]
    fn arbitrary_paths_redact_without_panic(path in text(200)) {
        let out = redact_secret(&path);
        if out != path {
            prop_assert!(SECRET_PREFIXES.iter().any(|p| out.starts_with(p)));
        }
        let with_prefix = format!("{}{path}", SECRET_PREFIXES[path.len() % SECRET_PREFIXES.len()]);
        let _ = redact_secret(&with_prefix);
    }

    #[test]
    fn secrets_never_survive_redaction(
        prefix in prop::sample::select(SECRET_PREFIXES.to_vec()),
        secret in "wharf_(inv|pwr)_[A-Za-z0-9]{38}|[^/]{1,60}",
        tail in prop_oneof![Just(String::new()), "/[a-z/?=&]{0,20}"],
    ) {
        let path = format!("{prefix}{secret}{tail}");
        let out = redact_secret(&path);
        prop_assert_eq!(out.as_ref(), format!("{prefix}…{tail}"));
        if !prefix.contains(secret.as_str()) && !tail.contains(secret.as_str()) {
            prop_assert!(!out.contains(secret.as_str()));
        }
    }
}
