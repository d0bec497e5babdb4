//! The audit log's writer: turns vendor writes ([`Change`]s from `wharf-portal`'s actions),
//! registry actions ([`Audited`]: pushes, tag moves, deletes, denied pulls) and refused
//! revoked tokens into entries, and appends them off the request path through a
//! [`Batcher`].
//!
//! Denied pulls and uses of a revoked token are recorded at most once a minute per token
//! (and kind), so a client retrying in a loop cannot flood the log. A failed write keeps
//! its entries for the next flush (up to the buffer size). Retention (`prune`) runs with
//! garbage collection.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::http::HeaderMap;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_db::{PgPool, audit::NewAuditEntry, licenses::LicenseRecord};
use wharf_portal::actions::{Actor, Change, RequestMeta};
use wharf_registry::audit::{AuditSink, Audited, Outcome};

use crate::{
    batch::{Batcher, BatcherTask, Flush},
    usage::client::TrustedProxies,
};

const CAPACITY: usize = 10_000;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// At most one denied pull (or use of a revoked token) per token and minute.
const RATE_LIMIT: Duration = Duration::from_secs(60);
const MAX_USER_AGENT: usize = 512;

/// The audit log of `wharf serve`.
#[derive(Debug)]
pub struct AuditLog {
    batcher: Batcher<NewAuditEntry>,
    proxies: TrustedProxies,
    recent: Mutex<HashMap<(Uuid, &'static str), Instant>>,
}

/// Who did it, where from.
struct Origin {
    client_addr: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
}

impl AuditLog {
    /// Starts the background writer.
    pub fn start(pool: PgPool, proxies: TrustedProxies) -> (Arc<Self>, BatcherTask) {
        let writer = Writer { pool, pending: Vec::new() };
        let (batcher, task) = Batcher::start("audit log", writer, CAPACITY, 1_000, FLUSH_EVERY);
        (Arc::new(Self { batcher, proxies, recent: Mutex::new(HashMap::new()) }), task)
    }

    fn append(&self, entry: NewAuditEntry) {
        self.batcher.record(entry);
    }

    /// Whether `(token, what)` was recorded within the last minute (then skip it); notes it
    /// otherwise.
    fn limited(&self, token: Uuid, what: &'static str) -> bool {
        let Ok(mut recent) = self.recent.lock() else { return false };
        let now = Instant::now();
        if recent.len() > 10_000 {
            recent.retain(|_, at| now.duration_since(*at) < RATE_LIMIT);
        }
        match recent.get(&(token, what)) {
            Some(at) if now.duration_since(*at) < RATE_LIMIT => true,
            _ => {
                recent.insert((token, what), now);
                false
            }
        }
    }

    fn origin(&self, meta: &RequestMeta) -> Origin {
        let client = self.proxies.client_addr(meta.peer, meta.forwarded_for.as_deref().into_iter());
        Origin {
            client_addr: client.map(|a| a.to_string()),
            user_agent: meta.user_agent.as_deref().map(|ua| truncate(ua, MAX_USER_AGENT)),
            request_id: meta.request_id.clone(),
        }
    }

    fn origin_of_headers(&self, headers: &HeaderMap, peer: Option<std::net::IpAddr>) -> Origin {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        Origin {
            client_addr: self.proxies.client_addr(peer, forwarded).map(|a| a.to_string()),
            user_agent: header("user-agent").map(|ua| truncate(ua, MAX_USER_AGENT)),
            request_id: header("x-request-id").map(str::to_owned),
        }
    }

    /// A vendor write made through `wharf-portal`'s actions.
    pub fn change(&self, actor: &Actor, change: &Change) {
        let (action, target, target_name, detail) = describe(change);
        let origin = self.origin(&actor.request);
        let (actor_kind, actor_id) = match (actor.token_id, actor.user_id) {
            (Some(token), _) => ("token", Some(token)),
            (None, Some(user)) => ("user", Some(user)),
            (None, None) => ("operator", None),
        };
        let org = Some(actor.org_id);
        self.append(NewAuditEntry {
            client_addr: origin.client_addr,
            user_agent: origin.user_agent,
            request_id: origin.request_id,
            ..NewAuditEntry::success(org, actor_kind, actor_id, action, target, target_name, detail)
        });
    }

    /// A revoked token was presented (at `/token`, to `/v2` or to the API); at most once a
    /// minute per token.
    pub fn revoked_token_used(
        &self,
        token_id: Uuid,
        organization_id: Option<Uuid>,
        client: Option<std::net::IpAddr>,
    ) {
        let target = format!("token:{token_id}");
        self.token_denied(
            token_id,
            organization_id,
            "token.use_after_revoke",
            target,
            json!({}),
            client,
        );
    }

    /// A customer token asked to pull a repository none of its licenses covers (at the token
    /// service or with Basic credentials on `/v2`); at most once a minute per token, the same
    /// limit as the registry's own `pull.denied` entries.
    pub fn pull_denied(
        &self,
        token_id: Uuid,
        organization_id: Uuid,
        repository: &str,
        client: Option<std::net::IpAddr>,
    ) {
        let detail = json!({"reason": "no license covers the repository"});
        let target = repository.to_owned();
        self.token_denied(token_id, Some(organization_id), "pull.denied", target, detail, client);
    }

    /// A denial of what a token asked for, seen where only its id and the client address are
    /// known; at most once a minute per token and action.
    fn token_denied(
        &self,
        token_id: Uuid,
        organization_id: Option<Uuid>,
        action: &'static str,
        target: String,
        detail: serde_json::Value,
        client: Option<std::net::IpAddr>,
    ) {
        if self.limited(token_id, action) {
            return;
        }
        self.append(NewAuditEntry {
            at: OffsetDateTime::now_utc(),
            organization_id,
            actor_kind: "token",
            actor_id: Some(token_id),
            actor_name: None,
            action: action.to_owned(),
            target,
            target_name: None,
            outcome: "denied",
            detail,
            client_addr: client.map(|c| c.to_string()),
            user_agent: None,
            request_id: None,
        });
    }
}

impl AuditSink for AuditLog {
    fn record(&self, event: Audited<'_>) {
        if event.action == "manifest.push" {
            crate::metrics::METRICS.pushes.inc();
        }
        let token = event.attribution.map(|a| a.token_id);
        if event.outcome == Outcome::Denied
            && let Some(token) = token
            && self.limited(token, event.action)
        {
            return;
        }
        let origin = self.origin_of_headers(event.headers, event.peer);
        let (actor_kind, actor_id) = match token {
            Some(token) => ("token", Some(token)),
            None => ("user", None),
        };
        let mut detail = json!({});
        if let Some(digest) = event.digest {
            detail["digest"] = json!(digest);
        }
        if let Some(from) = event.moved_from {
            detail["moved_from"] = json!(from);
        }
        if let Some(customer) = event.attribution.and_then(|a| a.customer_id) {
            detail["customer_id"] = json!(customer);
        }
        self.append(NewAuditEntry {
            at: OffsetDateTime::now_utc(),
            organization_id: Some(event.organization_id),
            actor_kind,
            actor_id,
            actor_name: token.is_none().then(|| event.principal.to_owned()),
            action: event.action.to_owned(),
            target: format!("{}:{}", event.repository.as_str(), event.reference),
            target_name: None,
            outcome: match event.outcome {
                Outcome::Success => "success",
                Outcome::Denied => "denied",
            },
            detail,
            client_addr: origin.client_addr,
            user_agent: origin.user_agent,
            request_id: origin.request_id,
        });
    }
}

/// Action, target, target name and detail of a vendor write.
fn describe(change: &Change) -> (&'static str, String, Option<String>, Value) {
    match change {
        Change::CustomerCreated(c) => {
            ("customer.create", format!("customer:{}", c.id), Some(c.name.clone()), json!({}))
        }
        Change::CustomerUpdated { before, after } => (
            "customer.update",
            format!("customer:{}", after.id),
            Some(after.name.clone()),
            json!({
                "before": before.as_ref().map(|b| json!({"name": b.name, "disabled": b.disabled})),
                "after": {"name": after.name, "disabled": after.disabled},
            }),
        ),
        Change::CustomerDeleted { customer_id, name } => {
            ("customer.delete", format!("customer:{customer_id}"), name.clone(), json!({}))
        }
        Change::LicenseCreated(license) => (
            "license.create",
            format!("license:{}", license.id),
            Some(license.name.clone()),
            json!({"customer_id": license.customer_id, "after": license_summary(license)}),
        ),
        Change::LicenseReplaced { before, after } => (
            "license.replace",
            format!("license:{}", after.id),
            Some(after.name.clone()),
            json!({
                "customer_id": after.customer_id,
                "before": before.as_deref().map(license_summary),
                "after": license_summary(after),
            }),
        ),
        Change::LicenseDeleted { license_id, customer_id, before } => (
            "license.delete",
            format!("license:{license_id}"),
            Some(before.name.clone()),
            json!({"customer_id": customer_id, "before": license_summary(before)}),
        ),
        Change::CustomerTokenIssued(token) => (
            "token.create",
            format!("token:{}", token.id),
            Some(token.name.clone()),
            json!({
                "customer_id": token.customer_id,
                "prefix": token.display_prefix,
                "expires_at": token.expires_at.map(rfc3339),
            }),
        ),
        Change::CustomerTokenRevoked { token_id, customer_id } => {
            ("token.revoke", format!("token:{token_id}"), None, json!({"customer_id": customer_id}))
        }
    }
}

/// What a license grants, for before/after comparisons.
fn license_summary(license: &LicenseRecord) -> Value {
    json!({
        "name": license.name,
        "starts_at": rfc3339(license.starts_at),
        "expires_at": license.expires_at.map(rfc3339),
        "on_expiry": license.on_expiry,
        "suspended": license.suspended,
        "grants": license.grants,
    })
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

struct Writer {
    pool: PgPool,
    pending: Vec<NewAuditEntry>,
}

impl Flush for Writer {
    type Item = NewAuditEntry;

    fn add(&mut self, entry: NewAuditEntry) {
        self.pending.push(entry);
    }

    fn pending(&self) -> usize {
        self.pending.len()
    }

    async fn flush(&mut self) {
        match wharf_db::audit::append(&self.pool, &self.pending).await {
            Ok(_) => self.pending.clear(),
            Err(err) => {
                tracing::warn!(entries = self.pending.len(), "writing the audit log failed: {err}");
                if self.pending.len() > CAPACITY {
                    let excess = self.pending.len() - CAPACITY;
                    self.pending.drain(..excess);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn denied_pulls_are_rate_limited_per_token() {
        let pool = wharf_db::sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://localhost/none")
            .unwrap();
        let (log, _task) = AuditLog::start(pool, TrustedProxies::default());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(!log.limited(a, "pull.denied"));
        assert!(log.limited(a, "pull.denied"));
        assert!(!log.limited(a, "token.use_after_revoke"), "per kind");
        assert!(!log.limited(b, "pull.denied"), "per token");
    }
}
