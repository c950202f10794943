//! Assembly: the router with its layers, and the server that owns the
//! listeners. The state the handlers share is in [`crate::state`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use http::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Method};
use todo_common::CancellationToken;
use todo_common::grpc::REQUEST_ID;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::EdgeConfig;
use crate::serve::{self, ServerLimits};
use crate::state::EdgeState;
use crate::{headers, limits, observe, ops, proxy};

/// How long browsers may cache a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// The edge's routes and layers: the operational routes (`/metrics` only
/// when it has no listener of its own), every annotated RPC behind one
/// fallback handler; outside them, from the outermost in, request id, logs
/// and metrics; security headers; CORS (only with an allow-list); gzip for
/// clients that ask; URL and header size limits.
pub fn router(state: EdgeState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] with `extra` routes merged in beside the edge's own, inside
/// the same layers (the launcher mounts the web app's pages so). `extra`
/// must have no fallback: unknown paths stay the API's.
pub fn router_with(state: EdgeState, extra: Router) -> Router {
    let origins = state.cors_origins();
    let cors = (!origins.is_empty()).then(|| cors(origins.to_vec()));
    let sizes = state.sizes();
    let trusted_hops = state.trusted_proxy_hops();
    let metrics = Arc::clone(state.metrics());
    let mut routes = Router::new()
        .route("/healthz", get(ops::healthz).fallback(ops::get_only))
        .route("/readyz", get(ops::readyz).fallback(ops::get_only));
    if !state.metrics_apart() {
        routes = routes.route("/metrics", get(ops::metrics).fallback(ops::get_only));
    }
    routes
        .route("/openapi.json", get(ops::openapi).fallback(ops::get_only))
        .route_layer(axum::middleware::from_fn(observe::label_matched_path))
        .fallback(proxy::handle)
        .with_state(state)
        .merge(extra)
        .layer(axum::middleware::from_fn_with_state(
            sizes,
            limits::enforce_sizes,
        ))
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .compress_when(compressible()),
        )
        .layer(tower::util::option_layer(cors))
        .layer(axum::middleware::from_fn_with_state(
            trusted_hops,
            headers::secure,
        ))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            observe::observe,
        ))
}

/// Responses smaller than this are sent as they are: gzip saves next to
/// nothing on them and costs CPU on both ends (nginx's `gzip_min_length`
/// reasoning).
const COMPRESS_MIN_BYTES: u16 = 1024;

/// Which responses are gzipped (when the client asks): those of at least
/// [`COMPRESS_MIN_BYTES`], and never gRPC, images or event streams, which
/// tower-http's default leaves alone too.
fn compressible() -> impl Predicate {
    SizeAbove::new(COMPRESS_MIN_BYTES)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
}

/// The router of the separate metrics listener
/// ([`EdgeConfig::metrics_listen`]): `/metrics` alone.
pub fn metrics_router(state: EdgeState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics).fallback(ops::get_only))
        .with_state(state)
}

/// CORS for an allow-list of origins: the API's methods, the headers it
/// reads, and the headers a script may read from its answers.
fn cors(origins: Vec<HeaderValue>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            IF_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static(REQUEST_ID),
        ])
        .expose_headers([ETAG, RETRY_AFTER, HeaderName::from_static(REQUEST_ID)])
        .max_age(CORS_MAX_AGE)
}

/// A built edge: the listeners are bound, the routes are resolved.
#[derive(Debug)]
pub struct Edge {
    listener: TcpListener,
    addr: SocketAddr,
    /// The listener of `/metrics` when it is apart, with its address.
    metrics: Option<(TcpListener, SocketAddr)>,
    state: EdgeState,
    drain: Duration,
    limits: ServerLimits,
    /// Whether the API listener waits for a connection to close before it
    /// accepts another; see [`Edge::at_connection_cap`].
    at_cap: watch::Sender<bool>,
    /// Routes served beside the edge's own; see [`Edge::with_routes`].
    extra: Router,
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
        let metrics = match config.metrics_listen {
            None => None,
            Some(at) => {
                let listener = todo_common::grpc::bind(at).await?;
                let addr = listener
                    .local_addr()
                    .context("cannot read the bound metrics address")?;
                Some((listener, addr))
            }
        };
        let sizes = state.sizes();
        let limits = ServerLimits {
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections,
            max_headers: limits::server_max_headers(),
            max_head_bytes: limits::server_max_head_bytes(sizes),
        };
        Ok(Edge {
            listener,
            addr,
            metrics,
            state,
            drain: config.drain,
            limits,
            at_cap: watch::Sender::new(false),
            extra: Router::new(),
        })
    }

    /// Serves `extra` on the edge's port beside the API (see
    /// [`router_with`]), so that other routes need no listener of their own.
    #[must_use]
    pub fn with_routes(mut self, extra: Router) -> Self {
        self.extra = extra;
        self
    }

    /// The address the edge listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `true` while the API listener holds [`EdgeConfig::max_connections`]
    /// connections and waits for one to close before it accepts another
    /// (new ones wait in the kernel's backlog meanwhile).
    pub fn at_connection_cap(&self) -> watch::Receiver<bool> {
        self.at_cap.subscribe()
    }

    /// The address `/metrics` is served on when it has a listener of its
    /// own ([`EdgeConfig::metrics_listen`]).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// Serves until `shutdown` is cancelled; then answers `/readyz` with
    /// 503 for the configured drain time while still serving, stops
    /// accepting, and finishes the requests in flight.
    ///
    /// # Errors
    /// None at present; the signature leaves room for server failures.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.addr, "edge listening");
        let state = self.state.clone();
        let drain = self.drain;
        // Cancelled once the drain time is over: both listeners stop then.
        let stopping = CancellationToken::new();
        let stop_after_drain = stopping.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            state.begin_shutdown();
            if !drain.is_zero() {
                tracing::info!(drain_ms = drain.as_millis(), "draining before stopping");
                tokio::time::sleep(drain).await;
            }
            stop_after_drain.cancel();
        });
        let metrics = self.metrics.map(|(listener, addr)| {
            tracing::info!(%addr, "metrics listening");
            let app = metrics_router(self.state.clone());
            tokio::spawn(serve::serve(
                listener,
                app,
                self.limits,
                watch::Sender::new(false),
                stopping.clone().cancelled_owned(),
            ))
        });
        let app = router_with(self.state, self.extra);
        serve::serve(
            self.listener,
            app,
            self.limits,
            self.at_cap,
            stopping.cancelled_owned(),
        )
        .await;
        if let Some(metrics) = metrics {
            metrics.await.context("the metrics server failed")?;
        }
        Ok(())
    }
}
