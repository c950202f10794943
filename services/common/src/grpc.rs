//! A tonic server with what every service port offers besides its own
//! RPCs: `grpc.health.v1`, server reflection in `v1` and `v1alpha` (grpcurl
//! 1.8 speaks the latter), a span per call carrying the request id, and
//! graceful shutdown. A server takes the connections of its own process
//! in memory besides those of its TCP port (see [`crate::in_process`]),
//! and once it runs, calls of its own process without a connection (see
//! [`crate::direct`]).

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

use crate::direct::{Direct, InFlight};
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

    /// Lets this process call `routes` without a connection until
    /// `stopping` is cancelled (see [`crate::direct`]).
    fn call_directly(&self, routes: Routes, in_flight: InFlight, stopping: CancellationToken) {
        if let (Some(registration), Ok(addr)) = (&self.registration, self.local_addr()) {
            registration.call_directly(Direct::new(routes, addr, in_flight, stopping));
        }
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

    // Layers belong in `routes`: direct calls of this process reach the
    // routes without the server builder below.
    let direct_calls = InFlight::default();
    listener.call_directly(routes.clone(), direct_calls.clone(), shutdown.clone());

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
    let served = tonic::transport::Server::builder()
        .trace_fn(|req| call_span(req.uri(), req.headers()))
        .add_routes(routes)
        .serve_with_incoming_shutdown(listener.connections(), drain)
        .await
        .context("gRPC server failed");
    // No direct call starts once `shutdown` is cancelled, and once
    // `direct_calls` is closed none can slip in between a check of the
    // token and its count; those already running finish, as calls on
    // connections do.
    direct_calls.close();
    direct_calls.none_left().await;
    served
}

/// The span of one call: its method and the request id the edge minted.
pub(crate) fn call_span(uri: &http::Uri, headers: &http::HeaderMap) -> tracing::Span {
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("grpc", method = %uri.path(), request_id = %request_id)
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

    /// A server of the task service's descriptors (and no task handlers:
    /// reflection and health need none), bound but not running yet.
    async fn task_server() -> (Server, SocketAddr) {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(
            listener,
            Routes::default(),
            &["todo.task.v1.TaskService"],
            todo_proto::port_descriptors::TASK,
        );
        (server, addr)
    }

    /// Starts a server that serves the task service's descriptors (and no
    /// task handlers: reflection and health need none).
    async fn task_port() -> (tonic::transport::Channel, CancellationToken) {
        let (server, addr) = task_server().await;
        let stop = CancellationToken::new();
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
    async fn a_running_server_is_called_directly_and_finishes_those_calls_when_it_stops() {
        use crate::direct::probe::{Nested, ORIGIN, Probe, within};
        use tonic_health::pb::health_check_response::ServingStatus;

        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let probe = Probe::default();
        let (entered, gate) = (probe.entered.clone(), probe.gate.clone());
        let server = Server::new(
            listener,
            Routes::new(Nested::new(probe)),
            &["todo.task.v1.TaskService"],
            todo_proto::port_descriptors::TASK,
        );
        assert!(in_process::direct(addr).is_none(), "not running yet");
        let stop = CancellationToken::new();
        let mut running = tokio::spawn(server.run_until_stopped(stop.clone()));
        let upstream = crate::upstream::channel(&format!("http://{addr}")).unwrap();
        let probe = || HealthClient::with_origin(upstream.clone(), ORIGIN.parse().unwrap());

        // Answered once the server runs; from then on, on the caller's task.
        let mut health = HealthClient::new(upstream.clone());
        let service = "todo.task.v1.TaskService".to_owned();
        let answer = within(
            "the first call",
            health.check(HealthCheckRequest { service }),
        )
        .await;
        assert_eq!(answer.unwrap().into_inner().status, 1, "SERVING");
        let mut client = probe();
        let same_task = tokio::spawn(async move {
            let service = tokio::task::id().to_string();
            client.check(HealthCheckRequest { service }).await
        });
        let same_task = within("a direct call", same_task).await.unwrap().unwrap();
        assert_eq!(same_task.into_inner().status(), ServingStatus::Serving);

        let mut client = probe();
        let slow = tokio::spawn(async move {
            let service = "slow".to_owned();
            client.check(HealthCheckRequest { service }).await
        });
        within("the slow call's start", entered.notified()).await;
        let found_before = in_process::direct(addr).unwrap();
        stop.cancel();
        within("the close", async {
            while in_process::direct(addr).is_some() {
                tokio::task::yield_now().await;
            }
        })
        .await;
        // A server found before the stop takes no new call after it.
        let late = http::Request::new(tonic::body::Body::empty());
        let refused = within("a late call", found_before.call(late)).await;
        let refused = tonic::Status::from_header_map(refused.headers()).unwrap();
        assert_eq!(refused.code(), tonic::Code::Unavailable);
        let early = tokio::time::timeout(std::time::Duration::from_millis(200), &mut running).await;
        assert!(
            early.is_err(),
            "the server stopped with a direct call in flight"
        );
        gate.notify_one();
        assert!(within("the slow call", slow).await.unwrap().is_ok());
        within("the stop", running).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_server_of_this_process_is_called_in_memory_even_before_it_runs() {
        let (server, addr) = task_server().await;
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
}
