//! Protocol glue: where the application's answers become the registry's terms.
//!
//! Owns the `/token` handler (the Docker token service: Basic credentials in, a signed bearer
//! token or an OCI error out), the registry's [`AccessControl`](wharf_registry::access::AccessControl)
//! and content filters over the application's credentials and entitlement view, and the
//! adapters that hand what the registry reports (pulls, bytes, pushes, deletes, denials) to
//! the application's recorders and keep its content cache in step with the database. Every
//! rule is `wharf-app`'s; nothing here decides.

pub mod registry_access;
pub mod sinks;
pub mod token_endpoint;
