//! Access tokens already verified, remembered until they expire.
//!
//! A client sends the same access token with every request for its
//! lifetime, and checking its Ed25519 signature again each time was the
//! largest single cost of a cheap read. [`crate::auth::TokenVerifier`]
//! verifies a token once and keeps its claims here, keyed by the SHA-256
//! digest of the whole token, so only the very same bytes find them: a
//! token altered in any way is a miss and is verified in full. An entry is
//! served only before the token's `exp`, and the verifier still checks,
//! on every hit, that the signing key is one it currently trusts, so a key
//! withdrawn from the user service stops its tokens as before.
//!
//! The map is bounded: when it is full, expired entries are dropped, and if
//! it is still full it starts afresh (the next requests verify again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

/// How many verified tokens a process remembers.
pub const CAPACITY: usize = 10_000;

/// One remembered token: what verifying it established, and its `exp`.
#[derive(Debug)]
struct Entry<T> {
    exp: i64,
    verified: Arc<T>,
}

/// The verified tokens of one process, each with what verifying it
/// established (`T`: the claims and the signing key, for the verifier).
#[derive(Debug)]
pub struct VerifiedTokens<T> {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Entry<T>>>,
}

impl<T> Default for VerifiedTokens<T> {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl<T> VerifiedTokens<T> {
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
        }
    }

    /// What verifying `token` established, if it was verified before and
    /// has not expired at `now` (Unix seconds).
    pub fn get(&self, token: &str, now: i64) -> Option<Arc<T>> {
        let key = digest(token);
        let mut entries = self.lock();
        let found = entries.get(&key)?;
        if now < found.exp {
            return Some(Arc::clone(&found.verified));
        }
        entries.remove(&key);
        None
    }

    /// Remembers that `token`, which expires at `exp`, verified as
    /// `verified`.
    pub fn insert(&self, token: &str, verified: Arc<T>, exp: i64, now: i64) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.retain(|_, e| now < e.exp);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(digest(token), Entry { exp, verified });
    }

    /// Forgets `token` (its key is no longer trusted).
    pub fn forget(&self, token: &str) {
        self.lock().remove(&digest(token));
    }

    /// How many tokens are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Entry<T>>> {
        // A panic while holding the lock leaves a map that is still
        // consistent (every operation is a single map call).
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(sub: &str) -> Arc<String> {
        Arc::new(sub.to_owned())
    }

    #[test]
    fn a_token_is_found_until_it_expires_and_not_after() {
        let cache = VerifiedTokens::default();
        cache.insert("a.b.c", verified("u1"), 100, 10);
        assert_eq!(cache.get("a.b.c", 99).unwrap().as_str(), "u1");
        assert!(cache.get("a.b.c", 100).is_none(), "expired at exp");
        assert!(cache.is_empty(), "an expired entry is dropped when met");
    }

    #[test]
    fn only_the_very_same_token_is_found() {
        let cache = VerifiedTokens::default();
        cache.insert("a.b.c", verified("u1"), 100, 10);
        for other in ["a.b.C", "a.b.c ", "a.b", ""] {
            assert!(cache.get(other, 10).is_none(), "{other:?}");
        }
    }

    #[test]
    fn a_forgotten_token_is_not_found() {
        let cache = VerifiedTokens::default();
        cache.insert("t", verified("u1"), 100, 10);
        cache.forget("t");
        assert!(cache.get("t", 10).is_none());
    }

    #[test]
    fn a_full_cache_drops_the_expired_tokens_and_keeps_the_live_ones() {
        let cache = VerifiedTokens::with_capacity(3);
        cache.insert("live", verified("u"), 500, 10);
        cache.insert("old1", verified("u"), 50, 10);
        cache.insert("old2", verified("u"), 50, 10);
        assert!(!cache.is_empty());
        cache.insert("new", verified("u"), 500, 60);
        assert_eq!(cache.len(), 2);
        assert!(cache.get("live", 60).is_some(), "a live token stays");
        assert!(cache.get("new", 60).is_some());
    }

    #[test]
    fn the_cache_never_grows_past_its_capacity() {
        let cache = VerifiedTokens::with_capacity(3);
        for i in 0..10 {
            cache.insert(&format!("live{i}"), verified("u"), 500, 60);
            assert!(cache.len() <= 3, "{} entries", cache.len());
        }
        assert!(cache.get("live9", 60).is_some(), "the newest is kept");
    }
}
