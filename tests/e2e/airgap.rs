//! Air-gap bundles (`wharf export`): a customer's entitlement out of one Wharf (running
//! `--demo`), checked with `sha256sum -c`, imported with real skopeo into a second, empty
//! Wharf with identical digests; nothing outside the entitlement in the archive; an
//! incremental bundle on top; bad input refused with nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::HashMap, path::Path, process::Command};

use wharf_e2e::{
    ServeOptions, Wharf,
    clients::{
        fixtures,
        process::{client_scratch, must, run},
        skopeo::Skopeo,
    },
    fresh_database, run_wharf, vendor_token,
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
    assert!(import_md.contains(&format!("skopeo copy --all --preserve-digests oci-archive:bundle.tar:vendor/web:2.0.0 docker://{target_host}/vendor/web:2.0.0")), "{import_md}");

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

    // Import everything with skopeo, as IMPORT.md says, into the empty Wharf.
    let token = vendor_token(&target_db, "import");
    let skopeo = Skopeo::new(&dir.join("skopeo"));
    skopeo.login(&target_host, "vendor", &token);
    for reference in refs(&bundle) {
        must(
            skopeo
                .command()
                .args(["copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false"])
                .arg(format!("oci-archive:{}:{reference}", first.display()))
                .arg(format!("docker://{target_host}/{reference}")),
        );
    }
    for tag in bundle["tags"].as_array().unwrap() {
        let reference =
            format!("{}:{}", tag["repository"].as_str().unwrap(), tag["tag"].as_str().unwrap());
        assert_eq!(
            skopeo.digest(&format!("{target_host}/{reference}")),
            tag["digest"].as_str().unwrap(),
            "{reference}"
        );
    }

    // A new version, exported incrementally and imported on top.
    let source_host = source.url.trim_start_matches("http://").to_owned();
    let source_token = vendor_token(&source_db, "push");
    let pusher = Skopeo::new(&dir.join("pusher"));
    pusher.login(&source_host, "vendor", &source_token);
    let layout = fixtures::multi_platform_layout(&dir.join("layout"), "new");
    let pushed =
        pusher.push_layout(&layout.dir, &layout.tag, &format!("{source_host}/vendor/web:1.3.0"));
    let second = dir.join("bundle-2.tar");
    let since = unpacked.join("wharf-bundle.json").to_string_lossy().into_owned();
    let finished = export(
        &source,
        &[
            "--customer",
            &globex.id.to_string(),
            "--since-bundle",
            &since,
            "--out",
            &second.to_string_lossy(),
        ],
    );
    assert!(finished.status.success(), "{}", finished.stderr);
    let unpacked_2 = dir.join("unpacked-2");
    unpack(&second, &unpacked_2);
    check_sums(&unpacked_2);
    let bundle_2 = bundle_json(&unpacked_2);
    assert_eq!(refs(&bundle_2), ["vendor/web:1.3.0"]);
    let before: std::collections::HashSet<String> =
        strings(&bundle["contents"]).into_iter().collect();
    assert!(
        strings(&bundle_2["contents"]).iter().all(|d| !before.contains(d)),
        "no blob of the first bundle again"
    );
    must(
        skopeo
            .command()
            .args(["copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false"])
            .arg(format!("oci-archive:{}:vendor/web:1.3.0", second.display()))
            .arg(format!("docker://{target_host}/vendor/web:1.3.0")),
    );
    assert_eq!(skopeo.digest(&format!("{target_host}/vendor/web:1.3.0")), pushed);
    let mut tags = skopeo.tags(&format!("{target_host}/vendor/web"));
    tags.sort();
    assert_eq!(tags, ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0"]);

    // Every export is in the audit log.
    assert_eq!(exports_recorded(&pool, org.id).await, 3);
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

    // Both are on record: the audit log names the token, analytics count each tag once.
    assert_eq!(exports_recorded(&pool, org.id).await, 2);
    let counted: i64 = sqlx::query_scalar(
        "select count(*) from pull_events where client_kind = 'export' and customer_id = $1",
    )
    .bind(globex.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(counted, 8);

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
    assert_eq!(exports_recorded(&pool, org.id).await, 2, "an abandoned download is no export");

    // Stored bytes that no longer match their digest: the download is cut short, so the
    // client sees an error rather than a complete-looking archive.
    std::fs::write(blob_file(&source.data_dir, &layer_digest), vec![0u8; layer.len()]).unwrap();
    let answer =
        http.get(format!("{export_url}?tag=1.9.0")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert!(answer.bytes().await.is_err(), "a damaged export must not end cleanly");
    assert_eq!(exports_recorded(&pool, org.id).await, 2);
}
