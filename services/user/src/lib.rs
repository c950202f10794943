//! The user service: registration, authentication and account data, and
//! the only issuer of access tokens.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - `domain`: e-mail, password and display name, parsed at the boundary.
//! - `password`: argon2id hashing off the runtime threads.
//! - `keys`: the Ed25519 signing keys and the JWKS.
//! - `tokens`: refresh, verification and reset secrets.
//! - `store`: the SQL.
//! - `service`: the gRPC services.
//! - `error`: the error enum and its mapping to gRPC status.

mod config;
mod domain;
mod error;
mod keys;
mod password;
mod service;
mod store;
mod tokens;

use std::sync::Arc;

use prost::Message;
use tokio::net::TcpListener;
use tonic::Status;

use todo_common::auth::{
    AttachServiceCredential, RequireServiceCredential, ServiceChannel, TokenSettings, TokenVerifier,
};
use todo_common::db::Db;
use todo_common::grpc::Server;
use todo_common::outbox::{Deliver, Relay};
use todo_proto::todo::notify::v1::SendEmailRequest;
use todo_proto::todo::notify::v1::notify_internal_service_client::NotifyInternalServiceClient;
use todo_proto::todo::user::v1::user_internal_service_server::UserInternalServiceServer;
use todo_proto::todo::user::v1::user_service_server::UserServiceServer;

pub use config::Config;

/// The migrations of the user database, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/user");

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct State {
    db: Db,
    hasher: password::Hasher,
    keys: keys::KeyRing,
    verifier: TokenVerifier,
    tokens: TokenSettings,
    relay: Relay,
}

/// The gRPC services of this crate, ready to be served.
pub fn grpc_service(state: &State, config: &Config) -> tonic::service::Routes {
    let internal = tonic::service::interceptor::InterceptedService::new(
        UserInternalServiceServer::new(state.clone()),
        RequireServiceCredential(config.service_credential.clone()),
    );
    tonic::service::Routes::new(UserServiceServer::new(state.clone())).add_service(internal)
}

/// Delivers outbox messages to the notify service.
struct NotifyDelivery(NotifyInternalServiceClient<ServiceChannel>);

#[tonic::async_trait]
impl Deliver for NotifyDelivery {
    async fn deliver(&self, kind: &str, payload: &[u8]) -> Result<(), Status> {
        match kind {
            service::SEND_EMAIL => {
                let req = SendEmailRequest::decode(payload)
                    .map_err(|_| Status::data_loss("corrupt outbox payload"))?;
                self.0.clone().send_email(req).await.map(drop)
            }
            other => Err(Status::internal(format!("unknown outbox kind {other}"))),
        }
    }
}

/// Builds the user service on `listener`: database migrated, keys loaded,
/// outbox relay ready. The caller binds the port, so the launcher can bind
/// every service first and give each the others' addresses.
///
/// # Errors
/// When the database, the keys or the configuration are unusable.
pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    let db = todo_common::db::connect(&config.db, &MIGRATOR).await?;
    let keys = keys::KeyRing::load(&db, config.signing_key_pem.as_deref()).await?;
    let verifier = TokenVerifier::new(&config.tokens, Arc::new(keys.clone()));
    let notify = NotifyInternalServiceClient::with_interceptor(
        todo_common::grpc::channel(&config.notify_url)?,
        AttachServiceCredential(config.service_credential.clone()),
    );
    let relay = Relay::new(db.pool.clone(), Arc::new(NotifyDelivery(notify)));
    let state = State {
        db,
        hasher: password::Hasher::new(config.hash_concurrency)?,
        keys,
        verifier,
        tokens: config.tokens.clone(),
        relay: relay.clone(),
    };
    let routes = grpc_service(&state, &config);
    Ok(Server::new(
        listener,
        routes,
        &[
            "todo.user.v1.UserService",
            "todo.user.v1.UserInternalService",
        ],
    )
    .with_worker(|stop| relay.run(stop)))
}
