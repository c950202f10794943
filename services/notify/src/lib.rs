//! The notify service: durable e-mail delivery and the in-app inbox.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - `mail`: templates and the SMTP or file transport.
//! - `queue`: the durable e-mail queue and its worker.
//! - `inbox`: in-app notifications and settings.
//! - `service`: the gRPC services.
//! - `error`: the error enum and its mapping to gRPC status.

mod config;
mod error;
mod inbox;
mod mail;
mod queue;
mod service;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use todo_common::CancellationToken;
use todo_common::auth::{RequireServiceCredential, TokenVerifier};
use todo_common::db::Db;
use todo_proto::todo::notify::v1::notify_internal_service_server::NotifyInternalServiceServer;
use todo_proto::todo::notify::v1::notify_service_server::NotifyServiceServer;
use todo_proto::todo::user::v1::user_service_client::UserServiceClient;

pub use config::{Config, MailConfig};

/// The migrations of the notify database, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/notify");

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct State {
    db: Db,
    verifier: TokenVerifier,
    worker: queue::Worker,
}

/// The gRPC services of this crate, ready to be served.
pub fn grpc_service(state: &State, config: &Config) -> tonic::service::Routes {
    let internal = tonic::service::interceptor::InterceptedService::new(
        NotifyInternalServiceServer::new(state.clone()),
        RequireServiceCredential(config.service_credential.clone()),
    );
    tonic::service::Routes::new(NotifyServiceServer::new(state.clone())).add_service(internal)
}

/// A built notify service: database migrated, mailer ready, port bound.
pub struct App {
    listener: TcpListener,
    state: State,
    config: Config,
}

impl App {
    /// # Errors
    /// When the database, the mail settings or the listen address are unusable.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = todo_common::grpc::bind(config.listen).await?;
        Self::build_on(config, listener).await
    }

    /// Like [`App::build`], on a listener bound by the caller: the launcher
    /// binds every port first, so each service knows the others' addresses.
    ///
    /// # Errors
    /// As [`App::build`].
    pub async fn build_on(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let db = todo_common::db::connect(&config.db, &MIGRATOR).await?;
        let users = UserServiceClient::new(todo_common::grpc::channel(&config.user_url)?);
        let verifier = TokenVerifier::new(&config.tokens, Arc::new(users));
        let worker = queue::Worker::new(db.pool.clone(), mail::Mailer::new(&config.mail)?);
        Ok(Self {
            listener,
            state: State {
                db,
                verifier,
                worker,
            },
            config,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// Serves until `shutdown` is cancelled.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let worker = tokio::spawn(self.state.worker.clone().run(shutdown.clone()));
        let routes = grpc_service(&self.state, &self.config);
        let served = todo_common::grpc::serve(
            self.listener,
            routes,
            &[
                "todo.notify.v1.NotifyService",
                "todo.notify.v1.NotifyInternalService",
            ],
            shutdown,
        )
        .await;
        let _ = worker.await;
        served
    }
}
