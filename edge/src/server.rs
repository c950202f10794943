//! Assembly: the shared state, the router, and the server that owns the
//! listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use prost_reflect::DescriptorPool;
use todo_common::CancellationToken;
use tokio::net::TcpListener;

use crate::config::EdgeConfig;
use crate::routes::RouteTable;
use crate::upstream::Upstreams;
use crate::{observe, ops, proxy};

/// What every request handler shares. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct EdgeState {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    routes: RouteTable,
    pool: DescriptorPool,
    upstreams: Upstreams,
    body_limit: usize,
    request_timeout: Duration,
}

impl EdgeState {
    /// Builds the route table from [`todo_proto::FILE_DESCRIPTOR_SET`] and
    /// the upstream channels (lazy: nothing is dialled yet). Must run
    /// inside a Tokio runtime.
    ///
    /// # Errors
    /// When an annotation is invalid or conflicting (the error names the
    /// RPC), an annotated service has no upstream, an upstream names no
    /// known service, or an upstream URL is invalid.
    pub fn new(config: &EdgeConfig) -> anyhow::Result<Self> {
        let pool = DescriptorPool::decode(todo_proto::FILE_DESCRIPTOR_SET)
            .context("cannot decode the embedded descriptors")?;
        let routes = RouteTable::from_pool(&pool).context("invalid google.api.http annotations")?;
        for upstream in &config.upstreams {
            anyhow::ensure!(
                pool.get_service_by_name(&upstream.service).is_some(),
                "upstream {} names no service in the descriptors",
                upstream.service
            );
        }
        let upstreams = Upstreams::connect(&config.upstreams)?;
        for binding in routes.bindings() {
            anyhow::ensure!(
                upstreams.serves(&binding.rpc.service),
                "no upstream configured for {} (needed by {})",
                binding.rpc.service,
                binding.rpc.name
            );
        }
        Ok(Self {
            shared: Arc::new(Shared {
                routes,
                pool,
                upstreams,
                body_limit: config.body_limit,
                request_timeout: config.request_timeout,
            }),
        })
    }

    pub(crate) fn routes(&self) -> &RouteTable {
        &self.shared.routes
    }

    pub(crate) fn pool(&self) -> &DescriptorPool {
        &self.shared.pool
    }

    pub(crate) fn upstreams(&self) -> &Upstreams {
        &self.shared.upstreams
    }

    pub(crate) fn body_limit(&self) -> usize {
        self.shared.body_limit
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.shared.request_timeout
    }
}

/// The edge's routes: the operational ones, and every annotated RPC behind
/// one fallback handler.
pub fn router(state: EdgeState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz).fallback(ops::get_only))
        .route("/readyz", get(ops::readyz).fallback(ops::get_only))
        .fallback(proxy::handle)
        .with_state(state)
        .layer(axum::middleware::from_fn(observe::observe))
}

/// A built edge: the listener is bound, the routes are resolved.
#[derive(Debug)]
pub struct Edge {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
}

impl Edge {
    /// Builds the state and binds the listener (port 0 picks a free port),
    /// so that a caller knows the address before serving starts.
    ///
    /// # Errors
    /// See [`EdgeState::new`]; also when the address cannot be bound.
    pub async fn build(config: EdgeConfig) -> anyhow::Result<Edge> {
        let state = EdgeState::new(&config)?;
        let listener = todo_common::grpc::bind(config.listen).await?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound address")?;
        Ok(Edge {
            listener,
            addr,
            router: router(state),
        })
    }

    /// The address the edge listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` is cancelled, then stops accepting and
    /// finishes the requests in flight.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.addr, "edge listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("edge server failed")
    }
}
