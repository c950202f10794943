//! The task service's settings.

use std::net::SocketAddr;

use todo_common::auth::{ServiceCredential, TokenSettings};
use todo_common::config::var_or;
use todo_store::db::DbConfig;

/// Everything the task service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address. `TODO_TASK_LISTEN`, default `127.0.0.1:50052`.
    pub listen: SocketAddr,
    /// Its own database. `TODO_TASK_DATABASE_URL`, default
    /// `sqlite://data/task.db`; `TODO_TASK_DB_MAX_CONNECTIONS`, default 10.
    pub db: DbConfig,
    /// The user service, for the token verification keys.
    /// `TODO_USER_URL`, default `http://127.0.0.1:50051`.
    pub user_url: String,
    /// The notify service, for reminders. `TODO_NOTIFY_URL`, default
    /// `http://127.0.0.1:50053`.
    pub notify_url: String,
    /// `iss` and `aud` access tokens must carry.
    pub tokens: TokenSettings,
    /// The credential internal RPCs require: `TODO_INTERNAL_TOKEN`, the
    /// same for every service. Unset: a random one, which only works when
    /// every service runs in one process (the launcher shares one).
    pub service_credential: ServiceCredential,
}

impl Config {
    /// # Errors
    /// When a variable is set but invalid.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            listen: var_or(
                "TODO_TASK_LISTEN",
                SocketAddr::from(([127, 0, 0, 1], 50052)),
            )?,
            db: DbConfig::from_env("TODO_TASK", "task")?,
            user_url: var_or("TODO_USER_URL", "http://127.0.0.1:50051".to_owned())?,
            notify_url: var_or("TODO_NOTIFY_URL", "http://127.0.0.1:50053".to_owned())?,
            tokens: TokenSettings::from_env()?,
            service_credential: ServiceCredential::from_env()?
                .unwrap_or_else(ServiceCredential::random),
        })
    }
}
