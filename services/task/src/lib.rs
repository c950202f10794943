//! The task service: tasks in lists shared with roles, subtasks and
//! manual order, with access decided by list membership in every query,
//! conditional and idempotent writes, and reminders kept in step with the
//! notify service through the outbox.
//!
//! # Layout
//! - [`Config`]: settings from the environment.
//! - `access`: roles and what each may do, the one place that decides.
//! - `ids`: `UserId`, `TaskId` and `ListId`, so ids side by side in a
//!   call cannot be swapped, parsed from a request once.
//! - `domain`: a task's writable fields, field masks and list queries,
//!   parsed at the boundary; `list_fields`: the same for lists and
//!   sharing, with the limits.
//! - `position`: the keys that keep manual order.
//! - [`recurrence`]: repeat rules (RFC 5545 RRULE) and the next due.
//! - `store`: the SQL, every read joined with the caller's membership.
//! - [`State`]: what every request handler shares.
//! - `service`: the gRPC services; the use cases behind them are in
//!   `tasks`, `lists`, `sharing` and `erasure`; `request`: what they read
//!   from request metadata.
//! - `outbox`: the calls relayed to notify (reminders, notices,
//!   invitations); `delivery`: how the relay delivers them; `reminders`:
//!   the reminder call each change of a task queues.
//! - `idempotency`: how long an `Idempotency-Key` is remembered, and the
//!   worker that forgets expired ones; `upkeep`: adopting tasks the
//!   previous release wrote and forgetting old invitations.
//! - `error`: the error enum and its mapping to gRPC status.
//! - [`preview`]: link previews: the URLs in a task's text, fetching their
//!   pages within the SSRF guard, and reading what the pages say;
//!   `links`: the links a task records, the worker that fetches them,
//!   the shared cache and `CreateTaskFromUrl`.
//!
//! This file only wires them together: [`build`] and [`grpc_service`].

mod access;
mod config;
mod delivery;
mod domain;
mod due;
mod erasure;
mod error;
mod idempotency;
mod ids;
mod links;
mod list_fields;
mod lists;
mod outbox;
mod position;
pub mod preview;
pub mod recurrence;
mod reminders;
mod request;
mod service;
mod sharing;
mod state;
mod store;
mod tasks;
mod time_zones;
mod upkeep;

use std::sync::Arc;

use tokio::net::TcpListener;

use todo_common::auth::{AttachServiceCredential, RequireServiceCredential, TokenVerifier};
use todo_common::grpc::Server;
use todo_common::paging::PageTokens;
use todo_proto::todo::notify::v1::notify_internal_service_client::NotifyInternalServiceClient;
use todo_proto::todo::task::v1::task_internal_service_server::TaskInternalServiceServer;
use todo_proto::todo::task::v1::task_service_server::TaskServiceServer;
use todo_proto::todo::user::v1::user_internal_service_client::UserInternalServiceClient;
use todo_proto::todo::user::v1::user_service_client::UserServiceClient;
use todo_store::outbox::Relay;

pub use config::Config;
pub use state::State;

/// The migrations of the task database, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/task");

/// The gRPC services on this crate's port, as health reports them.
const SERVED: [&str; 2] = todo_common::services::TASK.names();

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
/// migrated, token verifier pointed at the user service, outbox relay
/// pointed at the notify service.
///
/// # Errors
/// When the database or the configuration are unusable.
pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    // One task, a page of one list and a task's links are read inline on
    // SQLite.
    let db = todo_store::db::connect(&config.db, &MIGRATOR)
        .await?
        .with_inline()?;
    let users = UserServiceClient::new(todo_common::upstream::channel(&config.user_url)?);
    let revocations = Arc::new(todo_store::erased::Records::new(db.pool.clone()));
    let verifier = TokenVerifier::new(&config.tokens, Arc::new(users))
        .refusing_revoked_tokens(revocations.clone());
    let notify = NotifyInternalServiceClient::with_interceptor(
        todo_common::upstream::channel(&config.notify_url)?,
        AttachServiceCredential(config.service_credential.clone()),
    );
    let users_internal = UserInternalServiceClient::with_interceptor(
        todo_common::upstream::channel(&config.user_url)?,
        AttachServiceCredential(config.service_credential.clone()),
    );
    let delivery = delivery::Delivery {
        notify,
        users: users_internal.clone(),
    };
    let relay = Relay::new(&db, Arc::new(delivery));
    let page_tokens = PageTokens::new(&config.service_credential, "tasks");
    let previews = links::Previews::new(&config.preview)?;
    let state = State {
        db: db.clone(),
        verifier,
        revocations,
        relay: relay.clone(),
        page_tokens,
        users: users_internal,
        previews: previews.clone(),
    };
    let routes = grpc_service(&state, &config);
    Ok(Server::new(
        listener,
        routes,
        &SERVED,
        todo_proto::port_descriptors::TASK,
    )
    .with_worker(|stop| relay.run(stop))
    .with_worker({
        let db = db.clone();
        |stop| links::run_until_stopped(db, previews, stop)
    })
    .with_worker({
        let db = db.clone();
        |stop| idempotency::expire_until_stopped(db, stop)
    })
    .with_worker({
        let db = db.clone();
        |stop| db.checkpoint_until_stopped(stop)
    })
    .with_worker(|stop| upkeep::run_until_stopped(db, stop)))
}

/// One pass of the rolling-deploy upkeep: tasks the previous release wrote
/// without a list go into their creator's default list. The service runs
/// it in the background; this is for tests and operators.
///
/// # Errors
/// When the database fails.
pub async fn adopt_unlisted_tasks(db: &todo_store::db::Db) -> anyhow::Result<u64> {
    Ok(upkeep::adopt(db, todo_common::clock::now_micros()).await?)
}
