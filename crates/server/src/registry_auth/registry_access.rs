//! The registry's [`AccessControl`], implemented with bearer tokens from the token service
//! (and Basic credentials sent straight to `/v2`, checked by exactly the same rules).
//!
//! A bearer token is verified in memory (signature, claims, revocation view): no database
//! round trip on the pull path. Basic credentials cost one indexed lookup, as at `/token`.

use std::{net::IpAddr, sync::Arc};

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderValue, header};
use wharf_auth::{
    jwt::{PrincipalKind, RegistryClaims},
    scope::{self, ResourceKind, ResourceScope},
};
use wharf_registry::{
    access::{Access, AccessControl, Action, Visibility},
    error::{ErrorCode, OciError},
    name::RepositoryName,
};

use super::{Failure, RegistryAuth};

/// [`AccessControl`] backed by [`RegistryAuth`].
#[derive(Debug, Clone)]
pub struct TokenAccess {
    auth: Arc<RegistryAuth>,
}

impl TokenAccess {
    /// Checks `/v2` requests against `auth`.
    pub fn new(auth: Arc<RegistryAuth>) -> Self {
        Self { auth }
    }

    fn scope_text(repository: Option<&RepositoryName>, actions: &[Action]) -> Option<String> {
        match repository {
            Some(name) => {
                let list: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
                Some(format!("repository:{}:{}", name.as_str(), list.join(",")))
            }
            None if actions.is_empty() => None,
            None => Some("registry:catalog:*".to_owned()),
        }
    }

    fn unauthorized(&self, scope: Option<&str>, insufficient: bool) -> OciError {
        let challenge = self.auth.challenge(scope, insufficient);
        OciError::unauthorized(
            HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer")),
        )
    }

    fn refused(&self, failure: Failure, scope: Option<&str>) -> OciError {
        match failure {
            Failure::Unavailable => OciError::new(ErrorCode::Unavailable),
            Failure::Throttled(wait) => OciError::too_many_requests(wait.as_secs().max(1)),
            Failure::Malformed | Failure::Unknown | Failure::Inactive(_) => {
                self.unauthorized(scope, false)
            }
        }
    }
}

/// What a principal was granted, however it authenticated.
struct Granted {
    access: Vec<ResourceScope>,
    principal: String,
    vendor_org: Option<uuid::Uuid>,
}

impl Granted {
    fn from_claims(claims: RegistryClaims) -> Self {
        let vendor_org = match claims.wharf.kind {
            PrincipalKind::Vendor => claims.wharf.org_id,
            PrincipalKind::Customer | PrincipalKind::Anonymous => None,
        };
        Self { principal: claims.sub, access: claims.access, vendor_org }
    }

    fn allows(&self, repository: Option<&RepositoryName>, action: Action) -> bool {
        let wanted = to_scope_action(action);
        self.access.iter().any(|s| match repository {
            Some(name) => {
                s.kind == ResourceKind::Repository && s.name == name.as_str() && s.allows(wanted)
            }
            None => s.kind == ResourceKind::Registry && s.name == "catalog",
        })
    }
}

fn to_scope_action(action: Action) -> scope::Action {
    match action {
        Action::Pull => scope::Action::Pull,
        Action::Push => scope::Action::Push,
        Action::Delete => scope::Action::Delete,
    }
}

#[async_trait]
impl AccessControl for TokenAccess {
    async fn authorize(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        repository: Option<&RepositoryName>,
        actions: &[Action],
    ) -> Result<Access, OciError> {
        let scope = Self::scope_text(repository, actions);
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let granted = match authorization {
            Some(value) if value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ") => {
                let claims = self
                    .auth
                    .verify_bearer(value[7..].trim())
                    .map_err(|f| self.refused(f, scope.as_deref()))?;
                Granted::from_claims(claims)
            }
            Some(value) if value.len() > 6 && value[..6].eq_ignore_ascii_case("basic ") => {
                let (user, password) = RegistryAuth::basic_credentials(value)
                    .ok_or_else(|| self.unauthorized(scope.as_deref(), false))?;
                let client = client.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                let who = self
                    .auth
                    .authenticate_token(
                        secrecy::ExposeSecret::expose_secret(&password),
                        Some(&user),
                        client,
                    )
                    .await
                    .map_err(|f| self.refused(f, scope.as_deref()))?;
                let requested: Vec<ResourceScope> = scope
                    .as_deref()
                    .map(|s| s.parse::<ResourceScope>())
                    .transpose()
                    .map_err(|_| OciError::new(ErrorCode::NameInvalid))?
                    .into_iter()
                    .collect();
                let vendor_org =
                    who.principal.is_vendor().then(|| who.principal.org_id()).flatten();
                Granted {
                    access: self.auth.grant(&who, &requested),
                    principal: super::token_endpoint::subject_of(&who.principal),
                    vendor_org,
                }
            }
            // No credentials: nothing is public yet, so every resource asks for a token.
            _ => return Err(self.unauthorized(scope.as_deref(), false)),
        };
        if !actions.iter().all(|a| granted.allows(repository, *a)) {
            return Err(self.unauthorized(scope.as_deref(), true));
        }
        Ok(Access {
            principal: granted.principal,
            organization_id: granted.vendor_org,
            visibility: Visibility::All,
        })
    }
}
