//! The task service: each user's tasks, with ownership enforced in every
//! query.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - `domain`: a task's writable fields, parsed at the boundary.
//! - `store`: the SQL, every statement scoped to the owner.
//! - `service`: the gRPC services.
//! - `error`: the error enum and its mapping to gRPC status.

mod config;
mod domain;
mod error;
mod service;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use todo_common::CancellationToken;
use todo_common::auth::{RequireServiceCredential, TokenVerifier};
use todo_common::db::Db;
use todo_proto::todo::task::v1::task_internal_service_server::TaskInternalServiceServer;
use todo_proto::todo::task::v1::task_service_server::TaskServiceServer;
use todo_proto::todo::user::v1::user_service_client::UserServiceClient;

pub use config::Config;

/// The migrations of the task database, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/task");

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct State {
    db: Db,
    verifier: TokenVerifier,
}

/// The gRPC services of this crate, ready to be served.
pub fn grpc_service(state: &State, config: &Config) -> tonic::service::Routes {
    let internal = tonic::service::interceptor::InterceptedService::new(
        TaskInternalServiceServer::new(state.clone()),
        RequireServiceCredential(config.service_credential.clone()),
    );
    tonic::service::Routes::new(TaskServiceServer::new(state.clone())).add_service(internal)
}

/// A built task service: database migrated, port bound.
pub struct App {
    listener: TcpListener,
    state: State,
    config: Config,
}

impl App {
    /// # Errors
    /// When the database or the listen address are unusable.
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
        Ok(Self {
            listener,
            state: State { db, verifier },
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
        let routes = grpc_service(&self.state, &self.config);
        todo_common::grpc::serve(
            self.listener,
            routes,
            &[
                "todo.task.v1.TaskService",
                "todo.task.v1.TaskInternalService",
            ],
            shutdown,
        )
        .await
    }
}
