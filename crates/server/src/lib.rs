//! wharf-server: the binary `wharf` (its `main` beside this file) and what it is made of.
//!
//! Thin by design: the command line and configuration ([`cli`], the reference for every flag),
//! start-up and shutdown ([`serve`]: wires the application and the three front doors and
//! listens, through [`listener`], which bounds slow clients), the embedded Postgres ([`postgres`], [`database`]), the first start
//! ([`bootstrap`]), the operator commands ([`admin`], calling the application), metrics and
//! logs ([`metrics`], [`telemetry`]), and the protocol glue ([`protocol`]: `/token` and the
//! registry's access control, sinks and cache over the application). It is the only crate
//! that reads the environment and the only place where concrete types meet; it holds no
//! application rule (those are `wharf-app`'s).
//!
//! A library as well as a binary so that the in-process test app (`wharf_e2e::house`) builds
//! exactly the router `wharf serve` listens on ([`serve::wire`]).

pub mod admin;
pub mod blobs;
pub mod bootstrap;
pub mod cli;
pub mod database;
pub mod demo;
pub mod listener;
pub mod metrics;
pub mod postgres;
pub mod protocol;
pub mod serve;
pub mod telemetry;
