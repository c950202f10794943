//! Issuing token pairs and the opaque secrets behind refresh, verification
//! and reset tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Access token lifetime.
pub const ACCESS_TTL_SECONDS: i64 = 15 * 60;
/// Absolute lifetime of a refresh token.
pub const REFRESH_TTL_MICROS: i64 = 30 * 24 * 3600 * 1_000_000;
/// Lifetime of an e-mail verification token.
pub const VERIFY_TTL_MICROS: i64 = 48 * 3600 * 1_000_000;

/// 256 random bits, URL-safe: the secret handed to the client.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored instead of a secret: a leaked table yields no usable
/// token. A fast hash suffices because the secrets have 256 bits of entropy.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
/// Lifetime of a password reset token: long enough to read the e-mail,
/// short enough that an old mailbox holds no live reset link.
pub const RESET_TTL_MICROS: i64 = 30 * 60 * 1_000_000;
/// How long after issue an access token can still pass a verifier: its
/// lifetime plus the verifiers' clock leeway (30 s), rounded up.
pub const ACCESS_MAX_REACH_MICROS: i64 = (ACCESS_TTL_SECONDS + 60) * 1_000_000;
