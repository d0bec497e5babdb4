//! `deploy/`: the Dockerfile, the Helm chart and the compose files, checked without a
//! container engine or a helm binary (`deploy/check.py`: hadolint, the Helm SDK, the
//! Kubernetes schemas, yamllint), and the compose topology run as processes from the
//! compose file's own environment. The two-instance scenarios are in `scale_out.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn the_deployment_files_check_out() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = std::env::var("WHARF_E2E_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python).arg(root.join("deploy/check.py")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for check in [
        "hadolint deploy/Dockerfile",
        "chart renders and validates: default",
        "chart refuses no public URL",
        "compose.yaml",
    ] {
        assert!(stdout.contains(&format!("ok   {check}")), "{check}:\n{stdout}");
    }
}

#[test]
fn the_image_builds_with_the_one_release_command() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dockerfile = std::fs::read_to_string(root.join("deploy/Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("./deploy/build-release.sh"),
        "the image runs the shared build script"
    );
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(ci.contains("deploy/build-release.sh"), "CI runs the image's build command");
    let script = std::fs::read_to_string(root.join("deploy/build-release.sh")).unwrap();
    assert!(script.contains("SQLX_OFFLINE=true") && script.contains("--locked"));
}

/// compose.yaml's topology without a container engine: the `wharf` service's environment,
/// exactly as compose would give it from `.env.example` (copied to `.env`, as the README
/// says), drives two `wharf serve` processes. The service host names are mapped to what the
/// test runs instead: `postgres:5432` to the test cluster (a fresh database on it, with the
/// cluster's credentials, since its `wharf` role already exists), `s3:9000` to SeaweedFS
/// (the documented alternative to RustFS) started with the compose file's S3 credentials,
/// and the one-shot `bucket` service is the test creating `WHARF_S3_BUCKET`. Everything
/// else is passed as written. A push on one is pulled from the other.
#[tokio::test]
async fn two_instances_run_from_the_compose_environment() {
    use std::collections::HashMap;

    use wharf_e2e::{ServeOptions, Wharf, raw::RawRegistry, raw::digest_of, run_wharf};
    use wharf_storage::testing::{S3Server, S3TestServer};

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let compose = yaml_as_json(&root.join("deploy/compose/compose.yaml"));
    let dotenv = env_file(&root.join("deploy/compose/.env.example"));
    let environment = |service: &str| -> HashMap<String, String> {
        let raw = compose["services"][service]["environment"].as_object().unwrap();
        raw.iter()
            .map(|(k, v)| {
                let text = v.as_str().unwrap_or_else(|| panic!("{service}.{k}: not a string"));
                (k.clone(), interpolate(text, &dotenv).unwrap_or_else(|e| panic!("{k}: {e}")))
            })
            .collect()
    };
    let mut env = environment("wharf");
    let postgres = environment("postgres");

    // The `s3` and `bucket` services.
    let s3 = S3TestServer::start_server_with(
        S3Server::SeaweedFs,
        &env["WHARF_S3_ACCESS_KEY_ID"],
        &env["WHARF_S3_SECRET_ACCESS_KEY"],
    )
    .await
    .unwrap_or_else(|e| panic!("SeaweedFS: {e}"));
    s3.create_bucket(&env["WHARF_S3_BUCKET"]).await.unwrap();
    let endpoint = url::Url::parse(&env["WHARF_S3_ENDPOINT"]).unwrap();
    assert_eq!((endpoint.host_str(), endpoint.port()), (Some("s3"), Some(9000)));
    env.insert("WHARF_S3_ENDPOINT".into(), s3.endpoint().to_owned());

    // The `postgres` service: the URL names its user, password and database.
    let mut database = url::Url::parse(&env["DATABASE_URL"]).unwrap();
    assert_eq!((database.host_str(), database.port()), (Some("postgres"), Some(5432)));
    assert_eq!(database.username(), postgres["POSTGRES_USER"]);
    assert_eq!(database.password(), Some(postgres["POSTGRES_PASSWORD"].as_str()));
    assert_eq!(database.path(), format!("/{}", postgres["POSTGRES_DB"]));
    let cluster = url::Url::parse(&wharf_e2e::fresh_database().await).unwrap();
    database.set_host(cluster.host_str()).unwrap();
    database.set_port(cluster.port()).unwrap();
    database.set_username(cluster.username()).unwrap();
    database.set_password(cluster.password()).unwrap();
    database.set_path(cluster.path());
    database.set_query(cluster.query());
    env.insert("DATABASE_URL".into(), database.to_string());

    let scratch = wharf_e2e::scratch_dir();
    let options = ServeOptions { database_url: Some(database.to_string()), env: env.clone() };
    let a = Wharf::start(&scratch.path().join("a"), &options).await;
    let b = Wharf::start(&scratch.path().join("b"), &options).await;
    for instance in [&a, &b] {
        let ready = reqwest::get(format!("{}/readyz", instance.url)).await.unwrap();
        assert_eq!(ready.status(), 200, "{}", instance.stderr());
    }
    let created = run_wharf(
        &[
            "admin",
            "create-token",
            "--org",
            &env["WHARF_BOOTSTRAP_ORG"],
            "--email",
            &env["WHARF_BOOTSTRAP_EMAIL"],
            "--name",
            "compose",
        ],
        &[("DATABASE_URL", database.as_str()), ("RUST_LOG", "warn")],
    );
    assert!(created.status.success(), "{}{}", created.stdout, created.stderr);
    let token = created.stdout.lines().last().unwrap().trim().to_owned();
    let org = &env["WHARF_BOOTSTRAP_ORG"];
    let image = RawRegistry::with_token(&a.url, &token)
        .push_image(&format!("{org}/app"), Some("1.0"), None)
        .await;
    let on_b = RawRegistry::with_token(&b.url, &token);
    let manifest = on_b.get(&format!("/v2/{org}/app/manifests/1.0")).await;
    assert_eq!(manifest.digest.as_deref(), Some(image.manifest.as_str()));
    let layer = on_b.get(&format!("/v2/{org}/app/blobs/{}", image.layer)).await;
    assert_eq!((layer.status, digest_of(&layer.body)), (200, image.layer));
}

/// A YAML file as JSON, read by PyYAML (installed with yamllint by `just deploy-tools`).
fn yaml_as_json(path: &std::path::Path) -> serde_json::Value {
    let python = std::env::var("WHARF_E2E_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `KEY=VALUE` lines of a compose `.env` file (comments and blank lines skipped).
fn env_file(path: &std::path::Path) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("{line:?}"));
            (key.trim().to_owned(), value.trim().to_owned())
        })
        .collect()
}

/// Compose's interpolation: `$$`, `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
/// `${NAME:?error}`, `${NAME?error}` (`:` forms treat an empty value as unset).
fn interpolate(
    text: &str,
    vars: &std::collections::HashMap<String, String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}').ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            let expr = &braced[..end];
            rest = &braced[end + 1..];
            let split = expr.find([':', '-', '?']).unwrap_or(expr.len());
            let (name, op) = expr.split_at(split);
            let value = vars.get(name).map(String::as_str);
            let set = |colon: bool| value.filter(|v| !colon || !v.is_empty());
            let resolved = if let Some(default) = op.strip_prefix(":-") {
                set(true).unwrap_or(default).to_owned()
            } else if let Some(default) = op.strip_prefix('-') {
                set(false).unwrap_or(default).to_owned()
            } else if let Some(message) = op.strip_prefix(":?") {
                set(true).ok_or_else(|| format!("{name}: {message}"))?.to_owned()
            } else if let Some(message) = op.strip_prefix('?') {
                set(false).ok_or_else(|| format!("{name}: {message}"))?.to_owned()
            } else if op.is_empty() {
                value.unwrap_or_default().to_owned()
            } else {
                return Err(format!("unknown interpolation ${{{expr}}}"));
            };
            out.push_str(&resolved);
        } else {
            let end =
                rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            out.push_str(vars.get(&rest[..end]).map_or("", String::as_str));
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[test]
fn compose_interpolation_reads_like_compose() {
    let vars = std::collections::HashMap::from([
        ("A".to_owned(), "x".to_owned()),
        ("EMPTY".to_owned(), String::new()),
    ]);
    let cases = [
        ("${A}", "x"),
        ("$A/b", "x/b"),
        ("${B:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${A:?no}", "x"),
        ("$${A}", "${A}"),
        ("p://u:${A}@h:1/${B:-w}", "p://u:x@h:1/w"),
    ];
    for (text, want) in cases {
        assert_eq!(interpolate(text, &vars).unwrap(), want, "{text}");
    }
    assert!(interpolate("${B:?set B}", &vars).unwrap_err().contains("set B"));
    assert!(interpolate("${EMPTY:?set it}", &vars).is_err());
}
