//! The Ed25519 keys that sign access tokens, and the JWKS that publishes
//! their public halves.
//!
//! Keys live in the `signing_keys` table. With `TODO_JWT_PRIVATE_KEY_FILE`
//! the configured key signs (and is recorded so it is published); without
//! it, the newest stored key signs, generated on first start. Every stored
//! key is published, so tokens signed before a rotation stay valid until
//! they expire; deleting a key's row retires its tokens.
//!
//! With a key-encryption key (see `kek`), private keys are stored sealed;
//! keys stored in plain text by a release without one are sealed at
//! start-up, and every sealed key must open, so a wrong KEK stops the
//! service at once rather than at the next rotation.

use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::{Digest, Sha256};
use sqlx::Row;
use todo_common::auth::{ACCESS_TOKEN_TYPE, AccessClaims, JwksSource};
use todo_common::clock::now_micros;
use todo_proto::todo::user::v1::{Jwk, Jwks};
use todo_store::db::{Db, is_unique_violation};

use crate::kek::{KeyEncryptionKey, is_sealed};

/// The signing key and the published key set.
#[derive(Clone)]
pub struct KeyRing {
    kid: Arc<str>,
    signing: Arc<EncodingKey>,
    jwks: Arc<Jwks>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

struct StoredKey {
    kid: String,
    private_pem: String,
    public_x: String,
}

fn describe(key: &SigningKey) -> anyhow::Result<StoredKey> {
    let public = key.verifying_key().to_bytes();
    let digest = Sha256::digest(public);
    Ok(StoredKey {
        kid: URL_SAFE_NO_PAD.encode(&digest[..12]),
        private_pem: key
            .to_pkcs8_pem(LineEnding::LF)
            .context("encode signing key")?
            .to_string(),
        public_x: URL_SAFE_NO_PAD.encode(public),
    })
}

impl KeyRing {
    /// Loads the key ring, recording the configured key or generating the
    /// first one; with `kek`, seals the keys stored in plain text and
    /// checks that every sealed key opens.
    ///
    /// # Errors
    /// When the configured key is not a PKCS#8 Ed25519 PEM, a stored key is
    /// sealed but there is no KEK or it is the wrong one, or the database
    /// fails.
    pub async fn load(
        db: &Db,
        configured_pem: Option<&str>,
        kek: Option<&KeyEncryptionKey>,
    ) -> anyhow::Result<Self> {
        if let Some(kek) = kek {
            seal_and_check(db, kek).await?;
        }
        let signing = match configured_pem {
            Some(pem) => {
                let key = SigningKey::from_pkcs8_pem(pem)
                    .context("TODO_JWT_PRIVATE_KEY_FILE is not a PKCS#8 Ed25519 PEM key")?;
                let plain = describe(&key)?;
                insert_ignoring_duplicate(db, &plain, kek).await?;
                plain
            }
            None => {
                let stored = match newest(db).await? {
                    Some(stored) => stored,
                    None => {
                        let plain = describe(&SigningKey::generate(&mut rand::rngs::OsRng))?;
                        insert_ignoring_duplicate(db, &plain, kek).await?;
                        // Another replica may have generated one at the same
                        // time; everyone signs with the newest.
                        newest(db).await?.context("signing key vanished")?
                    }
                };
                StoredKey {
                    private_pem: unseal(&stored, kek)?,
                    ..stored
                }
            }
        };
        let encoding =
            EncodingKey::from_ed_pem(signing.private_pem.as_bytes()).context("signing key")?;
        let rows = sqlx::query("SELECT kid, public_x FROM signing_keys ORDER BY create_time")
            .fetch_all(&db.pool)
            .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            keys.push(Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: row.try_get("public_x")?,
                kid: row.try_get("kid")?,
                alg: "EdDSA".into(),
                r#use: "sig".into(),
            });
        }
        Ok(Self {
            kid: signing.kid.into(),
            signing: Arc::new(encoding),
            jwks: Arc::new(Jwks { keys }),
        })
    }

    pub fn jwks(&self) -> Jwks {
        (*self.jwks).clone()
    }

    /// A signed access token carrying `claims`.
    ///
    /// # Errors
    /// When signing fails.
    pub fn sign(&self, claims: &AccessClaims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.to_string());
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        jsonwebtoken::encode(&header, claims, &self.signing).context("sign access token")
    }
}

#[tonic::async_trait]
impl JwksSource for KeyRing {
    async fn fetch(&self) -> Result<Jwks, tonic::Status> {
        Ok(self.jwks())
    }
}

async fn newest(db: &Db) -> anyhow::Result<Option<StoredKey>> {
    let row = sqlx::query("SELECT kid, private_pem, public_x FROM signing_keys ORDER BY create_time DESC, kid LIMIT 1")
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| {
        Ok(StoredKey {
            kid: r.try_get("kid")?,
            private_pem: r.try_get("private_pem")?,
            public_x: r.try_get("public_x")?,
        })
    })
    .transpose()
}

/// The PEM of a stored key, opened with `kek` if it is sealed.
fn unseal(stored: &StoredKey, kek: Option<&KeyEncryptionKey>) -> anyhow::Result<String> {
    if !is_sealed(&stored.private_pem) {
        return Ok(stored.private_pem.clone());
    }
    let kek = kek.with_context(|| {
        format!(
            "signing key {} is encrypted at rest, but neither TODO_KEY_ENCRYPTION_KEY nor \
             TODO_KEY_ENCRYPTION_KEY_FILE is set",
            stored.kid
        )
    })?;
    kek.open(&stored.kid, &stored.private_pem)
}

/// Seals every key stored in plain text, and opens every sealed one to
/// prove `kek` is the right key. The update is conditional on the plain
/// text, so replicas starting together seal each key once.
async fn seal_and_check(db: &Db, kek: &KeyEncryptionKey) -> anyhow::Result<()> {
    let rows = sqlx::query("SELECT kid, private_pem FROM signing_keys")
        .fetch_all(&db.pool)
        .await?;
    for row in rows {
        let kid: String = row.try_get("kid")?;
        let stored: String = row.try_get("private_pem")?;
        if is_sealed(&stored) {
            kek.open(&kid, &stored)?;
            continue;
        }
        sqlx::query("UPDATE signing_keys SET private_pem = ? WHERE kid = ? AND private_pem = ?")
            .bind(kek.seal(&kid, &stored)?)
            .bind(&kid)
            .bind(&stored)
            .execute(db.writer())
            .await?;
        tracing::info!(kid = %kid, "signing key encrypted at rest");
    }
    Ok(())
}

/// Stores a key (sealed with `kek` when given) unless its `kid` is stored.
async fn insert_ignoring_duplicate(
    db: &Db,
    key: &StoredKey,
    kek: Option<&KeyEncryptionKey>,
) -> anyhow::Result<()> {
    let private = match kek {
        Some(kek) => kek.seal(&key.kid, &key.private_pem)?,
        None => key.private_pem.clone(),
    };
    let result = sqlx::query(
        "INSERT INTO signing_keys (kid, private_pem, public_x, create_time) VALUES (?, ?, ?, ?)",
    )
    .bind(&key.kid)
    .bind(&private)
    .bind(&key.public_x)
    .bind(now_micros())
    .execute(db.writer())
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
