//! The user service's settings.

use std::net::SocketAddr;

use todo_common::auth::{ServiceCredential, TokenSettings};
use todo_common::config::{var_opt, var_or};
use todo_common::db::DbConfig;

/// Everything the user service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address. `TODO_USER_LISTEN`, default `127.0.0.1:50051`.
    pub listen: SocketAddr,
    /// Its own database. `TODO_USER_DATABASE_URL`, default
    /// `sqlite://data/user.db`; `TODO_USER_DB_MAX_CONNECTIONS`, default 10.
    pub db: DbConfig,
    /// The notify service, for welcome and security e-mails.
    /// `TODO_NOTIFY_URL`, default `http://127.0.0.1:50053`.
    pub notify_url: String,
    /// `iss` and `aud` of access tokens (`TODO_JWT_ISSUER`,
    /// `TODO_JWT_AUDIENCE`).
    pub tokens: TokenSettings,
    /// A PEM (PKCS#8) Ed25519 key to sign with, from
    /// `TODO_JWT_PRIVATE_KEY_FILE`. Unset: a key is generated on first start
    /// and kept in the database, so restarts keep tokens valid.
    pub signing_key_pem: Option<String>,
    /// The credential internal RPCs require: `TODO_INTERNAL_TOKEN`, the
    /// same for every service. Unset: a random one, which only works when
    /// every service runs in one process (the launcher shares one).
    pub service_credential: ServiceCredential,
    /// Argon2 hashes running at once; more wait, so a burst of logins
    /// cannot take every core. `TODO_USER_HASH_CONCURRENCY`, default: the
    /// number of cores.
    pub hash_concurrency: usize,
}

impl Config {
    /// # Errors
    /// When a variable is set but invalid, or the key file is unreadable.
    pub fn from_env() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let signing_key_pem = match var_opt("TODO_JWT_PRIVATE_KEY_FILE") {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read TODO_JWT_PRIVATE_KEY_FILE: {e}"))?,
            ),
            None => None,
        };
        Ok(Self {
            listen: var_or(
                "TODO_USER_LISTEN",
                SocketAddr::from(([127, 0, 0, 1], 50051)),
            )?,
            db: DbConfig::from_env("TODO_USER", "user")?,
            notify_url: var_or("TODO_NOTIFY_URL", "http://127.0.0.1:50053".to_owned())?,
            tokens: TokenSettings::from_env()?,
            signing_key_pem,
            service_credential: ServiceCredential::from_env()?
                .unwrap_or_else(ServiceCredential::random),
            hash_concurrency: var_or("TODO_USER_HASH_CONCURRENCY", cores)?.max(1),
        })
    }
}
