//! The Ed25519 keys that sign access tokens, and the JWKS that publishes
//! their public halves.
//!
//! Keys live in the `signing_keys` table. With `TODO_JWT_PRIVATE_KEY_FILE`
//! the configured key signs (and is recorded so it is published); without
//! it, the newest stored key signs, generated on first start. Every stored
//! key is published, so tokens signed before a rotation stay valid until
//! they expire; deleting a key's row retires its tokens.

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
use todo_common::db::{Db, is_unique_violation};
use todo_proto::todo::user::v1::{Jwk, Jwks};

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
    /// first one.
    ///
    /// # Errors
    /// When the configured key is not a PKCS#8 Ed25519 PEM or the database
    /// fails.
    pub async fn load(db: &Db, configured_pem: Option<&str>) -> anyhow::Result<Self> {
        let signing = match configured_pem {
            Some(pem) => {
                let key = SigningKey::from_pkcs8_pem(pem)
                    .context("TODO_JWT_PRIVATE_KEY_FILE is not a PKCS#8 Ed25519 PEM key")?;
                let stored = describe(&key)?;
                insert_ignoring_duplicate(db, &stored).await?;
                stored
            }
            None => match newest(db).await? {
                Some(stored) => stored,
                None => {
                    let stored = describe(&SigningKey::generate(&mut rand::rngs::OsRng))?;
                    insert_ignoring_duplicate(db, &stored).await?;
                    // Another replica may have generated one at the same time;
                    // everyone signs with the newest.
                    newest(db).await?.context("signing key vanished")?
                }
            },
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

async fn insert_ignoring_duplicate(db: &Db, key: &StoredKey) -> anyhow::Result<()> {
    let result = sqlx::query(
        "INSERT INTO signing_keys (kid, private_pem, public_x, create_time) VALUES (?, ?, ?, ?)",
    )
    .bind(&key.kid)
    .bind(&key.private_pem)
    .bind(&key.public_x)
    .bind(now_micros())
    .execute(&db.pool)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
