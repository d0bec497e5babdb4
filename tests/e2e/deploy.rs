//! `deploy/`: the Dockerfile, the Helm chart and the compose files, checked without a
//! container engine or a helm binary (`deploy/check.py`: hadolint, the Helm SDK, the
//! Kubernetes schemas, yamllint). The topology itself runs as processes in `scale_out.rs`.

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
