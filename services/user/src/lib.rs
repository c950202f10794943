//! The user service: registration, authentication and account data, and
//! the only issuer of access tokens.
//!
//! # Layout
//! - [`Config`]: settings from the environment.
//! - `domain`: e-mail, password and display name, parsed at the boundary.
//! - `password`: argon2id hashing off the runtime threads.
//! - `keys`: the Ed25519 signing keys and the JWKS.
//! - `kek`: the key-encryption key that seals the signing keys at rest.
//! - `tokens`: refresh, verification and reset secrets.
//! - `throttle`: failed-login, registration, reset-request and account
//!   e-mail limits,
//!   counted in the database so they hold across replicas.
//! - `store`: the SQL.
//! - [`State`]: what every request handler shares.
//! - `service`: the public gRPC service and the use cases behind it;
//!   `contacts`: the internal one, accounts' contact data for the other
//!   services.
//! - `outbox`: the messages this service relays to others;
//!   `delivery`: how the relay delivers each.
//! - `error`: the error enum and its mapping to gRPC status.
//!
//! This file only wires them together: [`build`] and [`grpc_service`].

mod config;
mod contacts;
mod delivery;
mod domain;
mod error;
mod kek;
mod keys;
mod outbox;
mod password;
mod service;
mod state;
mod store;
mod throttle;
mod tokens;

use std::sync::{Arc, OnceLock};

use tokio::net::TcpListener;

use todo_common::auth::{AttachServiceCredential, RequireServiceCredential, TokenVerifier};
use todo_common::grpc::Server;
use todo_proto::todo::notify::v1::notify_internal_service_client::NotifyInternalServiceClient;
use todo_proto::todo::task::v1::task_internal_service_client::TaskInternalServiceClient;
use todo_proto::todo::user::v1::user_internal_service_server::UserInternalServiceServer;
use todo_proto::todo::user::v1::user_service_server::UserServiceServer;
use todo_store::outbox::Relay;

pub use config::{Config, Limit, Limits};
pub use kek::KeyEncryptionKey;
pub use state::State;

/// The migrations of the user database, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/user");

/// The gRPC services on this crate's port, as health reports them.
const SERVED: [&str; 2] = todo_common::services::USER.names();

/// The gRPC services of this crate, ready to be served.
pub fn grpc_service(state: &State, config: &Config) -> tonic::service::Routes {
    let internal = tonic::service::interceptor::InterceptedService::new(
        UserInternalServiceServer::new(state.clone()),
        RequireServiceCredential(config.service_credential.clone()),
    );
    tonic::service::Routes::new(UserServiceServer::new(state.clone())).add_service(internal)
}

/// Builds the user service on `listener`: database migrated, keys loaded,
/// outbox relay ready. The caller binds the port, so the launcher can bind
/// every service first and give each the others' addresses.
///
/// # Errors
/// When the database, the keys or the configuration are unusable.
pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    kek::check_key_encryption(&config)?;
    let db = todo_store::db::connect(&config.db, &MIGRATOR).await?;
    let keys = keys::KeyRing::load(
        &db,
        config.signing_key_pem.as_deref(),
        config.key_encryption_key.as_ref(),
    )
    .await?;
    let verifier = TokenVerifier::new(&config.tokens, Arc::new(keys.clone()));
    let notify = NotifyInternalServiceClient::with_interceptor(
        todo_common::upstream::channel(&config.notify_url)?,
        AttachServiceCredential(config.service_credential.clone()),
    );
    let task = TaskInternalServiceClient::with_interceptor(
        todo_common::upstream::channel(&config.task_url)?,
        AttachServiceCredential(config.service_credential.clone()),
    );
    let delivery = Arc::new(delivery::Delivery {
        db: db.clone(),
        notify,
        task,
        relay: OnceLock::new(),
    });
    let relay = Relay::new(&db, delivery.clone());
    // Freshly made, so never set before.
    let _ = delivery.relay.set(relay.clone());
    let state = State {
        db,
        hasher: password::Hasher::new(config.hash_concurrency)?,
        keys,
        verifier,
        tokens: config.tokens.clone(),
        relay: relay.clone(),
        limits: config.limits,
        service_credential: config.service_credential.clone(),
    };
    let pruning = state.db.clone();
    let routes = grpc_service(&state, &config);
    Ok(Server::new(
        listener,
        routes,
        &SERVED,
        todo_proto::port_descriptors::USER,
    )
    .with_worker(|stop| relay.run(stop))
    .with_worker(move |stop| throttle::prune_until_stopped(pruning, config.limits, stop)))
}
