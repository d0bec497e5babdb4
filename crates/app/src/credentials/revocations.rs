//! What every instance must know at once: access tokens revoked and customers disabled.
//!
//! Owns an in-memory set of invalidated token and customer ids, each with the time it was
//! invalidated, kept current across instances by Postgres LISTEN/NOTIFY (see
//! [`super::invalidation`]; triggers in the database send `token:<uuid>` and
//! `customer:<uuid>`), plus a full resynchronisation at start, after any lost connection, and
//! every [`super::invalidation::RESYNC_EVERY`]. A registry bearer token issued at or before an invalidation of its token
//! or its customer is refused.
//!
//! Entries only need to live as long as a bearer token can: a token minted after the
//! invalidation was minted by the token service, which reads the database. So the set holds
//! the invalidations of the last token lifetime (plus leeway) and stays small.
//!
//! Fail closed: until the first synchronisation, and whenever the notification connection
//! is lost and not yet resynchronised, [`Revocations::check`] answers `Unavailable`.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use time::OffsetDateTime;
use uuid::Uuid;
use wharf_auth::jwt::RegistryClaims;
use wharf_db::PgPool;

/// How long after an invalidation newly issued bearer tokens are still refused.
const MARGIN: time::Duration = time::Duration::seconds(5);

/// Why a bearer token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its token or customer was invalidated after it was issued.
    Revoked,
    /// The revocation state is not known to be current (database unreachable).
    Unavailable,
}

#[derive(Debug, Default)]
struct State {
    synced: bool,
    tokens: HashMap<Uuid, OffsetDateTime>,
    customers: HashMap<Uuid, OffsetDateTime>,
}

/// The shared, in-memory revocation view.
#[derive(Debug)]
pub struct Revocations {
    state: RwLock<State>,
    /// How long entries are kept: the bearer token lifetime plus leeway.
    horizon: Duration,
}

impl Revocations {
    /// An empty, not yet synchronised view (it refuses everything as `Unavailable`).
    pub fn new(horizon: Duration) -> Arc<Self> {
        Arc::new(Self { state: RwLock::new(State::default()), horizon })
    }

    /// Whether a verified bearer token may be used.
    pub fn check(&self, claims: &RegistryClaims) -> Result<(), Refusal> {
        let state = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !state.synced {
            return Err(Refusal::Unavailable);
        }
        let issued =
            OffsetDateTime::from_unix_timestamp(claims.iat).map_err(|_| Refusal::Revoked)?;
        let invalidated_after_issue = |map: &HashMap<Uuid, OffsetDateTime>, id: Option<Uuid>| {
            id.and_then(|id| map.get(&id)).is_some_and(|at| *at >= issued)
        };
        if invalidated_after_issue(&state.tokens, claims.wharf.token_id)
            || invalidated_after_issue(&state.customers, claims.wharf.customer_id)
        {
            return Err(Refusal::Revoked);
        }
        Ok(())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the view is current (notifications arrive and the last resynchronisation
    /// succeeded); while it is not, bearer tokens are refused with "unavailable".
    pub fn is_synced(&self) -> bool {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner).synced
    }

    pub(super) fn mark_unsynced(&self) {
        self.write().synced = false;
    }

    /// Applies one notification payload (`token:<uuid>` or `customer:<uuid>`).
    pub(super) fn apply(&self, payload: &str, now: OffsetDateTime) {
        let Some((kind, id)) = payload.split_once(':') else { return };
        let Ok(id) = id.parse::<Uuid>() else { return };
        // Bearer tokens issued up to MARGIN after the notification arrived are refused too:
        // the token service may have read the token as active just before the revocation
        // committed and signed just after this instance heard of it.
        let now = now + MARGIN;
        let mut state = self.write();
        match kind {
            "token" => state.tokens.insert(id, now),
            "customer" => state.customers.insert(id, now),
            _ => None,
        };
    }

    /// Reloads everything from the database and marks the view current.
    pub(super) async fn resync(&self, pool: &PgPool) -> Result<(), wharf_db::DbError> {
        let horizon = time::Duration::try_from(self.horizon).unwrap_or(time::Duration::HOUR);
        let snapshot = wharf_db::invalidation::snapshot(pool, horizon).await?;
        let mut state = self.write();
        state.tokens = snapshot.tokens.into_iter().collect();
        state.customers = snapshot.customers.into_iter().collect();
        state.synced = true;
        Ok(())
    }

    /// Drops entries older than the horizon.
    pub(super) fn prune(&self, now: OffsetDateTime) {
        let horizon = time::Duration::try_from(self.horizon).unwrap_or(time::Duration::HOUR);
        let cutoff = now - horizon;
        let mut state = self.write();
        state.tokens.retain(|_, at| *at >= cutoff);
        state.customers.retain(|_, at| *at >= cutoff);
    }
}

#[cfg(test)]
mod tests {
    use wharf_auth::jwt::{PrincipalClaim, PrincipalKind};

    use super::*;
    use crate::credentials::{entitlement_view::EntitlementView, invalidation::Listener};

    fn claims(token: Uuid, customer: Option<Uuid>, iat: OffsetDateTime) -> RegistryClaims {
        RegistryClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "s".into(),
            exp: iat.unix_timestamp() + 300,
            nbf: iat.unix_timestamp(),
            iat: iat.unix_timestamp(),
            jti: Uuid::new_v4(),
            access: vec![],
            wharf: PrincipalClaim {
                kind: PrincipalKind::Customer,
                org_id: Some(Uuid::new_v4()),
                customer_id: customer,
                token_id: Some(token),
                user_id: None,
            },
        }
    }

    fn synced() -> Arc<Revocations> {
        let r = Revocations::new(Duration::from_secs(330));
        r.write().synced = true;
        r
    }

    #[test]
    fn unsynchronised_view_fails_closed() {
        let r = Revocations::new(Duration::from_secs(330));
        let c = claims(Uuid::new_v4(), None, OffsetDateTime::now_utc());
        assert_eq!(r.check(&c), Err(Refusal::Unavailable));
        r.write().synced = true;
        assert_eq!(r.check(&c), Ok(()));
        r.mark_unsynced();
        assert_eq!(r.check(&c), Err(Refusal::Unavailable));
    }

    #[test]
    fn tokens_issued_before_an_invalidation_are_refused_and_later_ones_are_not() {
        let r = synced();
        let token = Uuid::new_v4();
        let customer = Uuid::new_v4();
        let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let before = claims(token, Some(customer), t0 - time::Duration::seconds(10));
        r.apply(&format!("token:{token}"), t0);
        assert_eq!(r.check(&before), Err(Refusal::Revoked));
        assert_eq!(
            r.check(&claims(token, None, t0 + time::Duration::seconds(4))),
            Err(Refusal::Revoked),
            "within the margin"
        );
        assert_eq!(r.check(&claims(Uuid::new_v4(), None, t0)), Ok(()), "other tokens unaffected");

        let other_token = Uuid::new_v4();
        r.apply(&format!("customer:{customer}"), t0);
        assert_eq!(r.check(&claims(other_token, Some(customer), t0)), Err(Refusal::Revoked));
        let after = t0 + time::Duration::seconds(6);
        assert_eq!(
            r.check(&claims(other_token, Some(customer), after)),
            Ok(()),
            "re-enabled later"
        );
    }

    #[test]
    fn garbage_payloads_are_ignored_and_old_entries_pruned() {
        let r = synced();
        for junk in ["", "token", "token:nope", "user:00000000-0000-0000-0000-000000000000"] {
            r.apply(junk, OffsetDateTime::now_utc());
        }
        assert!(r.write().tokens.is_empty());
        let id = Uuid::new_v4();
        r.apply(&format!("token:{id}"), OffsetDateTime::now_utc() - time::Duration::hours(1));
        r.prune(OffsetDateTime::now_utc());
        assert!(r.write().tokens.is_empty());
    }

    async fn spawn_listener(pool: &PgPool, view: &Arc<Revocations>) {
        let entitlements = EntitlementView::new(pool.clone(), time::Duration::minutes(5));
        let lifetime = Duration::from_secs(300);
        let keys = super::super::keys::KeyRing::load(pool, "issuer", "audience", lifetime);
        let keys = Arc::new(keys.await.unwrap());
        let listener = Listener::new(view.clone(), entitlements, keys, Vec::new());
        tokio::spawn(listener.maintain(pool.clone()));
    }

    async fn eventually(
        view: &Revocations,
        claims: &RegistryClaims,
        want: Result<(), Refusal>,
    ) -> std::time::Duration {
        let start = std::time::Instant::now();
        while view.check(claims) != want {
            assert!(start.elapsed() < Duration::from_secs(5), "never got {want:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        start.elapsed()
    }

    #[sqlx::test(migrator = "wharf_db::MIGRATOR")]
    async fn revocations_reach_every_instance_within_a_second(pool: PgPool) {
        use wharf_db::{customers, tokens};
        let org = wharf_db::testing::org(&pool, "acme").await;
        let customer = customers::create(&pool, org.id, "Globex").await.unwrap();
        let token = tokens::insert(
            &pool,
            &tokens::NewToken {
                organization_id: org.id,
                owner: tokens::TokenOwner::Customer { customer_id: customer.id },
                created_by: None,
                name: "ci",
                hash: &[7; 32],
                display_prefix: "wharf_cst_x",
                expires_at: None,
            },
        )
        .await
        .unwrap();

        // Two instances, each with its own view and listener.
        let views = [
            Revocations::new(Duration::from_secs(330)),
            Revocations::new(Duration::from_secs(330)),
        ];
        for view in &views {
            spawn_listener(&pool, view).await;
        }
        let issued = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let bearer = claims(token.id, Some(customer.id), issued);
        for view in &views {
            eventually(view, &bearer, Ok(())).await;
        }

        assert!(
            tokens::revoke(&pool, org.id, tokens::RevokeScope::AnyCustomer, token.id)
                .await
                .unwrap()
                .is_some()
        );
        for view in &views {
            let took = eventually(view, &bearer, Err(Refusal::Revoked)).await;
            assert!(took < Duration::from_secs(1), "revocation took {took:?}");
        }

        let other = claims(Uuid::new_v4(), Some(customer.id), issued);
        assert_eq!(views[0].check(&other), Ok(()));
        assert!(
            customers::update(&pool, org.id, customer.id, None, Some(true))
                .await
                .unwrap()
                .is_some()
        );
        for view in &views {
            let took = eventually(view, &other, Err(Refusal::Revoked)).await;
            assert!(took < Duration::from_secs(1), "disabling took {took:?}");
        }

        // A view that starts later learns both from the database, not from notifications.
        let late = Revocations::new(Duration::from_secs(330));
        spawn_listener(&pool, &late).await;
        eventually(&late, &bearer, Err(Refusal::Revoked)).await;
        assert_eq!(late.check(&other), Err(Refusal::Revoked));
    }
}
