//! Air-gap bundles (`wharf export`): a customer's entitlement out of one Wharf (running
//! `--demo`), checked with `sha256sum -c`, imported by running the commands of its
//! `IMPORT.md` as they are: real skopeo into a second, empty Wharf, oras (oras-py, through
//! the stand-in `tests/clients/bin/oras`) into a third, Helm's SDK (the stand-in
//! `tests/clients/bin/helm`) pulling the charts back; identical manifests, blobs and
//! referrers; nothing outside the entitlement in the archive; an incremental bundle on top;
//! bad input refused with nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::HashMap, path::Path, process::Command};

use std::path::PathBuf;

use wharf_e2e::{
    ServeOptions, Wharf,
    clients::{
        fixtures,
        helm::Helm,
        oras::{Oras, OrasAuth},
        process::{client_scratch, find_program, must, run},
        skopeo::Skopeo,
    },
    fresh_database,
    raw::RawRegistry,
    run_wharf, vendor_token,
};

/// `wharf export` against `wharf`'s database and blobs.
fn export(wharf: &Wharf, args: &[&str]) -> wharf_e2e::Finished {
    let url = wharf.options().database_url.clone().unwrap();
    let data_dir = wharf.data_dir.to_string_lossy().into_owned();
    let mut all = vec!["export", "--org", "vendor"];
    all.extend_from_slice(args);
    run_wharf(&all, &[("DATABASE_URL", &url), ("WHARF_DATA_DIR", &data_dir)])
}

/// Unpacks `tar` into `dir`.
fn unpack(tar: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    must(Command::new("tar").arg("-xf").arg(tar).arg("-C").arg(dir));
}

/// Whether `sha256sum -c SHA256SUMS` passes in `dir`, as the customer checks a download.
fn sums_hold(dir: &Path) -> bool {
    run(Command::new("sha256sum").args(["-c", "--quiet", "SHA256SUMS"]).current_dir(dir)).is_ok()
}

/// `sha256sum -c SHA256SUMS` in `dir`, which must pass.
fn check_sums(dir: &Path) {
    must(Command::new("sha256sum").args(["-c", "--quiet", "SHA256SUMS"]).current_dir(dir));
}

fn bundle_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("wharf-bundle.json")).unwrap()).unwrap()
}

fn refs(bundle: &serde_json::Value) -> Vec<String> {
    let mut refs: Vec<String> = bundle["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}:{}", t["repository"].as_str().unwrap(), t["tag"].as_str().unwrap()))
        .collect();
    refs.sort();
    refs
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// The fenced `sh` blocks of a Markdown text, in order.
pub fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start() == "```sh" => current = Some(String::new()),
            Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// `tests/clients/bin`: the stand-ins for the `oras` and `helm` commands.
pub fn stand_ins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/bin")
}

/// Runs a block of shell lines as they are, with `sh -eu` in `dir`, the stand-ins first on
/// `PATH`, and `env`; panics with what it printed when a line fails.
pub fn run_block(block: &str, dir: &Path, env: &[(&str, PathBuf)]) -> String {
    let path = env.iter().find(|(k, _)| *k == "PATH").map_or_else(
        || std::env::var("PATH").unwrap_or_default(),
        |(_, v)| v.display().to_string(),
    );
    must(
        Command::new("sh")
            .args(["-euc", block])
            .current_dir(dir)
            .envs(env.iter().filter(|(k, _)| *k != "PATH").map(|(k, v)| (*k, v.as_os_str())))
            .env("PATH", format!("{}:{path}", stand_ins().display())),
    )
}

/// A customer's machine: skopeo logged in to each target, with a `registries.conf` in its
/// home that marks them plain HTTP (so IMPORT.md's lines run as printed; skopeo 1.9 reads
/// `~/.config/containers/registries.conf`, not an environment variable), oras-py per target
/// and Helm's SDK.
struct CustomerTools {
    skopeo: Skopeo,
    oras: HashMap<String, Oras>,
    helm: Helm,
    home: PathBuf,
    python_dir: PathBuf,
}

impl CustomerTools {
    /// Logged in as `user` to each host with its token.
    fn new(dir: &Path, user: &str, logins: &[(&str, &str)]) -> Self {
        let skopeo = Skopeo::new(&dir.join("skopeo"));
        let helm = Helm::new(&dir.join("helm"));
        let mut conf = String::new();
        let mut oras = HashMap::new();
        for (host, token) in logins {
            skopeo.login(host, user, token);
            helm.login(host, user, token);
            let client =
                Oras::new(&dir.join("oras").join(host.replace(':', "_")), host, OrasAuth::Token);
            client.login(user, token);
            oras.insert((*host).to_owned(), client);
            conf.push_str(&format!("[[registry]]\nlocation = \"{host}\"\ninsecure = true\n\n"));
        }
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".config/containers")).unwrap();
        std::fs::write(home.join(".config/containers/registries.conf"), conf).unwrap();
        // The stand-ins run `python3` from PATH; with HOME moved, a pyenv shim would no
        // longer find its interpreter, so the interpreter's own directory goes first.
        let python = find_program("WHARF_E2E_PYTHON", "python3", &["/usr/bin/python3"]);
        let python_dir = must(
            Command::new(python)
                .args(["-c", "import os, sys; print(os.path.dirname(sys.executable))"]),
        );
        Self { skopeo, oras, helm, home, python_dir: PathBuf::from(python_dir.trim()) }
    }

    /// The environment of a shell importing into `host`.
    fn env(&self, host: &str) -> Vec<(&'static str, PathBuf)> {
        let mut env = self.skopeo.env();
        env.push(("HOME", self.home.clone()));
        let path = std::env::var("PATH").unwrap_or_default();
        env.push(("PATH", PathBuf::from(format!("{}:{path}", self.python_dir.display()))));
        env.push(("DOCKER_CONFIG", self.oras[host].config_dir()));
        env.extend(self.helm.env());
        env
    }
}

/// Checks that the registry at `base` holds every tag of `bundle` as the bundle has it:
/// each manifest (and an index's children) byte for byte, every config and layer byte for
/// byte, and the referrers API listing exactly the bundle's referrers of each manifest,
/// themselves byte for byte.
async fn holds_bundle(base: &str, token: &str, unpacked: &Path, bundle: &serde_json::Value) {
    holds_bundles(base, token, &[unpacked], bundle).await;
}

/// [`holds_bundle`] for an incremental bundle, whose layers may be in the bundles before it
/// (`layouts`, the newest first).
async fn holds_bundles(base: &str, token: &str, layouts: &[&Path], bundle: &serde_json::Value) {
    let raw = RawRegistry::with_token(base, token);
    let file = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        let found = layouts.iter().map(|l| l.join("blobs/sha256").join(hex)).find(|p| p.exists());
        std::fs::read(found.unwrap_or_else(|| panic!("{digest} in none of the bundles"))).unwrap()
    };
    for tag in bundle["tags"].as_array().unwrap() {
        let repo = tag["repository"].as_str().unwrap();
        let name = tag["tag"].as_str().unwrap();
        let answer = raw.get(&format!("/v2/{repo}/manifests/{name}")).await;
        assert_eq!(answer.status, 200, "{repo}:{name}");
        assert_eq!(answer.body, file(tag["digest"].as_str().unwrap()), "{repo}:{name}");
        let mut manifests = vec![tag["digest"].as_str().unwrap().to_owned()];
        let mut checked = 0;
        while let Some(digest) = manifests.pop() {
            let doc: serde_json::Value = serde_json::from_slice(&file(&digest)).unwrap();
            let served = raw.get(&format!("/v2/{repo}/manifests/{digest}")).await;
            assert_eq!(served.body, file(&digest), "{repo}@{digest}");
            for child in doc["manifests"].as_array().into_iter().flatten() {
                manifests.push(child["digest"].as_str().unwrap().to_owned());
            }
            let blobs = doc["layers"].as_array().into_iter().flatten().chain(doc.get("config"));
            for blob in blobs {
                let digest = blob["digest"].as_str().unwrap();
                let served = raw.get(&format!("/v2/{repo}/blobs/{digest}")).await;
                assert_eq!(served.status, 200, "{repo}@{digest}");
                assert!(served.body == file(digest), "{repo}: blob {digest} differs");
                checked += 1;
            }
            let listed = raw.get(&format!("/v2/{repo}/referrers/{digest}")).await.json();
            let mut listed: Vec<String> = listed["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["digest"].as_str().unwrap().to_owned())
                .collect();
            listed.sort();
            let expected: Vec<String> = tag["referrers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["subject"] == digest.as_str())
                .map(|r| r["digest"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(listed, expected, "referrers of {repo}@{digest}");
            manifests.extend(expected);
        }
        assert!(checked > 0, "{repo}:{name} has blobs");
    }
}

#[tokio::test]
async fn a_customers_entitlement_travels_by_bundle_and_imports_with_skopeo() {
    let scratch = client_scratch();
    let dir = scratch.path();
    let source_db = fresh_database().await;
    let env: HashMap<String, String> = [("WHARF_DEMO".to_owned(), "true".to_owned())].into();
    let source = Wharf::start(
        &dir.join("source"),
        &ServeOptions { database_url: Some(source_db.clone()), env },
    )
    .await;
    let target_db = fresh_database().await;
    let target = Wharf::start(
        &dir.join("target"),
        &ServeOptions { database_url: Some(target_db.clone()), env: HashMap::new() },
    )
    .await;
    let target_host = target.url.trim_start_matches("http://").to_owned();
    // A third, empty Wharf for the import with oras.
    let oras_db = fresh_database().await;
    let oras_target = Wharf::start(
        &dir.join("oras-target"),
        &ServeOptions { database_url: Some(oras_db.clone()), env: HashMap::new() },
    )
    .await;
    let oras_host = oras_target.url.trim_start_matches("http://").to_owned();

    // Bad input: clear errors, nothing written.
    let out = dir.join("bad.tar");
    let out_arg = out.to_string_lossy().into_owned();
    for (args, message) in [
        (vec!["--customer", "Nobody Inc", "--out", &out_arg], "no customer Nobody Inc"),
        (
            vec![
                "--customer",
                "Globex Corporation",
                "--repository",
                "vendor/secret",
                "--out",
                &out_arg,
            ],
            "no such repository among what",
        ),
        (
            vec!["--customer", "Initech", "--repository", "vendor/agent", "--out", &out_arg],
            "no such repository among what",
        ),
        (
            vec!["--customer", "Globex Corporation", "--tag", "2.1.0-rc.1", "--out", &out_arg],
            "no such tag among what",
        ),
        (
            vec!["--customer", "Globex Corporation", "--out", &format!("{out_arg}.gz")],
            "gzip is not offered",
        ),
    ] {
        let finished = export(&source, &args);
        assert!(!finished.status.success(), "{args:?}");
        assert!(finished.stderr.contains(message), "{args:?}: {}", finished.stderr);
    }
    std::fs::write(dir.join("junk.json"), b"{\"format\": 1}").unwrap();
    let junk = dir.join("junk.json").to_string_lossy().into_owned();
    let finished = export(
        &source,
        &["--customer", "Globex Corporation", "--since-bundle", &junk, "--out", &out_arg],
    );
    assert!(finished.stderr.contains("not a wharf-bundle.json"), "{}", finished.stderr);
    assert!(!out.exists() && !dir.join("bad.partial").exists(), "nothing written");

    // A real chart beside the demo's, packaged and pushed with Helm's SDK.
    let source_host = source.url.trim_start_matches("http://").to_owned();
    let source_token = vendor_token(&source_db, "push");
    let vendor_helm = Helm::new(&dir.join("vendor-helm"));
    vendor_helm.login(&source_host, "vendor", &source_token);
    let chart = vendor_helm.package(&fixtures::helm_chart(&dir.join("chart"), "app", "1.0.0"));
    vendor_helm.push(&chart, &format!("oci://{source_host}/vendor/charts"));

    // Globex: web >=1.0.0 <3.0.0 (no pre-releases, not `latest`), every chart, agent 3.*.
    let first = dir.join("bundle.tar");
    let finished = export(
        &source,
        &[
            "--customer",
            "Globex Corporation",
            "--registry",
            &target_host,
            "--out",
            &first.to_string_lossy(),
        ],
    );
    assert!(finished.status.success(), "{}", finished.stderr);
    let unpacked = dir.join("unpacked");
    unpack(&first, &unpacked);
    check_sums(&unpacked);
    let bundle = bundle_json(&unpacked);
    assert_eq!(
        refs(&bundle),
        [
            "vendor/agent:3.0.0",
            "vendor/agent:3.1.0",
            "vendor/charts/app:1.0.0",
            "vendor/charts/web:0.1.0",
            "vendor/charts/web:0.2.0",
            "vendor/web:1.0.0",
            "vendor/web:1.1.0",
            "vendor/web:1.2.0",
            "vendor/web:2.0.0",
        ]
    );
    // The same, compressed with zstd: the same tags, and its checksums hold once unpacked.
    let compressed = dir.join("bundle.tar.zst");
    let finished = export(
        &source,
        &["--customer", "Globex Corporation", "--out", &compressed.to_string_lossy()],
    );
    assert!(finished.status.success(), "{}", finished.stderr);
    let zst = std::fs::read(&compressed).unwrap();
    assert!(zst.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]), "a zstd frame");
    let mut tar = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(
        &mut async_compression::tokio::bufread::ZstdDecoder::new(&zst[..]),
        &mut tar,
    )
    .await
    .unwrap();
    assert!(tar.len() > zst.len());
    let decompressed = dir.join("decompressed.tar");
    std::fs::write(&decompressed, &tar).unwrap();
    let unpacked_z = dir.join("unpacked-zst");
    unpack(&decompressed, &unpacked_z);
    check_sums(&unpacked_z);
    assert_eq!(refs(&bundle_json(&unpacked_z)), refs(&bundle));

    let import_md = std::fs::read_to_string(unpacked.join("IMPORT.md")).unwrap();
    assert!(import_md.contains(&format!("skopeo copy --all --preserve-digests oci:.:vendor/web:2.0.0 docker://{target_host}/vendor/web:2.0.0")), "{import_md}");

    // Exactly the entitled blobs: what the registry serves Globex, nothing else.
    let pool = wharf_db::PgPool::connect(&source_db).await.unwrap();
    let org = wharf_db::accounts::find_organization(&pool, "vendor").await.unwrap().unwrap();
    let globex = wharf_db::customers::find_by_name(&pool, org.id, "Globex Corporation")
        .await
        .unwrap()
        .unwrap();
    let files: Vec<String> = std::fs::read_dir(unpacked.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(files.len(), strings(&bundle["contents"]).len());
    let web = wharf_db::registry::repositories::find(&pool, "vendor/web").await.unwrap().unwrap();
    let rc =
        wharf_db::registry::tags::digest_of(&pool, web.id, "2.1.0-rc.1").await.unwrap().unwrap();
    let rc_view = wharf_db::registry::manifests::view(&pool, web.id, &rc).await.unwrap().unwrap();
    assert!(!files.contains(&rc), "the pre-release is outside the grant");
    for blob in rc_view.blobs.iter().filter(|b| b.kind == "layer") {
        assert!(!files.contains(&blob.digest), "its layer is not in the bundle either");
    }
    let signed =
        wharf_db::registry::tags::digest_of(&pool, web.id, "2.0.0").await.unwrap().unwrap();
    let referrers = wharf_db::registry::manifests::referrers(&pool, web.id, &signed).await.unwrap();
    assert_eq!(referrers.len(), 2);
    for referrer in &referrers {
        assert!(files.contains(&referrer.digest), "the signature and the SBOM travel with 2.0.0");
    }
    // The manifests are the stored bytes.
    let stored = wharf_db::registry::manifests::find_by_name(
        &pool,
        "vendor/web",
        wharf_db::registry::manifests::ManifestRef::Digest(&signed),
        true,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        std::fs::read(unpacked.join("blobs/sha256").join(signed.trim_start_matches("sha256:")))
            .unwrap(),
        stored.bytes
    );

    // A truncated download fails the check.
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(broken.join("bundle.tar"), &bytes[..bytes.len() / 2]).unwrap();
    let _ = run(Command::new("tar").arg("-xf").arg("bundle.tar").current_dir(&broken));
    assert!(!sums_hold(&broken));

    // The signature and the SBOM are index.json entries too, named by digest, beside the
    // tags' entries (which stay as they were).
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(unpacked.join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), refs(&bundle).len() + 2, "{names:?}");
    for referrer in &referrers {
        assert!(names.contains(&format!("vendor/web@{}", referrer.digest).as_str()));
    }

    // The customer follows IMPORT.md, each block run as printed in the unpacked directory:
    // the check, then skopeo's lines into the empty Wharf (and the jq loop on top, which
    // changes nothing), oras's lines into the third (the same lines, naming it instead),
    // Helm pulling the charts back.
    let token = vendor_token(&target_db, "import");
    let oras_token = vendor_token(&oras_db, "import");
    let tools = CustomerTools::new(
        &dir.join("customer"),
        "vendor",
        &[(&target_host, &token), (&oras_host, &oras_token)],
    );
    let blocks = sh_blocks(&import_md);
    assert_eq!(blocks.len(), 5, "check, skopeo, jq loop, oras, helm: {import_md}");
    assert_eq!(blocks[0].trim(), "sha256sum -c SHA256SUMS");
    run_block(&blocks[0], &unpacked, &[]);
    assert!(blocks[1].lines().all(|l| l.starts_with("skopeo copy ")));
    assert_eq!(blocks[1].lines().count(), refs(&bundle).len() + 2, "a line per tag and referrer");
    run_block(&blocks[1], &unpacked, &tools.env(&target_host));
    holds_bundle(&target.url, &token, &unpacked, &bundle).await;
    run_block(&blocks[2], &unpacked, &tools.env(&target_host));
    holds_bundle(&target.url, &token, &unpacked, &bundle).await;
    assert!(blocks[3].lines().all(|l| l.starts_with("oras cp -r --from-oci-layout .@sha256:")));
    run_block(&blocks[3].replace(&target_host, &oras_host), &unpacked, &tools.env(&oras_host));
    holds_bundle(&oras_target.url, &oras_token, &unpacked, &bundle).await;
    // Helm: one `helm pull` per chart; each archive is the chart's layer, byte for byte.
    assert_eq!(blocks[4].lines().count(), 3, "{}", blocks[4]);
    run_block(&blocks[4], &unpacked, &tools.env(&target_host));
    for (name, version) in [("app", "1.0.0"), ("web", "0.1.0"), ("web", "0.2.0")] {
        let pulled = std::fs::read(unpacked.join(format!("{name}-{version}.tgz"))).unwrap();
        let tag = bundle["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| {
                t["repository"] == format!("vendor/charts/{name}").as_str() && t["tag"] == version
            })
            .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                unpacked
                    .join("blobs/sha256")
                    .join(tag["digest"].as_str().unwrap().trim_start_matches("sha256:")),
            )
            .unwrap(),
        )
        .unwrap();
        let layer = manifest["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:");
        assert!(
            pulled == std::fs::read(unpacked.join("blobs/sha256").join(layer)).unwrap(),
            "{name} {version}"
        );
    }
    assert_eq!(
        std::fs::read(unpacked.join("app-1.0.0.tgz")).unwrap(),
        std::fs::read(&chart).unwrap()
    );

    // A new version, exported incrementally and imported on top.
    let pusher = Skopeo::new(&dir.join("pusher"));
    pusher.login(&source_host, "vendor", &source_token);
    let layout = fixtures::multi_platform_layout(&dir.join("layout"), "new");
    let pushed =
        pusher.push_layout(&layout.dir, &layout.tag, &format!("{source_host}/vendor/web:1.3.0"));
    // And an attestation of 2.0.0, made after the first bundle: 2.0.0 travels again for it.
    let raw_source = RawRegistry::with_token(&source.url, &source_token);
    let empty = raw_source.push_blob("vendor/web", b"{}").await;
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1"}"#;
    let statement_digest = raw_source.push_blob("vendor/web", statement).await;
    let web_size =
        std::fs::metadata(unpacked.join("blobs/sha256").join(signed.trim_start_matches("sha256:")))
            .unwrap()
            .len();
    let attestation = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.in-toto+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": statement_digest, "size": statement.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": signed, "size": web_size},
    });
    let attestation = serde_json::to_vec(&attestation).unwrap();
    let attestation_digest = wharf_e2e::raw::digest_of(&attestation);
    raw_source
        .push_manifest(
            "vendor/web",
            &attestation_digest,
            "application/vnd.oci.image.manifest.v1+json",
            &attestation,
        )
        .await;
    let second = dir.join("bundle-2.tar");
    let since = unpacked.join("wharf-bundle.json").to_string_lossy().into_owned();
    let finished = export(
        &source,
        &[
            "--customer",
            &globex.id.to_string(),
            "--since-bundle",
            &since,
            "--registry",
            &target_host,
            "--out",
            &second.to_string_lossy(),
        ],
    );
    assert!(finished.status.success(), "{}", finished.stderr);
    let unpacked_2 = dir.join("unpacked-2");
    unpack(&second, &unpacked_2);
    check_sums(&unpacked_2);
    let bundle_2 = bundle_json(&unpacked_2);
    assert_eq!(refs(&bundle_2), ["vendor/web:1.3.0", "vendor/web:2.0.0"]);
    let again: Vec<&serde_json::Value> =
        bundle_2["tags"].as_array().unwrap().iter().filter(|t| t["tag"] == "2.0.0").collect();
    assert_eq!(again[0]["referrers"].as_array().unwrap().len(), 3, "with the attestation");
    // No layer of the first bundle again: only manifests and configs (which every import
    // reads from the layout) travel twice.
    let before: std::collections::HashSet<String> =
        strings(&bundle["contents"]).into_iter().collect();
    let mut layers_2 = std::collections::HashSet::new();
    for digest in strings(&bundle_2["contents"]) {
        let bytes = std::fs::read(
            unpacked_2.join("blobs/sha256").join(digest.trim_start_matches("sha256:")),
        )
        .unwrap();
        if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            for layer in doc["layers"].as_array().into_iter().flatten() {
                layers_2.insert(layer["digest"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(layers_2.contains(&statement_digest));
    for digest in strings(&bundle_2["contents"]) {
        assert!(!(before.contains(&digest) && layers_2.contains(&digest)), "{digest} again");
    }
    assert!(!unpacked_2.join("blobs/sha256").join(stored_layer(&unpacked, &signed)).exists());
    // Its IMPORT.md, run on top of the first: skopeo into the second Wharf, oras into the third.
    let import_2 = std::fs::read_to_string(unpacked_2.join("IMPORT.md")).unwrap();
    assert!(import_2.contains("This bundle is incremental"), "{import_2}");
    let blocks = sh_blocks(&import_2);
    assert_eq!(blocks.len(), 4, "no chart this time: {import_2}");
    run_block(&blocks[0], &unpacked_2, &[]);
    run_block(&blocks[1], &unpacked_2, &tools.env(&target_host));
    run_block(&blocks[3].replace(&target_host, &oras_host), &unpacked_2, &tools.env(&oras_host));
    for (base, token) in [(&target.url, &token), (&oras_target.url, &oras_token)] {
        holds_bundles(base, token, &[&unpacked_2, &unpacked], &bundle_2).await;
        let raw = RawRegistry::with_token(base, token);
        let served = raw.get("/v2/vendor/web/manifests/1.3.0").await;
        assert_eq!(served.digest.as_deref(), Some(pushed.as_str()), "{base}");
        let mut tags = strings(&raw.get("/v2/vendor/web/tags/list").await.json()["tags"]);
        tags.sort();
        assert_eq!(tags, ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0"], "{base}");
    }

    // Every export is in the audit log.
    assert_eq!(exports_recorded(&pool, org.id).await, 3);
}

/// The hex digest of the first layer of manifest `digest` in the layout `unpacked`.
fn stored_layer(unpacked: &Path, digest: &str) -> String {
    let bytes =
        std::fs::read(unpacked.join("blobs/sha256").join(digest.trim_start_matches("sha256:")))
            .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    doc["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned()
}

/// How many `bundle.export` entries organization `org_id`'s audit log holds.
async fn exports_recorded(pool: &wharf_db::PgPool, org_id: uuid::Uuid) -> usize {
    let filter =
        wharf_db::audit::AuditFilter { action: Some("bundle.export".into()), ..Default::default() };
    wharf_db::audit::list(pool, org_id, &filter, None, 10).await.unwrap().len()
}

/// Finds the file of blob `digest` under `root` (the filesystem store fans out by prefix).
fn blob_file(root: &Path, digest: &str) -> std::path::PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    let out = must(Command::new("find").arg(root).args(["-type", "f", "-name", hex]));
    std::path::PathBuf::from(out.lines().next().expect("the blob's file"))
}

#[tokio::test]
async fn the_api_streams_a_bundle_checked_first_and_recorded_once_complete() {
    let scratch = client_scratch();
    let dir = scratch.path();
    let db = fresh_database().await;
    let env: HashMap<String, String> = [("WHARF_DEMO".to_owned(), "true".to_owned())].into();
    let source =
        Wharf::start(&dir.join("source"), &ServeOptions { database_url: Some(db.clone()), env })
            .await;
    let token = vendor_token(&db, "export");
    let pool = wharf_db::PgPool::connect(&db).await.unwrap();
    let org = wharf_db::accounts::find_organization(&pool, "vendor").await.unwrap().unwrap();
    let globex = wharf_db::customers::find_by_name(&pool, org.id, "Globex Corporation")
        .await
        .unwrap()
        .unwrap();
    let http = reqwest::Client::new();
    let export_url = format!("{}/api/v1/customers/{}/export", source.url, globex.id);

    // Bad input: a problem, before any byte of a bundle, and nothing recorded.
    let other = uuid::Uuid::new_v4();
    for (url, status, words) in [
        (format!("{export_url}?repository=vendor/secret"), 404, "no such repository among what"),
        (format!("{export_url}?tag=2.1.0-rc.1"), 404, "no such tag among what"),
        (format!("{export_url}?colour=blue"), 400, "unknown parameter"),
        (format!("{export_url}?compression=gzip"), 400, "compression is none or zstd"),
        (format!("{}/api/v1/customers/{other}/export", source.url), 404, "no such customer"),
    ] {
        let answer = http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{url}");
        assert_eq!(answer.headers()["content-type"], "application/problem+json", "{url}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(words), "{url}: {text}");
    }
    for (body, words) in [
        (serde_json::json!({"since_bundle": {"format": 1}}), "not a wharf-bundle.json"),
        (serde_json::json!({"tags": "2.0.0"}), "tags"),
    ] {
        let answer = http.post(&export_url).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{body}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(words), "{body}: {text}");
    }
    let anonymous = http.get(&export_url).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(exports_recorded(&pool, org.id).await, 0);

    // One tag, narrowed: exactly its Content-Length, checksums good, its referrers in.
    let answer = http
        .get(format!("{export_url}?repository=vendor/web&tag=2.0.0"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.headers()["content-type"], "application/x-tar");
    let disposition = answer.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"vendor-globex-corporation-")
            && disposition.ends_with(".tar\""),
        "{disposition}"
    );
    let announced = answer.content_length().unwrap();
    let bytes = answer.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, announced);
    let first = dir.join("first.tar");
    std::fs::write(&first, &bytes).unwrap();
    let unpacked = dir.join("first");
    unpack(&first, &unpacked);
    check_sums(&unpacked);
    let bundle = bundle_json(&unpacked);
    assert_eq!(refs(&bundle), ["vendor/web:2.0.0"]);
    let web = wharf_db::registry::repositories::find(&pool, "vendor/web").await.unwrap().unwrap();
    let signed =
        wharf_db::registry::tags::digest_of(&pool, web.id, "2.0.0").await.unwrap().unwrap();
    let contents = strings(&bundle["contents"]);
    for referrer in wharf_db::registry::manifests::referrers(&pool, web.id, &signed).await.unwrap()
    {
        assert!(contents.contains(&referrer.digest), "the signature and the SBOM travel too");
    }

    // The same, through zstd: chunked (no Content-Length), a .tar.zst that unpacks to it.
    let answer = http
        .get(format!("{export_url}?repository=vendor/web&tag=2.0.0&compression=zstd"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.headers()["content-type"], "application/zstd");
    assert!(answer.headers().get("content-length").is_none());
    assert_eq!(answer.headers()["transfer-encoding"], "chunked");
    let disposition = answer.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.ends_with(".tar.zst\""), "{disposition}");
    let zst = answer.bytes().await.unwrap();
    assert!(zst.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]), "a zstd frame");
    std::fs::write(dir.join("first.tar.zst"), &zst).unwrap();
    let unpacked_z = dir.join("first-zst");
    std::fs::create_dir_all(&unpacked_z).unwrap();
    must(
        Command::new("tar")
            .arg("--zstd")
            .arg("-xf")
            .arg(dir.join("first.tar.zst"))
            .arg("-C")
            .arg(&unpacked_z),
    );
    check_sums(&unpacked_z);
    assert_eq!(refs(&bundle_json(&unpacked_z)), ["vendor/web:2.0.0"]);
    assert!(zst.len() < std::fs::metadata(&first).unwrap().len() as usize);

    // Incremental from that bundle, by POST: everything else Globex can pull, no blob again.
    let since = bundle.clone();
    let answer = http
        .post(&export_url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"since_bundle": since}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert!(answer.headers()["content-disposition"].to_str().unwrap().contains("-incremental.tar"));
    let announced = answer.content_length().unwrap();
    let bytes = answer.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, announced);
    let second = dir.join("second.tar");
    std::fs::write(&second, &bytes).unwrap();
    let unpacked_2 = dir.join("second");
    unpack(&second, &unpacked_2);
    check_sums(&unpacked_2);
    let bundle_2 = bundle_json(&unpacked_2);
    assert_eq!(refs(&bundle_2).len(), 7, "{:?}", refs(&bundle_2));
    assert!(!refs(&bundle_2).contains(&"vendor/web:2.0.0".to_owned()));
    let layers: Vec<String> = wharf_db::registry::manifests::view(&pool, web.id, &signed)
        .await
        .unwrap()
        .unwrap()
        .blobs
        .into_iter()
        .map(|b| b.digest)
        .collect();
    assert!(strings(&bundle_2["contents"]).iter().all(|d| !layers.contains(d)));

    // All three are on record: the audit log names the token, analytics count each tag once
    // per export.
    assert_eq!(exports_recorded(&pool, org.id).await, 3);
    let counted: i64 = sqlx::query_scalar(
        "select count(*) from pull_events where client_kind = 'export' and customer_id = $1",
    )
    .bind(globex.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(counted, 9);

    // A client that goes away midway: the export stops, and is not recorded.
    let raw = wharf_e2e::raw::RawRegistry::with_token(&source.url, &token);
    let layer: Vec<u8> =
        (0..64u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let layer_digest = raw.push_blob("vendor/web", &layer).await;
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = raw.push_blob("vendor/web", config).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    });
    raw.push_manifest(
        "vendor/web",
        "1.9.0",
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    )
    .await;
    let mut answer =
        http.get(format!("{export_url}?tag=1.9.0")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert!(answer.content_length().unwrap() > 64 << 20);
    let _ = answer.chunk().await.unwrap();
    drop(answer);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(exports_recorded(&pool, org.id).await, 3, "an abandoned download is no export");

    // Stored bytes that no longer match their digest: the download is cut short, so the
    // client sees an error rather than a complete-looking archive.
    std::fs::write(blob_file(&source.data_dir, &layer_digest), vec![0u8; layer.len()]).unwrap();
    let answer =
        http.get(format!("{export_url}?tag=1.9.0")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert!(answer.bytes().await.is_err(), "a damaged export must not end cleanly");
    // Compressed, it cannot announce a size: the chunked body breaks off instead.
    let answer = http
        .get(format!("{export_url}?tag=1.9.0&compression=zstd"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert!(answer.bytes().await.is_err(), "a damaged compressed export must not end cleanly");
    assert_eq!(exports_recorded(&pool, org.id).await, 3);
}

/// docs/airgap.md's commands, every fenced `sh` block as written and in order, as one shell
/// session: the vendor's exports (command, zstd, API, incremental both ways) from a
/// `wharf serve --demo`, then the customer's check and imports (skopeo, the jq loops with the
/// referrers, `helm pull`) into a second, empty Wharf, which then holds every tag of the
/// bundle with identical manifests, blobs and referrers. Only the variables the page declares
/// are set (`ORG`, `CUSTOMER`, `REGISTRY`, `WHARF`, `WHARF_TOKEN`).
#[tokio::test]
async fn docs_airgap_md_runs_as_written() {
    let scratch = client_scratch();
    let dir = scratch.path();
    let source_db = fresh_database().await;
    let env: HashMap<String, String> = [("WHARF_DEMO".to_owned(), "true".to_owned())].into();
    let source = Wharf::start(
        &dir.join("source"),
        &ServeOptions { database_url: Some(source_db.clone()), env },
    )
    .await;
    let target_db = fresh_database().await;
    let target = Wharf::start(
        &dir.join("target"),
        &ServeOptions { database_url: Some(target_db.clone()), env: HashMap::new() },
    )
    .await;
    let target_host = target.url.trim_start_matches("http://").to_owned();
    let pool = wharf_db::PgPool::connect(&source_db).await.unwrap();
    let org = wharf_db::accounts::find_organization(&pool, "vendor").await.unwrap().unwrap();
    let globex = wharf_db::customers::find_by_name(&pool, org.id, "Globex Corporation")
        .await
        .unwrap()
        .unwrap();
    let target_token = vendor_token(&target_db, "import");
    let tools =
        CustomerTools::new(&dir.join("customer"), "vendor", &[(&target_host, &target_token)]);

    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/airgap.md"))
            .unwrap();
    let blocks = sh_blocks(&doc);
    assert!(blocks.len() >= 8, "{blocks:?}");
    let mut env = tools.env(&target_host);
    let wharf_dir = wharf_e2e::wharf_bin().parent().unwrap().to_path_buf();
    for (key, value) in &mut env {
        if *key == "PATH" {
            *value = PathBuf::from(format!("{}:{}", wharf_dir.display(), value.display()));
        }
    }
    env.extend([
        ("ORG", PathBuf::from("vendor")),
        ("CUSTOMER", PathBuf::from(globex.id.to_string())),
        ("REGISTRY", PathBuf::from(&target_host)),
        ("WHARF", PathBuf::from(&source.url)),
        ("WHARF_TOKEN", PathBuf::from(vendor_token(&source_db, "docs"))),
        ("DATABASE_URL", PathBuf::from(&source_db)),
        ("WHARF_DATA_DIR", source.data_dir.clone()),
    ]);
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    run_block(&blocks.join("\n"), &work, &env);

    // What the vendor's blocks made.
    for name in [
        "globex-2026-12.tar",
        "globex-2026-12.tar.zst",
        "globex.tar",
        "globex.tar.zst",
        "globex-2027-01.tar",
        "globex-next.tar",
    ] {
        assert!(work.join(name).metadata().unwrap().len() > 1024, "{name}");
    }
    check_sums(&work.join("globex-zst"));
    let from_api = work.join("from-api-zst");
    std::fs::create_dir_all(&from_api).unwrap();
    must(Command::new("tar").args(["--zstd", "-xf", "../globex.tar.zst"]).current_dir(&from_api));
    check_sums(&from_api);
    // What the customer's blocks imported.
    let unpacked = work.join("globex");
    let bundle = bundle_json(&unpacked);
    assert_eq!(refs(&bundle).len(), 8, "{:?}", refs(&bundle));
    holds_bundle(&target.url, &target_token, &unpacked, &bundle).await;
    let chart = bundle["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["repository"] == "vendor/charts/web" && t["tag"] == "0.1.0")
        .unwrap();
    let file = |digest: &str| {
        std::fs::read(unpacked.join("blobs/sha256").join(digest.trim_start_matches("sha256:")))
            .unwrap()
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&file(chart["digest"].as_str().unwrap())).unwrap();
    assert!(
        std::fs::read(unpacked.join("web-0.1.0.tgz")).unwrap()
            == file(manifest["layers"][0]["digest"].as_str().unwrap()),
        "helm pull brings the chart's archive back as exported"
    );
    // The exports are on record: six bundles (the two incremental ones hold nothing new).
    assert_eq!(exports_recorded(&pool, org.id).await, 6);
}
