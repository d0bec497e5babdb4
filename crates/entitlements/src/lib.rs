//! wharf-entitlements: what a customer may pull, as pure functions.
//!
//! Owns licenses, grants, tag selectors (all, exact, glob, semver) and the decisions built on
//! them. No I/O: no tokio, sqlx or axum; the clock is a parameter and the database only
//! supplies facts (tags, tag history, manifest graph).
