//! The registry's sinks and cache, wired to the application: [`RegistryUsage`] (pulls and
//! bytes to the usage recorder), [`RegistryAudit`] (registry actions to the audit log) and
//! [`ContentCacheInvalidation`] (the invalidation listener keeps the registry's content cache
//! current). Each only translates the registry's types into the application's; called on the
//! request path, none waits.

use std::sync::Arc;

use wharf_app::{
    audit::{AuditLog, RegistryEvent},
    credentials::invalidation::Invalidated,
    usage::{BlobBytesServed, ManifestPull, UsageRecorder},
};
use wharf_oci::Reference;
use wharf_registry::{
    audit::{AuditSink, Audited, Outcome},
    cache::ContentCache,
    usage::{BlobServed, ManifestServed, UsageSink},
};

/// The registry's [`UsageSink`]: the application's [`UsageRecorder`].
#[derive(Debug)]
pub struct RegistryUsage(pub Arc<UsageRecorder>);

/// The application's view of a served manifest.
fn manifest<'a>(served: &ManifestServed<'a>) -> ManifestPull<'a> {
    let tag = match served.reference {
        Reference::Tag(tag) => Some(tag.as_str()),
        Reference::Digest(_) => None,
    };
    ManifestPull {
        organization_id: served.organization_id,
        token_id: served.attribution.token_id,
        customer_id: served.attribution.customer_id,
        repository: served.repository.as_str(),
        reference: tag.unwrap_or_else(|| served.digest.as_str()),
        tag,
        digest: served.digest.as_str(),
        media_type: served.media_type,
        headers: served.headers,
        peer: served.peer,
    }
}

impl UsageSink for RegistryUsage {
    fn manifest_served(&self, served: ManifestServed<'_>) {
        self.0.manifest_pulled(manifest(&served));
    }

    fn manifest_checked(&self, checked: ManifestServed<'_>) {
        self.0.manifest_checked(manifest(&checked));
    }

    fn blob_served(&self, served: BlobServed) {
        self.0.blob_bytes_served(BlobBytesServed {
            organization_id: served.organization_id,
            token_id: served.attribution.token_id,
            customer_id: served.attribution.customer_id,
            repository: served.repository,
            digest: served.digest,
            bytes: served.bytes,
        });
    }
}

/// The registry's [`AuditSink`]: the application's [`AuditLog`].
#[derive(Debug)]
pub struct RegistryAudit(pub Arc<AuditLog>);

impl AuditSink for RegistryAudit {
    fn record(&self, event: Audited<'_>) {
        self.0.registry_action(RegistryEvent {
            organization_id: event.organization_id,
            principal: event.principal,
            token_id: event.attribution.map(|a| a.token_id),
            customer_id: event.attribution.and_then(|a| a.customer_id),
            action: event.action,
            repository: event.repository.as_str(),
            reference: event.reference,
            digest: event.digest,
            moved_from: event.moved_from,
            denied: event.outcome == Outcome::Denied,
            headers: event.headers,
            peer: event.peer,
        });
    }
}

/// The registry's content cache, kept current by the application's invalidation listener.
#[derive(Debug)]
pub struct ContentCacheInvalidation(pub Arc<ContentCache>);

impl Invalidated for ContentCacheInvalidation {
    fn synced(&self) {
        self.0.mark_synced();
    }

    fn unsynced(&self) {
        self.0.mark_unsynced();
    }

    fn repository_changed(&self, name: &str) {
        self.0.invalidate(name);
    }
}
