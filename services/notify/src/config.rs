//! The notify service's settings.

use std::net::SocketAddr;
use std::path::PathBuf;

use todo_common::auth::{ServiceCredential, TokenSettings};
use todo_common::config::{Lookup, var_opt, var_or};
use todo_common::services;
use todo_store::db::DbConfig;

/// Everything the notify service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address. `TODO_NOTIFY_LISTEN`, default `127.0.0.1:50053`.
    pub listen: SocketAddr,
    /// Its own database. `TODO_NOTIFY_DATABASE_URL`, default
    /// `sqlite://data/notify.db`; `TODO_NOTIFY_DB_MAX_CONNECTIONS`, default one per core
    /// on SQLite (2 to 16), 10 on MySQL.
    pub db: DbConfig,
    /// The user service, for token keys and contact data at send time.
    /// `TODO_USER_URL`, default `http://127.0.0.1:50051`.
    pub user_url: String,
    /// The task service, for the tasks a daily digest lists.
    /// `TODO_TASK_URL`, default `http://127.0.0.1:50052`.
    pub task_url: String,
    /// `iss` and `aud` access tokens must carry.
    pub tokens: TokenSettings,
    /// The credential internal RPCs require: `TODO_INTERNAL_TOKEN`, the
    /// same for every service. Unset: a random one, which only works when
    /// every service runs in one process (the launcher shares one).
    pub service_credential: ServiceCredential,
    /// How e-mail leaves the system.
    pub mail: MailConfig,
    /// Concurrent workers draining the e-mail queue
    /// (`TODO_NOTIFY_MAIL_WORKERS`, default 2); replicas add theirs.
    pub mail_workers: usize,
}

/// Where e-mails go and how they look.
#[derive(Clone)]
pub struct MailConfig {
    /// `TODO_SMTP_URL`: `smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465` or `smtp://host:25` (no TLS, local relays only).
    /// Unset: messages are written as `.eml` files to `dir`.
    pub smtp_url: Option<String>,
    /// `TODO_MAIL_DIR`, default `data/mail`: where `.eml` files go without
    /// SMTP.
    pub dir: PathBuf,
    /// `TODO_MAIL_FROM`, default `ToDo <no-reply@todo.localhost>`.
    pub from: String,
    /// `TODO_LINK_BASE_URL`, default `http://127.0.0.1:8080`: the start of
    /// the verification and reset links in e-mails, which the web app
    /// serves on the edge's port (`/verify-email`, `/reset-password`).
    pub link_base_url: String,
}

impl std::fmt::Debug for MailConfig {
    // The SMTP URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp", &self.smtp_url.as_ref().map(|_| ".."))
            .field("dir", &self.dir)
            .field("from", &self.from)
            .field("link_base_url", &self.link_base_url)
            .finish()
    }
}

impl Default for MailConfig {
    /// The documented defaults: `.eml` files in `data/mail`.
    fn default() -> Self {
        Self {
            smtp_url: None,
            dir: PathBuf::from("data/mail"),
            from: "ToDo <no-reply@todo.localhost>".to_owned(),
            link_base_url: "http://127.0.0.1:8080".to_owned(),
        }
    }
}

impl MailConfig {
    /// # Errors
    /// When a variable is set but invalid.
    pub fn from_lookup(lookup: Lookup<'_>) -> anyhow::Result<Self> {
        let d = Self::default();
        Ok(Self {
            smtp_url: var_opt(lookup, "TODO_SMTP_URL"),
            dir: var_or(lookup, "TODO_MAIL_DIR", d.dir)?,
            from: var_or(lookup, "TODO_MAIL_FROM", d.from)?,
            link_base_url: var_or(lookup, "TODO_LINK_BASE_URL", d.link_base_url)?,
        })
    }
}

impl Default for Config {
    /// The documented defaults; the service credential a random one.
    fn default() -> Self {
        Self {
            listen: services::NOTIFY.default_listen(),
            db: DbConfig::named("notify"),
            user_url: services::USER.default_url(),
            task_url: services::TASK.default_url(),
            tokens: TokenSettings::default(),
            service_credential: ServiceCredential::random(),
            mail: MailConfig::default(),
            mail_workers: 2,
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
            listen: var_or(lookup, &services::NOTIFY.listen_var(), d.listen)?,
            db: DbConfig::from_lookup(lookup, "TODO_NOTIFY", "notify")?,
            user_url: var_or(lookup, &services::USER.url_var(), d.user_url)?,
            task_url: var_or(lookup, &services::TASK.url_var(), d.task_url)?,
            tokens: TokenSettings::from_lookup(lookup)?,
            service_credential: ServiceCredential::from_lookup(lookup)?
                .unwrap_or(d.service_credential),
            mail: MailConfig::from_lookup(lookup)?,
            mail_workers: var_or(lookup, "TODO_NOTIFY_MAIL_WORKERS", d.mail_workers)?,
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
        assert_eq!(config.listen, default.listen);
        assert_eq!(config.listen, services::NOTIFY.default_listen());
        assert_eq!(config.user_url, "http://127.0.0.1:50051");
        assert_eq!(config.task_url, "http://127.0.0.1:50052");
        assert_eq!(config.db.url, "sqlite://data/notify.db");
        assert_eq!(config.db.max_connections, default.db.max_connections);
        assert_eq!(config.mail_workers, 2);
        assert_eq!(config.mail.smtp_url, None);
        assert_eq!(config.mail.dir, default.mail.dir);
        assert_eq!(config.mail.from, "ToDo <no-reply@todo.localhost>");
        assert_eq!(config.mail.link_base_url, default.mail.link_base_url);
        assert_eq!(config.tokens.issuer, default.tokens.issuer);
    }

    #[test]
    fn set_variables_win() {
        let config = Config::from_lookup(|name| match name {
            "TODO_NOTIFY_MAIL_WORKERS" => Some("5".to_owned()),
            "TODO_MAIL_DIR" => Some("/var/mail".to_owned()),
            "TODO_SMTP_URL" => Some("smtp://relay:25".to_owned()),
            "TODO_TASK_URL" => Some("http://task:50052".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.mail_workers, 5);
        assert_eq!(config.mail.dir, PathBuf::from("/var/mail"));
        assert_eq!(config.mail.smtp_url.as_deref(), Some("smtp://relay:25"));
        assert_eq!(config.task_url, "http://task:50052");
        let error = Config::from_lookup(|name| {
            (name == "TODO_NOTIFY_MAIL_WORKERS").then(|| "many".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("TODO_NOTIFY_MAIL_WORKERS"), "{error}");
    }
}
