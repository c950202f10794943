//! Calling a running server of this process through its routes, without
//! a connection ([`crate::in_process::direct`] finds it by address,
//! [`crate::upstream::Upstream`] takes this way when it can).
//!
//! The tonic client and the server's routes are the same code as over a
//! connection: protobuf messages in gRPC's length-prefixed framing,
//! metadata, credentials checked by the server's interceptors, status and
//! trailers. What is left out is HTTP/2 (framing, header compression,
//! flow control) and the hand-off between tasks: the handler runs on the
//! caller's task.
//!
//! A direct call gets what the server's transport gives a call on a
//! connection: the peer address (loopback, as over the in-memory pipe),
//! fresh extensions, the server's request span and its `grpc-timeout`.
//! Two answers differ from tonic's transport, on purpose:
//! - an expired `grpc-timeout` answers DEADLINE_EXCEEDED, the code gRPC
//!   defines for it (tonic's server answers CANCELLED, which the edge
//!   would report as a client that went away);
//! - a handler that panics answers INTERNAL, and the caller's task goes on
//!   (on a connection, the panic ends only the stream's own task). This
//!   covers the handler's future, which makes a unary call's whole answer;
//!   the platform's RPCs are all unary.
//!
//! A call made once the server is asked to stop answers UNAVAILABLE
//! without reaching the handler. The server then closes its [`InFlight`],
//! so that no call can enter after it has counted zero, and waits for the
//! calls already running, as it waits for calls on its connections.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use http::HeaderMap;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::body::Body;
use tonic::service::Routes;
use tower::ServiceExt;
use tracing::Instrument;

/// A running server's routes, called without a connection.
#[derive(Debug, Clone)]
pub struct Direct {
    routes: Routes,
    addr: SocketAddr,
    in_flight: InFlight,
    stopping: CancellationToken,
}

impl Direct {
    /// The server bound to `addr` serving `routes`; its calls are counted
    /// in `in_flight`. Calls are refused from the moment `stopping` is
    /// cancelled (the server may not have run since), and for certain once
    /// the server has closed `in_flight`.
    pub fn new(
        routes: Routes,
        addr: SocketAddr,
        in_flight: InFlight,
        stopping: CancellationToken,
    ) -> Self {
        Self {
            routes,
            addr,
            in_flight,
            stopping,
        }
    }

    /// Whether the server still takes calls.
    pub fn is_open(&self) -> bool {
        !self.stopping.is_cancelled() && !self.in_flight.is_closed()
    }

    /// One call, answered by the server's routes (see the module's doc for
    /// what the call carries and how its answers differ).
    pub fn call(
        &self,
        mut request: http::Request<Body>,
    ) -> impl Future<Output = http::Response<Body>> + Send + 'static {
        let running = if self.stopping.is_cancelled() {
            None
        } else {
            self.in_flight.try_enter()
        };
        // Nothing of the client's own extensions crosses, as over a
        // connection; the server sees its peer.
        *request.extensions_mut() = http::Extensions::new();
        request
            .extensions_mut()
            .insert(crate::in_process::peer_of_this_process(self.addr));
        let span = crate::grpc::call_span(request.uri(), request.headers());
        let timeout = grpc_timeout(request.headers());
        let call = self.routes.clone().oneshot(request);
        async move {
            let Some(running) = running else {
                return Status::unavailable("the service is stopping").into_http();
            };
            let bounded = async move {
                match timeout {
                    None => call.await,
                    Some(timeout) => {
                        tokio::time::timeout(timeout, call)
                            .await
                            .unwrap_or_else(|_| {
                                Ok(Status::deadline_exceeded("Timeout expired").into_http())
                            })
                    }
                }
            };
            let mut response = match AssertUnwindSafe(bounded).catch_unwind().await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .copied()
                        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                        .unwrap_or("a panic");
                    tracing::error!(panic = what, "a gRPC handler panicked");
                    Status::internal("internal error").into_http()
                }
            };
            response.extensions_mut().clear();
            response.map(|body| {
                Body::new(Counted {
                    body,
                    _running: running,
                })
            })
        }
        .instrument(span)
    }
}

/// A direct call's answer, counting its call in flight until the body is
/// dropped: a streamed answer is still being made after its head returns.
struct Counted {
    body: Body,
    _running: Running,
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Status>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The direct calls of a server in flight, whether it still takes new
/// ones, and a wait until none is left. Clones share the count.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<Calls>);

#[derive(Debug, Default)]
struct Calls {
    /// [`CLOSED`] and the number of calls in flight times [`ONE_CALL`]:
    /// one atomic, so that no call can enter after a close has been seen
    /// by [`InFlight::none_left`].
    state: AtomicUsize,
    none_left: tokio::sync::Notify,
}

const CLOSED: usize = 1;
const ONE_CALL: usize = 2;

/// One call in flight, counted until dropped.
#[derive(Debug)]
struct Running(InFlight);

impl InFlight {
    /// Counts a new call; `None` once closed.
    fn try_enter(&self) -> Option<Running> {
        let before = self.0.state.fetch_add(ONE_CALL, Ordering::SeqCst);
        let running = Running(self.clone());
        // Dropping it takes the count back (and wakes a waiter if it was
        // the last).
        (before & CLOSED == 0).then_some(running)
    }

    /// Takes no new call from now on.
    pub fn close(&self) {
        self.0.state.fetch_or(CLOSED, Ordering::SeqCst);
    }

    fn is_closed(&self) -> bool {
        self.0.state.load(Ordering::SeqCst) & CLOSED != 0
    }

    /// Returns once no call is in flight.
    pub async fn none_left(&self) {
        loop {
            let notified = self.0.none_left.notified();
            tokio::pin!(notified);
            // Registered before the count is read, so a last call that
            // ends in between still wakes this wait.
            notified.as_mut().enable();
            if self.0.state.load(Ordering::SeqCst) < ONE_CALL {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let before = self.0.0.state.fetch_sub(ONE_CALL, Ordering::SeqCst);
        if before / ONE_CALL == 1 {
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

/// A health service whose answers tell how it was called, for the tests
/// of direct calls here and in [`crate::grpc`].
#[cfg(test)]
pub(crate) mod probe {
    use std::convert::Infallible;
    use std::future::Future;
    use std::sync::Arc;

    use tonic::body::Body;
    use tonic::server::NamedService;
    use tonic::{Request, Response, Status};
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_server::{Health, HealthServer};
    use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

    /// SERVING when the handler runs on the tokio task the caller names
    /// as the service and sees a loopback peer, NOT_SERVING otherwise. The
    /// service `slow` announces itself on `entered` and waits for `gate`;
    /// `panic` panics.
    #[derive(Default)]
    pub struct Probe {
        pub entered: Arc<tokio::sync::Notify>,
        pub gate: Arc<tokio::sync::Notify>,
    }

    #[tonic::async_trait]
    impl Health for Probe {
        async fn check(
            &self,
            request: Request<HealthCheckRequest>,
        ) -> Result<Response<HealthCheckResponse>, Status> {
            match request.get_ref().service.as_str() {
                "slow" => {
                    self.entered.notify_one();
                    self.gate.notified().await;
                }
                "panic" => panic!("the probe was asked to panic"),
                _ => {}
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

    /// The probe under a service name of its own, `probe.Health`, so it can
    /// sit beside the real health service of a [`crate::grpc::Server`]:
    /// a client whose origin is [`ORIGIN`] reaches it.
    #[derive(Clone)]
    pub struct Nested(HealthServer<Probe>);

    pub const ORIGIN: &str = "http://probe/probe.Health";

    /// Long enough for anything the tests wait for; a test that waits
    /// longer has found a call that never ends.
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

    /// `future`'s output, or a failure naming `what` if it never comes.
    pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
        tokio::time::timeout(PATIENCE, future)
            .await
            .unwrap_or_else(|_| panic!("{what} did not finish"))
    }

    impl Nested {
        pub fn new(probe: Probe) -> Self {
            Self(HealthServer::new(probe))
        }
    }

    impl NamedService for Nested {
        const NAME: &'static str = "probe.Health";
    }

    impl tower::Service<http::Request<Body>> for Nested {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = <HealthServer<Probe> as tower::Service<http::Request<Body>>>::Future;

        fn poll_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Infallible>> {
            tower::Service::<http::Request<Body>>::poll_ready(&mut self.0, cx)
        }

        fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
            let inner = request
                .uri()
                .path()
                .strip_prefix("/probe.Health")
                .unwrap_or_default()
                .parse()
                .unwrap_or_default();
            *request.uri_mut() = inner;
            self.0.call(request)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use tokio_stream::StreamExt;
    use tokio_stream::wrappers::UnboundedReceiverStream;
    use tonic::{Code, Request};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::health_server::HealthServer;

    use super::probe::{Probe, within};
    use super::*;
    use crate::in_process::{self, Conn, Registration};

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// `probe`'s routes registered at `addr`, served on the connections
    /// made in memory; direct calls are not offered yet.
    fn serve_probe(addr: SocketAddr, probe: Probe) -> (Registration, Routes) {
        let routes = Routes::new(HealthServer::new(probe));
        let (registration, accepted) = in_process::register(addr);
        let connections = UnboundedReceiverStream::new(accepted)
            .map(move |stream| Ok::<_, io::Error>(Conn::accepted(stream, addr)));
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_routes(routes.clone())
                .serve_with_incoming(connections),
        );
        (registration, routes)
    }

    /// Direct calls to `routes` at `addr` of a server that is not asked to
    /// stop: they are refused only once `in_flight` closes.
    fn running(routes: Routes, addr: SocketAddr, in_flight: InFlight) -> Direct {
        Direct::new(routes, addr, in_flight, CancellationToken::new())
    }

    fn client(addr: SocketAddr) -> HealthClient<crate::upstream::Upstream> {
        HealthClient::new(crate::upstream::channel(&format!("http://{addr}")).unwrap())
    }

    /// Asks, from a task of its own, whether the call ran on that task.
    async fn same_task(addr: SocketAddr) -> Result<ServingStatus, tonic::Status> {
        let mut client = client(addr);
        let asked = tokio::spawn(async move {
            let service = tokio::task::id().to_string();
            let reply = client.check(HealthCheckRequest { service }).await?;
            Ok(reply.into_inner().status())
        });
        within("a call", asked).await.unwrap()
    }

    #[tokio::test]
    async fn a_direct_call_runs_on_the_callers_task_and_a_piped_one_does_not() {
        let (registration, routes) = serve_probe(addr(6), Probe::default());
        assert_eq!(same_task(addr(6)).await.unwrap(), ServingStatus::NotServing);

        let in_flight = InFlight::default();
        registration.call_directly(running(routes, addr(6), in_flight.clone()));
        assert_eq!(same_task(addr(6)).await.unwrap(), ServingStatus::Serving);

        in_flight.close();
        assert!(
            in_process::direct(addr(6)).is_none(),
            "no direct call once closed"
        );
        assert_eq!(same_task(addr(6)).await.unwrap(), ServingStatus::NotServing);
    }

    #[tokio::test]
    async fn calls_in_flight_are_waited_for_and_none_enters_after_the_close() {
        let probe = Probe::default();
        let (entered, gate) = (probe.entered.clone(), probe.gate.clone());
        let (registration, routes) = serve_probe(addr(7), probe);
        let in_flight = InFlight::default();
        let direct = running(routes, addr(7), in_flight.clone());
        registration.call_directly(direct.clone());
        let mut slow_client = client(addr(7));
        let slow = tokio::spawn(async move {
            let service = "slow".to_owned();
            slow_client.check(HealthCheckRequest { service }).await
        });
        within("the slow call's start", entered.notified()).await;

        in_flight.close();
        let wait = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.none_left().await }
        });
        tokio::task::yield_now().await;
        assert!(!wait.is_finished(), "a call is still in flight");

        // A call made after the close, through a server found before it,
        // is refused and never reaches the handler.
        let late = http::Request::new(Body::empty());
        let refused = within("a late call", direct.call(late)).await;
        let status = tonic::Status::from_header_map(refused.headers()).unwrap();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!wait.is_finished(), "the slow call is still in flight");

        gate.notify_one();
        assert!(within("the slow call", slow).await.unwrap().is_ok());
        within("the wait", wait).await.unwrap();
        // Nothing in flight: returns at once.
        within("a second wait", in_flight.none_left()).await;
    }

    #[tokio::test]
    async fn a_server_asked_to_stop_refuses_calls_before_it_has_run_again() {
        let (registration, routes) = serve_probe(addr(10), Probe::default());
        let stopping = CancellationToken::new();
        let direct = Direct::new(routes, addr(10), InFlight::default(), stopping.clone());
        registration.call_directly(direct.clone());
        assert!(in_process::direct(addr(10)).is_some());
        // Cancelled, and nothing has run since: the server has not closed
        // its count, yet the call is refused.
        stopping.cancel();
        assert!(in_process::direct(addr(10)).is_none());
        let late = http::Request::new(Body::empty());
        let refused = within("a late call", direct.call(late)).await;
        let status = tonic::Status::from_header_map(refused.headers()).unwrap();
        assert_eq!(status.code(), Code::Unavailable);
    }

    #[tokio::test]
    async fn a_direct_call_past_its_deadline_answers_deadline_exceeded() {
        let (registration, routes) = serve_probe(addr(8), Probe::default());
        registration.call_directly(running(routes, addr(8), InFlight::default()));
        let mut request = Request::new(HealthCheckRequest {
            service: "slow".into(),
        });
        request.set_timeout(Duration::from_millis(20));
        let mut client = client(addr(8));
        // The handler waits forever: only the deadline ends the call.
        let answer = within("a call with a deadline", client.check(request)).await;
        assert_eq!(answer.unwrap_err().code(), Code::DeadlineExceeded);
    }

    #[tokio::test]
    async fn a_handler_that_panics_answers_internal_and_the_caller_goes_on() {
        let (registration, routes) = serve_probe(addr(9), Probe::default());
        let in_flight = InFlight::default();
        registration.call_directly(running(routes, addr(9), in_flight.clone()));
        let mut client = client(addr(9));
        let service = "panic".to_owned();
        let answer = within(
            "a panicking call",
            client.check(HealthCheckRequest { service }),
        )
        .await;
        assert_eq!(answer.unwrap_err().code(), Code::Internal);
        within("the wait", in_flight.none_left()).await;
        assert_eq!(same_task(addr(9)).await.unwrap(), ServingStatus::Serving);
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
}
