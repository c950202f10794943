//! The web app for people: server-rendered pages over the platform's
//! services, served on the edge's port beside the JSON API.
//!
//! Like the edge, it is a client of the user, task and notify services
//! (through the generated tonic clients, forwarding the client's address
//! with the service credential so that login throttling sees the real
//! client). The edge crate knows nothing of it: the launcher merges
//! [`router`] into the edge's router.
//!
//! Layout:
//! - [`services`]: the gRPC clients and the metadata of each call.
//! - [`session`]: the encrypted session cookie and token refresh.
//! - [`csrf`]: the token every state-changing form carries.
//! - [`i18n`]: the German and English message catalogs.
//! - [`forms`]: field errors from `google.rpc.BadRequest`.
//! - [`violation_texts`]: the services' field-error descriptions in the
//!   page's language.
//! - [`schedule`]: dues, recurrences and reminders in the user's time
//!   zone: the task form's parts, a rule in words, the due filters.
//! - [`page`]: what every page shares (request context, layout, errors,
//!   security headers).
//! - [`pages`]: one module per area (auth, tasks, inbox, settings).

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use todo_common::auth::ServiceCredential;
use todo_edge::EdgeConfig;

pub mod csrf;
pub mod forms;
pub mod i18n;
pub mod page;
pub mod pages;
pub mod schedule;
pub mod services;
pub mod session;
pub mod violation_texts;

/// The web app's own settings; everything else (service addresses,
/// trusted proxies, the service credential) it shares with the edge.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// `TODO_WEB_SECURE_COOKIES`, default false: whether cookies carry the
    /// `Secure` attribute. Off by default so that sign-in works over plain
    /// HTTP on a laptop; turn it on wherever the site is served over HTTPS.
    pub secure_cookies: bool,
}

impl WebConfig {
    /// # Errors
    /// When `TODO_WEB_SECURE_COOKIES` is set but not a boolean.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(&todo_common::config::env)
    }

    /// The settings from `lookup`, as [`Self::from_env`] reads them from
    /// the environment.
    ///
    /// # Errors
    /// When `TODO_WEB_SECURE_COOKIES` is set but not a boolean.
    pub fn from_lookup(lookup: todo_common::config::Lookup<'_>) -> anyhow::Result<Self> {
        let secure_cookies = match todo_common::config::var_opt(lookup, "TODO_WEB_SECURE_COOKIES") {
            None => false,
            Some(raw) => raw
                .parse()
                .context("TODO_WEB_SECURE_COOKIES must be true or false")?,
        };
        Ok(Self { secure_cookies })
    }
}

/// What every handler shares. Cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub services: services::Services,
    pub cookie_key: axum_extra::extract::cookie::Key,
    pub csrf_key: [u8; 32],
    pub secure_cookies: bool,
    pub trusted_proxy_hops: usize,
}

impl axum::extract::FromRef<AppState> for axum_extra::extract::cookie::Key {
    fn from_ref(state: &AppState) -> Self {
        state.inner.cookie_key.clone()
    }
}

/// The pages, to be merged into the edge's router (it has no fallback, so
/// everything else still reaches the edge's). Service addresses, trusted
/// proxy hops and the service credential come from `edge`.
///
/// # Errors
/// When an upstream of the three services is missing or its URL invalid.
pub fn router(edge: &EdgeConfig, config: &WebConfig) -> anyhow::Result<Router> {
    let url_of = |service: &str| -> anyhow::Result<&str> {
        edge.upstreams
            .iter()
            .find(|u| u.service == service)
            .map(|u| u.url.as_str())
            .with_context(|| format!("no upstream configured for {service}"))
    };
    let credential = match &edge.service_credential {
        Some(credential) => credential.clone(),
        None => {
            // Without a shared secret each replica would derive its own
            // cookie key, and sessions would not survive a restart.
            tracing::warn!("TODO_INTERNAL_TOKEN is unset: web sessions end when this process does");
            ServiceCredential::random()
        }
    };
    let services = services::Services::connect(
        url_of("todo.user.v1.UserService")?,
        url_of("todo.task.v1.TaskService")?,
        url_of("todo.notify.v1.NotifyService")?,
        edge.service_credential.clone(),
    )?;
    let state = AppState {
        inner: Arc::new(Inner {
            services,
            cookie_key: axum_extra::extract::cookie::Key::from(
                &cookie_key_material(&credential)[..],
            ),
            csrf_key: credential.derive_key("web-csrf"),
            secure_cookies: config.secure_cookies,
            trusted_proxy_hops: edge.trusted_proxy_hops,
        }),
    };
    Ok(pages::routes()
        .route("/static/app.css", get(page::stylesheet))
        .route("/static/app.js", get(page::script))
        // The edge's metrics and logs then name a page by its route
        // (`/tasks/{id}/edit`), as they name the API's.
        .route_layer(axum::middleware::from_fn(
            todo_edge::observe::label_matched_path,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn(page::security_headers)))
}

/// The 64 bytes the cookie jar's key needs (signing and encryption halves),
/// from two derived keys, so that every replica agrees on them.
fn cookie_key_material(credential: &ServiceCredential) -> [u8; 64] {
    let mut material = [0u8; 64];
    material[..32].copy_from_slice(&credential.derive_key("web-cookie-signing"));
    material[32..].copy_from_slice(&credential.derive_key("web-cookie-encryption"));
    material
}
