//! How one part of the platform calls another: an [`Upstream`] is a
//! tonic channel (TCP to one address or balanced over replicas, an
//! in-memory pipe to a server of this process; see [`crate::dial`]) that
//! calls a running server of this process directly instead, through its
//! routes, without a connection (see [`crate::direct`]).
//! Generated clients take it where they take a channel.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use anyhow::Context as _;
use tonic::body::Body;
use tonic::transport::Channel;

use crate::direct::Direct;
use crate::in_process;

/// A channel to one upstream service that calls it directly while it runs
/// in this process. Clones share the channel and its connections.
#[derive(Debug)]
pub struct Upstream {
    channel: Channel,
    /// The address of a single upstream named by IP and port: the key of a
    /// server of this process. `None` for host names and replica sets.
    here: Option<SocketAddr>,
    /// The way the next call goes, settled by `poll_ready`.
    ready: Option<Way>,
}

#[derive(Debug)]
enum Way {
    Direct(Direct),
    /// The channel is ready for one call.
    Channel,
}

impl Clone for Upstream {
    /// A clone settles its own way: a channel's readiness is not shared.
    fn clone(&self) -> Self {
        Self::new(self.channel.clone(), self.here)
    }
}

impl Upstream {
    fn new(channel: Channel, here: Option<SocketAddr>) -> Self {
        Self {
            channel,
            here,
            ready: None,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<http::Request<Body>> for Upstream {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.ready.is_none() {
            self.ready = self.here.and_then(in_process::direct).map(Way::Direct);
        }
        if matches!(self.ready, Some(Way::Direct(_))) {
            return Poll::Ready(Ok(()));
        }
        ready!(tower::Service::poll_ready(&mut self.channel, cx))?;
        self.ready = Some(Way::Channel);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match self.ready.take() {
            Some(Way::Direct(server)) => {
                let answer = server.call(request);
                Box::pin(async move { Ok(answer.await) })
            }
            Some(Way::Channel) => {
                let answer = tower::Service::call(&mut self.channel, request);
                Box::pin(async move { Ok(answer.await?) })
            }
            None => Box::pin(std::future::ready(Err(
                "an upstream was called before it was ready".into(),
            ))),
        }
    }
}

/// A lazily connecting channel to `url`: a service that is down at start-up
/// is reached once it comes up. One channel per upstream, shared by clones.
/// When `url` names a server of this process by IP address and port, its
/// calls are direct (see [`Upstream`]).
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
pub fn channel(url: &str) -> anyhow::Result<Upstream> {
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
        [one] => Ok(Upstream::new(
            one.connect_with_connector_lazy(crate::dial::Dialer::default()),
            crate::dial::socket_addr(one.uri()),
        )),
        _ => {
            let (channel, changes) = tonic::transport::Channel::balance_channel(endpoints.len());
            tokio::spawn(watch_replicas(endpoints, changes));
            Ok(Upstream::new(channel, None))
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

#[cfg(test)]
mod tests {
    use tonic::transport::server::TcpIncoming;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    #[tokio::test]
    async fn calls_are_balanced_past_a_replica_that_is_down() {
        let listener = crate::grpc::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let live = listener.local_addr().unwrap();
        let (_reporter, health) = tonic_health::server::health_reporter();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        // A port that was bound and released: nothing listens there.
        let dead = crate::grpc::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
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

    #[test]
    fn invalid_upstreams_are_refused() {
        assert!(channel("").is_err());
        assert!(channel("http://ok:1, not a uri").is_err());
    }
}
