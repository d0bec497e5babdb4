//! Real registry clients for the end-to-end tests, each with a per-test configuration
//! directory and plain-HTTP settings, behind one small API: `login`/`try_login`, `push`,
//! `pull` (returning manifest digests), plus the fixtures and scenarios they run.
//!
//! See docs/testing.md for what each tool needs and how the daemons are started.

pub mod docker;
pub mod fixtures;
pub mod helm;
pub mod oras;
pub mod podman;
pub mod process;
pub mod python;
pub mod reference;
pub mod scenarios;
pub mod skopeo;
pub mod token_server;

pub use docker::{Docker, Dockerd};
pub use helm::Helm;
pub use oras::{Oras, OrasAuth};
pub use podman::Podman;
pub use process::client_scratch;
pub use reference::ReferenceRegistry;
pub use scenarios::Target;
pub use skopeo::Skopeo;
