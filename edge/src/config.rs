//! The edge's settings. Tests build [`EdgeConfig`] directly (starting from
//! [`EdgeConfig::default`]); binaries read it from the environment with
//! [`EdgeConfig::from_env`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use http::HeaderValue;
use todo_common::auth::ServiceCredential;
use todo_common::config::{Lookup, var_opt, var_or};
use todo_common::services;

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
    /// Longest request target (path and query) accepted, in bytes
    /// (`TODO_EDGE_URL_LIMIT`, default 8192); longer ones get 414. No
    /// route of the API needs more, and a long URL is logged and matched.
    /// Must be below 65534, hyper's own fixed limit, beyond which the
    /// HTTP server answers a bare 414 before the edge sees the request.
    pub url_limit: usize,
    /// Largest total size of the request headers, names and values, in
    /// bytes (`TODO_EDGE_HEADER_LIMIT`, default 16384); larger ones get 431,
    /// as do more than [`crate::limits::MAX_HEADER_COUNT`] headers.
    /// Headers travel upstream as metadata, so they are bounded like bodies.
    pub header_limit: usize,
    /// Most transcoded requests served at once (`TODO_EDGE_MAX_CONCURRENCY`,
    /// default 1024). One more is shed at once with 503 and `Retry-After`
    /// instead of queueing: a queue only adds latency to every request when
    /// the upstreams are saturated, and a shed request can go to another
    /// replica. Operational routes are never shed.
    pub max_concurrency: usize,
    /// Browser origins allowed to call the API cross-origin
    /// (`TODO_EDGE_CORS_ORIGINS`, a comma-separated list such as
    /// `https://app.example.com`; default empty, which sends no CORS
    /// headers at all, so browsers keep the same-origin policy).
    pub cors_origins: Vec<HeaderValue>,
    /// How long the edge keeps serving after shutdown began, with `/readyz`
    /// already answering 503 (`TODO_EDGE_DRAIN_MS`, default 0): long enough
    /// for a load balancer to notice and stop sending new requests.
    pub drain: Duration,
    /// How many proxies in front of the edge append to `X-Forwarded-For`
    /// and are trusted to (`TODO_EDGE_TRUSTED_PROXY_HOPS`, default 0: the
    /// peer of the connection is the client; 1 behind one load balancer).
    /// The client address travels upstream as `x-forwarded-for`, where the
    /// user service throttles by it; entries a client wrote itself are
    /// never trusted.
    pub trusted_proxy_hops: usize,
    /// Where `/metrics` is served instead of the API port
    /// (`TODO_EDGE_METRICS_LISTEN`, default unset: on the API port). Set
    /// it to keep the metrics off the public listener, e.g. on an address
    /// only the monitoring network reaches; the API port then answers
    /// `/metrics` with 404.
    pub metrics_listen: Option<SocketAddr>,
    /// How long a client may take to send a request's headers
    /// (`TODO_EDGE_HEADER_READ_TIMEOUT_MS`, default 10000), from the moment
    /// the edge waits for them; a connection that has not sent a whole
    /// head by then is closed. Without it a client that trickles headers
    /// holds a connection forever (slowloris). Bodies are bounded by
    /// [`EdgeConfig::request_timeout`].
    ///
    /// hyper starts this clock whenever it waits for a head, so it also
    /// closes a keep-alive connection idle for that long. Behind a load
    /// balancer that reuses its connections, set it above the balancer's
    /// idle timeout (an AWS ALB's is 60 s by default): otherwise the
    /// balancer may send a request just as the edge closes the connection
    /// and answer that client with a 502.
    pub header_read_timeout: Duration,
    /// Most client connections open at once (`TODO_EDGE_MAX_CONNECTIONS`,
    /// default 4096); further ones wait in the listen backlog until one
    /// closes. It keeps the edge below its file descriptor limit.
    pub max_connections: usize,
    /// The platform's service credential (`TODO_INTERNAL_TOKEN`, the same
    /// secret the services use), sent with every upstream call: it is how
    /// a service knows that the client address in `x-forwarded-for` was
    /// settled by the edge and not written by whoever called. Unset: the
    /// services count every client behind this edge as the edge's own
    /// address, so throttles are shared; the all-in-one process shares one.
    /// Never routed to internal RPCs (the route table refuses them).
    pub service_credential: Option<ServiceCredential>,
}

/// One upstream gRPC service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Fully qualified proto service name, e.g. `todo.task.v1.TaskService`.
    pub service: String,
    /// gRPC endpoint, e.g. `http://127.0.0.1:50052`.
    pub url: String,
}

impl Default for EdgeConfig {
    /// The documented defaults: every service on its local default port.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            upstreams: services::ALL
                .iter()
                .map(|spec| Upstream {
                    service: spec.public.to_owned(),
                    url: spec.default_url(),
                })
                .collect(),
            body_limit: 65_536,
            request_timeout: Duration::from_secs(10),
            url_limit: 8_192,
            header_limit: 16_384,
            max_concurrency: 1_024,
            cors_origins: Vec::new(),
            drain: Duration::ZERO,
            trusted_proxy_hops: 0,
            metrics_listen: None,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4_096,
            service_credential: None,
        }
    }
}

impl EdgeConfig {
    /// The settings in the process environment.
    ///
    /// # Errors
    /// See [`Self::from_lookup`].
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(todo_common::config::env)
    }

    /// The settings `lookup` gives; every variable is optional and
    /// defaults to [`EdgeConfig::default`].
    ///
    /// # Errors
    /// When a variable is set but does not parse, or a limit is zero.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let lookup: Lookup<'_> = &lookup;
        let defaults = Self::default();
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let timeout_ms = var_or(
            lookup,
            "TODO_EDGE_TIMEOUT_MS",
            millis(defaults.request_timeout),
        )?;
        let drain_ms = var_or(lookup, "TODO_EDGE_DRAIN_MS", millis(defaults.drain))?;
        let header_read_ms = var_or(
            lookup,
            "TODO_EDGE_HEADER_READ_TIMEOUT_MS",
            millis(defaults.header_read_timeout),
        )?;
        let metrics_listen = var_opt(lookup, "TODO_EDGE_METRICS_LISTEN")
            .map(|raw| {
                raw.parse::<SocketAddr>()
                    .with_context(|| format!("TODO_EDGE_METRICS_LISTEN: invalid address {raw:?}"))
            })
            .transpose()?;
        let upstreams = services::ALL
            .iter()
            .map(|spec| {
                let url = var_or(lookup, &spec.url_var(), spec.default_url())?;
                Ok(Upstream {
                    service: spec.public.to_owned(),
                    url,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .context("upstream URLs")?;
        let config = Self {
            listen: var_or(lookup, "TODO_EDGE_LISTEN", defaults.listen)?,
            upstreams,
            body_limit: var_or(lookup, "TODO_EDGE_BODY_LIMIT", defaults.body_limit)?,
            request_timeout: Duration::from_millis(timeout_ms),
            url_limit: var_or(lookup, "TODO_EDGE_URL_LIMIT", defaults.url_limit)?,
            header_limit: var_or(lookup, "TODO_EDGE_HEADER_LIMIT", defaults.header_limit)?,
            max_concurrency: var_or(
                lookup,
                "TODO_EDGE_MAX_CONCURRENCY",
                defaults.max_concurrency,
            )?,
            cors_origins: cors_origins(var_opt(lookup, "TODO_EDGE_CORS_ORIGINS").as_deref())?,
            drain: Duration::from_millis(drain_ms),
            trusted_proxy_hops: var_or(
                lookup,
                "TODO_EDGE_TRUSTED_PROXY_HOPS",
                defaults.trusted_proxy_hops,
            )?,
            metrics_listen,
            header_read_timeout: Duration::from_millis(header_read_ms),
            max_connections: var_or(
                lookup,
                "TODO_EDGE_MAX_CONNECTIONS",
                defaults.max_connections,
            )?,
            service_credential: ServiceCredential::from_lookup(lookup)?,
        };
        for (name, value) in [
            ("TODO_EDGE_TIMEOUT_MS", timeout_ms),
            ("TODO_EDGE_URL_LIMIT", config.url_limit as u64),
            ("TODO_EDGE_HEADER_LIMIT", config.header_limit as u64),
            ("TODO_EDGE_MAX_CONCURRENCY", config.max_concurrency as u64),
            ("TODO_EDGE_HEADER_READ_TIMEOUT_MS", header_read_ms),
            ("TODO_EDGE_MAX_CONNECTIONS", config.max_connections as u64),
        ] {
            anyhow::ensure!(value > 0, "{name} must be positive");
        }
        Ok(config)
    }
}

/// Parses a comma-separated origin list; blanks between commas are
/// ignored.
fn cors_origins(raw: Option<&str>) -> anyhow::Result<Vec<HeaderValue>> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            anyhow::ensure!(
                origin.starts_with("http://") || origin.starts_with("https://"),
                "TODO_EDGE_CORS_ORIGINS: {origin:?} is not an origin like https://app.example.com"
            );
            HeaderValue::from_str(origin.trim_end_matches('/'))
                .with_context(|| format!("TODO_EDGE_CORS_ORIGINS: invalid origin {origin:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_a_trimmed_comma_list() {
        let origins = cors_origins(Some(" https://a.example, http://b.example:3000/ ,")).unwrap();
        assert_eq!(origins, ["https://a.example", "http://b.example:3000"]);
        assert!(cors_origins(None).unwrap().is_empty());
        assert!(cors_origins(Some("*")).is_err());
    }

    #[test]
    fn every_service_of_the_table_is_an_upstream_at_its_variable() {
        let config = EdgeConfig::from_lookup(|name| {
            (name == "TODO_TASK_URL").then(|| "http://task:9000".to_owned())
        })
        .unwrap();
        let upstreams: Vec<_> = config
            .upstreams
            .iter()
            .map(|u| (u.service.as_str(), u.url.as_str()))
            .collect();
        assert_eq!(
            upstreams,
            [
                ("todo.user.v1.UserService", "http://127.0.0.1:50051"),
                ("todo.task.v1.TaskService", "http://task:9000"),
                ("todo.notify.v1.NotifyService", "http://127.0.0.1:50053"),
            ]
        );
        let unset = EdgeConfig::from_lookup(|_| None).unwrap();
        assert_eq!(unset.listen, EdgeConfig::default().listen);
        assert_eq!(unset.upstreams, EdgeConfig::default().upstreams);
    }

    #[test]
    fn an_invalid_variable_is_refused() {
        let config =
            EdgeConfig::from_lookup(|name| (name == "TODO_EDGE_LISTEN").then(|| "x".to_owned()));
        assert!(config.is_err());
    }
}
