//! The audit log's one writer: turns vendor writes ([`Change`]s from [`crate::actions`]),
//! registry actions ([`RegistryEvent`]: pushes, tag moves, deletes, denied pulls), refused
//! revoked tokens, and what people and operators do to accounts and organizations into
//! entries. Request paths append off the request path through a [`Batcher`]
//! ([`AuditLog::record`]); what people do to accounts, which is rare and must be in the log
//! before it is reported done, is written at once ([`AuditLog::record_now`]). An operator
//! command flushes the batcher before it exits.
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

use http::HeaderMap;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_db::{PgPool, audit::NewAuditEntry, licenses::LicenseRecord};

use crate::{
    actions::{Actor, Change, RequestMeta},
    batch::{Batcher, BatcherTask, Flush},
    metrics::COUNTERS,
    usage::client::{self, TrustedProxies},
};

const CAPACITY: usize = 10_000;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// At most one denied pull (or use of a revoked token) per token and minute.
const RATE_LIMIT: Duration = Duration::from_secs(60);

/// How the audit log names an operator at the command line (`actor_kind` `operator`).
pub const OPERATOR: &str = "wharf admin";

/// An audited registry action.
#[derive(Debug)]
pub struct RegistryEvent<'a> {
    /// The organization of the repository (the caller's).
    pub organization_id: Uuid,
    /// The caller as the registry names it (recorded when there is no token).
    pub principal: &'a str,
    /// The caller's access token, if any.
    pub token_id: Option<Uuid>,
    /// Its customer, if it is a customer's token.
    pub customer_id: Option<Uuid>,
    /// `manifest.push`, `manifest.delete`, `tag.delete`, `blob.delete` or `pull.denied`.
    pub action: &'static str,
    /// Repository.
    pub repository: &'a str,
    /// The reference as requested (tag or digest).
    pub reference: &'a str,
    /// The digest concerned, when known.
    pub digest: Option<&'a str>,
    /// For a push that moved a tag: the digest it pointed at before.
    pub moved_from: Option<&'a str>,
    /// Refused by the caller's visibility (answered as if it did not exist), not done.
    pub denied: bool,
    /// The request's headers (`User-Agent`, `X-Forwarded-For`, `X-Request-Id`).
    pub headers: &'a HeaderMap,
    /// The connection's peer address.
    pub peer: Option<std::net::IpAddr>,
}

/// The audit log of `wharf serve` (and of the operator commands).
#[derive(Debug)]
pub struct AuditLog {
    pool: PgPool,
    batcher: Batcher<NewAuditEntry>,
    proxies: TrustedProxies,
    recent: Mutex<HashMap<(Uuid, &'static str), Instant>>,
}

/// Who did it, where from.
pub(crate) struct Origin {
    pub(crate) client_addr: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) request_id: Option<String>,
}

impl AuditLog {
    /// Starts the background writer.
    pub fn start(pool: PgPool, proxies: TrustedProxies) -> (Arc<Self>, BatcherTask) {
        let writer = Writer { pool: pool.clone(), pending: Vec::new() };
        let (batcher, task) = Batcher::start("audit log", writer, CAPACITY, 1_000, FLUSH_EVERY);
        let log = Self { pool, batcher, proxies, recent: Mutex::new(HashMap::new()) };
        (Arc::new(log), task)
    }

    /// Appends `entry` off the request path (within a second, or at shutdown).
    pub fn record(&self, entry: NewAuditEntry) {
        self.batcher.record(entry);
    }

    /// Appends `entry` now, for what people do to their accounts, which is reported done
    /// only once it is in the log. A failed write is logged, not returned: the action itself
    /// was made.
    pub async fn record_now(&self, entry: NewAuditEntry) {
        let action = entry.action.clone();
        if let Err(err) = wharf_db::audit::append(&self.pool, &[entry]).await {
            tracing::error!(action, "cannot write the audit log: {err}");
        }
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

    pub(crate) fn origin(&self, meta: &RequestMeta) -> Origin {
        let client = self.proxies.client_addr(meta.peer, meta.forwarded_for.as_deref().into_iter());
        Origin {
            client_addr: client.map(|a| a.to_string()),
            user_agent: meta.user_agent.as_deref().map(client::user_agent),
            request_id: meta.request_id.clone(),
        }
    }

    /// The client's address as the audit log records it: the connection's peer, or what a
    /// trusted proxy says in `X-Forwarded-For` (`WHARF_TRUSTED_PROXIES`).
    pub fn client_addr(
        &self,
        headers: &HeaderMap,
        peer: Option<std::net::IpAddr>,
    ) -> Option<std::net::IpAddr> {
        let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        self.proxies.client_addr(peer, forwarded)
    }

    fn origin_of_headers(&self, headers: &HeaderMap, peer: Option<std::net::IpAddr>) -> Origin {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Origin {
            client_addr: self.client_addr(headers, peer).map(|a| a.to_string()),
            user_agent: header("user-agent").map(client::user_agent),
            request_id: header("x-request-id").map(str::to_owned),
        }
    }

    /// A vendor write made through `wharf-portal`'s actions.
    pub fn change(&self, actor: &Actor, change: &Change) {
        let (action, target, target_name, detail) = describe(change);
        let origin = self.origin(&actor.request);
        let (actor_kind, actor_id, actor_name) = match (actor.token_id, actor.user_id) {
            (Some(token), _) => ("token", Some(token), None),
            (None, Some(user)) => ("user", Some(user), None),
            (None, None) => ("operator", None, Some(OPERATOR.to_owned())),
        };
        let org = Some(actor.org_id);
        self.record(NewAuditEntry {
            client_addr: origin.client_addr,
            user_agent: origin.user_agent,
            request_id: origin.request_id,
            actor_name,
            ..NewAuditEntry::success(org, actor_kind, actor_id, action, target, target_name, detail)
        });
    }

    /// A write that is not a [`Change`] (branding settings, a customer's own actions), by
    /// `actor`: `action` on `target`, with `detail`.
    pub fn action(
        &self,
        actor: &Actor,
        action: &'static str,
        target: String,
        target_name: Option<String>,
        detail: Value,
    ) {
        let origin = self.origin(&actor.request);
        let (actor_kind, actor_id) = match (actor.token_id, actor.user_id) {
            (Some(token), _) => ("token", Some(token)),
            (None, user) => ("user", user),
        };
        self.record(NewAuditEntry {
            client_addr: origin.client_addr,
            user_agent: origin.user_agent,
            request_id: origin.request_id,
            ..NewAuditEntry::success(
                Some(actor.org_id),
                actor_kind,
                actor_id,
                action,
                target,
                target_name,
                detail,
            )
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
        self.record(NewAuditEntry {
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

impl AuditLog {
    /// A registry action; denied ones at most once a minute per token.
    pub fn registry_action(&self, event: RegistryEvent<'_>) {
        if event.action == "manifest.push" {
            COUNTERS.pushes.inc();
        }
        let token = event.token_id;
        if event.denied
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
        if let Some(customer) = event.customer_id {
            detail["customer_id"] = json!(customer);
        }
        self.record(NewAuditEntry {
            at: OffsetDateTime::now_utc(),
            organization_id: Some(event.organization_id),
            actor_kind,
            actor_id,
            actor_name: token.is_none().then(|| event.principal.to_owned()),
            action: event.action.to_owned(),
            target: format!("{}:{}", event.repository, event.reference),
            target_name: None,
            outcome: if event.denied { "denied" } else { "success" },
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
        Change::VendorTokenIssued { token, member_email } => (
            "token.create",
            format!("token:{}", token.id),
            Some(token.name.clone()),
            json!({
                "kind": "vendor",
                "member": member_email,
                "prefix": token.display_prefix,
                "read_only": token.read_only,
            }),
        ),
        Change::VendorTokenRevoked { token_id } => {
            ("token.revoke", format!("token:{token_id}"), None, json!({"kind": "vendor"}))
        }
        Change::RepositoryImmutability { repository, before, after } => {
            let word = |immutable: &bool| if *immutable { "immutable" } else { "mutable" };
            (
                "repository.tag_immutability",
                repository.clone(),
                None,
                json!({"before": word(before), "after": word(after)}),
            )
        }
        Change::TagDeleted { repository, tag } => {
            ("tag.delete", format!("{repository}:{tag}"), None, json!({}))
        }
        Change::ManifestDeleted { repository, digest } => {
            ("manifest.delete", format!("{repository}:{digest}"), None, json!({"digest": digest}))
        }
        Change::RepositoryVisibility { repository, before, after } => {
            let word = |public: &bool| if *public { "public" } else { "private" };
            (
                "repository.visibility",
                repository.clone(),
                None,
                json!({"before": word(before), "after": word(after)}),
            )
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
