//! CSRF tokens: every state-changing form carries a token that only this
//! site can have put there.
//!
//! A random id lives in its own encrypted cookie (so a script on a sibling
//! domain cannot plant a known one); the form carries the HMAC of that id
//! under a key derived from the service credential, so every replica
//! accepts the forms of the others. A POST whose token does not match its
//! cookie is refused before the handler runs, so nothing is written.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cookie that holds the id.
pub const COOKIE: &str = "csrf";

/// The form field that carries the token.
pub const FIELD: &str = "csrf";

/// A fresh random id for a browser that has none.
pub fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The token the forms of the browser holding `id` carry.
pub fn token(key: &[u8; 32], id: &str) -> String {
    mac(key, id)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `presented` is the token for `id` (compared in constant time).
pub fn verify(key: &[u8; 32], id: &str, presented: &str) -> bool {
    let Ok(presented) = hex::decode(presented) else {
        return false;
    };
    mac(key, id).is_some_and(|m| m.verify_slice(&presented).is_ok())
}

/// HMAC takes keys of any length, so this is never `None` in practice.
fn mac(key: &[u8; 32], id: &str) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(id.as_bytes());
    Some(mac)
}
