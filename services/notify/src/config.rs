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
    /// `sqlite://data/notify.db`; `TODO_NOTIFY_DB_MAX_CONNECTIONS`, default 10.
    pub db: DbConfig,
    /// The user service, for token keys and contact data at send time.
    /// `TODO_USER_URL`, default `http://127.0.0.1:50051`.
    pub user_url: String,
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

impl MailConfig {
    /// # Errors
    /// When a variable is set but invalid.
    pub fn from_lookup(lookup: Lookup<'_>) -> anyhow::Result<Self> {
        Ok(Self {
            smtp_url: var_opt(lookup, "TODO_SMTP_URL"),
            dir: var_or(lookup, "TODO_MAIL_DIR", PathBuf::from("data/mail"))?,
            from: var_or(
                lookup,
                "TODO_MAIL_FROM",
                "ToDo <no-reply@todo.localhost>".to_owned(),
            )?,
            link_base_url: var_or(
                lookup,
                "TODO_LINK_BASE_URL",
                "http://127.0.0.1:8080".to_owned(),
            )?,
        })
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
        Ok(Self {
            listen: var_or(
                lookup,
                &services::NOTIFY.listen_var(),
                services::NOTIFY.default_listen(),
            )?,
            db: DbConfig::from_lookup(lookup, "TODO_NOTIFY", "notify")?,
            user_url: var_or(
                lookup,
                &services::USER.url_var(),
                services::USER.default_url(),
            )?,
            tokens: TokenSettings::from_lookup(lookup)?,
            service_credential: ServiceCredential::from_lookup(lookup)?
                .unwrap_or_else(ServiceCredential::random),
            mail: MailConfig::from_lookup(lookup)?,
            mail_workers: var_or(lookup, "TODO_NOTIFY_MAIL_WORKERS", 2)?,
        })
    }
}
