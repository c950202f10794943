//! The state every handler shares: the route table, the descriptors, the
//! upstream channels and the limits, all resolved once at start-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::HeaderValue;
use prost_reflect::DescriptorPool;
use todo_common::auth::ServiceCredential;

use crate::config::EdgeConfig;
use crate::limits::{self, Admission, SizeLimits};
use crate::metrics::Metrics;
use crate::openapi;
use crate::routes::RouteTable;
use crate::upstream::Upstreams;

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
    trusted_proxy_hops: usize,
    service_credential: Option<ServiceCredential>,
    request_timeout: Duration,
    sizes: SizeLimits,
    admission: Admission,
    cors_origins: Vec<HeaderValue>,
    metrics: Arc<Metrics>,
    /// `/metrics` has a listener of its own and is not on the API's.
    metrics_apart: bool,
    /// The OpenAPI document, encoded once.
    openapi: Bytes,
    /// Set when shutdown begins; `/readyz` then answers 503.
    shutting_down: AtomicBool,
}

impl EdgeState {
    /// Builds the route table from [`todo_proto::FILE_DESCRIPTOR_SET`], the
    /// OpenAPI document and the upstream channels (lazy: nothing is dialled
    /// yet). Must run inside a Tokio runtime.
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
        anyhow::ensure!(
            config.max_concurrency > 0,
            "the concurrency limit must be positive"
        );
        anyhow::ensure!(
            config.url_limit < limits::SERVER_MAX_URL,
            "the URL limit must be below {} bytes, the HTTP server's own",
            limits::SERVER_MAX_URL
        );
        let openapi = openapi::encoded(&pool, &routes)?;
        if config.service_credential.is_none() {
            tracing::warn!(
                "TODO_INTERNAL_TOKEN is unset: the services cannot trust the client addresses \
                 this edge forwards, so every client behind it shares one throttle budget"
            );
        }
        Ok(Self {
            shared: Arc::new(Shared {
                routes,
                pool,
                upstreams,
                body_limit: config.body_limit,
                trusted_proxy_hops: config.trusted_proxy_hops,
                service_credential: config.service_credential.clone(),
                request_timeout: config.request_timeout,
                sizes: SizeLimits {
                    url: config.url_limit,
                    headers: config.header_limit,
                },
                admission: Admission::new(config.max_concurrency),
                cors_origins: config.cors_origins.clone(),
                metrics: Arc::new(Metrics::default()),
                metrics_apart: config.metrics_listen.is_some(),
                openapi,
                shutting_down: AtomicBool::new(false),
            }),
        })
    }

    /// Marks the edge as shutting down: `/readyz` answers 503 from now on,
    /// so that load balancers stop sending new requests while the ones in
    /// flight finish. [`crate::Edge::run_until_stopped`] calls it when its
    /// shutdown signal fires.
    pub fn begin_shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::Relaxed)
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

    pub(crate) fn trusted_proxy_hops(&self) -> usize {
        self.shared.trusted_proxy_hops
    }

    pub(crate) fn service_credential(&self) -> Option<&ServiceCredential> {
        self.shared.service_credential.as_ref()
    }

    pub(crate) fn body_limit(&self) -> usize {
        self.shared.body_limit
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.shared.request_timeout
    }

    pub(crate) fn admission(&self) -> &Admission {
        &self.shared.admission
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    pub(crate) fn openapi(&self) -> Bytes {
        self.shared.openapi.clone()
    }

    pub(crate) fn sizes(&self) -> SizeLimits {
        self.shared.sizes
    }

    pub(crate) fn cors_origins(&self) -> &[HeaderValue] {
        &self.shared.cors_origins
    }

    /// Whether `/metrics` has a listener of its own and so is not on the
    /// API's router.
    pub(crate) fn metrics_apart(&self) -> bool {
        self.shared.metrics_apart
    }
}
