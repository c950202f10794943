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
//! - `service`: the gRPC services.
//! - `error`: the error enum and its mapping to gRPC status.

mod config;
mod domain;
mod error;
mod kek;
mod keys;
mod password;
mod service;
mod store;
mod throttle;
mod tokens;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prost::Message;
use tokio::net::TcpListener;
use tonic::Status;

use todo_common::CancellationToken;
use todo_common::auth::{
    AttachServiceCredential, RequireServiceCredential, ServiceChannel, ServiceCredential,
    TokenSettings, TokenVerifier,
};
use todo_common::clock::now_micros;
use todo_common::db::Db;
use todo_common::grpc::Server;
use todo_common::outbox::{Deliver, Relay};
use todo_common::poll::{self, Pass, Schedule};
use todo_proto::todo::notify::v1::RevokeAccessTokensRequest as NotifyRevoke;
use todo_proto::todo::notify::v1::notify_internal_service_client::NotifyInternalServiceClient;
use todo_proto::todo::notify::v1::{EraseUserDataRequest, SendEmailRequest};
use todo_proto::todo::task::v1::EraseUserTasksRequest;
use todo_proto::todo::task::v1::RevokeAccessTokensRequest as TaskRevoke;
use todo_proto::todo::task::v1::task_internal_service_client::TaskInternalServiceClient;
use todo_proto::todo::user::v1::user_internal_service_server::UserInternalServiceServer;
use todo_proto::todo::user::v1::user_service_server::UserServiceServer;

pub use config::{Config, Limit, Limits};
pub use kek::KeyEncryptionKey;

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
    limits: Limits,
    /// The credential of the platform's own services and edge: only a
    /// caller that presents it may name the client's address.
    service_credential: ServiceCredential,
}

/// The gRPC services of this crate, ready to be served.
pub fn grpc_service(state: &State, config: &Config) -> tonic::service::Routes {
    let internal = tonic::service::interceptor::InterceptedService::new(
        UserInternalServiceServer::new(state.clone()),
        RequireServiceCredential(config.service_credential.clone()),
    );
    tonic::service::Routes::new(UserServiceServer::new(state.clone())).add_service(internal)
}

/// Delivers outbox messages: e-mails and erasures to the services they
/// are for, and password reset requests to this service itself.
struct Delivery {
    db: Db,
    notify: NotifyInternalServiceClient<ServiceChannel>,
    task: TaskInternalServiceClient<ServiceChannel>,
    /// The relay that runs this delivery, to wake it when a delivery
    /// enqueues a follow-up; set once both exist.
    relay: OnceLock<Relay>,
}

/// Reset e-mails one account gets per hour at most, however many clients
/// ask: the address-based throttle alone would let many clients flood one
/// mailbox. Extra requests are dropped silently, as for unknown addresses.
const RESET_MAILS_PER_HOUR: i64 = 3;

fn corrupt(_: prost::DecodeError) -> Status {
    Status::data_loss("corrupt outbox payload")
}

/// A database failure inside a delivery: logged here, retried by the relay.
fn retry_later(e: error::Error) -> Status {
    tracing::warn!(error = %format!("{:#}", anyhow::Error::from(e)), "outbox delivery cannot use the database");
    Status::unavailable("database unavailable")
}

#[tonic::async_trait]
impl Deliver for Delivery {
    async fn deliver(&self, kind: &str, payload: &[u8]) -> Result<(), Status> {
        match kind {
            service::SEND_EMAIL => {
                let req = SendEmailRequest::decode(payload).map_err(corrupt)?;
                // An account deleted since the e-mail was queued gets none.
                if !store::user_exists(&self.db.pool, &req.user_id)
                    .await
                    .map_err(retry_later)?
                {
                    return Ok(());
                }
                self.notify.clone().send_email(req).await.map(drop)
            }
            service::ISSUE_PASSWORD_RESET => {
                let req = SendEmailRequest::decode(payload).map_err(corrupt)?;
                self.issue_password_reset(req).await.map_err(retry_later)
            }
            service::ERASE_TASKS => {
                let req = EraseUserTasksRequest::decode(payload).map_err(corrupt)?;
                self.task.clone().erase_user_tasks(req).await.map(drop)
            }
            service::ERASE_NOTIFICATIONS => {
                let req = EraseUserDataRequest::decode(payload).map_err(corrupt)?;
                self.notify.clone().erase_user_data(req).await.map(drop)
            }
            service::REVOKE_TASK_TOKENS => {
                let req = TaskRevoke::decode(payload).map_err(corrupt)?;
                self.task.clone().revoke_access_tokens(req).await.map(drop)
            }
            service::REVOKE_NOTIFY_TOKENS => {
                let req = NotifyRevoke::decode(payload).map_err(corrupt)?;
                self.notify
                    .clone()
                    .revoke_access_tokens(req)
                    .await
                    .map(drop)
            }
            other => Err(Status::internal(format!("unknown outbox kind {other}"))),
        }
    }
}

impl Delivery {
    /// Turns a queued reset request into a reset token and its e-mail, in
    /// one transaction; an address without an account gets nothing.
    async fn issue_password_reset(&self, mut mail: SendEmailRequest) -> Result<(), error::Error> {
        let Some(user) = store::user_by_email_key(&self.db.pool, &mail.to_email).await? else {
            return Ok(());
        };
        let now = now_micros();
        let mut tx = self.db.begin_write().await?;
        let hour_ago = now - 3600 * 1_000_000;
        if store::email_tokens_since(&mut tx, &user.id, store::Purpose::ResetPassword, hour_ago)
            .await?
            >= RESET_MAILS_PER_HOUR
        {
            tracing::info!(user_id = %user.id, "reset e-mail limit reached; request dropped");
            return Ok(());
        }
        let token = tokens::new_secret();
        store::insert_email_token(
            &mut tx,
            &tokens::digest(&token),
            &user.id,
            store::Purpose::ResetPassword,
            None,
            now + tokens::RESET_TTL_MICROS,
            now,
        )
        .await?;
        mail.user_id.clone_from(&user.id);
        mail.to_email.clone_from(&user.email);
        mail.display_name.clone_from(&user.display_name);
        mail.token = token;
        todo_common::outbox::enqueue(&mut tx, service::SEND_EMAIL, mail.encode_to_vec()).await?;
        tx.commit().await?;
        if let Some(relay) = self.relay.get() {
            relay.poke();
        }
        Ok(())
    }
}

/// How often old throttle events are deleted.
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// Deletes throttle events that no window reaches any more, so the table
/// stays as small as the traffic of the longest window.
async fn prune_throttle(db: Db, limits: Limits, shutdown: CancellationToken) {
    let schedule = Schedule {
        worker: "throttle pruning",
        idle: PRUNE_INTERVAL,
        wake: None,
    };
    poll::run(schedule, shutdown, || async {
        let keep = limits.longest_window().max(service::SIGNUP_NOTICE_WINDOW);
        let n = throttle::prune(&db.pool, keep, now_micros()).await?;
        if n > 0 {
            tracing::debug!(rows = n, "throttle events pruned");
        }
        Ok::<_, error::Error>(Pass::Idle)
    })
    .await;
}

/// Refuses to store signing keys in plain text in a production database:
/// without a key-encryption key, anyone who reads the user schema (a
/// backup, a snapshot) could sign access tokens for any user. The embedded
/// SQLite mode, for development, keeps plain text with a loud warning.
///
/// # Errors
/// MySQL/MariaDB without a KEK, unless plain text is explicitly allowed.
fn check_key_encryption(config: &Config) -> anyhow::Result<()> {
    if config.key_encryption_key.is_some() {
        return Ok(());
    }
    match todo_common::db::Backend::of_url(&config.db.url)? {
        todo_common::db::Backend::Sqlite => {
            tracing::warn!(
                "no TODO_KEY_ENCRYPTION_KEY: the token signing key is stored in plain text in the \
                 SQLite database; fine for development, never for production"
            );
        }
        todo_common::db::Backend::MySql if config.allow_plaintext_keys => {
            tracing::warn!(
                "no TODO_KEY_ENCRYPTION_KEY and TODO_USER_ALLOW_PLAINTEXT_KEYS=true: the token \
                 signing key is stored in plain text in the user database"
            );
        }
        todo_common::db::Backend::MySql => anyhow::bail!(
            "refusing to store the token signing key in plain text in MySQL: set \
             TODO_KEY_ENCRYPTION_KEY or TODO_KEY_ENCRYPTION_KEY_FILE (32 bytes, base64: openssl \
             rand -base64 32), or TODO_USER_ALLOW_PLAINTEXT_KEYS=true to accept the risk"
        ),
    }
    Ok(())
}

/// Builds the user service on `listener`: database migrated, keys loaded,
/// outbox relay ready. The caller binds the port, so the launcher can bind
/// every service first and give each the others' addresses.
///
/// # Errors
/// When the database, the keys or the configuration are unusable.
pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    check_key_encryption(&config)?;
    let db = todo_common::db::connect(&config.db, &MIGRATOR).await?;
    let keys = keys::KeyRing::load(
        &db,
        config.signing_key_pem.as_deref(),
        config.key_encryption_key.as_ref(),
    )
    .await?;
    let verifier = TokenVerifier::new(&config.tokens, Arc::new(keys.clone()));
    let notify = NotifyInternalServiceClient::with_interceptor(
        todo_common::grpc::channel(&config.notify_url)?,
        AttachServiceCredential(config.service_credential.clone()),
    );
    let task = TaskInternalServiceClient::with_interceptor(
        todo_common::grpc::channel(&config.task_url)?,
        AttachServiceCredential(config.service_credential.clone()),
    );
    let delivery = Arc::new(Delivery {
        db: db.clone(),
        notify,
        task,
        relay: OnceLock::new(),
    });
    let relay = Relay::new(db.pool.clone(), delivery.clone());
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
        &[
            "todo.user.v1.UserService",
            "todo.user.v1.UserInternalService",
        ],
        todo_proto::port_descriptors::USER,
    )
    .with_worker(|stop| relay.run(stop))
    .with_worker(move |stop| prune_throttle(pruning, config.limits, stop)))
}
