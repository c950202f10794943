//! A tonic server with what every service port offers besides its own
//! RPCs: `grpc.health.v1`, server reflection in `v1` and `v1alpha` (grpcurl
//! 1.8 speaks the latter), a span per call carrying the request id, and
//! graceful shutdown. A server takes the connections of its own process
//! in memory besides those of its TCP port (see [`crate::in_process`]).

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};
use tonic_reflection::server::v1alpha;

use crate::in_process::{self, Conn};

/// The metadata key that carries the request id minted by the edge.
pub const REQUEST_ID: &str = "x-request-id";

/// Binds `addr`; port 0 picks a free port (tests).
///
/// # Errors
/// When the address cannot be bound.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Serves `routes` on `listener` until `shutdown` is cancelled, then
/// reports NOT_SERVING and drains in-flight calls.
///
/// `services` are the fully qualified names reported SERVING by the health
/// service; `descriptors` is the encoded descriptor set that describes
/// them (see [`todo_proto::port_descriptors`]).
///
/// # Errors
/// When the server fails.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    services: &[&str],
    descriptors: &'static [u8],
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_on(
        Listening::new(listener),
        routes,
        services,
        descriptors,
        shutdown,
    )
    .await
}

/// A bound port, reachable from this process in memory too (see
/// [`crate::in_process`]) from the moment it is made, so that callers
/// built before the server runs do not settle on TCP.
struct Listening {
    tcp: TcpListener,
    addr: SocketAddr,
    /// `None` only if the bound address cannot be read, which a bound
    /// listener never fails in practice; the port is then TCP only.
    registration: Option<in_process::Registration>,
    accepted: tokio::sync::mpsc::UnboundedReceiver<tokio::io::DuplexStream>,
}

impl Listening {
    fn new(tcp: TcpListener) -> Self {
        let (addr, registration, accepted) = match tcp.local_addr() {
            Ok(addr) => {
                let (registration, accepted) = in_process::register(addr);
                (addr, Some(registration), accepted)
            }
            // A channel without a sender: no connection ever arrives.
            Err(_) => (
                SocketAddr::from(([0, 0, 0, 0], 0)),
                None,
                tokio::sync::mpsc::unbounded_channel().1,
            ),
        };
        Self {
            tcp,
            addr,
            registration,
            accepted,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Every connection: TCP ones and those made in memory, in arrival
    /// order. The in-memory entry lasts until the stream is dropped.
    fn connections(self) -> impl tokio_stream::Stream<Item = std::io::Result<Conn>> {
        let Self {
            tcp,
            addr,
            registration,
            accepted,
        } = self;
        let in_memory = UnboundedReceiverStream::new(accepted).map(move |stream| {
            // Held by the stream, so the entry goes when serving ends.
            let _held = &registration;
            Ok(Conn::accepted(stream, addr))
        });
        incoming(tcp)
            .map(|stream| stream.map(Conn::Tcp))
            .merge(in_memory)
    }
}

async fn serve_on(
    listener: Listening,
    routes: Routes,
    services: &[&str],
    descriptors: &'static [u8],
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in services {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let (reflection_v1, reflection_v1alpha) = reflection(descriptors)?;

    let addr = listener.local_addr().ok();
    let routes = routes
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);

    let names: Vec<String> = services.iter().map(|s| (*s).to_owned()).collect();
    let drain = async move {
        shutdown.cancelled().await;
        for name in &names {
            reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
    };
    tracing::info!(addr = ?addr, "gRPC server listening");
    tonic::transport::Server::builder()
        .trace_fn(|req| {
            let request_id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("grpc", method = %req.uri().path(), request_id = %request_id)
        })
        .add_routes(routes)
        .serve_with_incoming_shutdown(listener.connections(), drain)
        .await
        .context("gRPC server failed")
}

/// The connections of `listener` with Nagle's algorithm off: a reply
/// written in more than one segment would otherwise wait for the peer's
/// delayed ACK (40 ms on Linux) before its last segment leaves.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Reflection in both versions, listing exactly what a port serves: the
/// services in `descriptors`, `grpc.health.v1.Health` and both reflection
/// services. Nothing else is registered, so `describe` of a service served
/// on another port answers "not found", as grpcurl users expect.
fn reflection(
    descriptors: &'static [u8],
) -> anyhow::Result<(
    ServerReflectionServer<impl ServerReflection>,
    v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
)> {
    // Each builder adds its own version's descriptors; the other version's
    // are added here so both list both (the port serves both).
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(descriptors)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("reflection v1")?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(descriptors)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("reflection v1alpha")?;
    Ok((v1, v1alpha))
}

/// A lazily connecting channel to `url`: a service that is down at start-up
/// is reached once it comes up. One channel per upstream, shared by clones.
///
/// Failed connection attempts pause further ones (see [`crate::dial`]).
///
/// `url` may list several replicas separated by commas
/// (`http://a:50052,http://b:50052`): calls are then balanced over them,
/// and a replica that cannot be reached is passed over until it answers
/// again.
///
/// # Errors
/// When an address is not a valid URI.
pub fn channel(url: &str) -> anyhow::Result<tonic::transport::Channel> {
    let endpoints = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(endpoint)
        .collect::<anyhow::Result<Vec<_>>>()?;
    match endpoints.as_slice() {
        [] => anyhow::bail!("no upstream address given"),
        // Dialed through `Dialer`: a pause after failed attempts instead of
        // a new dial on every call while the upstream is down.
        [one] => Ok(one.connect_with_connector_lazy(crate::dial::Dialer::default())),
        _ => {
            let (channel, changes) = tonic::transport::Channel::balance_channel(endpoints.len());
            tokio::spawn(watch_replicas(endpoints, changes));
            Ok(channel)
        }
    }
}

/// How often replicas are probed; a replica that went down is out of the
/// rotation within about this long, and back as soon after it answers.
const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps the balancer's set of replicas to those that accept connections
/// (tonic's balancer alone keeps sending calls to a dead replica). Ends
/// when the channel is dropped.
async fn watch_replicas(
    endpoints: Vec<tonic::transport::Endpoint>,
    changes: tokio::sync::mpsc::Sender<
        tonic::transport::channel::Change<usize, tonic::transport::Endpoint>,
    >,
) {
    use tonic::transport::channel::Change;
    let mut in_rotation = vec![false; endpoints.len()];
    loop {
        for (i, endpoint) in endpoints.iter().enumerate() {
            let up = reachable(endpoint).await;
            let change = match (up, in_rotation[i]) {
                (true, false) => Change::Insert(i, endpoint.clone()),
                (false, true) => Change::Remove(i),
                _ => continue,
            };
            if changes.send(change).await.is_err() {
                return;
            }
            in_rotation[i] = up;
            tracing::info!(upstream = %endpoint.uri(), up, "upstream replica changed state");
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Whether the replica accepts a TCP connection within a short time.
async fn reachable(endpoint: &tonic::transport::Endpoint) -> bool {
    let Some(authority) = endpoint.uri().authority() else {
        return false;
    };
    let connect = tokio::net::TcpStream::connect(authority.as_str());
    match tokio::time::timeout(std::time::Duration::from_millis(500), connect).await {
        // A socket connected to itself means nothing listens there.
        Ok(Ok(stream)) => match (stream.local_addr(), stream.peer_addr()) {
            (Ok(local), Ok(peer)) => !crate::dial::is_self_connection(local, peer),
            _ => false,
        },
        _ => false,
    }
}

/// One upstream address with the settings every channel uses.
fn endpoint(url: &str) -> anyhow::Result<tonic::transport::Endpoint> {
    Ok(tonic::transport::Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("invalid upstream URL {url}"))?
        .connect_timeout(std::time::Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(std::time::Duration::from_secs(30)))
}

/// A background loop of a service (an outbox relay, a mail worker), run
/// beside the server and stopped with it.
type Worker = Box<
    dyn FnOnce(CancellationToken) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send,
>;

/// A built service: its port bound, its routes and background workers
/// ready. Every service crate's `build` returns one, so the binaries, the
/// launcher and the tests start them all the same way.
pub struct Server {
    listener: Listening,
    routes: Routes,
    health: &'static [&'static str],
    descriptors: &'static [u8],
    workers: Vec<Worker>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .field("services", &self.health)
            .finish()
    }
}

impl Server {
    /// `health` names the services reported SERVING; `descriptors`
    /// describes them by reflection (see [`todo_proto::port_descriptors`]).
    pub fn new(
        listener: TcpListener,
        routes: Routes,
        health: &'static [&'static str],
        descriptors: &'static [u8],
    ) -> Self {
        Self {
            listener: Listening::new(listener),
            routes,
            health,
            descriptors,
            workers: Vec::new(),
        }
    }

    /// Adds a loop that runs until the shutdown token is cancelled.
    #[must_use]
    pub fn with_worker<F, Fut>(mut self, worker: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.workers
            .push(Box::new(move |token| Box::pin(worker(token))));
        self
    }

    /// The bound address (useful with port 0).
    ///
    /// # Errors
    /// Never in practice: a bound listener has an address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves and runs the workers until `shutdown` is cancelled, then waits
    /// for in-flight calls and for the workers to reach a safe point.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let workers: Vec<_> = self
            .workers
            .into_iter()
            .map(|w| tokio::spawn(w(shutdown.clone())))
            .collect();
        let served = serve_on(
            self.listener,
            self.routes,
            self.health,
            self.descriptors,
            shutdown,
        )
        .await;
        for w in workers {
            let _ = w.await;
        }
        served
    }
}

#[cfg(test)]
mod tests {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use tonic_reflection::pb::v1 as v1_pb;
    use tonic_reflection::pb::v1alpha as v1alpha_pb;

    use super::*;

    #[tokio::test]
    async fn calls_are_balanced_past_a_replica_that_is_down() {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let live = listener.local_addr().unwrap();
        let (_reporter, health) = tonic_health::server::health_reporter();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(incoming(listener)),
        );
        // A port that was bound and released: nothing listens there.
        let dead = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap()
            .local_addr()
            .unwrap();

        let channel = channel(&format!("http://{dead}, http://{live}")).unwrap();
        for _ in 0..20 {
            let reply = HealthClient::new(channel.clone())
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await;
            assert!(reply.is_ok(), "{reply:?}");
        }
    }

    /// Starts a server that serves the task service's descriptors (and no
    /// task handlers: reflection and health need none).
    async fn task_port() -> (tonic::transport::Channel, CancellationToken) {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = Server::new(
            listener,
            Routes::default(),
            &["todo.task.v1.TaskService"],
            todo_proto::port_descriptors::TASK,
        );
        tokio::spawn(server.run_until_stopped(stop.clone()));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        (channel, stop)
    }

    /// One reflection request over v1alpha (what grpcurl 1.8 speaks).
    async fn ask_v1alpha(
        channel: &tonic::transport::Channel,
        request: v1alpha_pb::server_reflection_request::MessageRequest,
    ) -> Result<v1alpha_pb::server_reflection_response::MessageResponse, tonic::Status> {
        let mut client =
            v1alpha_pb::server_reflection_client::ServerReflectionClient::new(channel.clone());
        let request = v1alpha_pb::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        };
        let mut replies = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        Ok(replies.message().await?.unwrap().message_response.unwrap())
    }

    #[tokio::test]
    async fn reflection_lists_exactly_what_the_port_serves_in_both_versions() {
        use v1alpha_pb::server_reflection_request::MessageRequest as Alpha;
        use v1alpha_pb::server_reflection_response::MessageResponse as AlphaReply;
        let (channel, stop) = task_port().await;
        let expected = [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "todo.task.v1.TaskInternalService",
            "todo.task.v1.TaskService",
        ];

        let AlphaReply::ListServicesResponse(listed) =
            ask_v1alpha(&channel, Alpha::ListServices(String::new()))
                .await
                .unwrap()
        else {
            panic!("not a list");
        };
        let mut names: Vec<String> = listed.service.into_iter().map(|s| s.name).collect();
        names.sort();
        assert_eq!(names, expected);

        let mut client =
            v1_pb::server_reflection_client::ServerReflectionClient::new(channel.clone());
        let request = v1_pb::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1_pb::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        };
        let reply = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner()
            .message()
            .await
            .unwrap()
            .unwrap();
        let Some(v1_pb::server_reflection_response::MessageResponse::ListServicesResponse(listed)) =
            reply.message_response
        else {
            panic!("not a list");
        };
        let mut names: Vec<String> = listed.service.into_iter().map(|s| s.name).collect();
        names.sort();
        assert_eq!(names, expected);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_service_served_on_another_port_is_not_found_and_health_is_described() {
        use v1alpha_pb::server_reflection_request::MessageRequest as Alpha;
        use v1alpha_pb::server_reflection_response::MessageResponse as AlphaReply;
        let (channel, stop) = task_port().await;

        let reply = ask_v1alpha(
            &channel,
            Alpha::FileContainingSymbol("todo.user.v1.UserService".into()),
        )
        .await;
        let Err(error) = reply else {
            panic!("the user service was described on the task port: {reply:?}");
        };
        assert_eq!(error.code(), tonic::Code::NotFound);

        for symbol in ["grpc.health.v1.Health", "todo.task.v1.TaskService"] {
            let reply = ask_v1alpha(&channel, Alpha::FileContainingSymbol(symbol.into()))
                .await
                .unwrap();
            assert!(
                matches!(reply, AlphaReply::FileDescriptorResponse(_)),
                "{symbol}: {reply:?}"
            );
        }

        let health = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: "todo.task.v1.TaskService".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(health.status, 1, "SERVING");
        stop.cancel();
    }

    #[tokio::test]
    async fn a_server_of_this_process_is_called_in_memory_even_before_it_runs() {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(
            listener,
            Routes::default(),
            &["todo.task.v1.TaskService"],
            todo_proto::port_descriptors::TASK,
        );
        let dialer = crate::dial::Dialer::default();
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_with_connector_lazy(dialer.clone());
        // The call is made before the server runs: it waits in memory.
        let call = tokio::spawn(async move {
            HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: "todo.task.v1.TaskService".into(),
                })
                .await
        });
        let stop = CancellationToken::new();
        tokio::spawn(server.run_until_stopped(stop.clone()));
        let health = call.await.unwrap().unwrap().into_inner();
        assert_eq!(health.status, 1, "SERVING");
        assert_eq!(dialer.attempts(), 0, "no TCP connection was dialed");
        stop.cancel();
    }

    #[test]
    fn invalid_upstreams_are_refused() {
        assert!(channel("").is_err());
        assert!(channel("http://ok:1, not a uri").is_err());
    }
}
