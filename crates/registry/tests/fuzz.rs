//! Fuzzing what the `/v2` front door reads from clients, on stable Rust: `Range` and
//! `Content-Range` headers, request paths, and manifest and index JSON, from arbitrary input
//! and from generators of valid and nearly valid values.
//!
//! Each property runs `WHARF_FUZZ_CASES` cases (256 by default, in `just test`; `just fuzz`
//! runs many more). Asserted: no panic on bounded inputs, and round trips where a printer
//! exists (`Content-Range` and `Range` answers read back, route paths, manifest digests).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value, json};
use wharf_registry::digest::Algorithm;
use wharf_registry::manifest::{
    DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, ManifestError, ManifestKind, OCI_INDEX, OCI_MANIFEST,
    parse_manifest,
};
use wharf_registry::paging::{ChunkRange, check_chunk, parse_range, upload_range};
use wharf_registry::route::Route;

fn config() -> ProptestConfig {
    let cases = std::env::var("WHARF_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..max).prop_map(|c| c.into_iter().collect()),
        proptest::collection::vec(
            prop::sample::select("0123456789-=/*, bytesBYTES\t+é".chars().collect::<Vec<_>>()),
            0..max
        )
        .prop_map(|c| c.into_iter().collect()),
    ]
}

/// A number as a client might write it: small, huge, past `u64`, with leading zeros.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..2000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "[0-9]{19,25}",
        "0{1,5}[0-9]{0,3}",
        Just(String::new()),
    ]
}

fn range_header() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["bytes=", "BYTES=", " bytes = ", "items=", "bytes "]),
        number(),
        prop::sample::select(vec!["-", " - ", "--", ""]),
        number(),
        prop::sample::select(vec!["", ",0-1", " ", "/*"]),
    )
        .prop_map(|(u, a, dash, b, tail)| format!("{u}{a}{dash}{b}{tail}"))
}

fn digest_strategy() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}"))
}

fn annotations() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map("[a-z.]{1,10}", "\\PC{0,10}", 0..3).prop_map(|m| json!(m))
}

fn descriptor(media_types: Vec<&'static str>) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(media_types),
        digest_strategy(),
        0u64..1 << 40,
        annotations(),
        proptest::option::of("https://example\\.com/[a-z]{1,8}"),
    )
        .prop_map(|(mt, digest, size, ann, url)| {
            let mut d =
                json!({"mediaType": mt, "digest": digest, "size": size, "annotations": ann});
            if let Some(url) = url {
                d["urls"] = json!([url]);
            }
            d
        })
}

const LAYER_TYPES: [&str; 4] = [
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.empty.v1+json",
];

/// A valid image manifest (OCI or Docker) or index (OCI or Docker list) and its kind.
fn valid_manifest() -> impl Strategy<Value = (ManifestKind, Value)> {
    let config = descriptor(vec![
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.example.sbom+json",
    ]);
    let layers = proptest::collection::vec(descriptor(LAYER_TYPES.to_vec()), 0..4);
    let image = (
        prop::sample::select(vec![ManifestKind::OciManifest, ManifestKind::DockerManifest]),
        config,
        layers,
        annotations(),
        proptest::option::of(descriptor(vec![OCI_MANIFEST])),
    )
        .prop_map(|(kind, config, layers, ann, subject)| {
            let mut m = json!({"schemaVersion": 2, "mediaType": kind.media_type(),
                               "config": config, "layers": layers, "annotations": ann});
            if let Some(s) = subject {
                m["subject"] = s;
            }
            (kind, m)
        });
    let children = proptest::collection::vec(
        (
            descriptor(vec![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_V2]),
            proptest::option::of((
                prop::sample::select(vec!["linux", "windows"]),
                prop::sample::select(vec!["amd64", "arm64"]),
            )),
        )
            .prop_map(|(mut d, platform)| {
                if let Some((os, arch)) = platform {
                    d["platform"] = json!({"os": os, "architecture": arch});
                }
                d
            }),
        0..4,
    );
    let index = (
        prop::sample::select(vec![ManifestKind::OciIndex, ManifestKind::DockerManifestList]),
        children,
        annotations(),
    )
        .prop_map(|(kind, children, ann)| {
            (
                kind,
                json!({"schemaVersion": 2, "mediaType": kind.media_type(),
                          "manifests": children, "annotations": ann}),
            )
        });
    prop_oneof![image, index]
}

/// Arbitrary JSON, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST_V2,
            DOCKER_MANIFEST_LIST,
            "sha256:",
        ])
        .prop_map(Value::from),
        digest_strategy().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(
                prop::sample::select(vec![
                    "schemaVersion",
                    "mediaType",
                    "config",
                    "layers",
                    "manifests",
                    "subject",
                    "digest",
                    "size",
                    "urls",
                    "annotations",
                    "artifactType",
                    "platform",
                    "x",
                ])
                .prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        prop::sample::select(vec![
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST_V2,
            DOCKER_MANIFEST_LIST,
            "application/json",
            "application/octet-stream",
            "text/plain",
            "",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,30}",
    ])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_range_headers_never_panic(header in text(60), size in prop_oneof![0u64..100, any::<u64>()]) {
        check_range(&header, size)?;
    }

    #[test]
    fn shaped_range_headers_never_panic(header in range_header(), size in prop_oneof![0u64..3000, any::<u64>()]) {
        check_range(&header, size)?;
    }

    /// What Wharf prints in `Content-Range` (206 answers) and `Range` (upload answers) reads
    /// back as the same range.
    #[test]
    fn printed_ranges_read_back(size in 1u64..u64::MAX, a in any::<u64>(), b in any::<u64>()) {
        let (start, end) = (a % size, b % size);
        let (start, end) = (start.min(end), start.max(end));
        let header = format!("bytes={start}-{end}");
        let r = parse_range(Some(&header), size).unwrap().unwrap();
        prop_assert_eq!((r.start, r.end), (start, end));
        let printed = r.content_range(size);
        let back = ChunkRange::parse(printed.to_str().unwrap()).unwrap();
        prop_assert_eq!((back.start, back.end), (start, end));
        prop_assert_eq!(back.len(), r.len());
        let upload = upload_range(size);
        let back = ChunkRange::parse(upload.to_str().unwrap()).unwrap();
        prop_assert_eq!((back.start, back.end), (0, size - 1));
        let chunk = format!("{start}-{end}");
        prop_assert!(check_chunk(Some(&chunk), start, Some(r.len())).is_ok());
    }

    #[test]
    fn arbitrary_paths_never_panic_and_round_trip(rest in text(120)) {
        for path in [format!("/v2/{rest}"), rest.clone()] {
            if let Ok(route) = Route::parse(&path) {
                prop_assert_eq!(Route::parse(&route.path()), Ok(route));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024), ct in content_type()) {
        let _ = parse_manifest(ct.as_deref(), &bytes, Algorithm::Sha256);
        let _ = parse_manifest(ct.as_deref(), &bytes, Algorithm::Sha512);
    }

    #[test]
    fn arbitrary_json_never_panics(value in any_json(), ct in content_type()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Ok(parsed) = parse_manifest(ct.as_deref(), &bytes, Algorithm::Sha256) {
            prop_assert_eq!(parsed.digest, Algorithm::Sha256.digest(&bytes));
            // Never both kinds at once (CVE-2021-41190).
            prop_assert!(parsed.children.is_empty() || (parsed.config.is_none() && parsed.layers.is_empty()));
            prop_assert!(value.get("layers").is_none() || value.get("manifests").is_none());
        }
    }

    /// Valid manifests and indexes parse, keep what they carry, and are digested over the
    /// exact bytes; with the other kind's field added, or sent under the other kind's
    /// `Content-Type`, they are refused.
    #[test]
    fn valid_manifests_parse((kind, value) in valid_manifest(), sha512 in any::<bool>(), pretty in any::<bool>()) {
        let algorithm = if sha512 { Algorithm::Sha512 } else { Algorithm::Sha256 };
        let bytes = if pretty { serde_json::to_vec_pretty(&value) } else { serde_json::to_vec(&value) }.unwrap();
        for ct in [None, Some(kind.media_type()), Some("application/json")] {
            let parsed = parse_manifest(ct, &bytes, algorithm).unwrap();
            prop_assert_eq!(parsed.kind, kind);
            prop_assert_eq!(&parsed.digest, &algorithm.digest(&bytes));
            prop_assert_eq!(parsed.size, bytes.len() as u64);
            let count = |field: &str| value.get(field).and_then(Value::as_array).map_or(0, Vec::len);
            prop_assert_eq!(parsed.layers.len(), count("layers"));
            prop_assert_eq!(parsed.children.len(), count("manifests"));
            prop_assert_eq!(parsed.config.is_some(), !kind.is_index());
            prop_assert_eq!(parsed.subject.is_some(), value.get("subject").is_some());
        }
        let other = if kind.is_index() { OCI_MANIFEST } else { OCI_INDEX };
        prop_assert!(parse_manifest(Some(other), &bytes, algorithm).is_err());
        let mut ambiguous = value.clone();
        if kind.is_index() {
            ambiguous["layers"] = json!([]);
        } else {
            ambiguous["manifests"] = json!([]);
        }
        let bytes = serde_json::to_vec(&ambiguous).unwrap();
        prop_assert!(matches!(parse_manifest(None, &bytes, algorithm), Err(ManifestError::Ambiguous(_))));
    }

    #[test]
    fn nearly_valid_manifests_never_panic(
        (_, value) in valid_manifest(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), 1..4),
    ) {
        let mut bytes = serde_json::to_vec(&value).unwrap();
        for (at, byte, insert) in edits {
            let i = at.index(bytes.len());
            if insert { bytes.insert(i, byte) } else { bytes[i] = byte }
        }
        if let Ok(parsed) = parse_manifest(None, &bytes, Algorithm::Sha256) {
            prop_assert_eq!(parsed.digest, Algorithm::Sha256.digest(&bytes));
        }
    }
}

fn check_range(header: &str, size: u64) -> Result<(), TestCaseError> {
    if let Ok(Some(r)) = parse_range(Some(header), size) {
        prop_assert!(r.start <= r.end && r.end < size, "{header:?} {size} {r:?}");
        let _ = r.content_range(size);
    }
    if let Some(c) = ChunkRange::parse(header) {
        prop_assert!(c.start <= c.end);
        prop_assert_eq!(c.len(), c.end - c.start + 1);
        let _ = check_chunk(Some(header), c.start, Some(c.len()));
    }
    let _ = check_chunk(Some(header), size, None);
    Ok(())
}

/// Large and deeply nested inputs are refused quickly, without overflowing the stack: the
/// manifest size limit and serde_json's recursion limit hold (the bound is generous).
#[test]
fn large_and_deep_inputs_are_refused_quickly() {
    let started = Instant::now();
    let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_manifest(None, deep.as_bytes(), Algorithm::Sha256).is_err());
    let deep_obj = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    assert!(parse_manifest(None, deep_obj.as_bytes(), Algorithm::Sha256).is_err());
    let big = format!("{{\"layers\":[{}]}}", "{},".repeat(1 << 20));
    assert!(parse_manifest(None, big.as_bytes(), Algorithm::Sha256).is_err());
    let many = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_INDEX}\",\"manifests\":[{}]}}",
        vec![
            format!(
                "{{\"mediaType\":\"{OCI_MANIFEST}\",\"size\":1,\"digest\":\"sha256:{}\"}}",
                "a".repeat(64)
            );
            20_000
        ]
        .join(",")
    );
    assert!(many.len() < 4 << 20);
    assert_eq!(
        parse_manifest(None, many.as_bytes(), Algorithm::Sha256).unwrap().children.len(),
        20_000
    );
    for header in
        ["bytes=".to_owned() + &"1".repeat(1 << 20), "-".repeat(1 << 20), ",".repeat(1 << 20)]
    {
        let _ = parse_range(Some(&header), 10);
        assert!(ChunkRange::parse(&header).is_none());
    }
    let _ = Route::parse(&format!("/v2/{}manifests/latest", "a/".repeat(1 << 19)));
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}
