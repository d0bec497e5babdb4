//! wharf-portal: the server-rendered vendor and customer portals, and the vendor JSON API.
//!
//! Owns pages (askama templates under `web/templates`, not built yet), portal sessions, CSRF
//! and the JSON API for vendors ([`api`], under `/api/v1`). Never imports registry
//! internals: it reads and writes through `wharf-db`, decides entitlements with
//! `wharf-entitlements`, and gets authentication from the server through a trait.
//!
//! Modules:
//! - [`actions`]: every vendor write to customers, licenses and customer tokens, one function
//!   per action, shared by the API and the vendor portal (validation and the audit hook live
//!   there).
//! - [`entitled`]: what a customer can pull now, per repository (for the API and the
//!   portals).
//! - [`api`]: the vendor JSON API: routes, handlers, problem responses, the OpenAPI document.

pub mod actions;
pub mod api;
pub mod entitled;
