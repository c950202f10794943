//! The whole platform in one process: the user, task and notify services
//! and the edge, each on its own port and with its own database, wired to
//! each other by address exactly as when they run in separate containers.
//!
//! `cargo run --release` runs this; the integration tests start it on port
//! 0 in-process. [`migrate`] applies every service's migrations (`todo
//! migrate`); [`probe`] holds the health probes behind `todo probe grpc|http`.

use std::net::SocketAddr;

use anyhow::Context;
use todo_common::CancellationToken;
use todo_common::auth::ServiceCredential;
use todo_common::grpc::Server;
use todo_common::services;
use todo_edge::{Edge, EdgeConfig, Upstream};

/// The settings of every part.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    pub user: todo_user::Config,
    pub task: todo_task::Config,
    pub notify: todo_notify::Config,
    pub edge: EdgeConfig,
    pub web: todo_web::WebConfig,
}

impl SystemConfig {
    /// Every part's settings from the environment, with one service
    /// credential shared by all (random when `TODO_INTERNAL_TOKEN` is unset).
    ///
    /// # Errors
    /// When a variable is set but invalid.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(todo_common::config::env)
    }

    /// Every part's settings from `lookup`, as [`Self::from_env`] reads
    /// them from the environment.
    ///
    /// # Errors
    /// When a variable is set but invalid.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut config = Self {
            user: todo_user::Config::from_lookup(&lookup)?,
            task: todo_task::Config::from_lookup(&lookup)?,
            notify: todo_notify::Config::from_lookup(&lookup)?,
            edge: EdgeConfig::from_lookup(&lookup)?,
            web: todo_web::WebConfig::from_lookup(&lookup)?,
        };
        let credential =
            ServiceCredential::from_lookup(&lookup)?.unwrap_or_else(ServiceCredential::random);
        config.share_credential(credential);
        Ok(config)
    }

    /// Makes every service accept and present `credential`, and the edge
    /// present it, so the services trust the client addresses it forwards.
    pub fn share_credential(&mut self, credential: ServiceCredential) {
        self.user.service_credential = credential.clone();
        self.task.service_credential = credential.clone();
        self.notify.service_credential = credential.clone();
        self.edge.service_credential = Some(credential);
    }
}

/// Every part built: databases migrated, ports bound. The parts are
/// public so a test can run (and stop) one of them on its own.
pub struct System {
    pub user: Server,
    pub task: Server,
    pub notify: Server,
    pub edge: Edge,
}

/// The bound addresses of a running system.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub edge: SocketAddr,
    pub user: SocketAddr,
    pub task: SocketAddr,
    pub notify: SocketAddr,
}

impl System {
    /// Binds every port first (port 0 picks a free one), points each part
    /// at the others' real addresses, then builds them.
    ///
    /// # Errors
    /// When a port cannot be bound or a part cannot be built.
    pub async fn build(mut config: SystemConfig) -> anyhow::Result<Self> {
        let user_listener = todo_common::grpc::bind(config.user.listen).await?;
        let task_listener = todo_common::grpc::bind(config.task.listen).await?;
        let notify_listener = todo_common::grpc::bind(config.notify.listen).await?;
        let url = |l: &tokio::net::TcpListener| -> anyhow::Result<String> {
            Ok(format!(
                "http://{}",
                l.local_addr().context("bound address")?
            ))
        };
        let (user_url, task_url, notify_url) = (
            url(&user_listener)?,
            url(&task_listener)?,
            url(&notify_listener)?,
        );
        config.user.notify_url.clone_from(&notify_url);
        config.user.task_url.clone_from(&task_url);
        config.task.user_url.clone_from(&user_url);
        config.task.notify_url.clone_from(&notify_url);
        config.notify.user_url.clone_from(&user_url);
        config.notify.task_url.clone_from(&task_url);
        config.edge.upstreams = [
            (services::USER, user_url),
            (services::TASK, task_url),
            (services::NOTIFY, notify_url),
        ]
        .into_iter()
        .map(|(spec, url)| Upstream {
            service: spec.public.to_owned(),
            url,
        })
        .collect();
        Ok(Self {
            user: todo_user::build(config.user, user_listener)
                .await
                .context("user service")?,
            task: todo_task::build(config.task, task_listener)
                .await
                .context("task service")?,
            notify: todo_notify::build(config.notify, notify_listener)
                .await
                .context("notify service")?,
            edge: edge(config.edge, &config.web).await?,
        })
    }

    /// # Errors
    /// Never in practice: bound listeners have addresses.
    pub fn addresses(&self) -> std::io::Result<Addresses> {
        Ok(Addresses {
            edge: self.edge.local_addr(),
            user: self.user.local_addr()?,
            task: self.task.local_addr()?,
            notify: self.notify.local_addr()?,
        })
    }

    /// Runs every part until `shutdown` is cancelled or one part fails,
    /// which stops the others too.
    ///
    /// # Errors
    /// The first part's failure.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let stop = shutdown.child_token();
        let part = |name: &'static str,
                    fut: tokio::task::JoinHandle<anyhow::Result<()>>,
                    stop: CancellationToken| async move {
            let result = match fut.await {
                Ok(r) => r.with_context(|| format!("{name} stopped")),
                Err(e) => Err(anyhow::anyhow!("{name} crashed: {e}")),
            };
            // Whatever ended one part ends the system.
            stop.cancel();
            result
        };
        let results = tokio::join!(
            part(
                "user service",
                tokio::spawn(self.user.run_until_stopped(stop.clone())),
                stop.clone()
            ),
            part(
                "task service",
                tokio::spawn(self.task.run_until_stopped(stop.clone())),
                stop.clone()
            ),
            part(
                "notify service",
                tokio::spawn(self.notify.run_until_stopped(stop.clone())),
                stop.clone()
            ),
            part(
                "edge",
                tokio::spawn(self.edge.run_until_stopped(stop.clone())),
                stop.clone()
            ),
        );
        results.0?;
        results.1?;
        results.2?;
        results.3?;
        Ok(())
    }
}

/// The edge with the web app's pages on its port, as `todo edge` runs it
/// too.
///
/// # Errors
/// When the edge or the web app cannot be built.
pub async fn edge(config: EdgeConfig, web: &todo_web::WebConfig) -> anyhow::Result<Edge> {
    let pages = todo_web::router(&config, web).context("web app")?;
    Ok(Edge::build(config)
        .await
        .context("edge")?
        .with_routes(pages))
}

/// Applies the pending migrations of every service's database, then
/// returns; for deployments that migrate before rolling out.
///
/// # Errors
/// When a database is unreachable or a migration fails.
pub async fn migrate(config: &SystemConfig) -> anyhow::Result<()> {
    todo_store::db::connect(&config.user.db, &todo_user::MIGRATOR)
        .await
        .context("user database")?;
    todo_store::db::connect(&config.task.db, &todo_task::MIGRATOR)
        .await
        .context("task database")?;
    todo_store::db::connect(&config.notify.db, &todo_notify::MIGRATOR)
        .await
        .context("notify database")?;
    Ok(())
}

pub mod probe;
