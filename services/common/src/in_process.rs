//! gRPC between the parts of one process without sockets.
//!
//! In the all-in-one process the edge, the web app and the services call
//! each other over gRPC like separate processes do. Through loopback TCP
//! every call costs system calls and kernel wake-ups on both sides, a
//! large share of a cheap request. So a server registers its bound
//! address here, and a [`crate::dial::Dialer`] asked for that exact
//! address gets one end of an in-memory pipe whose other end the server
//! accepts as a connection. Everything above the bytes is unchanged: the
//! same HTTP/2 framing, the same tonic stacks, interceptors and deadlines.
//!
//! Closer still, once a server runs, a caller of this process may skip
//! the connection altogether and call the server's routes as a tower
//! service ([`direct`]): the same gRPC messages, metadata, status and
//! trailers, produced and read by the same tonic client and server code,
//! without HTTP/2 framing, header compression or a hand-off between tasks.
//! A direct call carries what the server's transport would have added: the
//! peer address (loopback), the request span and the caller's
//! `grpc-timeout`; the server waits for direct calls in flight when it
//! stops, as it does for calls on its connections.
//!
//! Separate processes never share this table, so they keep TCP. A server
//! that stops removes its entry, and dials fall back to TCP (and so are
//! refused like any dial to a closed port).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};

use std::time::Duration;

use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::service::Routes;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tower::ServiceExt;
use tracing::Instrument;

/// Bytes buffered each way on an in-memory connection before the writer
/// waits: room for several full HTTP/2 frames (16 KiB each by default).
const PIPE_BUFFER: usize = 256 * 1024;

type Acceptor = mpsc::UnboundedSender<DuplexStream>;

/// How a server of this process is reached: a pipe to its connection
/// acceptor, and once it runs, its routes.
#[derive(Debug)]
struct Entry {
    acceptor: Acceptor,
    direct: Option<Direct>,
}

/// The servers of this process, by the address each is bound to.
static SERVED: LazyLock<Mutex<HashMap<SocketAddr, Entry>>> = LazyLock::new(Mutex::default);

fn served() -> std::sync::MutexGuard<'static, HashMap<SocketAddr, Entry>> {
    SERVED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A server's entry in the table; dropping it removes the entry.
#[derive(Debug)]
pub struct Registration {
    addr: SocketAddr,
    acceptor: Acceptor,
}

impl Registration {
    /// Lets callers of this process call `routes` directly from now until
    /// `stopping` is cancelled; `in_flight` tracks every such call, so the
    /// server can wait for them after it stops.
    pub fn call_directly(&self, routes: Routes, in_flight: InFlight, stopping: CancellationToken) {
        // A later server on the same address owns the entry by now.
        if let Some(entry) = served()
            .get_mut(&self.addr)
            .filter(|e| e.acceptor.same_channel(&self.acceptor))
        {
            entry.direct = Some(Direct {
                routes,
                addr: self.addr,
                in_flight,
                stopping,
            });
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut served = served();
        // A later server on the same address owns the entry by now.
        if served
            .get(&self.addr)
            .is_some_and(|e| e.acceptor.same_channel(&self.acceptor))
        {
            served.remove(&self.addr);
        }
    }
}

/// Registers a server bound to `addr`: from now until the registration is
/// dropped, dials of `addr` in this process arrive on the receiver.
pub fn register(addr: SocketAddr) -> (Registration, mpsc::UnboundedReceiver<DuplexStream>) {
    let (acceptor, accepted) = mpsc::unbounded_channel();
    served().insert(
        addr,
        Entry {
            acceptor: acceptor.clone(),
            direct: None,
        },
    );
    (Registration { addr, acceptor }, accepted)
}

/// The routes of the running server of this process bound to `addr`, to
/// call without a connection; `None` when no server here is bound there,
/// it does not run yet or it is stopping (the caller takes its channel).
pub fn direct(addr: SocketAddr) -> Option<Direct> {
    served()
        .get(&addr)?
        .direct
        .as_ref()
        .filter(|d| !d.stopping.is_cancelled())
        .cloned()
}

/// A connection to the server of this process bound to `addr`, or `None`
/// when no server here is (the caller dials TCP instead).
pub fn connect(addr: SocketAddr) -> Option<Conn> {
    let acceptor = served().get(&addr)?.acceptor.clone();
    let (client, server) = tokio::io::duplex(PIPE_BUFFER);
    // The server stopped accepting after the lookup: dial TCP like any
    // other address (it is refused there too).
    acceptor.send(server).ok()?;
    Some(Conn::Memory {
        stream: client,
        addr,
    })
}

/// One connection of a server or a channel: TCP, or an in-memory pipe to
/// or from this same process.
#[derive(Debug)]
pub enum Conn {
    Tcp(TcpStream),
    /// `addr` is the address of the server the pipe leads to.
    Memory {
        stream: DuplexStream,
        addr: SocketAddr,
    },
}

impl Conn {
    /// The server side of an in-memory connection to the server at `addr`.
    pub fn accepted(stream: DuplexStream, addr: SocketAddr) -> Self {
        Self::Memory { stream, addr }
    }
}

/// The running server at `addr`'s routes, called without a connection.
#[derive(Debug, Clone)]
pub struct Direct {
    routes: Routes,
    addr: SocketAddr,
    in_flight: InFlight,
    stopping: CancellationToken,
}

impl Direct {
    /// One call, answered as the server answers it on a connection: the
    /// request carries the peer (this process, so loopback) and runs in
    /// the server's request span, bounded by its `grpc-timeout`.
    pub fn call(
        &self,
        mut request: http::Request<Body>,
    ) -> impl Future<Output = http::Response<Body>> + Send + 'static {
        let in_flight = self.in_flight.enter();
        request
            .extensions_mut()
            .insert(peer_of_this_process(self.addr));
        let span = crate::grpc::call_span(request.uri(), request.headers());
        let timeout = grpc_timeout(request.headers());
        let call = self.routes.clone().oneshot(request);
        async move {
            let answered = match timeout {
                None => call.await,
                Some(timeout) => tokio::time::timeout(timeout, call)
                    .await
                    .unwrap_or_else(|_| {
                        Ok(tonic::Status::deadline_exceeded("Timeout expired").into_http())
                    }),
            };
            let response = match answered {
                Ok(response) => response,
                Err(never) => match never {},
            };
            response.map(|body| {
                Body::new(Counted {
                    body,
                    _running: in_flight,
                })
            })
        }
        .instrument(span)
    }
}

/// A direct call's answer, counted in flight until its body ends or is
/// dropped: a streamed answer is still being made after its head returns.
struct Counted {
    body: Body,
    _running: Running,
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The direct calls of a server in flight, and a wait until there are none.
/// Clones count the same calls.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<Calls>);

#[derive(Debug, Default)]
struct Calls {
    running: AtomicUsize,
    none_left: tokio::sync::Notify,
}

/// One call in flight, counted until dropped.
#[derive(Debug)]
struct Running(InFlight);

impl InFlight {
    fn enter(&self) -> Running {
        self.0.running.fetch_add(1, Ordering::SeqCst);
        Running(self.clone())
    }

    /// Returns once no call is in flight.
    pub async fn none_left(&self) {
        loop {
            let notified = self.0.none_left.notified();
            tokio::pin!(notified);
            // Registered before the count is read, so a last call that
            // ends in between still wakes this wait.
            notified.as_mut().enable();
            if self.0.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.0.none_left.notify_waiters();
        }
    }
}

/// The `grpc-timeout` of a request: at most eight digits and a unit (`H`,
/// `M`, `S`, `m`, `u`, `n`). A malformed value is ignored, as tonic's
/// server ignores it.
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// What a server sees of a peer in this process: a loopback address, as
/// the same call over TCP would show.
fn peer_of_this_process(addr: SocketAddr) -> TcpConnectInfo {
    TcpConnectInfo {
        local_addr: Some(addr),
        remote_addr: Some(SocketAddr::new(loopback_of(addr), 0)),
    }
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    /// An in-memory peer is this very process, so on this host: it reads
    /// as loopback, as the same call over TCP would.
    fn connect_info(&self) -> TcpConnectInfo {
        match self {
            Self::Tcp(stream) => stream.connect_info(),
            Self::Memory { addr, .. } => peer_of_this_process(*addr),
        }
    }
}

/// The loopback address of `addr`'s family.
fn loopback_of(addr: SocketAddr) -> std::net::IpAddr {
    match addr {
        SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Memory { stream, .. } => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Memory { stream, .. } => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Memory { stream, .. } => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(s) => s.is_write_vectored(),
            Self::Memory { stream, .. } => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Memory { stream, .. } => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Memory { stream, .. } => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_stream::StreamExt;
    use tokio_stream::wrappers::UnboundedReceiverStream;
    use tonic::{Code, Request, Response, Status};
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::health_server::{Health, HealthServer};
    use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

    use super::*;

    /// A health service that tells how it was called: SERVING when the
    /// handler runs on the tokio task the caller names as the service and
    /// sees a loopback peer, NOT_SERVING otherwise. The service `slow`
    /// waits for `gate` after announcing itself on `entered`.
    #[derive(Default)]
    struct Probe {
        entered: Arc<tokio::sync::Notify>,
        gate: Arc<tokio::sync::Notify>,
    }

    #[tonic::async_trait]
    impl Health for Probe {
        async fn check(
            &self,
            request: Request<HealthCheckRequest>,
        ) -> Result<Response<HealthCheckResponse>, Status> {
            if request.get_ref().service == "slow" {
                self.entered.notify_one();
                self.gate.notified().await;
            }
            let here = tokio::task::try_id().map(|id| id.to_string());
            let loopback = request.remote_addr().is_some_and(|a| a.ip().is_loopback());
            let status = if loopback && here.as_deref() == Some(&request.get_ref().service) {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            Ok(Response::new(HealthCheckResponse {
                status: status.into(),
            }))
        }

        type WatchStream = tokio_stream::Empty<Result<HealthCheckResponse, Status>>;

        async fn watch(
            &self,
            _: Request<HealthCheckRequest>,
        ) -> Result<Response<Self::WatchStream>, Status> {
            Err(Status::unimplemented("not probed"))
        }
    }

    /// `probe`'s routes registered at `addr`, served on the connections
    /// made in memory; direct calls are not offered yet.
    fn serve_probe(addr: SocketAddr, probe: Probe) -> (Registration, Routes) {
        let routes = Routes::new(HealthServer::new(probe));
        let (registration, accepted) = register(addr);
        let connections = UnboundedReceiverStream::new(accepted)
            .map(move |stream| Ok::<_, io::Error>(Conn::accepted(stream, addr)));
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_routes(routes.clone())
                .serve_with_incoming(connections),
        );
        (registration, routes)
    }

    /// Asks, from a task of its own, whether the call ran on that task.
    async fn same_task(addr: SocketAddr) -> Result<ServingStatus, Status> {
        let upstream = crate::upstream::channel(&format!("http://{addr}")).unwrap();
        tokio::spawn(async move {
            let mut client = HealthClient::new(upstream);
            let service = tokio::task::id().to_string();
            let reply = client.check(HealthCheckRequest { service }).await?;
            Ok(reply.into_inner().status())
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_direct_call_runs_on_the_callers_task_and_a_piped_one_does_not() {
        let (registration, routes) = serve_probe(addr(6), Probe::default());
        assert_eq!(same_task(addr(6)).await.unwrap(), ServingStatus::NotServing);

        let stopping = CancellationToken::new();
        registration.call_directly(routes, InFlight::default(), stopping.clone());
        assert_eq!(same_task(addr(6)).await.unwrap(), ServingStatus::Serving);

        stopping.cancel();
        assert!(direct(addr(6)).is_none(), "no direct call once stopping");
        assert_eq!(same_task(addr(6)).await.unwrap(), ServingStatus::NotServing);
    }

    #[tokio::test]
    async fn a_stopping_server_waits_for_its_direct_calls_in_flight() {
        let probe = Probe::default();
        let (entered, gate) = (probe.entered.clone(), probe.gate.clone());
        let (registration, routes) = serve_probe(addr(7), probe);
        let in_flight = InFlight::default();
        registration.call_directly(routes, in_flight.clone(), CancellationToken::new());
        let upstream = crate::upstream::channel(&format!("http://{}", addr(7))).unwrap();
        let call = tokio::spawn(async move {
            HealthClient::new(upstream)
                .check(HealthCheckRequest {
                    service: "slow".into(),
                })
                .await
        });
        entered.notified().await;

        let wait = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.none_left().await }
        });
        tokio::task::yield_now().await;
        assert!(!wait.is_finished(), "a call is still in flight");
        gate.notify_one();
        assert!(call.await.unwrap().is_ok());
        wait.await.unwrap();
        // Nothing in flight: returns at once.
        in_flight.none_left().await;
    }

    #[tokio::test]
    async fn a_direct_call_past_its_deadline_answers_deadline_exceeded() {
        let (registration, routes) = serve_probe(addr(8), Probe::default());
        registration.call_directly(routes, InFlight::default(), CancellationToken::new());
        let upstream = crate::upstream::channel(&format!("http://{}", addr(8))).unwrap();
        let mut request = Request::new(HealthCheckRequest {
            service: "slow".into(),
        });
        request.set_timeout(Duration::from_millis(20));
        let mut client = HealthClient::new(upstream);
        // The handler waits forever: only the deadline ends the call.
        let answer = tokio::time::timeout(Duration::from_secs(10), client.check(request))
            .await
            .expect("the deadline was not kept");
        assert_eq!(answer.unwrap_err().code(), Code::DeadlineExceeded);
    }

    #[test]
    fn grpc_timeouts_are_read_in_every_unit_and_malformed_ones_ignored() {
        let read = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-timeout", http::HeaderValue::from_static(value));
            grpc_timeout(&headers)
        };
        assert_eq!(read("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(read("3M"), Some(Duration::from_secs(180)));
        assert_eq!(read("4S"), Some(Duration::from_secs(4)));
        assert_eq!(read("5m"), Some(Duration::from_millis(5)));
        assert_eq!(read("6u"), Some(Duration::from_micros(6)));
        assert_eq!(read("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for malformed in ["", "S", "123456789S", "1x", "-1S", "1.5S", "1 S"] {
            assert_eq!(read(malformed), None, "{malformed:?}");
        }
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[tokio::test]
    async fn a_dial_of_a_registered_address_reaches_its_server_in_memory() {
        let (_registration, mut accepted) = register(addr(1));
        let Some(mut client) = connect(addr(1)) else {
            panic!("a registered address must connect in memory");
        };
        assert!(matches!(client, Conn::Memory { .. }));
        let mut server = Conn::accepted(accepted.recv().await.unwrap(), addr(1));
        client.write_all(b"ping").await.unwrap();
        let mut got = [0; 4];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
    }

    #[test]
    fn an_address_no_server_here_is_bound_to_is_dialed_over_tcp() {
        assert!(connect(addr(2)).is_none());
    }

    #[test]
    fn a_stopped_server_takes_no_more_connections() {
        let (registration, accepted) = register(addr(3));
        drop(accepted);
        assert!(
            connect(addr(3)).is_none(),
            "a closed acceptor must not take a dial"
        );
        drop(registration);
        assert!(connect(addr(3)).is_none());
    }

    #[test]
    fn dropping_an_old_registration_keeps_the_newer_one_on_the_same_address() {
        let (old, _old_accepted) = register(addr(4));
        let (_new, _new_accepted) = register(addr(4));
        drop(old);
        assert!(connect(addr(4)).is_some());
    }

    #[test]
    fn an_in_memory_peer_reads_as_loopback() {
        let (stream, _) = tokio::io::duplex(16);
        let info = Conn::accepted(stream, addr(5)).connect_info();
        assert_eq!(info.local_addr, Some(addr(5)));
        assert!(info.remote_addr.unwrap().ip().is_loopback());
    }
}
