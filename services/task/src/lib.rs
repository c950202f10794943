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

use std::sync::Arc;

use tokio::net::TcpListener;

use todo_common::auth::{RequireServiceCredential, TokenVerifier};
use todo_common::db::Db;
use todo_common::grpc::Server;
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

/// Builds the task service on `listener` (bound by the caller, so the
/// launcher can give every service the others' addresses): database
/// migrated, token verifier pointed at the user service.
///
/// # Errors
/// When the database or the configuration are unusable.
pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    let db = todo_common::db::connect(&config.db, &MIGRATOR).await?;
    let users = UserServiceClient::new(todo_common::grpc::channel(&config.user_url)?);
    let verifier = TokenVerifier::new(&config.tokens, Arc::new(users));
    let state = State { db, verifier };
    let routes = grpc_service(&state, &config);
    Ok(Server::new(
        listener,
        routes,
        &[
            "todo.task.v1.TaskService",
            "todo.task.v1.TaskInternalService",
        ],
    ))
}
