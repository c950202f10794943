//! The user service's settings.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use todo_common::auth::{ServiceCredential, TokenSettings};
use todo_common::config::{Lookup, var_opt, var_or};
use todo_common::services;
use todo_store::db::DbConfig;

use crate::kek::KeyEncryptionKey;

/// Everything the user service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address. `TODO_USER_LISTEN`, default `127.0.0.1:50051`.
    pub listen: SocketAddr,
    /// Its own database. `TODO_USER_DATABASE_URL`, default
    /// `sqlite://data/user.db`; `TODO_USER_DB_MAX_CONNECTIONS`, default one per core
    /// on SQLite (2 to 16), 10 on MySQL.
    pub db: DbConfig,
    /// The notify service, for welcome and security e-mails.
    /// `TODO_NOTIFY_URL`, default `http://127.0.0.1:50053`.
    pub notify_url: String,
    /// The task service, to erase a deleted user's tasks.
    /// `TODO_TASK_URL`, default `http://127.0.0.1:50052`.
    pub task_url: String,
    /// `iss` and `aud` of access tokens (`TODO_JWT_ISSUER`,
    /// `TODO_JWT_AUDIENCE`).
    pub tokens: TokenSettings,
    /// A PEM (PKCS#8) Ed25519 key to sign with, from
    /// `TODO_JWT_PRIVATE_KEY_FILE`. Unset: a key is generated on first start
    /// and kept in the database, so restarts keep tokens valid.
    pub signing_key_pem: Option<String>,
    /// Seals the signing keys in the database (AES-256-GCM), so the user
    /// database alone cannot sign tokens: `TODO_KEY_ENCRYPTION_KEY`, 32
    /// bytes in base64, or `TODO_KEY_ENCRYPTION_KEY_FILE`, a file holding
    /// that. Unset: plain text, allowed with SQLite (warned at start-up)
    /// and refused with MySQL unless `allow_plaintext_keys`.
    pub key_encryption_key: Option<KeyEncryptionKey>,
    /// `TODO_USER_ALLOW_PLAINTEXT_KEYS`, default `false`: lets the service
    /// start on MySQL without a key-encryption key, keys in plain text.
    pub allow_plaintext_keys: bool,
    /// The credential internal RPCs require: `TODO_INTERNAL_TOKEN`, the
    /// same for every service. Unset: a random one, which only works when
    /// every service runs in one process (the launcher shares one).
    pub service_credential: ServiceCredential,
    /// Argon2 hashes running at once; more wait, so a burst of logins
    /// cannot take every core. `TODO_USER_HASH_CONCURRENCY`, default: the
    /// number of cores.
    pub hash_concurrency: usize,
    /// How often a client may fail to log in, register or ask for a reset.
    pub limits: Limits,
}

/// At most `max` events per `window`, per subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub const fn new(max: u32, window_seconds: u64) -> Self {
        Self {
            max,
            window: Duration::from_secs(window_seconds),
        }
    }
}

/// `COUNT/SECONDS`, e.g. `10/900`: what an operator writes.
impl FromStr for Limit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected COUNT/SECONDS such as 10/900, got {s:?}");
        let (max, window) = s.split_once('/').ok_or_else(bad)?;
        let max: u32 = max.trim().parse().map_err(|_| bad())?;
        let window: u64 = window.trim().parse().map_err(|_| bad())?;
        if max == 0 || window == 0 {
            return Err(bad());
        }
        Ok(Self::new(max, window))
    }
}

/// Abuse limits. They are counted in the user database, so they hold
/// across replicas and restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failed logins (and failed password confirmations) per account and,
    /// separately, per client address; past it every attempt is refused,
    /// the right password too, until the window has passed.
    /// `TODO_USER_LOGIN_FAILURE_LIMIT`, default `10/900`.
    pub login_failures: Limit,
    /// Registrations per client address. `TODO_USER_REGISTRATION_LIMIT`,
    /// default `20/3600`.
    pub registrations: Limit,
    /// Password reset requests per client address.
    /// `TODO_USER_RESET_REQUEST_LIMIT`, default `10/3600`.
    pub reset_requests: Limit,
    /// Verification e-mails sent again and address changes, together, per
    /// account. `TODO_USER_ACCOUNT_MAIL_LIMIT`, default `5/3600`.
    pub account_mails: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_failures: Limit::new(10, 15 * 60),
            registrations: Limit::new(20, 3600),
            reset_requests: Limit::new(10, 3600),
            account_mails: Limit::new(5, 3600),
        }
    }
}

impl Limits {
    /// # Errors
    /// When a variable is set but invalid.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, todo_common::config::ConfigError> {
        let d = Self::default();
        Ok(Self {
            login_failures: var_or(lookup, "TODO_USER_LOGIN_FAILURE_LIMIT", d.login_failures)?,
            registrations: var_or(lookup, "TODO_USER_REGISTRATION_LIMIT", d.registrations)?,
            reset_requests: var_or(lookup, "TODO_USER_RESET_REQUEST_LIMIT", d.reset_requests)?,
            account_mails: var_or(lookup, "TODO_USER_ACCOUNT_MAIL_LIMIT", d.account_mails)?,
        })
    }

    /// The longest window: events older than that count for nothing.
    pub fn longest_window(&self) -> Duration {
        self.login_failures
            .window
            .max(self.registrations.window)
            .max(self.reset_requests.window)
            .max(self.account_mails.window)
    }
}

impl Default for Config {
    /// The documented defaults: a signing key generated and kept in the
    /// database, no key-encryption key, the service credential a random
    /// one, a hash at a time per core.
    fn default() -> Self {
        Self {
            listen: services::USER.default_listen(),
            db: DbConfig::named("user"),
            notify_url: services::NOTIFY.default_url(),
            task_url: services::TASK.default_url(),
            tokens: TokenSettings::default(),
            signing_key_pem: None,
            key_encryption_key: None,
            allow_plaintext_keys: false,
            service_credential: ServiceCredential::random(),
            hash_concurrency: std::thread::available_parallelism()
                .map_or(2, std::num::NonZero::get),
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// The settings in the process environment.
    ///
    /// # Errors
    /// See [`Self::from_lookup`].
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(todo_common::config::env)
    }

    /// The settings `lookup` gives, each unset one at its default.
    ///
    /// # Errors
    /// When a variable is set but invalid, or the key file is unreadable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let lookup: Lookup<'_> = &lookup;
        let d = Self::default();
        let signing_key_pem = match var_opt(lookup, "TODO_JWT_PRIVATE_KEY_FILE") {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read TODO_JWT_PRIVATE_KEY_FILE: {e}"))?,
            ),
            None => None,
        };
        let key_encryption_key = match (
            var_opt(lookup, "TODO_KEY_ENCRYPTION_KEY"),
            var_opt(lookup, "TODO_KEY_ENCRYPTION_KEY_FILE"),
        ) {
            (Some(_), Some(_)) => anyhow::bail!(
                "set TODO_KEY_ENCRYPTION_KEY or TODO_KEY_ENCRYPTION_KEY_FILE, not both"
            ),
            (Some(raw), None) => Some(
                KeyEncryptionKey::from_base64(&raw)
                    .map_err(|e| anyhow::anyhow!("TODO_KEY_ENCRYPTION_KEY: {e}"))?,
            ),
            (None, Some(path)) => {
                let raw = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("cannot read TODO_KEY_ENCRYPTION_KEY_FILE: {e}")
                })?;
                Some(
                    KeyEncryptionKey::from_base64(&raw)
                        .map_err(|e| anyhow::anyhow!("TODO_KEY_ENCRYPTION_KEY_FILE: {e}"))?,
                )
            }
            (None, None) => None,
        };
        Ok(Self {
            listen: var_or(lookup, &services::USER.listen_var(), d.listen)?,
            db: DbConfig::from_lookup(lookup, "TODO_USER", "user")?,
            notify_url: var_or(lookup, &services::NOTIFY.url_var(), d.notify_url)?,
            task_url: var_or(lookup, &services::TASK.url_var(), d.task_url)?,
            tokens: TokenSettings::from_lookup(lookup)?,
            signing_key_pem,
            key_encryption_key,
            allow_plaintext_keys: var_or(
                lookup,
                "TODO_USER_ALLOW_PLAINTEXT_KEYS",
                d.allow_plaintext_keys,
            )?,
            service_credential: ServiceCredential::from_lookup(lookup)?
                .unwrap_or(d.service_credential),
            hash_concurrency: var_or(lookup, "TODO_USER_HASH_CONCURRENCY", d.hash_concurrency)?
                .max(1),
            limits: Limits::from_lookup(lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_variables_take_the_documented_defaults() {
        let config = Config::from_lookup(|_| None).unwrap();
        let default = Config::default();
        assert_eq!(config.listen, services::USER.default_listen());
        assert_eq!(config.listen, default.listen);
        assert_eq!(config.notify_url, "http://127.0.0.1:50053");
        assert_eq!(config.task_url, default.task_url);
        assert_eq!(config.db.url, "sqlite://data/user.db");
        assert_eq!(config.tokens.audience, "todo");
        assert!(config.signing_key_pem.is_none() && config.key_encryption_key.is_none());
        assert!(!config.allow_plaintext_keys);
        assert_eq!(config.hash_concurrency, default.hash_concurrency);
        assert_eq!(config.limits, Limits::default());
    }

    #[test]
    fn limits_parse_from_count_and_seconds() {
        assert_eq!("10/900".parse(), Ok(Limit::new(10, 900)));
        assert_eq!(" 3 / 60 ".parse(), Ok(Limit::new(3, 60)));
        for bad in ["10", "0/900", "10/0", "x/1", "-1/5", "1/-5"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad}");
        }
    }
}
