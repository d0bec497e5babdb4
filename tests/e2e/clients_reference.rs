//! The client harness proved against the reference registry (CNCF distribution 2.8,
//! Debian's `docker-registry`): every client logs in (a wrong password is refused), pushes,
//! pulls and compares digests — once with htpasswd (Basic) auth and once with the Docker
//! token protocol (a token service in the test process), the way Wharf authenticates. The
//! same scenarios run against Wharf in `clients.rs`. distribution 2.8 has no referrers API,
//! so the referrers checks of the oras scenario run against Wharf only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wharf_e2e::clients::{
    OrasAuth, ReferenceRegistry, Skopeo, Target, client_scratch, fixtures,
    reference::{self, Auth},
    scenarios,
};

/// Runs one scenario against a fresh reference registry in a fresh scratch directory.
fn with_reference(auth: Auth, scenario: impl FnOnce(&Target, &std::path::Path)) {
    let scratch = client_scratch();
    let registry = ReferenceRegistry::start_with(&scratch.path().join("registry"), auth);
    let target = Target {
        host: registry.host.clone(),
        user: reference::USER.into(),
        password: reference::PASSWORD.into(),
        namespace: "acme".into(),
        oras_auth: if auth == Auth::Token { OrasAuth::Token } else { OrasAuth::Basic },
        referrers_api: false,
    };
    scenario(&target, scratch.path());
}

macro_rules! client_scenarios {
    ($auth:expr) => {
        #[test]
        fn docker_pushes_and_pulls_a_single_layer_image() {
            with_reference($auth, scenarios::docker_single_layer);
        }

        #[test]
        fn podman_pushes_and_pulls_a_single_layer_image() {
            with_reference($auth, scenarios::podman_single_layer);
        }

        #[test]
        fn docker_push_podman_pull_agree_on_the_digest() {
            with_reference($auth, scenarios::docker_push_podman_pull);
        }

        #[test]
        fn skopeo_copies_a_multi_platform_index_byte_for_byte() {
            with_reference($auth, scenarios::skopeo_multi_platform_index);
        }

        #[test]
        fn helm_pushes_and_pulls_a_chart_with_a_plus_in_its_version() {
            with_reference($auth, scenarios::helm_chart_plus_version);
        }

        #[test]
        fn oras_pushes_an_artifact_and_a_referrer_with_a_subject() {
            with_reference($auth, |t, dir| {
                scenarios::oras_artifact_with_subject(t, dir);
            });
        }
    };
}

/// Basic auth against an htpasswd file.
mod htpasswd {
    use super::*;
    client_scenarios!(Auth::Htpasswd);
}

/// The Docker token protocol, as Wharf speaks it.
mod token {
    use super::*;
    client_scenarios!(Auth::Token);
}

#[test]
fn reference_registry_without_auth_takes_anonymous_pushes() {
    let scratch = client_scratch();
    let registry = ReferenceRegistry::start_without_auth(&scratch.path().join("registry"));
    let skopeo = Skopeo::new(&scratch.path().join("skopeo"));
    let layout = fixtures::multi_platform_layout(&scratch.path().join("layout"), "anon");
    let reference = format!("{}/acme/anonymous:anon", registry.host);
    assert_eq!(skopeo.push_layout(&layout.dir, &layout.tag, &reference), layout.index_digest);
    assert_eq!(skopeo.raw_manifest(&reference), layout.index);
}
