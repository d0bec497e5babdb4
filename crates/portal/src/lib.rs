//! wharf-portal: the server-rendered vendor and customer portals.
//!
//! Owns pages (askama templates under `web/templates`), portal sessions, CSRF and the JSON
//! API for vendors. Never imports registry internals.
