//! Credentials: is this access token good, and what does its holder get.
//!
//! Owns turning an access token into a principal (presented as a Basic password at `/token`
//! or on `/v2`, or as an API bearer token; format and checksum checked before any lookup),
//! computing what that principal holds on the requested repositories, signing short-lived
//! registry bearer tokens, verifying them on every registry request (signature and claims in
//! memory, plus the in-memory revocation view), throttling failed attempts, and recording
//! token use off the request path. The in-memory views (revoked tokens and disabled
//! customers, who may pull what) and the listener that keeps them current live here too.
//!
//! There is exactly one implementation of "is this token good": `/token`, Basic on `/v2`
//! and the JSON API all call [`Credentials::authenticate`]. It knows no HTTP: the front
//! doors turn an [`AuthFailure`] into a challenge, an OCI error or a problem response.

pub mod entitlement_view;
pub mod invalidation;
pub mod keys;
pub mod last_used;
pub mod revocations;
pub mod verified;

use std::{net::IpAddr, sync::Arc, time::Duration};

use time::OffsetDateTime;
use wharf_auth::{
    jwt::{IssuedToken, RegistryClaims, Signer},
    principal::{Principal, RepositoryOwnership, Role, repository_rights},
    scope::{Action, ActionSet, ResourceKind, ResourceScope, all_held_with},
    throttle::FailureThrottle,
    token::{self, TokenKind},
};
use wharf_db::{
    PgPool,
    tokens::{self, TokenCredentials, TokenStatus},
};

use self::{
    entitlement_view::{EntitlementView, Subject},
    invalidation::{Invalidated, Listener},
    last_used::LastUsed,
    revocations::Revocations,
};
use crate::{audit::AuditLog, batch::BatcherTask, metrics::COUNTERS};

/// Settings of the token service.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `realm` of the Bearer challenge: `<public url>/token`.
    pub realm: String,
    /// `service` of the challenge and `aud` of the bearer tokens.
    pub service: String,
    /// `iss` of the tokens.
    pub issuer: String,
    /// Lifetime of a bearer token.
    pub token_lifetime: Duration,
    /// Failed attempts allowed per address and per account in one window.
    pub failure_limit: u32,
    /// The throttling window.
    pub failure_window: Duration,
}

/// Why presented credentials were not accepted. The client is told only "unauthorized" (or
/// "too many requests"); the reason is for logs and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Not a well-formed Wharf token (rejected without a lookup).
    Malformed,
    /// No token with that hash.
    Unknown,
    /// Known but revoked, expired, or its customer disabled.
    Inactive(TokenStatus),
    /// Too many failures recently.
    Throttled(Duration),
    /// The database could not answer.
    Unavailable,
}

/// A principal that presented valid credentials.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who it is.
    pub principal: Principal,
    /// The slug of its organization (vendors) or of its vendor (customers).
    pub org_slug: String,
    /// The member a vendor token acts as.
    pub user_id: Option<uuid::Uuid>,
    /// When its access token stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
}

/// The credential checks, the bearer tokens and the views behind them, shared by every
/// request.
#[derive(Debug)]
pub struct Credentials {
    pool: PgPool,
    settings: AuthSettings,
    keys: Arc<keys::KeyRing>,
    revocations: Arc<Revocations>,
    entitlements: Arc<EntitlementView>,
    throttle: FailureThrottle,
    last_used: LastUsed,
    audit: Arc<AuditLog>,
}

impl Credentials {
    /// Loads (or creates) the signing key and starts the background tasks that keep the
    /// views current and record token use (the returned task; shut it down to flush).
    /// `others` are caches of the front doors (the registry's content cache) that the same
    /// listener keeps in step with the database.
    pub async fn start(
        pool: PgPool,
        settings: AuthSettings,
        audit: Arc<AuditLog>,
        others: Vec<Arc<dyn Invalidated>>,
    ) -> Result<(Arc<Self>, BatcherTask), StartError> {
        let keys = Arc::new(
            keys::KeyRing::load(
                &pool,
                &settings.issuer,
                &settings.service,
                settings.token_lifetime,
            )
            .await?,
        );
        // Bearer tokens live at most this long; a digest stays pullable this long after its
        // entitled tag moved, so pulls that resolved the tag before the move can finish.
        let bearer_lifetime = settings.token_lifetime + wharf_auth::jwt::MAX_LEEWAY;
        let revocations = Revocations::new(bearer_lifetime);
        let retag_grace = time::Duration::try_from(bearer_lifetime)
            .map_err(|_| StartError::Settings("the token lifetime is too long"))?;
        let entitlements = EntitlementView::new(pool.clone(), retag_grace);
        let listener =
            Listener::new(revocations.clone(), entitlements.clone(), keys.clone(), others);
        tokio::spawn(listener.maintain(pool.clone()));
        let (last_used, last_used_task) = LastUsed::start(pool.clone());
        let throttle = FailureThrottle::new(settings.failure_limit, settings.failure_window);
        let credentials = Arc::new(Self {
            pool,
            settings,
            keys,
            revocations,
            entitlements,
            throttle,
            last_used,
            audit,
        });
        Ok((credentials, last_used_task))
    }

    /// The settings this service runs with.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Checks an access token presented as a password (`/token`, Basic on `/v2`). `account`
    /// is the user name the client sent (any value is accepted; it is only a throttling key).
    pub async fn authenticate_token(
        &self,
        presented: &str,
        account: Option<&str>,
        client: IpAddr,
    ) -> Result<Authenticated, AuthFailure> {
        self.authenticate(presented, account, client, None).await
    }

    /// Checks a token presented to the vendor JSON API: exactly the rules of
    /// [`Credentials::authenticate_token`] (throttling, format and checksum before the
    /// lookup, status, last use), and only a vendor API token is accepted: any other kind
    /// fails as malformed, before the lookup.
    pub async fn authenticate_vendor_token(
        &self,
        presented: &str,
        client: IpAddr,
    ) -> Result<Authenticated, AuthFailure> {
        self.authenticate(presented, None, client, Some(TokenKind::VendorApi)).await
    }

    /// The one check behind both: throttle, format and checksum, one indexed lookup,
    /// status, last use.
    async fn authenticate(
        &self,
        presented: &str,
        account: Option<&str>,
        client: IpAddr,
        only: Option<TokenKind>,
    ) -> Result<Authenticated, AuthFailure> {
        if let Some(wait) = self.throttle.retry_after(client, account) {
            return Err(AuthFailure::Throttled(wait));
        }
        let result = self.lookup(presented, only, client).await;
        if let Err(failure) = result
            && failure != AuthFailure::Unavailable
        {
            self.throttle.record_failure(client, account);
            COUNTERS.auth_failures.inc();
            tracing::debug!(?failure, %client, "registry authentication failed");
        }
        result
    }

    async fn lookup(
        &self,
        presented: &str,
        only: Option<TokenKind>,
        client: IpAddr,
    ) -> Result<Authenticated, AuthFailure> {
        let parsed = token::parse(presented).map_err(|_| AuthFailure::Malformed)?;
        if only.is_some_and(|kind| kind != parsed.kind) {
            return Err(AuthFailure::Malformed);
        }
        let found = tokens::find_by_hash(&self.pool, parsed.hash.as_bytes())
            .await
            .map_err(|err| {
                tracing::error!("token lookup failed: {err}");
                AuthFailure::Unavailable
            })?
            .ok_or(AuthFailure::Unknown)?;
        let now = OffsetDateTime::now_utc();
        match found.status(now) {
            TokenStatus::Active => {}
            inactive => {
                if inactive == TokenStatus::Revoked {
                    self.audit.revoked_token_used(
                        found.id,
                        Some(found.organization_id),
                        Some(client),
                    );
                }
                return Err(AuthFailure::Inactive(inactive));
            }
        }
        let principal = principal_of(&found, parsed.kind).ok_or(AuthFailure::Unknown)?;
        self.last_used.record(found.id);
        Ok(Authenticated {
            principal,
            org_slug: found.organization_slug,
            user_id: found.user_id,
            expires_at: found.expires_at,
        })
    }

    /// Applies an invalidation (`token:<id>`, `customer:<id>`, `entitlements:<customer>`,
    /// `repository:<name>`) to this instance's views at once, as the notification will a
    /// moment later: a change made here is in force before its request is answered.
    pub fn invalidate_locally(&self, payload: &str) {
        self.revocations.apply(payload, OffsetDateTime::now_utc());
        self.entitlements.apply(payload);
    }

    /// Whether the in-memory views are current, so bearer tokens can be checked (right after
    /// start, until the invalidation listener has loaded them, they are refused as
    /// unavailable).
    pub fn views_synced(&self) -> bool {
        self.revocations.is_synced()
    }

    /// The database pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The entitlement view: what customers (and anonymous callers) may see.
    pub fn entitlements(&self) -> &Arc<EntitlementView> {
        &self.entitlements
    }

    /// What `who` holds on each requested resource: every held action on each requested
    /// repository (see docs/registry-auth.md for why not only the requested ones), nothing
    /// on resources it holds nothing on. A customer holds pull where one of its licenses
    /// grants it; anyone holds pull on a public repository.
    ///
    /// A customer asking to pull a repository no license of theirs covers is recorded in the
    /// audit log as `pull.denied` (at most once a minute per token, shared with the
    /// registry's own denials), with `client` as its address.
    pub async fn grant(
        &self,
        who: &Authenticated,
        requested: &[ResourceScope],
        client: Option<IpAddr>,
    ) -> Result<Vec<ResourceScope>, AuthFailure> {
        let now = OffsetDateTime::now_utc();
        let subject = Subject::of(&who.principal);
        // The asynchronous part first (cached entitlement answers), then the pure rules.
        let mut pullable = std::collections::HashMap::new();
        for scope in requested.iter().filter(|s| s.kind == ResourceKind::Repository) {
            let Some(name) = scope.repository_name() else { continue };
            if pullable.contains_key(name.as_str()) {
                continue;
            }
            let may = match subject {
                Some(subject) => self.entitlements.may_pull(subject, name.as_str(), now).await,
                // Vendors hold their own organization by role; elsewhere, public pull only.
                None if name.org_slug() == who.org_slug => Ok(false),
                None => self.entitlements.is_public(name.as_str(), now).await,
            };
            let may = may.map_err(|_| AuthFailure::Unavailable)?;
            if !may
                && scope.actions.contains(&Action::Pull)
                && let Principal::CustomerToken { org_id, token_id, .. } = who.principal
            {
                self.audit.pull_denied(token_id, org_id, name.as_str(), client);
            }
            pullable.insert(name.as_str().to_owned(), may);
        }
        Ok(all_held_with(requested, |scope| self.held(who, scope, &pullable)))
    }

    fn held(
        &self,
        who: &Authenticated,
        scope: &ResourceScope,
        pullable: &std::collections::HashMap<String, bool>,
    ) -> ActionSet {
        match scope.kind {
            // The catalog is filtered per caller, so anyone authenticated may ask for it.
            ResourceKind::Registry => match who.principal {
                Principal::Anonymous => ActionSet::new(),
                _ => ActionSet::from([Action::All]),
            },
            ResourceKind::Repository => {
                let Some(name) = scope.repository_name() else { return ActionSet::new() };
                let may_pull = pullable.get(name.as_str()).copied().unwrap_or(false);
                let Some(org_id) = who.principal.org_id() else {
                    // Anonymous: pull on public repositories only.
                    return if may_pull {
                        ActionSet::from([Action::Pull])
                    } else {
                        ActionSet::new()
                    };
                };
                // Another organization's namespace: the facts say "not yours"; existing and
                // missing names answer alike.
                let owner =
                    if name.org_slug() == who.org_slug { org_id } else { uuid::Uuid::nil() };
                // For customers `may_pull` is the entitlement decision (public included); for
                // vendors it says whether another organization's repository is public.
                let public = who.principal.is_vendor() && may_pull;
                let facts = RepositoryOwnership { org_id: owner, public };
                repository_rights(&who.principal, facts, || may_pull)
            }
        }
    }

    /// Signs a bearer token carrying `access` for `who`. It expires after the configured
    /// lifetime, or when the access token does, whichever comes first.
    pub fn issue(
        &self,
        who: &Authenticated,
        subject: &str,
        access: Vec<ResourceScope>,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, wharf_auth::jwt::JwtError> {
        let mut lifetime = self.settings.token_lifetime;
        if let Some(expires_at) = who.expires_at {
            let left = (expires_at - now).max(time::Duration::ZERO);
            lifetime = lifetime.min(Duration::try_from(left).unwrap_or(Duration::ZERO));
        }
        let signer = Signer::new(
            self.keys.current().signing.clone(),
            &self.settings.issuer,
            &self.settings.service,
            lifetime.max(Duration::from_secs(1)),
        );
        signer.sign(subject, &who.principal, access, now)
    }

    /// Verifies a bearer token: signature, issuer, audience, time, and the revocation view
    /// (a revoked one presented from `client` goes to the audit log). A token verified before
    /// is not verified again until its `exp` (see [`verified`]).
    pub fn verify_bearer(
        &self,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<RegistryClaims, AuthFailure> {
        let now = OffsetDateTime::now_utc();
        let claims = match self.keys.verified.get(token, now.unix_timestamp()) {
            Some(claims) => RegistryClaims::clone(&claims),
            None => {
                let keys = self.keys.current();
                let claims =
                    keys.verifier.verify(token, now).map_err(|_| AuthFailure::Malformed)?;
                // Not remembered if the keys changed meanwhile (the cache was just emptied).
                if Arc::ptr_eq(&keys, &self.keys.current()) {
                    let claims = Arc::new(claims.clone());
                    self.keys.verified.insert(token, claims, now.unix_timestamp());
                }
                claims
            }
        };
        self.revocations.check(&claims).map_err(|refusal| match refusal {
            revocations::Refusal::Revoked => {
                if let Some(id) = claims.wharf.token_id {
                    self.audit.revoked_token_used(id, claims.wharf.org_id, client);
                }
                AuthFailure::Inactive(TokenStatus::Revoked)
            }
            revocations::Refusal::Unavailable => AuthFailure::Unavailable,
        })?;
        if let Some(id) = claims.wharf.token_id {
            self.last_used.record(id);
        }
        Ok(claims)
    }
}

/// The principal behind a looked-up token.
fn principal_of(found: &TokenCredentials, presented_kind: TokenKind) -> Option<Principal> {
    match (found.kind, presented_kind) {
        (tokens::TokenOwnerKind::Vendor, TokenKind::VendorApi) => {
            let role: Role = found.member_role.as_deref()?.parse().ok()?;
            Some(Principal::VendorApiToken {
                token_id: found.id,
                org_id: found.organization_id,
                role,
                read_only: found.read_only,
            })
        }
        (tokens::TokenOwnerKind::Customer, TokenKind::CustomerAccess) => {
            Some(Principal::CustomerToken {
                token_id: found.id,
                org_id: found.organization_id,
                customer_id: found.customer_id?,
            })
        }
        _ => None,
    }
}

/// Why the credential service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The signing key could not be loaded or stored.
    #[error("registry signing key: {0}")]
    Keys(#[from] keys::KeyError),
    /// The key material is unusable.
    #[error("registry signing key: {0}")]
    Jwt(#[from] wharf_auth::jwt::JwtError),
    /// A setting is out of range.
    #[error("{0}")]
    Settings(&'static str),
}
