//! Real clients against `wharf serve`: docker, podman, skopeo, helm (Helm's SDK) and oras
//! (oras-py) log in with a vendor API token, push content made locally, pull it back and
//! compare digests; plus a multi-platform index, a Helm chart with `+` in its version and an
//! artifact with a `subject` found through the referrers API. The scenarios are the ones
//! proved against the reference registry in `clients_reference.rs`.
//!
//! Credentials are a vendor API token from `wharf admin create-token`, exchanged at `/token`
//! like any client does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use wharf_e2e::{
    ServeOptions, Wharf,
    clients::{OrasAuth, Target, client_scratch, scenarios},
    fresh_database, vendor_token,
};

/// The organization `wharf serve` bootstraps on an empty database.
const ORG: &str = "vendor";

/// Starts Wharf on a fresh database and creates a vendor API token for the bootstrapped
/// organization's owner (`wharf admin create-token`; the token is the last line of stdout).
async fn start(dir: &Path) -> (Wharf, Target) {
    let database_url = fresh_database().await;
    let options = ServeOptions { database_url: Some(database_url.clone()), ..Default::default() };
    let wharf = Wharf::start(&dir.join("wharf"), &options).await;
    let token = vendor_token(&database_url, "e2e");
    let target = Target {
        host: wharf.url.trim_start_matches("http://").to_owned(),
        user: "ci".into(),
        password: token,
        namespace: ORG.into(),
        oras_auth: OrasAuth::Token,
        referrers_api: true,
    };
    (wharf, target)
}

/// Runs one scenario against a fresh Wharf; on failure, prints what Wharf logged.
async fn with_wharf(scenario: impl FnOnce(&Target, &Path)) {
    let scratch = client_scratch();
    let (wharf, target) = start(scratch.path()).await;
    let guard = LogsOnPanic(&wharf);
    scenario(&target, scratch.path());
    drop(guard);
}

struct LogsOnPanic<'a>(&'a Wharf);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let stderr = self.0.stderr();
            let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
            eprintln!("--- last lines of wharf's stderr:");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

#[tokio::test]
async fn docker_pushes_and_pulls_a_single_layer_image() {
    with_wharf(scenarios::docker_single_layer).await;
}

#[tokio::test]
async fn podman_pushes_and_pulls_a_single_layer_image() {
    with_wharf(scenarios::podman_single_layer).await;
}

#[tokio::test]
async fn docker_push_podman_pull_agree_on_the_digest() {
    with_wharf(scenarios::docker_push_podman_pull).await;
}

#[tokio::test]
async fn skopeo_copies_a_multi_platform_index_byte_for_byte() {
    with_wharf(scenarios::skopeo_multi_platform_index).await;
}

#[tokio::test]
async fn helm_pushes_and_pulls_a_chart_with_a_plus_in_its_version() {
    with_wharf(scenarios::helm_chart_plus_version).await;
}

#[tokio::test]
async fn oras_artifact_with_a_subject_is_found_through_the_referrers_api() {
    with_wharf(|t, dir| {
        scenarios::oras_artifact_with_subject(t, dir);
    })
    .await;
}
