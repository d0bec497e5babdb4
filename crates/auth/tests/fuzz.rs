//! Fuzzing what `wharf-auth` reads from clients, on stable Rust: scopes (`scope` parameters of
//! token requests), access tokens, invitation and password-reset link tokens, registry JWTs
//! and the `Authorization` header, from arbitrary input and from generators of valid and
//! nearly valid values.
//!
//! Each property runs `WHARF_FUZZ_CASES` cases (256 by default, in `just test`; `just fuzz`
//! runs many more). Asserted: no panic on bounded inputs, and round trips where a printer
//! exists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use proptest::prelude::*;
use secrecy::ExposeSecret as _;
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_auth::authorization::Presented;
use wharf_auth::invitation;
use wharf_auth::jwt::{Signer, SigningKey, Verifier, generate_signing_key};
use wharf_auth::principal::Principal;
use wharf_auth::scope::{ResourceScope, parse_scopes};
use wharf_auth::token::{self, TokenFormatError, TokenKind};

fn config() -> ProptestConfig {
    let cases = std::env::var("WHARF_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..max).prop_map(|c| c.into_iter().collect()),
        proptest::collection::vec(
            prop::sample::select("az09AZ_-./:,()* \t=+é\u{0}".chars().collect::<Vec<_>>()),
            0..max
        )
        .prop_map(|c| c.into_iter().collect()),
        proptest::collection::vec(any::<u8>(), 0..max)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
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

const COMPONENT: &str = "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,2}";

fn scope() -> impl Strategy<Value = String> {
    let name = proptest::collection::vec(COMPONENT, 2..5).prop_map(|c| c.join("/"));
    let actions =
        proptest::collection::vec(prop::sample::select(vec!["pull", "push", "delete", "*"]), 1..4)
            .prop_map(|a| a.join(","));
    prop_oneof![
        4 => (prop::sample::select(vec!["repository", "repository(plugin)"]), name, actions)
            .prop_map(|(k, n, a)| format!("{k}:{n}:{a}")),
        1 => Just("registry:catalog:*".to_owned()),
    ]
}

fn headers(values: &[HeaderValue]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for v in values {
        map.append(AUTHORIZATION, v.clone());
    }
    map
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_scopes_never_panic_and_round_trip(s in text(200)) {
        if let Ok(scope) = s.parse::<ResourceScope>() {
            let printed = scope.to_string();
            prop_assert_eq!(printed.parse::<ResourceScope>(), Ok(scope.clone()));
            prop_assert!(!scope.actions.is_empty());
        }
        let _ = parse_scopes([s.as_str()]);
        let _ = s.parse::<wharf_auth::scope::RepositoryName>();
        let _ = s.parse::<wharf_auth::scope::Action>();
    }

    #[test]
    fn valid_scopes_round_trip(scopes in proptest::collection::vec(scope(), 1..4)) {
        let joined = scopes.join(" ");
        let parsed = parse_scopes([joined.as_str()]).unwrap();
        prop_assert!(!parsed.is_empty() && parsed.len() <= scopes.len());
        for scope in &parsed {
            prop_assert_eq!(scope.to_string().parse::<ResourceScope>(), Ok(scope.clone()));
        }
        // Printing what was parsed and parsing it again gives the same list.
        let printed: Vec<String> = parsed.iter().map(ToString::to_string).collect();
        prop_assert_eq!(parse_scopes(printed.iter().map(String::as_str)).unwrap(), parsed);
    }

    #[test]
    fn nearly_valid_scopes_never_panic(s in scope().prop_flat_map(mutate)) {
        if let Ok(scope) = s.parse::<ResourceScope>() {
            prop_assert_eq!(scope.to_string().parse::<ResourceScope>(), Ok(scope));
        }
    }

    #[test]
    fn arbitrary_tokens_never_panic(s in text(120)) {
        if let Ok(parsed) = token::parse(&s) {
            prop_assert_eq!(parsed.hash, token::hash(&s));
        }
        let _ = invitation::parse(&s);
        let _ = invitation::parse_password_reset(&s);
        let _ = token::check_name(&s);
    }

    #[test]
    fn shaped_tokens_never_panic(
        prefix in prop::sample::select(vec!["wharf_vnd_", "wharf_cst_", "wharf_inv_", "wharf_pwr_", "wharf_xxx_"]),
        rest in "[0-9A-Za-z]{36,40}",
    ) {
        let s = format!("{prefix}{rest}");
        match token::parse(&s) {
            Ok(_) => prop_assert!(s.len() == 48),
            Err(e) => prop_assert!(matches!(e, TokenFormatError::UnknownPrefix
                | TokenFormatError::Length(_) | TokenFormatError::Checksum)),
        }
        let _ = invitation::parse(&s);
        let _ = invitation::parse_password_reset(&s);
    }

    /// A generated token parses to its kind and hash; any one-character change (a typo, a
    /// truncated or extended copy) is refused before any lookup, thanks to the checksum.
    #[test]
    fn generated_tokens_parse_and_typos_do_not(
        vendor in any::<bool>(),
        edit in (0usize..48, any::<char>(), 0..3u8),
    ) {
        let kind = if vendor { TokenKind::VendorApi } else { TokenKind::CustomerAccess };
        let generated = token::generate(kind);
        let text = generated.plaintext.expose_secret().to_owned();
        let parsed = token::parse(&text).unwrap();
        prop_assert_eq!(parsed.kind, kind);
        prop_assert_eq!(parsed.hash, generated.hash);
        prop_assert!(text.starts_with(&generated.display_prefix));
        let (at, c, how) = edit;
        let mut chars: Vec<char> = text.chars().collect();
        match how {
            0 => chars[at] = c,
            1 => chars.insert(at, c),
            _ => {
                chars.remove(at);
            }
        }
        let typo: String = chars.into_iter().collect();
        if typo != text {
            prop_assert!(token::parse(&typo).is_err(), "{typo}");
        }
        prop_assert_eq!(invitation::parse(&text), None);
    }

    #[test]
    fn generated_link_tokens_parse_and_typos_do_not(
        reset in any::<bool>(),
        at in 0usize..48,
        c in any::<char>(),
        pad in "[ \t]{0,3}",
    ) {
        let generated = if reset { invitation::generate_password_reset() } else { invitation::generate() };
        let text = generated.plaintext.expose_secret().to_owned();
        type Parse = fn(&str) -> Option<wharf_auth::token::TokenHash>;
        let (right, wrong): (Parse, Parse) = if reset {
            (invitation::parse_password_reset, invitation::parse)
        } else {
            (invitation::parse, invitation::parse_password_reset)
        };
        prop_assert_eq!(right(&text), Some(generated.hash));
        prop_assert_eq!(right(&format!("{pad}{text}{pad}")), Some(generated.hash));
        prop_assert_eq!(wrong(&text), None);
        prop_assert!(token::parse(&text).is_err());
        let mut chars: Vec<char> = text.chars().collect();
        chars[at] = c;
        let typo: String = chars.into_iter().collect();
        if typo.trim() != text {
            prop_assert_eq!(right(&typo), None);
        }
    }

    #[test]
    fn arbitrary_authorization_headers_never_panic(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..3),
    ) {
        let values: Vec<HeaderValue> =
            values.iter().filter_map(|v| HeaderValue::from_bytes(v).ok()).collect();
        let result = Presented::from_headers(&headers(&values));
        match values.len() {
            0 => prop_assert!(matches!(result, Ok(None))),
            1 => prop_assert!(!matches!(result, Ok(None))),
            _ => prop_assert!(result.is_err()),
        }
    }

    #[test]
    fn basic_and_bearer_round_trip(
        user in "[^:\u{0}-\u{1f}\u{7f}]{0,30}",
        password in "[^\u{0}-\u{1f}\u{7f}]{0,60}",
        token in "[A-Za-z0-9._~+/-]{1,80}=*",
        scheme_case in any::<bool>(),
    ) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let basic = if scheme_case { "BASIC" } else { "Basic" };
        let value = HeaderValue::from_str(&format!("{basic} {encoded}")).unwrap();
        match Presented::from_headers(&headers(std::slice::from_ref(&value))) {
            Ok(Some(Presented::Basic { user: u, password: p })) => {
                prop_assert_eq!(u, user);
                prop_assert_eq!(p.expose_secret(), password.as_str());
            }
            other => prop_assert!(false, "{other:?}"),
        }
        let bearer = if scheme_case { "bearer" } else { "Bearer" };
        let bearer_value = HeaderValue::from_str(&format!("{bearer} {token}")).unwrap();
        match Presented::from_headers(&headers(std::slice::from_ref(&bearer_value))) {
            Ok(Some(Presented::Bearer(t))) => prop_assert_eq!(t.expose(), token.as_str()),
            other => prop_assert!(false, "{other:?}"),
        }
        // Two headers, in either order, are refused.
        prop_assert!(Presented::from_headers(&headers(&[value.clone(), bearer_value.clone()])).is_err());
        prop_assert!(Presented::from_headers(&headers(&[bearer_value, value])).is_err());
    }
}

fn jwt_pair() -> (Signer, Verifier) {
    let pem = generate_signing_key().unwrap();
    let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
    let verifier =
        Verifier::new("https://wharf.test", "wharf.test", [key.verification_key().clone()])
            .unwrap();
    (Signer::new(key, "https://wharf.test", "wharf.test", Duration::from_secs(300)), verifier)
}

proptest! {
    #![proptest_config(config())]

    /// Registry bearer tokens: arbitrary strings, and a real token with one character
    /// changed, never verify (or verify to exactly the claims that were signed).
    #[test]
    fn jwts_never_panic_and_tampering_fails(
        s in text(400),
        edit in (any::<prop::sample::Index>(), any::<char>()),
    ) {
        let (signer, verifier) = jwt_pair();
        let now = OffsetDateTime::now_utc();
        prop_assert!(verifier.verify(&s, now).is_err());
        let principal = Principal::CustomerToken {
            token_id: Uuid::from_u128(7),
            org_id: Uuid::from_u128(1),
            customer_id: Uuid::from_u128(3),
        };
        let access = vec!["repository:acme/app:pull".parse().unwrap()];
        let issued = signer.sign("bot", &principal, access, now).unwrap();
        let text = issued.token.expose_secret().to_owned();
        prop_assert_eq!(verifier.verify(&text, now).unwrap(), issued.claims.clone());
        let mut chars: Vec<char> = text.chars().collect();
        let at = edit.0.index(chars.len());
        chars[at] = edit.1;
        let tampered: String = chars.into_iter().collect();
        if let Ok(claims) = verifier.verify(&tampered, now) {
            prop_assert_eq!(claims, issued.claims);
        }
    }
}

/// Megabyte inputs are refused quickly (the parsers are linear; the bound is generous).
#[test]
fn large_inputs_are_refused_quickly() {
    let (_, verifier) = jwt_pair();
    let long_scope = format!("repository:acme/app:{}", "pull,".repeat(1 << 18));
    let inputs = [
        "a".repeat(1 << 20),
        ":".repeat(1 << 20),
        "(".repeat(1 << 20),
        ",".repeat(1 << 20),
        long_scope,
        format!("repository:{}:pull", "a/".repeat(1 << 19)),
        format!("wharf_cst_{}", "a".repeat(1 << 20)),
        format!("{}.{}.{}", "e".repeat(1 << 19), "e".repeat(1 << 19), "e"),
    ];
    let started = Instant::now();
    for s in &inputs {
        let _ = s.parse::<ResourceScope>();
        let _ = parse_scopes([s.as_str()]);
        assert!(token::parse(s).is_err());
        assert!(invitation::parse(s).is_none());
        assert!(verifier.verify(s, OffsetDateTime::now_utc()).is_err());
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {s}")) {
            let _ = Presented::from_headers(&headers(&[v]));
        }
        if let Ok(v) = HeaderValue::from_str(&format!("Basic {s}")) {
            let _ = Presented::from_headers(&headers(&[v]));
        }
    }
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}
