//! The scenarios, by area of the spec. Each file lists its scenarios in one `scenarios!`
//! call, which runs them on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod discovery;
mod errors;
mod gc;
mod management;
mod pull;
mod push;
