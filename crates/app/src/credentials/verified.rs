//! Bearer tokens whose signature and claims were already verified, so that a client reusing
//! one token for a whole pull pays for the ES256 verification once, not on every request
//! (it was about a fifth of the CPU time of a manifest GET).
//!
//! Keyed by the SHA-256 of the token (the token itself is never kept), each entry lives until
//! the token's `exp`, and the cache holds at most [`MAX_ENTRIES`]. It only skips work that
//! would give the same answer: the revocation view is still consulted on every request, and
//! an entry is never used outside `[nbf, exp)`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use sha2::{Digest, Sha256};
use wharf_auth::jwt::RegistryClaims;

/// The most tokens remembered; past that, expired entries are dropped and, if still full,
/// everything.
pub const MAX_ENTRIES: usize = 50_000;

/// Verified bearer tokens.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], Arc<RegistryClaims>>>,
}

impl VerifiedTokens {
    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The claims of `token` if it was verified before and is within its validity at
    /// `now` (a Unix timestamp).
    pub fn get(&self, token: &str, now: i64) -> Option<Arc<RegistryClaims>> {
        let key = Self::key(token);
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(&key).filter(|c| c.nbf <= now && now < c.exp).cloned()
    }

    /// Forgets every token (the keys changed).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Remembers a token that was just verified.
    pub fn insert(&self, token: &str, claims: Arc<RegistryClaims>, now: i64) {
        let key = Self::key(token);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, c| now < c.exp);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, claims);
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;
    use wharf_auth::jwt::{PrincipalClaim, PrincipalKind};

    use super::*;

    fn claims(nbf: i64, exp: i64) -> Arc<RegistryClaims> {
        Arc::new(RegistryClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "s".into(),
            exp,
            nbf,
            iat: nbf,
            jti: Uuid::new_v4(),
            access: vec![],
            wharf: PrincipalClaim {
                kind: PrincipalKind::Anonymous,
                org_id: None,
                customer_id: None,
                token_id: None,
                user_id: None,
            },
        })
    }

    #[test]
    fn remembered_only_within_validity_and_bounded() {
        let cache = VerifiedTokens::default();
        cache.insert("t1", claims(100, 200), 100);
        assert!(cache.get("t1", 100).is_some());
        assert!(cache.get("t1", 199).is_some());
        assert!(cache.get("t1", 200).is_none(), "expired");
        assert!(cache.get("t1", 99).is_none(), "not yet valid");
        assert!(cache.get("t2", 150).is_none(), "never verified");
        for i in 0..MAX_ENTRIES + 10 {
            cache.insert(&format!("x{i}"), claims(0, 50), 10);
        }
        let len = cache.entries.lock().unwrap().len();
        assert!(len <= MAX_ENTRIES, "{len}");
    }
}
