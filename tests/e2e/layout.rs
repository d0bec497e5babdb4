//! The house's arrows, checked: which of our crates each crate may depend on
//! (docs/architecture.md, "Crates and their direction"), read from `cargo metadata`.
//!
//! The three front doors — `wharf-registry`, `wharf-api`, `wharf-portal` — never import one
//! another; the application knows no front door; the pure crates (`oci`, `entitlements`,
//! `storage`) depend on nothing of ours but the vocabulary; only the binary and the tests
//! see everything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

/// For each crate of the workspace, the crates of ours it may depend on (normal
/// dependencies; dev-dependencies may bring test doubles and fixtures).
const ALLOWED: &[(&str, &[&str])] = &[
    ("wharf-oci", &[]),
    ("wharf-entitlements", &["wharf-oci"]),
    ("wharf-storage", &["wharf-oci"]),
    ("wharf-auth", &["wharf-oci"]),
    ("wharf-db", &["wharf-entitlements", "wharf-oci"]),
    ("wharf-app", &["wharf-db", "wharf-auth", "wharf-entitlements", "wharf-oci"]),
    ("wharf-registry", &["wharf-db", "wharf-storage", "wharf-oci"]),
    // Reads go straight to `wharf-db`, scoped to the caller's organization; the pure crates
    // give the request and response types.
    ("wharf-api", &["wharf-app", "wharf-db", "wharf-auth", "wharf-entitlements", "wharf-oci"]),
    ("wharf-portal", &["wharf-app", "wharf-db", "wharf-auth", "wharf-entitlements", "wharf-oci"]),
    (
        "wharf-server",
        &[
            "wharf-oci",
            "wharf-entitlements",
            "wharf-storage",
            "wharf-auth",
            "wharf-db",
            "wharf-app",
            "wharf-registry",
            "wharf-api",
            "wharf-portal",
        ],
    ),
    (
        "wharf-e2e",
        &[
            "wharf-oci",
            "wharf-entitlements",
            "wharf-storage",
            "wharf-auth",
            "wharf-db",
            "wharf-app",
            "wharf-server",
        ],
    ),
    // The S3 phase starts s3s-fs and presigns its reference GET through the store's own code.
    (
        "wharf-bench",
        &["wharf-oci", "wharf-entitlements", "wharf-storage", "wharf-auth", "wharf-db"],
    ),
];

#[test]
fn every_crate_depends_only_on_what_the_house_allows() {
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace)
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let allowed: BTreeMap<&str, BTreeSet<&str>> =
        ALLOWED.iter().map(|(name, deps)| (*name, deps.iter().copied().collect())).collect();
    let mut seen = BTreeSet::new();
    for package in metadata["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        seen.insert(name.to_owned());
        let ours: BTreeSet<&str> = package["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str())
            .filter(|d| d.starts_with("wharf-"))
            .collect();
        let Some(may) = allowed.get(name) else {
            panic!("{name} is not in the house's table: add it to ALLOWED and the docs");
        };
        let extra: Vec<&&str> = ours.difference(may).collect();
        assert!(extra.is_empty(), "{name} must not depend on {extra:?}");
    }
    let listed: BTreeSet<String> = allowed.keys().map(|k| (*k).to_owned()).collect();
    assert_eq!(seen, listed, "the table lists exactly the workspace's crates");
}
