//! The end-to-end suite: one test binary, one module per area (see docs/testing.md).
//!
//! Every test drives the real `wharf` binary (or, where no socket is needed, the whole
//! router in process through `wharf_e2e::house`), a real Postgres, and real clients.

mod admin;
mod airgap;
mod api;
mod audit;
mod browser;
mod clients;
mod clients_reference;
mod configuration;
mod content_cache;
mod crash;
mod customer_portal;
mod customer_portal_browser;
mod deploy;
mod entitlements;
mod entitlements_clients;
mod house;
mod layout;
mod mail;
mod oci_client;
mod operations;
mod portal;
mod portal_browser;
mod registry_auth;
mod s3;
mod scale_out;
mod serve;
mod slow_clients;
mod token_service;
mod usage;
mod vendor_insights;
mod vendor_insights_browser;
mod vendor_portal;
mod vendor_portal_browser;
mod vendor_portal_clients;
