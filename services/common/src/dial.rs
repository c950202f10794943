//! How channels dial their upstream: plain TCP, with a pause after failed
//! attempts and without ever talking to themselves; or, to a server of
//! this same process, an in-memory pipe (see [`crate::in_process`]).
//!
//! tonic re-dials a lazy channel on every call while its upstream is down,
//! so a busy caller hammers a dead address hundreds of times a second.
//! [`Dialer`] remembers failures and refuses to dial again until a delay
//! has passed (100 ms doubling to 5 s, jittered so that many callers do not
//! come back in step); a call in that window fails at once, as UNAVAILABLE.
//!
//! Dialing a port of the local host that nothing listens on can succeed by
//! TCP simultaneous open when the kernel picks that very port as the
//! source: the socket is then connected to itself and would echo every
//! byte back. Such a connection is dropped and counted as a failure.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::in_process::{self, Conn};

/// The pause after the first failed attempt.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);

/// The longest pause between attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// The pause after `failures` failed attempts in a row, before jitter:
/// [`FIRST_DELAY`] doubled for each earlier failure, at most [`MAX_DELAY`].
pub fn delay_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

/// When the next attempt may be made.
#[derive(Debug, Default)]
struct Backoff {
    /// Failed attempts since the last success.
    failures: u32,
    /// No attempt before this.
    not_before: Option<Instant>,
}

impl Backoff {
    /// `Err` with the time left while attempts are paused.
    fn admit(&self, now: Instant) -> Result<(), Duration> {
        match self.not_before {
            Some(at) if now < at => Err(at - now),
            _ => Ok(()),
        }
    }

    /// Records an attempt's outcome. `jitter` in `[0, 1]` picks the pause
    /// between half and all of [`delay_after`].
    fn record(&mut self, succeeded: bool, now: Instant, jitter: f64) {
        if succeeded {
            *self = Self::default();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let delay = delay_after(self.failures);
        self.not_before = Some(now + delay.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0));
    }
}

/// Whether a connection's two ends are one socket (TCP simultaneous open
/// to itself).
pub fn is_self_connection(local: SocketAddr, peer: SocketAddr) -> bool {
    local == peer
}

/// A connector for [`tonic::transport::Endpoint::connect_with_connector_lazy`]:
/// TCP with `TCP_NODELAY`, paused after failures, refusing connections to
/// itself. Clones share their state.
#[derive(Debug, Clone, Default)]
pub struct Dialer {
    backoff: Arc<Mutex<Backoff>>,
    attempts: Arc<AtomicU64>,
}

impl Dialer {
    /// How many times this dialer has actually dialed.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    async fn dial(self, uri: Uri) -> io::Result<TokioIo<Conn>> {
        if let Some(conn) = served_here(&uri) {
            return Ok(TokioIo::new(conn));
        }
        let now = Instant::now();
        let admitted = self
            .backoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(now);
        if let Err(left) = admitted {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!(
                    "{uri} failed to connect; next attempt in {} ms",
                    left.as_millis()
                ),
            ));
        }
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let connected = connect(&uri).await;
        let jitter = rand::thread_rng().gen_range(0.0..=1.0);
        self.backoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(connected.is_ok(), Instant::now(), jitter);
        connected.map(|stream| TokioIo::new(Conn::Tcp(stream)))
    }
}

impl tower::Service<Uri> for Dialer {
    type Response = TokioIo<Conn>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().dial(uri))
    }
}

/// An in-memory connection when `uri` names, by IP address and port, a
/// server of this process. A host name is never resolved for this: such
/// upstreams are other machines in practice.
fn served_here(uri: &Uri) -> Option<Conn> {
    in_process::connect(socket_addr(uri)?)
}

/// The address `uri` names when its host is an IP address (the key of a
/// server of this process); `None` for a host name.
pub fn socket_addr(uri: &Uri) -> Option<SocketAddr> {
    let (host, port) = host_and_port(uri)?;
    let ip = host.parse::<std::net::IpAddr>().ok()?;
    Some(SocketAddr::new(ip, port))
}

/// The host (an IPv6 literal without its brackets) and the port of `uri`,
/// the scheme's default port when none is written.
fn host_and_port(uri: &Uri) -> Option<(&str, u16)> {
    // An IPv6 literal comes bracketed in a URI.
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    Some((host, port))
}

/// One TCP connection to the host and port of `uri`.
async fn connect(uri: &Uri) -> io::Result<TcpStream> {
    let (host, port) = host_and_port(uri)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("no host in {uri}")))?;
    let stream = TcpStream::connect((host, port)).await?;
    if is_self_connection(stream.local_addr()?, stream.peer_addr()?) {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("{uri}: the connection reached itself; nothing listens there"),
        ));
    }
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_100_ms_to_at_most_5_s() {
        let delays: Vec<u64> = (1..=9)
            .map(|failures| delay_after(failures).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn attempts_pause_after_failures_with_jitter_and_resume_after_success() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        assert!(backoff.admit(start).is_ok());
        backoff.record(false, start, 0.0);
        assert_eq!(backoff.admit(start), Err(Duration::from_millis(50)));
        assert!(backoff.admit(start + Duration::from_millis(50)).is_ok());
        backoff.record(false, start, 1.0);
        assert_eq!(backoff.admit(start), Err(Duration::from_millis(200)));
        backoff.record(true, start, 1.0);
        assert!(backoff.admit(start).is_ok());
    }

    #[test]
    fn a_connection_to_itself_is_recognised() {
        let a: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        assert!(is_self_connection(a, a));
        assert!(!is_self_connection(a, b));
    }

    #[tokio::test]
    async fn a_closed_port_is_dialed_a_few_times_a_second_not_hundreds() {
        // A port that was bound and released: nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let uri: Uri = format!("http://{closed}").parse().unwrap();
        let mut dialer = Dialer::default();
        let until = Instant::now() + Duration::from_secs(1);
        let mut calls = 0;
        while Instant::now() < until {
            let dialed = tower::Service::call(&mut dialer, uri.clone()).await;
            assert!(dialed.is_err());
            calls += 1;
            tokio::task::yield_now().await;
        }
        // 0, then pauses of at least 50, 100, 200 and 400 ms: at most 5
        // dials in a second however often the channel asks.
        assert!(calls > 100, "{calls} calls");
        assert!(dialer.attempts() <= 5, "{} dials", dialer.attempts());
        assert!(dialer.attempts() >= 2, "{} dials", dialer.attempts());
    }
}
