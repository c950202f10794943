//! The key-encryption key (KEK) that keeps the token signing keys
//! encrypted at rest: whoever reads the user database (a backup, a
//! snapshot, a read replica) must not get the key that signs every access
//! token.
//!
//! A sealed key is stored as `enc:v1:` and the base64 of a random 96-bit
//! nonce followed by the AES-256-GCM ciphertext and tag of the PEM, with
//! the key's `kid` as associated data, so a sealed key cannot pass for
//! another row's. A PEM starts with `-----`, so the two never mix up.

use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// What a sealed private key starts with.
const SEALED: &str = "enc:v1:";

/// The KEK. Never printed.
#[derive(Clone)]
pub struct KeyEncryptionKey(Arc<LessSafeKey>);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(..)")
    }
}

impl KeyEncryptionKey {
    /// A KEK from 32 bytes in standard base64, as `openssl rand -base64 32`
    /// prints them; surrounding white space (a file's newline) is ignored.
    ///
    /// # Errors
    /// When `raw` is not base64 of exactly 32 bytes. The message never
    /// contains the value.
    pub fn from_base64(raw: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(raw.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .context(
                "the key-encryption key must be 32 bytes in base64 (openssl rand -base64 32)",
            )?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| anyhow::anyhow!("the key-encryption key is unusable"))?;
        Ok(Self(Arc::new(LessSafeKey::new(key))))
    }

    /// `pem` sealed for the row of `kid`.
    ///
    /// # Errors
    /// When encryption fails (it does not for inputs this small).
    pub fn seal(&self, kid: &str, pem: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut data = pem.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut data,
            )
            .map_err(|_| anyhow::anyhow!("cannot encrypt signing key {kid}"))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Ok(format!("{SEALED}{}", STANDARD.encode(sealed)))
    }

    /// The PEM in `stored`, sealed for the row of `kid`.
    ///
    /// # Errors
    /// When `stored` was sealed with another KEK (or for another row), or
    /// is damaged.
    pub fn open(&self, kid: &str, stored: &str) -> anyhow::Result<String> {
        let wrong = || {
            anyhow::anyhow!(
                "cannot decrypt signing key {kid}: the key-encryption key \
                 (TODO_KEY_ENCRYPTION_KEY or TODO_KEY_ENCRYPTION_KEY_FILE) is not the one it was encrypted with"
            )
        };
        let raw = stored
            .strip_prefix(SEALED)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(wrong)?;
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut data = sealed.to_vec();
        let pem = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut data)
            .map_err(|_| wrong())?;
        String::from_utf8(pem.to_vec()).map_err(|_| wrong())
    }
}

/// Whether a stored private key is sealed, not a plain PEM.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED)
}

/// Refuses to store signing keys in plain text in a production database:
/// without a key-encryption key, anyone who reads the user schema (a
/// backup, a snapshot) could sign access tokens for any user. The embedded
/// SQLite mode, for development, keeps plain text with a loud warning.
///
/// # Errors
/// MySQL/MariaDB without a KEK, unless plain text is explicitly allowed.
pub fn check_key_encryption(config: &crate::Config) -> anyhow::Result<()> {
    if config.key_encryption_key.is_some() {
        return Ok(());
    }
    match todo_store::db::Backend::of_url(&config.db.url)? {
        todo_store::db::Backend::Sqlite => {
            tracing::warn!(
                "no TODO_KEY_ENCRYPTION_KEY: the token signing key is stored in plain text in the \
                 SQLite database; fine for development, never for production"
            );
        }
        todo_store::db::Backend::MySql if config.allow_plaintext_keys => {
            tracing::warn!(
                "no TODO_KEY_ENCRYPTION_KEY and TODO_USER_ALLOW_PLAINTEXT_KEYS=true: the token \
                 signing key is stored in plain text in the user database"
            );
        }
        todo_store::db::Backend::MySql => anyhow::bail!(
            "refusing to store the token signing key in plain text in MySQL: set \
             TODO_KEY_ENCRYPTION_KEY or TODO_KEY_ENCRYPTION_KEY_FILE (32 bytes, base64: openssl \
             rand -base64 32), or TODO_USER_ALLOW_PLAINTEXT_KEYS=true to accept the risk"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::from_base64(&STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn sealed_keys_open_only_with_their_kek_and_kid() {
        let pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
        let sealed = kek(1).seal("kid1", pem).unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("PRIVATE KEY"));
        assert_ne!(sealed, kek(1).seal("kid1", pem).unwrap(), "fresh nonce");
        assert_eq!(kek(1).open("kid1", &sealed).unwrap(), pem);
        let err = kek(2).open("kid1", &sealed).unwrap_err().to_string();
        assert!(
            err.contains("is not the one it was encrypted with"),
            "{err}"
        );
        assert!(kek(1).open("kid2", &sealed).is_err());
        assert!(kek(1).open("kid1", "enc:v1:AAAA").is_err());
    }

    #[test]
    fn a_kek_is_32_bytes_of_base64() {
        assert!(KeyEncryptionKey::from_base64(&format!(" {}\n", STANDARD.encode([7; 32]))).is_ok());
        for bad in ["", "not base64!", &STANDARD.encode([7; 16])] {
            let err = KeyEncryptionKey::from_base64(bad).unwrap_err().to_string();
            assert!(err.contains("32 bytes in base64"), "{err}");
        }
    }
}
