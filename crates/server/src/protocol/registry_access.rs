//! The registry's [`AccessControl`], implemented with bearer tokens from the token service
//! (and Basic credentials sent straight to `/v2`, checked by exactly the same rules), and
//! its [`ContentFilter`]s over the application's entitlement view.
//!
//! A bearer token is verified in memory (signature, claims, revocation view): no database
//! round trip on the pull path. Basic credentials cost one indexed lookup, as at `/token`.
//! Customers and anonymous callers then see only what their entitlements allow, answered
//! from the in-memory entitlement view (`wharf_app::credentials::entitlement_view`); vendors
//! see their whole organization. This file turns the application's answers into OCI errors
//! and challenges; it decides nothing itself.

use std::{collections::HashSet, net::IpAddr, sync::Arc};

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret as _;
use wharf_app::credentials::{AuthFailure, Credentials, entitlement_view::Subject};
use wharf_auth::{
    authorization::Presented,
    jwt::{PrincipalKind, RegistryClaims},
    scope::{self, ResourceKind, ResourceScope, parse_scopes},
};
use wharf_db::registry::repositories;
use wharf_entitlements::EntitledSet;
use wharf_oci::{Digest, RepositoryName, Tag};
use wharf_registry::{
    access::{Access, AccessControl, ContentFilter, Operation, Visibility},
    error::{ErrorCode, OciError},
    usage::Attribution,
};

/// [`AccessControl`] backed by the application's [`Credentials`].
#[derive(Debug, Clone)]
pub struct TokenAccess {
    auth: Arc<Credentials>,
}

impl TokenAccess {
    /// Checks `/v2` requests against `auth`.
    pub fn new(auth: Arc<Credentials>) -> Self {
        Self { auth }
    }

    /// The scopes a request's challenge names, space-separated as the token protocol spells
    /// several: the repository with every action the request needs (`pull,push` for a push,
    /// since a pusher reads what it pushes: the reference registry asks the same), plus a
    /// mount source's `pull`; or the catalog. `None` for `/v2/` itself.
    fn scope_text(
        repository: Option<&RepositoryName>,
        actions: &[Operation],
        mount_from: Option<&RepositoryName>,
    ) -> Option<String> {
        match repository {
            Some(name) => {
                let mut list: Vec<&str> = Vec::new();
                if actions.contains(&Operation::Push) && !actions.contains(&Operation::Pull) {
                    list.push(Operation::Pull.as_str());
                }
                list.extend(actions.iter().map(|a| a.as_str()));
                let mut text = format!("repository:{}:{}", name.as_str(), list.join(","));
                if let Some(from) = mount_from.filter(|from| *from != name) {
                    text.push_str(&format!(" repository:{}:pull", from.as_str()));
                }
                Some(text)
            }
            None if actions.is_empty() => None,
            None => Some("registry:catalog:*".to_owned()),
        }
    }

    /// The `Bearer` challenge for a request, with `scope` when a resource was asked for and
    /// RFC 6750's `error` when a token was presented: `invalid_token` (unreadable, badly
    /// signed, for another audience or issuer, expired, not yet valid, revoked) or
    /// `insufficient_scope` (valid, but without the action). Clients read it to decide to
    /// fetch a new token.
    fn challenge(&self, scope: Option<&str>, error: Option<&str>) -> String {
        let settings = self.auth.settings();
        let mut value =
            format!("Bearer realm=\"{}\",service=\"{}\"", settings.realm, settings.service);
        if let Some(scope) = scope {
            value.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(error) = error {
            value.push_str(&format!(",error=\"{error}\""));
        }
        value
    }

    fn unauthorized(&self, scope: Option<&str>, error: Option<&str>) -> OciError {
        let challenge = self.challenge(scope, error);
        OciError::unauthorized(
            HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer")),
        )
    }

    /// Credentials that were refused: `error` names why in the challenge (for a bearer token;
    /// Basic credentials get none: RFC 6750's errors are about bearer tokens).
    fn refused(&self, failure: AuthFailure, scope: Option<&str>, error: Option<&str>) -> OciError {
        match failure {
            AuthFailure::Unavailable => OciError::new(ErrorCode::Unavailable),
            AuthFailure::Throttled(wait) => OciError::too_many_requests(wait.as_secs().max(1)),
            AuthFailure::Malformed | AuthFailure::Unknown | AuthFailure::Inactive(_) => {
                self.unauthorized(scope, error)
            }
        }
    }
}

/// What a principal was granted, however it authenticated.
struct Granted {
    access: Vec<ResourceScope>,
    principal: String,
    /// The vendor organization it acts in (its own, or its vendor's for a customer).
    org: Option<uuid::Uuid>,
    /// Whose entitlements filter what it sees; `None` for vendors (everything they may pull).
    subject: Option<Subject>,
    /// Whom usage is attributed to: the access token (and its customer).
    attribution: Option<Attribution>,
}

impl Granted {
    fn from_claims(claims: RegistryClaims) -> Self {
        let org = claims.wharf.org_id;
        let subject = match claims.wharf.kind {
            PrincipalKind::Vendor => None,
            PrincipalKind::Customer => Some(match (org, claims.wharf.customer_id) {
                (Some(org_id), Some(customer_id)) => Subject::Customer { org_id, customer_id },
                // A customer token without its ids sees what an anonymous caller sees.
                _ => Subject::Anonymous,
            }),
            PrincipalKind::Anonymous => Some(Subject::Anonymous),
        };
        let attribution = claims.wharf.token_id.map(|token_id| Attribution {
            token_id,
            customer_id: match claims.wharf.kind {
                PrincipalKind::Customer => claims.wharf.customer_id,
                _ => None,
            },
        });
        Self { principal: claims.sub, access: claims.access, org, subject, attribution }
    }

    fn allows(&self, repository: Option<&RepositoryName>, action: Operation) -> bool {
        let wanted = to_scope_action(action);
        self.access.iter().any(|s| match repository {
            Some(name) => {
                s.kind == ResourceKind::Repository && s.name == name.as_str() && s.grants(wanted)
            }
            None => s.kind == ResourceKind::Registry && s.name == "catalog",
        })
    }
}

fn to_scope_action(action: Operation) -> scope::Action {
    match action {
        Operation::Pull => scope::Action::Pull,
        Operation::Push => scope::Action::Push,
        Operation::Delete => scope::Action::Delete,
    }
}

#[async_trait]
impl AccessControl for TokenAccess {
    async fn authorize(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        repository: Option<&RepositoryName>,
        actions: &[Operation],
        mount_from: Option<&RepositoryName>,
    ) -> Result<Access, OciError> {
        let scope = Self::scope_text(repository, actions, mount_from);
        let presented = Presented::from_headers(headers)
            .map_err(|_| self.unauthorized(scope.as_deref(), None))?;
        let granted = match presented {
            Some(Presented::Bearer(token)) => {
                let claims = self
                    .auth
                    .verify_bearer(token.expose(), client)
                    .map_err(|f| self.refused(f, scope.as_deref(), Some("invalid_token")))?;
                Granted::from_claims(claims)
            }
            Some(Presented::Basic { user, password }) => {
                let client = client.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                let who = self
                    .auth
                    .authenticate_token(password.expose_secret(), Some(&user), client)
                    .await
                    .map_err(|f| self.refused(f, scope.as_deref(), None))?;
                let requested: Vec<ResourceScope> = parse_scopes(scope.as_deref())
                    .map_err(|_| OciError::new(ErrorCode::NameInvalid))?;
                let access = self
                    .auth
                    .grant(&who, &requested, Some(client))
                    .await
                    .map_err(|f| self.refused(f, scope.as_deref(), None))?;
                Granted {
                    access,
                    principal: who.principal.subject(),
                    org: who.principal.org_id(),
                    subject: Subject::of(&who.principal),
                    attribution: who.principal.token_id().map(|token_id| Attribution {
                        token_id,
                        customer_id: who.principal.customer_id(),
                    }),
                }
            }
            // No credentials: every resource asks for a token.
            None => return Err(self.unauthorized(scope.as_deref(), None)),
        };
        if !actions.iter().all(|a| granted.allows(repository, *a)) {
            return Err(self.unauthorized(scope.as_deref(), Some("insufficient_scope")));
        }
        let visibility = match granted.subject {
            None => Visibility::All,
            Some(subject) => self.visibility(subject, granted.org, repository, actions).await?,
        };
        Ok(Access {
            principal: granted.principal,
            organization_id: granted.org,
            visibility,
            attribution: granted.attribution,
        })
    }

    fn repository_changed(&self, repository: &RepositoryName) {
        self.auth.invalidate_locally(&format!("repository:{repository}"));
    }
}

impl TokenAccess {
    /// What a customer (or anonymous caller) sees: its entitlements in `repository`, or the
    /// repositories of its vendor it can pull something from (the catalog).
    async fn visibility(
        &self,
        subject: Subject,
        org: Option<uuid::Uuid>,
        repository: Option<&RepositoryName>,
        actions: &[Operation],
    ) -> Result<Visibility, OciError> {
        let now = time::OffsetDateTime::now_utc();
        let unavailable = |_| OciError::new(ErrorCode::Unavailable);
        let view = self.auth.entitlements();
        let filter: Arc<dyn ContentFilter> = match (repository, org) {
            (Some(name), _) => Arc::new(RepositoryFilter(
                view.set_for(subject, name.as_str(), now).await.map_err(unavailable)?,
            )),
            (None, Some(org)) if !actions.is_empty() => {
                let names = repositories::list_names(self.auth.pool(), org)
                    .await
                    .map_err(|err| OciError::unavailable(&err))?;
                Arc::new(CatalogFilter(
                    view.catalog(subject, &names, now).await.map_err(unavailable)?,
                ))
            }
            (None, _) => Arc::new(CatalogFilter(Default::default())),
        };
        Ok(Visibility::Filtered(filter))
    }
}

/// A customer's (or anonymous caller's) view of one repository, for the registry handlers.
#[derive(Debug)]
pub struct RepositoryFilter(pub Arc<EntitledSet>);

impl ContentFilter for RepositoryFilter {
    fn repository(&self, name: &RepositoryName) -> bool {
        name.as_str() == self.0.repository() && self.0.is_listed()
    }

    fn tag(&self, tag: &Tag) -> bool {
        self.0.allows_tag(tag.as_str())
    }

    fn manifest(&self, digest: &Digest) -> bool {
        self.0.allows_manifest(digest.as_str())
    }

    fn blob(&self, digest: &Digest) -> bool {
        self.0.allows_blob(digest.as_str())
    }
}

/// A customer's `_catalog`: the repositories with something it may pull.
#[derive(Debug)]
pub struct CatalogFilter(pub HashSet<String>);

impl ContentFilter for CatalogFilter {
    fn repository(&self, name: &RepositoryName) -> bool {
        self.0.contains(name.as_str())
    }

    fn tag(&self, _tag: &Tag) -> bool {
        false
    }

    fn manifest(&self, _digest: &Digest) -> bool {
        false
    }

    fn blob(&self, _digest: &Digest) -> bool {
        false
    }
}
