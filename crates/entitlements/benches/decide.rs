//! Micro benchmark of entitlement decisions (no criterion; `harness = false`).
//!
//! A synthetic repository with 10,000 tags (each an index of two images, with shared base
//! layers, signatures on some, and re-tag history) and a customer with 1,000 licenses. Prints
//! the cost of building the precomputed `EntitledSet` and the cost per decision, in ns.
//! Run with `cargo bench -p wharf-entitlements --bench decide`.

use std::{error::Error, hint::black_box, time::Instant};

use time::{Duration, OffsetDateTime, macros::datetime};
use wharf_entitlements::{
    Decider, Digest, EntitledSet, ExpiryPolicy, Grant, License, LicenseId, ManifestContent,
    ManifestFact, RepositoryFacts, TagFact, TagHistoryFact, TagSelector,
};

const TAGS: usize = 10_000;
const LICENSES: usize = 1_000;
const REPOSITORY: &str = "acme/app";
const NOW: OffsetDateTime = datetime!(2026-06-01 0:00 UTC);

/// A small deterministic generator (xorshift64*), so the benchmark needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A realistic-length digest (`sha256:` + 64 hex digits) for a name.
fn digest(kind: &str, i: usize) -> Digest {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes().chain(i.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Digest::new(format!(
        "sha256:{h:016x}{:016x}{:016x}{:016x}",
        h.rotate_left(17),
        h.rotate_left(31),
        h.rotate_left(47)
    ))
}

fn minutes(n: i64) -> OffsetDateTime {
    NOW - Duration::days(120) + Duration::minutes(n)
}

fn tag_name(i: usize) -> String {
    let (major, minor, patch) = (i / 1000, (i / 10) % 100, i % 10);
    match i % 13 {
        0 => format!("{major}.{minor}.{patch}-rc.1"),
        1 => format!("v{major}.{minor}.{patch}"),
        2 => format!("{major}.{minor}.{patch}-alpine"),
        _ => format!("{major}.{minor}.{patch}"),
    }
}

fn facts() -> RepositoryFacts {
    let mut tags = Vec::with_capacity(TAGS + 1);
    let mut manifests = Vec::with_capacity(TAGS * 3 + TAGS / 10);
    let mut history = Vec::new();
    for i in 0..TAGS {
        let pushed = minutes(i as i64 * 10);
        let index = digest("index", i);
        let mut children = Vec::new();
        for arch in ["amd64", "arm64"] {
            let image = digest(arch, i);
            children.push(image.clone());
            manifests.push(ManifestFact {
                digest: image,
                pushed_at: pushed,
                content: ManifestContent::Image {
                    config: digest(&format!("config-{arch}"), i),
                    layers: vec![
                        digest("base", i % 50),
                        digest("runtime", i % 200),
                        digest(&format!("app-{arch}"), i),
                    ],
                },
                subject: None,
                artifact_type: None,
            });
        }
        manifests.push(ManifestFact {
            digest: index.clone(),
            pushed_at: pushed,
            content: ManifestContent::Index { children },
            subject: None,
            artifact_type: None,
        });
        if i % 10 == 0 {
            manifests.push(ManifestFact {
                digest: digest("signature", i),
                pushed_at: pushed + Duration::minutes(1),
                content: ManifestContent::Image {
                    config: digest("empty", 0),
                    layers: vec![digest("signature-layer", i)],
                },
                subject: Some(index.clone()),
                artifact_type: Some("application/vnd.dev.cosign.artifact.sig.v1+json".into()),
            });
        }
        if i % 10 == 5 {
            history.push(TagHistoryFact {
                tag: tag_name(i),
                digest: digest("index", i - 1),
                from: pushed - Duration::minutes(5),
                until: NOW - Duration::minutes((i % 20) as i64),
            });
        }
        tags.push(TagFact { name: tag_name(i), digest: index, pushed_at: pushed });
    }
    tags.push(TagFact {
        name: "latest".into(),
        digest: digest("index", TAGS - 1),
        pushed_at: minutes(TAGS as i64 * 10),
    });
    RepositoryFacts::new(REPOSITORY, false, tags, history, manifests)
}

fn licenses(rng: &mut Rng) -> Result<Vec<License>, Box<dyn Error>> {
    (0..LICENSES)
        .map(|i| {
            let major = rng.below(10);
            let selector = match i % 5 {
                0 => TagSelector::semver(
                    &format!(">={major}.0.0 <{}.0.0", major + 1),
                    i % 2 == 0,
                    i % 3 == 0,
                ),
                1 => TagSelector::glob(&format!("{major}.{}.*", rng.below(100))),
                2 => TagSelector::exact((0..20).map(|_| tag_name(rng.below(TAGS)))),
                3 => TagSelector::semver(&format!("^{major}.{}", rng.below(100)), false, false),
                _ => TagSelector::glob("*-alpine"),
            }?;
            let repository = if i % 7 == 0 { "acme/other" } else { REPOSITORY };
            let grants = vec![
                Grant::new("acme", repository, selector, None, None)?,
                Grant::new("acme", "acme/charts/*", TagSelector::all(), None, None)?,
            ];
            let starts = NOW - Duration::days(rng.below(400) as i64) + Duration::days(10);
            let expires = (i % 3 != 0).then(|| starts + Duration::days(30 + rng.below(400) as i64));
            let policy = if i % 2 == 0 { ExpiryPolicy::KeepReleased } else { ExpiryPolicy::Revoke };
            Ok(License::new(LicenseId(i as u128), starts, expires, policy, i % 50 == 0, grants)?)
        })
        .collect()
}

/// Runs `f` over `inputs` repeatedly for about `rounds` passes and returns ns per call.
fn measure<T>(inputs: &[T], rounds: usize, mut f: impl FnMut(&T) -> bool) -> (f64, usize) {
    let mut allowed = 0;
    let start = Instant::now();
    for _ in 0..rounds {
        for input in inputs {
            if black_box(f(black_box(input))) {
                allowed += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    let calls = (inputs.len() * rounds) as f64;
    (elapsed.as_nanos() as f64 / calls, allowed / rounds)
}

fn report(name: &str, inputs: usize, (ns, allowed): (f64, usize)) {
    println!("{name:<44} {ns:>10.1} ns/decision   ({allowed}/{inputs} allowed)");
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let facts = facts();
    let licenses = licenses(&mut rng)?;
    let grace = Duration::minutes(10);
    let decider = Decider::new(&licenses, NOW, grace);

    let start = Instant::now();
    let set: EntitledSet = black_box(decider.precompute(&facts));
    let build = start.elapsed();
    println!(
        "synthetic repository: {} tags, {} manifests, {} licenses",
        facts.tags().len(),
        facts.manifests().count(),
        licenses.len()
    );
    println!(
        "EntitledSet::build: {:.1} ms ({} visible tags, valid until {:?})",
        build.as_secs_f64() * 1e3,
        set.visible_tags().len(),
        set.valid_until()
    );

    let start = Instant::now();
    let small = black_box(EntitledSet::build(&licenses[..5], &facts, NOW, grace));
    println!(
        "EntitledSet::build with 5 licenses: {:.1} ms ({} visible tags)",
        start.elapsed().as_secs_f64() * 1e3,
        small.visible_tags().len()
    );

    let tags: Vec<String> = (0..4096)
        .map(|_| tag_name(rng.below(TAGS)))
        .chain(["latest".to_owned(), "nope".to_owned()])
        .collect();
    let manifests: Vec<String> = (0..4096)
        .map(|_| {
            let kind = ["index", "amd64", "arm64", "signature", "missing"][rng.below(5)];
            digest(kind, rng.below(TAGS)).as_str().to_owned()
        })
        .collect();
    let blobs: Vec<String> = (0..4096)
        .map(|_| {
            let kind = ["base", "runtime", "app-amd64", "config-arm64", "missing"][rng.below(5)];
            digest(kind, rng.below(TAGS)).as_str().to_owned()
        })
        .collect();

    println!("\nprecomputed (hot path):");
    report(
        "EntitledSet::manifest_by_tag",
        tags.len(),
        measure(&tags, 200, |t| set.manifest_by_tag(t).is_allowed()),
    );
    report(
        "EntitledSet::manifest_by_digest",
        manifests.len(),
        measure(&manifests, 200, |d| set.manifest_by_digest(d).is_allowed()),
    );
    report(
        "EntitledSet::allows_manifest",
        manifests.len(),
        measure(&manifests, 200, |d| set.allows_manifest(d)),
    );
    report("EntitledSet::blob", blobs.len(), measure(&blobs, 200, |d| set.blob(d).is_allowed()));
    report("EntitledSet::allows_blob", blobs.len(), measure(&blobs, 200, |d| set.allows_blob(d)));

    println!("\ndirect (reference, 1,000 licenses scanned per call):");
    report(
        "Decider::repository_access",
        1,
        measure(&[REPOSITORY], 2_000, |r| decider.repository_access(r, false).is_allowed()),
    );
    report(
        "Decider::manifest_by_tag",
        256,
        measure(&tags[..256], 4, |t| decider.manifest_by_tag(&facts, t).is_allowed()),
    );
    Ok(())
}
