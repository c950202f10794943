//! The task service's settings.

use std::net::SocketAddr;

use todo_common::auth::{ServiceCredential, TokenSettings};
use todo_common::config::{ConfigError, Lookup, var_opt, var_or};
use todo_common::services;
use todo_store::db::DbConfig;

use crate::preview;

/// Everything the task service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address. `TODO_TASK_LISTEN`, default `127.0.0.1:50052`.
    pub listen: SocketAddr,
    /// Its own database. `TODO_TASK_DATABASE_URL`, default
    /// `sqlite://data/task.db`; `TODO_TASK_DB_MAX_CONNECTIONS`, default one per core
    /// on SQLite (2 to 16), 10 on MySQL.
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
    /// Link previews: `TODO_PREVIEW_ALLOW_LOOPBACK`, `TODO_PREVIEW_PORTS`,
    /// `TODO_PREVIEW_MAX_CONCURRENT`, `TODO_PREVIEW_FETCHES_PER_MINUTE` (see [`preview::Settings`]).
    pub preview: preview::Settings,
}

impl Default for Config {
    /// The documented defaults; the service credential a random one.
    fn default() -> Self {
        Self {
            listen: services::TASK.default_listen(),
            db: DbConfig::named("task"),
            user_url: services::USER.default_url(),
            notify_url: services::NOTIFY.default_url(),
            tokens: TokenSettings::default(),
            service_credential: ServiceCredential::random(),
            preview: preview::Settings::default(),
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
    /// When a variable is set but invalid.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let lookup: Lookup<'_> = &lookup;
        let d = Self::default();
        Ok(Self {
            listen: var_or(lookup, &services::TASK.listen_var(), d.listen)?,
            db: DbConfig::from_lookup(lookup, "TODO_TASK", "task")?,
            user_url: var_or(lookup, &services::USER.url_var(), d.user_url)?,
            notify_url: var_or(lookup, &services::NOTIFY.url_var(), d.notify_url)?,
            tokens: TokenSettings::from_lookup(lookup)?,
            service_credential: ServiceCredential::from_lookup(lookup)?
                .unwrap_or(d.service_credential),
            preview: preview::Settings {
                allow_loopback: var_or(
                    lookup,
                    "TODO_PREVIEW_ALLOW_LOOPBACK",
                    d.preview.allow_loopback,
                )?,
                ports: match var_opt(lookup, "TODO_PREVIEW_PORTS") {
                    None => d.preview.ports,
                    Some(raw) => {
                        preview::parse_ports(&raw).map_err(|reason| ConfigError::Invalid {
                            name: "TODO_PREVIEW_PORTS".to_owned(),
                            reason,
                        })?
                    }
                },
                max_concurrent: var_or(
                    lookup,
                    "TODO_PREVIEW_MAX_CONCURRENT",
                    d.preview.max_concurrent,
                )?,
                per_user_per_minute: var_or(
                    lookup,
                    "TODO_PREVIEW_FETCHES_PER_MINUTE",
                    d.preview.per_user_per_minute,
                )?,
                ..d.preview
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use todo_common::services;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn unset_variables_take_the_documented_defaults() {
        let config = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(config.listen, services::TASK.default_listen());
        assert_eq!(config.user_url, "http://127.0.0.1:50051");
        assert_eq!(config.notify_url, "http://127.0.0.1:50053");
        assert_eq!(config.db.url, "sqlite://data/task.db");
        assert!(!config.preview.allow_loopback);
        assert_eq!(config.preview.ports, [80, 443]);
        assert_eq!(config.preview.max_concurrent, 16);
        assert_eq!(config.preview.per_user_per_minute, 60);
    }

    #[test]
    fn preview_settings_are_read() {
        let config = Config::from_lookup(lookup(&[
            ("TODO_PREVIEW_ALLOW_LOOPBACK", "true"),
            ("TODO_PREVIEW_PORTS", "80,443,8080"),
            ("TODO_PREVIEW_MAX_CONCURRENT", "4"),
            ("TODO_PREVIEW_FETCHES_PER_MINUTE", "3"),
        ]))
        .unwrap();
        assert_eq!(config.preview.per_user_per_minute, 3);
        assert!(config.preview.allow_loopback);
        assert_eq!(config.preview.ports, [80, 443, 8080]);
        assert_eq!(config.preview.max_concurrent, 4);
        for (name, value) in [
            ("TODO_PREVIEW_ALLOW_LOOPBACK", "yes"),
            ("TODO_PREVIEW_PORTS", "80,x"),
        ] {
            let error = Config::from_lookup(lookup(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(error.contains(name), "{error}");
        }
    }

    #[test]
    fn set_variables_win_and_blank_ones_count_as_unset() {
        let config = Config::from_lookup(lookup(&[
            ("TODO_TASK_LISTEN", "0.0.0.0:7000"),
            ("TODO_USER_URL", "http://user:50051"),
            ("TODO_NOTIFY_URL", "  "),
            ("TODO_TASK_DATABASE_URL", "mysql://db/task"),
        ]))
        .unwrap();
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.user_url, "http://user:50051");
        assert_eq!(config.notify_url, services::NOTIFY.default_url());
        assert_eq!(config.db.url, "mysql://db/task");
    }

    #[test]
    fn an_invalid_variable_is_named() {
        let error = Config::from_lookup(lookup(&[("TODO_TASK_LISTEN", "port 80")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("TODO_TASK_LISTEN"), "{error}");
    }
}
