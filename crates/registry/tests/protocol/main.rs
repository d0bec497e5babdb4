//! Protocol tests: the `/v2` router driven with `oneshot` against a real Postgres (one
//! database per test) and a real blob store. Every scenario runs twice, on the filesystem
//! backend in a temporary directory and on S3 (s3s-fs, started per test).
//!
//! Written from the OCI distribution spec v1.1 ("Pull", "Push", "Content Discovery",
//! "Content Management") to cover what the conformance suites check. Every error asserts
//! both the status and the OCI error code.

mod harness;
mod scenarios;
