//! The vendor JSON API's side of authentication, implemented with [`RegistryAuth`].
//!
//! Owns two adapters the API (`wharf-portal`) defines as traits: [`Authenticator`], which
//! checks `Authorization: Bearer` tokens with exactly the registry's rules (through
//! [`RegistryAuth::authenticate_vendor_token`]: throttling, format and checksum before the
//! lookup, revocation, expiry, last use; only vendor API tokens), and [`Hooks`], which applies
//! each write to this instance's revocation and entitlement views before the API answers
//! (the database's notification does the same on every other instance a moment later).

use std::{net::IpAddr, sync::Arc};

use async_trait::async_trait;
use wharf_auth::principal::Principal;
use wharf_db::PgPool;
use wharf_portal::{
    actions::{Actor, Change, Hooks},
    api::{ApiState, AuthFailure, Authenticator, Caller},
};

use super::{Failure, RegistryAuth};
use crate::audit::AuditLog;

/// [`Authenticator`] and [`Hooks`] backed by [`RegistryAuth`].
#[derive(Debug, Clone)]
pub struct ApiAccess {
    auth: Arc<RegistryAuth>,
    audit: Arc<AuditLog>,
}

impl ApiAccess {
    /// Adapters over `auth`, recording every write in `audit`.
    pub fn new(auth: Arc<RegistryAuth>, audit: Arc<AuditLog>) -> Self {
        Self { auth, audit }
    }
}

/// The API's router under `/api/v1`, authenticating with `auth`, auditing writes in `audit`.
pub fn api_router(pool: PgPool, auth: Arc<RegistryAuth>, audit: Arc<AuditLog>) -> axum::Router {
    let access = Arc::new(ApiAccess::new(auth, audit));
    wharf_portal::api::router(ApiState::new(pool, access.clone(), access))
}

#[async_trait]
impl Authenticator for ApiAccess {
    async fn authenticate(&self, token: &str, client: IpAddr) -> Result<Caller, AuthFailure> {
        let who =
            self.auth.authenticate_vendor_token(token, client).await.map_err(|f| match f {
                Failure::Throttled(wait) => AuthFailure::Throttled(wait),
                Failure::Unavailable => AuthFailure::Unavailable,
                Failure::Malformed | Failure::Unknown | Failure::Inactive(_) => {
                    tracing::debug!(failure = ?f, %client, "API authentication failed");
                    AuthFailure::Invalid
                }
            })?;
        match who.principal {
            Principal::VendorApiToken { token_id, org_id, role, read_only } => Ok(Caller {
                actor: Actor {
                    org_id,
                    org_slug: who.org_slug,
                    user_id: who.user_id,
                    token_id: Some(token_id),
                    request: Default::default(),
                },
                role,
                read_only,
            }),
            // Only vendor API tokens get past `authenticate_vendor_token`.
            _ => Err(AuthFailure::Invalid),
        }
    }
}

impl Hooks for ApiAccess {
    fn applied(&self, actor: &Actor, change: &Change) {
        self.audit.change(actor, change);
        let payload = match change {
            Change::CustomerUpdated { after, .. } if after.disabled => {
                format!("customer:{}", after.id)
            }
            Change::CustomerDeleted { customer_id, .. } => format!("customer:{customer_id}"),
            Change::LicenseCreated(license) | Change::LicenseReplaced { after: license, .. } => {
                format!("entitlements:{}", license.customer_id)
            }
            Change::LicenseDeleted { customer_id, .. } => format!("entitlements:{customer_id}"),
            Change::CustomerTokenRevoked { token_id, .. } => format!("token:{token_id}"),
            Change::CustomerCreated(_)
            | Change::CustomerUpdated { .. }
            | Change::CustomerTokenIssued(_) => return,
        };
        self.auth.invalidate_locally(&payload);
    }
}
