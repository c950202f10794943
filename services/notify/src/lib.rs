//! The notify service: durable e-mail delivery, reminders and the in-app
//! inbox.
//!
//! # Layout
//! - [`Config`]: settings from the environment.
//! - [`State`]: what every request handler shares (`state`).
//! - `service`: the gRPC handlers: parse the request into domain types,
//!   call the use case, map the result.
//! - `use_cases`: what the service does, one method of [`State`] each
//!   (`inbox`, `settings`, `emails`, `reminders`, `account`).
//! - `domain`: e-mails, invitations, notifications, notices, reminders,
//!   settings, time zones and digests, each parsed once from its request.
//! - `store`: the SQL, returning domain types (`emails`, `inbox`,
//!   `settings`, `reminders`, `zones`, `digests`).
//! - `workers`: the e-mail worker that drains the queue, the reminder
//!   worker that fires due reminders, and the digest worker.
//! - `mail`: templates and the SMTP or file transport.
//! - `calls`: calls to the other services, bounded in time.
//! - `error`: the error enum and its mapping to gRPC status.
//!
//! This file only wires them together: [`build`] and [`grpc_service`].

mod calls;
mod config;
mod domain;
mod error;
mod mail;
mod service;
mod state;
mod store;
#[cfg(test)]
mod testing;
mod use_cases;
mod workers;

use tokio::net::TcpListener;

use todo_common::auth::RequireServiceCredential;
use todo_common::grpc::Server;
use todo_proto::todo::notify::v1::notify_internal_service_server::NotifyInternalServiceServer;
use todo_proto::todo::notify::v1::notify_service_server::NotifyServiceServer;

pub use config::{Config, MailConfig};
pub use state::State;

/// The migrations of the notify database, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/notify");

/// The gRPC services on this crate's port, as health reports them.
const SERVED: [&str; 2] = todo_common::services::NOTIFY.names();

/// The gRPC services of this crate, ready to be served.
pub fn grpc_service(state: &State, config: &Config) -> tonic::service::Routes {
    let internal = tonic::service::interceptor::InterceptedService::new(
        NotifyInternalServiceServer::new(state.clone()),
        RequireServiceCredential(config.service_credential.clone()),
    );
    tonic::service::Routes::new(NotifyServiceServer::new(state.clone())).add_service(internal)
}

/// Builds the notify service on `listener` (bound by the caller, so the
/// launcher can give every service the others' addresses): database
/// migrated, mailer, e-mail, reminder and digest workers ready.
///
/// # Errors
/// When the database, the mail settings or the configuration are unusable.
pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    let state = State::new(&config).await?;
    let routes = grpc_service(&state, &config);
    let firer = state.firer.clone();
    let digester = state.digester.clone();
    let server = Server::new(
        listener,
        routes,
        &SERVED,
        todo_proto::port_descriptors::NOTIFY,
    )
    .with_worker(|stop| firer.run(stop))
    .with_worker(|stop| digester.run(stop));
    // Workers share the queue; each claims its own batches.
    let mut server = server;
    for _ in 0..config.mail_workers.max(1) {
        let worker = state.mail_worker.sibling();
        server = server.with_worker(|stop| worker.run(stop));
    }
    Ok(server)
}
