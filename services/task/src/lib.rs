//! The task service: each user's tasks, with ownership enforced in every
//! query, conditional and idempotent writes, and reminders kept in step
//! with the notify service through the outbox.
//!
//! # Layout
//! - [`Config`]: settings from the environment.
//! - `domain`: a task's writable fields and field masks, parsed at the
//!   boundary.
//! - `store`: the SQL, every statement scoped to the owner.
//! - `service`: the gRPC services.
//! - `error`: the error enum and its mapping to gRPC status.

mod config;
mod domain;
mod error;
mod service;
mod store;

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::net::TcpListener;
use tonic::Status;

use todo_common::CancellationToken;
use todo_common::auth::{
    AttachServiceCredential, RequireServiceCredential, ServiceChannel, TokenVerifier,
};
use todo_common::clock::now_micros;
use todo_common::db::Db;
use todo_common::grpc::Server;
use todo_common::outbox::{Deliver, Relay};
use todo_common::paging::PageTokens;
use todo_common::poll::{self, Pass, Schedule};
use todo_proto::todo::notify::v1::notify_internal_service_client::NotifyInternalServiceClient;
use todo_proto::todo::notify::v1::{CancelReminderRequest, ScheduleReminderRequest};
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
    relay: Relay,
    page_tokens: PageTokens,
}

/// The gRPC services of this crate, ready to be served.
pub fn grpc_service(state: &State, config: &Config) -> tonic::service::Routes {
    let internal = tonic::service::interceptor::InterceptedService::new(
        TaskInternalServiceServer::new(state.clone()),
        RequireServiceCredential(config.service_credential.clone()),
    );
    tonic::service::Routes::new(TaskServiceServer::new(state.clone())).add_service(internal)
}

/// Delivers reminder changes to the notify service.
struct NotifyDelivery(NotifyInternalServiceClient<ServiceChannel>);

#[tonic::async_trait]
impl Deliver for NotifyDelivery {
    async fn deliver(&self, kind: &str, payload: &[u8]) -> Result<(), Status> {
        let corrupt = |_| Status::data_loss("corrupt outbox payload");
        let mut client = self.0.clone();
        match kind {
            service::SCHEDULE_REMINDER => client
                .schedule_reminder(ScheduleReminderRequest::decode(payload).map_err(corrupt)?)
                .await
                .map(drop),
            service::CANCEL_REMINDER => client
                .cancel_reminder(CancelReminderRequest::decode(payload).map_err(corrupt)?)
                .await
                .map(drop),
            other => Err(Status::internal(format!("unknown outbox kind {other}"))),
        }
    }
}

/// How often expired idempotency keys are deleted.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(3600);

/// Forgets expired idempotency keys once an hour.
async fn expire_idempotency_keys(db: Db, stop: CancellationToken) {
    let schedule = Schedule {
        worker: "idempotency key expiry",
        idle: EXPIRY_INTERVAL,
        wake: None,
    };
    poll::run(schedule, stop, || async {
        let before = now_micros() - service::IDEMPOTENCY_TTL_MICROS;
        store::expire_idempotency_keys(&db.pool, before).await?;
        Ok::<_, error::Error>(Pass::Idle)
    })
    .await;
}

/// Builds the task service on `listener` (bound by the caller, so the
/// launcher can give every service the others' addresses): database
/// migrated, token verifier pointed at the user service, outbox relay
/// pointed at the notify service.
///
/// # Errors
/// When the database or the configuration are unusable.
pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    let db = todo_common::db::connect(&config.db, &MIGRATOR).await?;
    let users = UserServiceClient::new(todo_common::grpc::channel(&config.user_url)?);
    let verifier = TokenVerifier::new(&config.tokens, Arc::new(users))
        .refusing_revoked_tokens(db.pool.clone());
    let notify = NotifyInternalServiceClient::with_interceptor(
        todo_common::grpc::channel(&config.notify_url)?,
        AttachServiceCredential(config.service_credential.clone()),
    );
    let relay = Relay::new(db.pool.clone(), Arc::new(NotifyDelivery(notify)));
    let page_tokens = PageTokens::new(&config.service_credential, "tasks");
    let state = State {
        db: db.clone(),
        verifier,
        relay: relay.clone(),
        page_tokens,
    };
    let routes = grpc_service(&state, &config);
    Ok(Server::new(
        listener,
        routes,
        &[
            "todo.task.v1.TaskService",
            "todo.task.v1.TaskInternalService",
        ],
        todo_proto::port_descriptors::TASK,
    )
    .with_worker(|stop| relay.run(stop))
    .with_worker(|stop| expire_idempotency_keys(db, stop)))
}
