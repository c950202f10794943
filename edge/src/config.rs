//! The edge's settings. Tests build [`EdgeConfig`] directly; binaries read
//! it from the environment with [`EdgeConfig::from_env`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use todo_common::config::var_or;

/// Everything the edge needs to start.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Where the REST API listens (`TODO_EDGE_LISTEN`, default
    /// `127.0.0.1:8080`); port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where each proto service is served: the edge routes only RPCs of
    /// services listed here and refuses to start if an annotated service
    /// is missing, so a new service cannot be half-deployed silently.
    pub upstreams: Vec<Upstream>,
    /// Largest request body accepted, in bytes (`TODO_EDGE_BODY_LIMIT`,
    /// default 65536): every request in the API is small, and the limit
    /// keeps one client from making the edge buffer megabytes.
    pub body_limit: usize,
    /// Time budget of one request, body included (`TODO_EDGE_TIMEOUT_MS`,
    /// default 10000); the remainder travels upstream as `grpc-timeout`.
    pub request_timeout: Duration,
}

/// One upstream gRPC service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Fully qualified proto service name, e.g. `todo.task.v1.TaskService`.
    pub service: String,
    /// gRPC endpoint, e.g. `http://127.0.0.1:50052`.
    pub url: String,
}

/// Each public service, the variable that names its URL, and the default.
const UPSTREAMS: [(&str, &str, &str); 3] = [
    (
        "todo.user.v1.UserService",
        "TODO_USER_URL",
        "http://127.0.0.1:50051",
    ),
    (
        "todo.task.v1.TaskService",
        "TODO_TASK_URL",
        "http://127.0.0.1:50052",
    ),
    (
        "todo.notify.v1.NotifyService",
        "TODO_NOTIFY_URL",
        "http://127.0.0.1:50053",
    ),
];

impl EdgeConfig {
    /// Reads the configuration from the environment; every variable is
    /// optional.
    ///
    /// # Errors
    /// When a variable is set but does not parse.
    pub fn from_env() -> anyhow::Result<Self> {
        let listen = var_or("TODO_EDGE_LISTEN", SocketAddr::from(([127, 0, 0, 1], 8080)))?;
        let body_limit = var_or("TODO_EDGE_BODY_LIMIT", 65_536_usize)?;
        let timeout_ms = var_or("TODO_EDGE_TIMEOUT_MS", 10_000_u64)?;
        let upstreams = UPSTREAMS
            .iter()
            .map(|(service, var, default)| {
                let url = var_or(var, (*default).to_owned())?;
                Ok(Upstream {
                    service: (*service).to_owned(),
                    url,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .context("upstream URLs")?;
        anyhow::ensure!(timeout_ms > 0, "TODO_EDGE_TIMEOUT_MS must be positive");
        Ok(Self {
            listen,
            upstreams,
            body_limit,
            request_timeout: Duration::from_millis(timeout_ms),
        })
    }
}
