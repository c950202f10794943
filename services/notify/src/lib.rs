//! The notify service: durable e-mail delivery, reminders and the in-app
//! inbox.
//!
//! # Layout
//! - [`Config`]: settings from the environment.
//! - `mail`: templates and the SMTP or file transport.
//! - `queue`: the durable e-mail queue and its worker.
//! - `invitation`: what an invitation e-mail carries.
//! - `inbox`: in-app notifications and settings.
//! - `notice`: the notifications other services add to an inbox.
//! - `reminders`: reminders kept in step with tasks, fired once.
//! - `fields`: checks that several requests' fields share.
//! - `service`: the gRPC services.
//! - `error`: the error enum and its mapping to gRPC status.

mod config;
mod error;
mod fields;
mod inbox;
mod invitation;
mod mail;
mod notice;
mod queue;
mod reminders;
mod service;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use tokio::net::TcpListener;

use todo_common::auth::{AttachServiceCredential, RequireServiceCredential, TokenVerifier};
use todo_common::grpc::Server;
use todo_common::paging::PageTokens;
use todo_proto::todo::notify::v1::notify_internal_service_server::NotifyInternalServiceServer;
use todo_proto::todo::notify::v1::notify_service_server::NotifyServiceServer;
use todo_proto::todo::user::v1::user_internal_service_client::UserInternalServiceClient;
use todo_proto::todo::user::v1::user_service_client::UserServiceClient;
use todo_store::db::Db;

pub use config::{Config, MailConfig};

/// The migrations of the notify database, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/notify");

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct State {
    db: Db,
    verifier: TokenVerifier,
    worker: queue::Worker,
    firer: reminders::Firer,
    page_tokens: PageTokens,
}

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

impl State {
    /// Everything the handlers share: the database connected and
    /// migrated, the e-mail and reminder workers made but not started.
    async fn new(config: &Config) -> anyhow::Result<Self> {
        let db = todo_store::db::connect(&config.db, &MIGRATOR).await?;
        let users = UserServiceClient::new(todo_common::grpc::channel(&config.user_url)?);
        let verifier = TokenVerifier::new(&config.tokens, Arc::new(users))
            .refusing_revoked_tokens(Arc::new(todo_store::erased::Records(db.pool.clone())));
        let worker = queue::Worker::new(db.clone(), mail::Mailer::new(&config.mail)?);
        let user_contacts = UserInternalServiceClient::with_interceptor(
            todo_common::grpc::channel(&config.user_url)?,
            AttachServiceCredential(config.service_credential.clone()),
        );
        let firer = reminders::Firer::new(db.pool.clone(), user_contacts, worker.clone());
        Ok(Self {
            db,
            verifier,
            worker,
            firer,
            page_tokens: PageTokens::new(&config.service_credential, "notifications"),
        })
    }
}

/// Builds the notify service on `listener` (bound by the caller, so the
/// launcher can give every service the others' addresses): database
/// migrated, mailer, e-mail worker and reminder worker ready.
///
/// # Errors
/// When the database, the mail settings or the configuration are unusable.
pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    let state = State::new(&config).await?;
    let routes = grpc_service(&state, &config);
    let firer = state.firer.clone();
    let server = Server::new(
        listener,
        routes,
        &SERVED,
        todo_proto::port_descriptors::NOTIFY,
    )
    .with_worker(|stop| firer.run(stop));
    // Workers share the queue; each claims its own batches.
    let mut server = server;
    for _ in 0..config.mail_workers.max(1) {
        let worker = state.worker.sibling();
        server = server.with_worker(|stop| worker.run(stop));
    }
    Ok(server)
}
