//! Who is calling.
//!
//! End users: an access token (a JWT signed by the user service with
//! Ed25519) in `authorization: Bearer`, verified locally by every service
//! with the public keys from `UserService.GetJwks`, cached and refreshed on
//! an unknown `kid` at a bounded rate. The algorithm is pinned and `typ`,
//! `iss`, `aud`, `exp`, `nbf` and `sub` are checked.
//!
//! Services: a shared secret in `x-service-token`, required by every
//! internal RPC and never accepted in place of a user token (nor the
//! reverse).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use tonic::{Request, Status};

use crate::verified_tokens::VerifiedTokens;
use todo_proto::todo::user::v1::{GetJwksRequest, Jwks, user_service_client::UserServiceClient};

/// The JWT `typ` of access tokens (RFC 9068), so that no other kind of
/// token signed by the same key passes as one.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user's id.
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// Unique per token.
    pub jti: String,
}

/// Who the tokens are issued by and for.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `iss` of every access token. `TODO_JWT_ISSUER`, default `todo-user`.
    pub issuer: String,
    /// `aud` of every access token. `TODO_JWT_AUDIENCE`, default `todo`.
    pub audience: String,
}

impl Default for TokenSettings {
    /// The documented defaults: issued by `todo-user` for `todo`.
    fn default() -> Self {
        Self {
            issuer: "todo-user".to_owned(),
            audience: "todo".to_owned(),
        }
    }
}

impl TokenSettings {
    /// # Errors
    /// When a variable is set but invalid.
    pub fn from_lookup(
        lookup: crate::config::Lookup<'_>,
    ) -> Result<Self, crate::config::ConfigError> {
        let d = Self::default();
        Ok(Self {
            issuer: crate::config::var_or(lookup, "TODO_JWT_ISSUER", d.issuer)?,
            audience: crate::config::var_or(lookup, "TODO_JWT_AUDIENCE", d.audience)?,
        })
    }
}

/// The authenticated end user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
}

/// Where verification keys come from: the user service over gRPC, or the
/// user service's own key ring.
#[tonic::async_trait]
pub trait JwksSource: Send + Sync + 'static {
    async fn fetch(&self) -> Result<Jwks, Status>;
}

#[tonic::async_trait]
impl JwksSource for UserServiceClient<crate::upstream::Upstream> {
    async fn fetch(&self) -> Result<Jwks, Status> {
        Ok(self.clone().get_jwks(GetJwksRequest {}).await?.into_inner())
    }
}

/// How often the key set may be fetched because of an unknown `kid`, so a
/// flood of forged tokens cannot turn into a flood of key fetches.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// How long a fetched key set is trusted before it is fetched again.
const KEY_MAX_AGE: Duration = Duration::from_secs(300);
/// How soon an empty cache may be filled again after a failed fetch.
const EMPTY_RETRY_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Access tokens refused although validly signed and unexpired. The
/// records live in a service's own database, which this crate does not
/// reach (the edge links no database driver).
#[tonic::async_trait]
pub trait RevokedTokens: Send + Sync + 'static {
    /// Whether `user_id`'s token issued at `issued_at` (Unix seconds, the
    /// token's `iat`) is refused.
    ///
    /// # Errors
    /// When the records cannot be read; the token is then refused as
    /// UNAVAILABLE, never let through.
    async fn refuses(&self, user_id: &str, issued_at: i64) -> anyhow::Result<bool>;
}

/// Verifies access tokens locally. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct TokenVerifier {
    source: Arc<dyn JwksSource>,
    cache: Arc<RwLock<KeyCache>>,
    validation: Arc<Validation>,
    max_age: Duration,
    min_refresh: Duration,
    /// Where erased users and token cut-offs are recorded, for a service
    /// that refuses their tokens.
    revoked: Option<Arc<dyn RevokedTokens>>,
    /// Tokens verified before, so each is verified once (see
    /// [`crate::verified_tokens`]).
    verified: Arc<VerifiedTokens<Verified>>,
}

/// What verifying a token established.
#[derive(Debug)]
struct Verified {
    claims: AccessClaims,
    /// The key it was signed with, checked again on every use.
    kid: String,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").finish_non_exhaustive()
    }
}

impl TokenVerifier {
    pub fn new(settings: &TokenSettings, source: Arc<dyn JwksSource>) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Self {
            source,
            cache: Arc::default(),
            validation: Arc::new(validation),
            max_age: KEY_MAX_AGE,
            min_refresh: MIN_REFRESH_INTERVAL,
            revoked: None,
            verified: Arc::default(),
        }
    }

    /// Also refuses the tokens that `revoked` names: in a service that
    /// holds user data, those of erased users and those issued before a
    /// password change or reset (the records are in its database, see
    /// `todo_store::erased`), so they stop working here at once.
    #[must_use]
    pub fn refusing_revoked_tokens(mut self, revoked: Arc<dyn RevokedTokens>) -> Self {
        self.revoked = Some(revoked);
        self
    }

    /// The user a bearer token in `authorization` speaks for.
    ///
    /// # Errors
    /// UNAUTHENTICATED when the header is missing, the token is not a
    /// valid access token, its user was erased or it was issued before the
    /// user's last credential change; UNAVAILABLE when no keys can be had
    /// or the records cannot be looked up.
    pub async fn authenticate<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Status::unauthenticated("authorization must be a bearer token"))?;
        let verified = self.verified(token).await?;
        let claims = &verified.claims;
        if let Some(revoked) = &self.revoked {
            let gone = revoked
                .refuses(&claims.sub, claims.iat)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot check for revoked access tokens");
                    Status::unavailable("cannot check the access token now; retry")
                })?;
            if gone {
                return Err(Status::unauthenticated("invalid access token"));
            }
        }
        Ok(Caller {
            user_id: claims.sub.clone(),
        })
    }

    /// The claims of a valid access token.
    ///
    /// # Errors
    /// UNAUTHENTICATED for any token that is not a valid access token,
    /// UNAVAILABLE when the keys cannot be fetched.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Status> {
        Ok(self.verified(token).await?.claims.clone())
    }

    /// A token verified now, or before: a token seen before is served from
    /// the cache while unexpired and signed by a key still trusted.
    async fn verified(&self, token: &str) -> Result<Arc<Verified>, Status> {
        let invalid = || Status::unauthenticated("invalid access token");
        let now = unix_now();
        if let Some(hit) = self.verified.get(token, now) {
            if self.key(&hit.kid).await?.is_some() {
                return Ok(hit);
            }
            self.verified.forget(token);
            return Err(invalid());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(invalid());
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let key = self.key(&kid).await?.ok_or_else(invalid)?;
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation).map_err(|e| {
                tracing::debug!(reason = %e, "access token rejected");
                invalid()
            })?;
        let verified = Arc::new(Verified {
            claims: data.claims,
            kid,
        });
        if now < verified.claims.exp {
            let exp = verified.claims.exp;
            self.verified.insert(token, Arc::clone(&verified), exp, now);
        }
        Ok(verified)
    }

    /// The key named `kid`, refreshing the cache when it is unknown and the
    /// last refresh is old enough.
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, Status> {
        {
            let cache = self.cache.read().await;
            match cache.keys.get(kid) {
                Some(k) if !stale(&cache, self.max_age) => return Ok(Some(k.clone())),
                None if !refresh_due(&cache, self.min_refresh) => return Ok(None),
                _ => {}
            }
        }
        let mut cache = self.cache.write().await;
        // Another task may have refreshed while this one waited.
        match cache.keys.get(kid) {
            Some(k) if !stale(&cache, self.max_age) => return Ok(Some(k.clone())),
            None if !refresh_due(&cache, self.min_refresh) => return Ok(None),
            _ => {}
        }
        cache.fetched_at = Some(Instant::now());
        let jwks = match self.source.fetch().await {
            Ok(jwks) => jwks,
            Err(e) => {
                tracing::warn!(code = ?e.code(), "cannot fetch token verification keys");
                // Known keys stay usable while the user service is away.
                return match cache.keys.get(kid) {
                    Some(k) => Ok(Some(k.clone())),
                    None => Err(Status::unavailable(
                        "token verification keys are unavailable",
                    )),
                };
            }
        };
        cache.keys = jwks
            .keys
            .iter()
            .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
            .filter_map(|k| {
                DecodingKey::from_ed_components(&k.x)
                    .ok()
                    .map(|d| (k.kid.clone(), d))
            })
            .collect();
        Ok(cache.keys.get(kid).cloned())
    }
}

/// Now, in Unix seconds (the unit of `exp`).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether the cached key set is old enough to fetch again even for a
/// known `kid`, so that a key removed from the user service stops
/// verifying tokens everywhere within this long.
fn stale(cache: &KeyCache, max_age: Duration) -> bool {
    cache.fetched_at.is_none_or(|t| t.elapsed() >= max_age)
}

fn refresh_due(cache: &KeyCache, min_refresh: Duration) -> bool {
    let wait = if cache.keys.is_empty() {
        EMPTY_RETRY_INTERVAL.min(min_refresh)
    } else {
        min_refresh
    };
    cache.fetched_at.is_none_or(|t| t.elapsed() >= wait)
}

/// The metadata key of the service credential.
pub const SERVICE_TOKEN: &str = "x-service-token";

/// The shared secret that internal RPCs require.
#[derive(Clone)]
pub struct ServiceCredential(Arc<str>);

impl std::fmt::Debug for ServiceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceCredential(..)")
    }
}

impl ServiceCredential {
    /// # Errors
    /// When the secret is too short to resist guessing.
    pub fn new(secret: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= 32,
            "the internal token must be at least 32 characters"
        );
        Ok(Self(secret.into()))
    }

    /// A fresh random credential, for the all-in-one process and tests.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(hex::encode(bytes).into())
    }

    /// Reads `TODO_INTERNAL_TOKEN`; `None` when unset.
    ///
    /// # Errors
    /// When the variable is set but too short.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        Self::from_lookup(&crate::config::env)
    }

    /// Reads `TODO_INTERNAL_TOKEN` from `lookup`; `None` when unset.
    ///
    /// # Errors
    /// When the variable is set but too short.
    pub fn from_lookup(lookup: crate::config::Lookup<'_>) -> anyhow::Result<Option<Self>> {
        crate::config::var_opt(lookup, "TODO_INTERNAL_TOKEN")
            .map(|s| Self::new(&s))
            .transpose()
    }

    /// A 256-bit key for `purpose`, derived from the shared secret, so
    /// every replica of a service derives the same key without another
    /// setting.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"todo-derive-key\0");
        h.update(purpose.as_bytes());
        h.update([0]);
        h.update(self.0.as_bytes());
        h.finalize().into()
    }

    /// Whether `request` presents this credential in `x-service-token`:
    /// the caller is one of the platform's own services or its edge.
    pub fn presented_in<T>(&self, request: &Request<T>) -> bool {
        request
            .metadata()
            .get(SERVICE_TOKEN)
            .is_some_and(|v| self.matches(v.as_bytes()))
    }

    /// Puts this credential into outgoing `metadata`.
    ///
    /// # Errors
    /// INTERNAL when the secret is not valid metadata (it is checked to be
    /// long enough, not to be printable ASCII).
    pub fn attach(&self, metadata: &mut tonic::metadata::MetadataMap) -> Result<(), Status> {
        let value = self
            .0
            .parse()
            .map_err(|_| Status::internal("invalid service credential"))?;
        metadata.insert(SERVICE_TOKEN, value);
        Ok(())
    }

    fn matches(&self, presented: &[u8]) -> bool {
        // Compare digests so the comparison time does not depend on where
        // the first differing byte is.
        use sha2::{Digest, Sha256};
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(presented);
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

/// Server-side interceptor: refuses calls without the service credential.
#[derive(Clone, Debug)]
pub struct RequireServiceCredential(pub ServiceCredential);

impl tonic::service::Interceptor for RequireServiceCredential {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        match request.metadata().get(SERVICE_TOKEN) {
            Some(v) if self.0.matches(v.as_bytes()) => Ok(request),
            _ => Err(Status::permission_denied("internal RPC")),
        }
    }
}

/// Client-side interceptor: attaches the service credential.
#[derive(Clone, Debug)]
pub struct AttachServiceCredential(pub ServiceCredential);

impl tonic::service::Interceptor for AttachServiceCredential {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        self.0.attach(request.metadata_mut())?;
        Ok(request)
    }
}

/// A channel that authenticates as a service.
pub type ServiceChannel = tonic::service::interceptor::InterceptedService<
    crate::upstream::Upstream,
    AttachServiceCredential,
>;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::SigningKey;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::{EncodingKey, Header};
    use todo_proto::todo::user::v1::Jwk;

    use super::*;

    /// A key set that the test can change, counting fetches.
    #[derive(Default)]
    struct Keys {
        jwks: Mutex<Jwks>,
        fetches: Mutex<usize>,
    }

    #[tonic::async_trait]
    impl JwksSource for Keys {
        async fn fetch(&self) -> Result<Jwks, Status> {
            *self.fetches.lock().unwrap() += 1;
            Ok(self.jwks.lock().unwrap().clone())
        }
    }

    fn jwk(key: &SigningKey, kid: &str) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
            kid: kid.into(),
            alg: "EdDSA".into(),
            r#use: "sig".into(),
        }
    }

    fn token(key: &SigningKey, kid: &str) -> String {
        let now = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap();
        let claims = AccessClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "user".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
            jti: "j".into(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        let der = key.to_pkcs8_der().unwrap();
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
    }

    fn verifier(keys: &Arc<Keys>, max_age: Duration) -> TokenVerifier {
        let settings = TokenSettings {
            issuer: "i".into(),
            audience: "a".into(),
        };
        let mut v = TokenVerifier::new(&settings, keys.clone());
        v.max_age = max_age;
        v.min_refresh = max_age.min(MIN_REFRESH_INTERVAL);
        v
    }

    #[tokio::test]
    async fn a_rotated_in_key_verifies_and_a_removed_key_stops_verifying() {
        let old = SigningKey::from_bytes(&[1; 32]);
        let new = SigningKey::from_bytes(&[2; 32]);
        let keys = Arc::new(Keys::default());
        *keys.jwks.lock().unwrap() = Jwks {
            keys: vec![jwk(&old, "old")],
        };
        // Zero intervals: every verification looks at the current key set.
        let v = verifier(&keys, Duration::ZERO);
        assert!(v.verify(&token(&old, "old")).await.is_ok());

        // Rotation: both published; tokens of either verify.
        *keys.jwks.lock().unwrap() = Jwks {
            keys: vec![jwk(&old, "old"), jwk(&new, "new")],
        };
        assert!(v.verify(&token(&new, "new")).await.is_ok());
        assert!(v.verify(&token(&old, "old")).await.is_ok());

        // The old key removed: its tokens are refused.
        *keys.jwks.lock().unwrap() = Jwks {
            keys: vec![jwk(&new, "new")],
        };
        assert_eq!(
            v.verify(&token(&old, "old")).await.unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert!(v.verify(&token(&new, "new")).await.is_ok());
    }

    #[test]
    fn the_clock_of_the_cache_is_unix_seconds() {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let ours = u64::try_from(unix_now()).unwrap();
        assert!(ours.abs_diff(system) <= 1, "{ours} vs {system}");
    }

    #[tokio::test]
    async fn a_verified_token_is_remembered_and_stops_with_its_key() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let keys = Arc::new(Keys::default());
        *keys.jwks.lock().unwrap() = Jwks {
            keys: vec![jwk(&key, "k")],
        };
        let v = verifier(&keys, Duration::ZERO);
        let t = token(&key, "k");
        assert_eq!(v.verify(&t).await.unwrap().sub, "user");
        assert_eq!(v.verified.len(), 1, "remembered once verified");
        assert_eq!(v.verify(&t).await.unwrap().sub, "user");
        assert_eq!(v.verified.len(), 1);

        // Altered bytes are not the remembered token: verified in full.
        let mut forged = t.clone();
        let last = if forged.ends_with('A') { "B" } else { "A" };
        forged.replace_range(forged.len() - 1.., last);
        assert_eq!(
            v.verify(&forged).await.unwrap_err().code(),
            tonic::Code::Unauthenticated
        );

        // Its key withdrawn: the remembered token is refused and forgotten.
        *keys.jwks.lock().unwrap() = Jwks { keys: vec![] };
        assert_eq!(
            v.verify(&t).await.unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert!(v.verified.is_empty());
    }

    #[tokio::test]
    async fn unknown_kids_cannot_force_a_fetch_per_token() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let keys = Arc::new(Keys::default());
        *keys.jwks.lock().unwrap() = Jwks {
            keys: vec![jwk(&key, "k")],
        };
        let v = verifier(&keys, KEY_MAX_AGE);
        assert!(v.verify(&token(&key, "k")).await.is_ok());
        for i in 0..50 {
            let forged = token(&SigningKey::from_bytes(&[9; 32]), &format!("forged-{i}"));
            assert!(v.verify(&forged).await.is_err());
        }
        assert_eq!(
            *keys.fetches.lock().unwrap(),
            1,
            "forged kids caused fetches"
        );
        assert!(v.verify(&token(&key, "k")).await.is_ok());
    }
}
