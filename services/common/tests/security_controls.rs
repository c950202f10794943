//! The security controls of the plumbing crate, each shown to refuse what
//! it exists to refuse: the service credential on internal RPCs and the
//! checks of access-token verification. `scripts/mutants.sh` proves these
//! tests fail when any one control is broken.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::service::Interceptor;
use tonic::{Code, Request, Status};

use todo_common::auth::{
    ACCESS_TOKEN_TYPE, AccessClaims, AttachServiceCredential, JwksSource, RequireServiceCredential,
    SERVICE_TOKEN, ServiceCredential, TokenSettings, TokenVerifier,
};
use todo_proto::todo::user::v1::{Jwk, Jwks};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn with_service_token(value: &str) -> Request<()> {
    let mut request = Request::new(());
    request
        .metadata_mut()
        .insert(SERVICE_TOKEN, value.parse().unwrap());
    request
}

fn require() -> RequireServiceCredential {
    RequireServiceCredential(ServiceCredential::new(SECRET).unwrap())
}

#[test]
fn the_service_credential_is_required_and_compared_in_full() {
    assert!(require().call(with_service_token(SECRET)).is_ok());

    let mut last_byte_differs = SECRET.to_owned();
    last_byte_differs.pop();
    last_byte_differs.push('0');
    let refused = [
        last_byte_differs.as_str(),
        &SECRET[..31],
        &format!("{SECRET}0"),
        "",
        "Bearer x",
    ];
    for wrong in refused {
        let err = require().call(with_service_token(wrong)).unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{wrong:?} was accepted");
    }
    let err = require().call(Request::new(())).unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[test]
fn a_user_token_is_no_service_credential() {
    let mut request = Request::new(());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {SECRET}").parse().unwrap());
    assert_eq!(
        require().call(request).unwrap_err().code(),
        Code::PermissionDenied
    );
}

#[test]
fn the_attached_credential_is_the_one_required() {
    let credential = ServiceCredential::new(SECRET).unwrap();
    let attached = AttachServiceCredential(credential.clone())
        .call(Request::new(()))
        .unwrap();
    assert_eq!(
        attached
            .metadata()
            .get(SERVICE_TOKEN)
            .unwrap()
            .to_str()
            .unwrap(),
        SECRET
    );
    assert!(require().call(attached).is_ok());

    let other = AttachServiceCredential(ServiceCredential::random())
        .call(Request::new(()))
        .unwrap();
    assert!(require().call(other).is_err());
}

#[test]
fn short_credentials_are_refused() {
    assert!(ServiceCredential::new(&SECRET[..31]).is_err());
    assert!(ServiceCredential::new(SECRET).is_ok());
}

#[test]
fn derived_keys_are_stable_and_separate_purposes_and_secrets() {
    let a = ServiceCredential::new(SECRET).unwrap();
    let b = ServiceCredential::new(&format!("{SECRET}!")).unwrap();
    assert_eq!(a.derive_key("pages"), a.derive_key("pages"));
    assert_ne!(a.derive_key("pages"), a.derive_key("inbox"));
    assert_ne!(a.derive_key("pages"), b.derive_key("pages"));
}

// ---- access tokens ----

const KID: &str = "k1";

struct FixedKeys(Jwks);

#[tonic::async_trait]
impl JwksSource for FixedKeys {
    async fn fetch(&self) -> Result<Jwks, Status> {
        Ok(self.0.clone())
    }
}

fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn verifier(published: &SigningKey) -> TokenVerifier {
    let jwk = Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: URL_SAFE_NO_PAD.encode(published.verifying_key().to_bytes()),
        kid: KID.into(),
        alg: "EdDSA".into(),
        r#use: "sig".into(),
    };
    let settings = TokenSettings {
        issuer: "todo-user".into(),
        audience: "todo".into(),
    };
    TokenVerifier::new(&settings, Arc::new(FixedKeys(Jwks { keys: vec![jwk] })))
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn claims() -> AccessClaims {
    let now = now();
    AccessClaims {
        iss: "todo-user".into(),
        aud: "todo".into(),
        sub: "user-1".into(),
        iat: now,
        nbf: now,
        exp: now + 600,
        jti: "jti-1".into(),
    }
}

fn header() -> Header {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(KID.into());
    header.typ = Some(ACCESS_TOKEN_TYPE.into());
    header
}

fn sign(key: &SigningKey, header: &Header, claims: &impl serde::Serialize) -> String {
    let der = key.to_pkcs8_der().unwrap();
    jsonwebtoken::encode(header, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
}

async fn refused(verifier: &TokenVerifier, token: &str, why: &str) {
    let err = verifier.verify(token).await.err();
    assert_eq!(
        err.map(|e| e.code()),
        Some(Code::Unauthenticated),
        "accepted: {why}"
    );
}

#[tokio::test]
async fn a_valid_access_token_verifies_to_its_claims() {
    let key = signing_key(1);
    let token = sign(&key, &header(), &claims());
    assert_eq!(verifier(&key).verify(&token).await.unwrap(), claims());
}

#[tokio::test]
async fn tokens_of_another_type_algorithm_or_key_are_refused() {
    let key = signing_key(1);
    let v = verifier(&key);

    let mut untyped = header();
    untyped.typ = Some("JWT".into());
    refused(&v, &sign(&key, &untyped, &claims()), "typ JWT").await;
    untyped.typ = None;
    refused(&v, &sign(&key, &untyped, &claims()), "no typ").await;

    let mut no_kid = header();
    no_kid.kid = None;
    refused(&v, &sign(&key, &no_kid, &claims()), "no kid").await;
    let mut unknown_kid = header();
    unknown_kid.kid = Some("k2".into());
    refused(&v, &sign(&key, &unknown_kid, &claims()), "unknown kid").await;

    refused(
        &v,
        &sign(&signing_key(2), &header(), &claims()),
        "signed by a key that is not published",
    )
    .await;

    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(KID.into());
    hs.typ = Some(ACCESS_TOKEN_TYPE.into());
    let forged = jsonwebtoken::encode(
        &hs,
        &claims(),
        &EncodingKey::from_secret(&key.verifying_key().to_bytes()),
    )
    .unwrap();
    refused(&v, &forged, "HS256 keyed with the public key").await;
    refused(&v, "not.a.token", "garbage").await;
}

#[tokio::test]
async fn expired_early_and_foreign_tokens_are_refused() {
    let key = signing_key(1);
    let v = verifier(&key);
    let now = now();

    let expired = AccessClaims {
        exp: now - 120,
        ..claims()
    };
    refused(&v, &sign(&key, &header(), &expired), "expired").await;
    let early = AccessClaims {
        nbf: now + 600,
        exp: now + 1200,
        ..claims()
    };
    refused(&v, &sign(&key, &header(), &early), "not yet valid").await;
    let other_issuer = AccessClaims {
        iss: "someone-else".into(),
        ..claims()
    };
    refused(&v, &sign(&key, &header(), &other_issuer), "other issuer").await;
    let other_audience = AccessClaims {
        aud: "other".into(),
        ..claims()
    };
    refused(
        &v,
        &sign(&key, &header(), &other_audience),
        "other audience",
    )
    .await;

    // A token without the claims that must be present.
    let bare =
        serde_json::json!({"iss": "todo-user", "aud": "todo", "sub": "user-1", "exp": now + 600});
    refused(&v, &sign(&key, &header(), &bare), "no nbf").await;
}

fn bearer(value: &str) -> Request<()> {
    let mut request = Request::new(());
    request
        .metadata_mut()
        .insert("authorization", value.parse().unwrap());
    request
}

#[tokio::test]
async fn only_a_bearer_token_authenticates_a_caller() {
    let key = signing_key(1);
    let v = verifier(&key);
    let token = sign(&key, &header(), &claims());

    let caller = v
        .authenticate(&bearer(&format!("Bearer {token}")))
        .await
        .unwrap();
    assert_eq!(caller.user_id, "user-1");
    assert!(
        v.authenticate(&bearer(&format!("bearer {token}")))
            .await
            .is_ok()
    );

    for wrong in [
        format!("Basic {token}"),
        token.clone(),
        "Bearer ".to_owned(),
        format!("Bearer {token}x"),
    ] {
        let err = v.authenticate(&bearer(&wrong)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{wrong:?}");
    }
    let err = v.authenticate(&Request::new(())).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}

/// Keys published under one kid, counting how often they are fetched.
struct CountingKeys {
    jwks: Jwks,
    fetches: std::sync::atomic::AtomicUsize,
}

#[tonic::async_trait]
impl JwksSource for CountingKeys {
    async fn fetch(&self) -> Result<Jwks, Status> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.jwks.clone())
    }
}

fn published(key: &SigningKey, crv: &str) -> Jwks {
    Jwks {
        keys: vec![Jwk {
            kty: "OKP".into(),
            crv: crv.into(),
            x: URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
            kid: KID.into(),
            alg: "EdDSA".into(),
            r#use: "sig".into(),
        }],
    }
}

fn counting_verifier(jwks: Jwks) -> (TokenVerifier, Arc<CountingKeys>) {
    let keys = Arc::new(CountingKeys {
        jwks,
        fetches: std::sync::atomic::AtomicUsize::new(0),
    });
    let settings = TokenSettings {
        issuer: "todo-user".into(),
        audience: "todo".into(),
    };
    (TokenVerifier::new(&settings, keys.clone()), keys)
}

/// A flood of valid tokens must not become a flood of key fetches.
#[tokio::test]
async fn a_known_key_is_fetched_once_and_then_served_from_the_cache() {
    let key = signing_key(1);
    let (v, keys) = counting_verifier(published(&key, "Ed25519"));
    let token = sign(&key, &header(), &claims());
    for _ in 0..5 {
        v.verify(&token).await.unwrap();
    }
    assert_eq!(keys.fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Only Ed25519 keys verify: a published key of another curve is ignored
/// even when its bytes would pass as one.
#[tokio::test]
async fn keys_of_another_curve_are_not_used() {
    let key = signing_key(1);
    let (v, _) = counting_verifier(published(&key, "X25519"));
    refused(
        &v,
        &sign(&key, &header(), &claims()),
        "key published as X25519",
    )
    .await;
}

/// How the user service tells the edge (which may name the client's
/// address) from anyone else: only the exact credential counts.
#[test]
fn only_the_exact_credential_is_presented() {
    let credential = ServiceCredential::new(SECRET).unwrap();
    assert!(credential.presented_in(&with_service_token(SECRET)));
    assert!(!credential.presented_in(&with_service_token(&SECRET[..31])));
    assert!(!credential.presented_in(&with_service_token("forged")));
    assert!(!credential.presented_in(&Request::new(())));
}

// ---- settings read from a lookup (never the process environment) ----

#[test]
fn token_settings_default_and_follow_their_variables() {
    let defaults = TokenSettings::from_lookup(&|_| None).unwrap();
    assert_eq!(
        (defaults.issuer.as_str(), defaults.audience.as_str()),
        ("todo-user", "todo")
    );
    let set = TokenSettings::from_lookup(&|name| match name {
        "TODO_JWT_ISSUER" => Some("issuer".to_owned()),
        "TODO_JWT_AUDIENCE" => Some("audience".to_owned()),
        _ => None,
    })
    .unwrap();
    assert_eq!(
        (set.issuer.as_str(), set.audience.as_str()),
        ("issuer", "audience")
    );
}

#[test]
fn the_service_credential_is_read_and_checked_from_its_variable() {
    assert!(ServiceCredential::from_lookup(&|_| None).unwrap().is_none());
    let read = ServiceCredential::from_lookup(&|name| {
        (name == "TODO_INTERNAL_TOKEN").then(|| SECRET.to_owned())
    })
    .unwrap()
    .unwrap();
    assert!(
        RequireServiceCredential(read)
            .call(with_service_token(SECRET))
            .is_ok()
    );
    assert!(ServiceCredential::from_lookup(&|_| Some("short".to_owned())).is_err());
}
