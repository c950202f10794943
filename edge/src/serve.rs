//! The HTTP server under the router: accepts connections up to a cap,
//! serves each with hyper over HTTP/1.1 or HTTP/2 (prior knowledge), and
//! drains them on shutdown.
//!
//! It exists instead of `axum::serve` for the limits that one does not
//! set: a connection must send a whole request head within
//! [`ServerLimits::header_read_timeout`] (a client trickling headers would
//! otherwise hold its connection forever), at most
//! [`ServerLimits::max_connections`] are open at once, and hyper's own
//! head limits sit above the edge's (see [`crate::limits`]) so that a
//! request beyond the edge's limits gets the edge's JSON answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// The limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Time from waiting for a request head to having all of it; the
    /// first head's clock includes telling HTTP/1.1 from HTTP/2.
    pub header_read_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most header fields hyper parses in one head.
    pub max_headers: usize,
    /// Largest request head hyper buffers, in bytes.
    pub max_head_bytes: usize,
}

/// What an HTTP/2 client with prior knowledge sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How often a connection that sent part of the HTTP/2 preface is looked
/// at again; real clients send it whole, in one packet.
const PREFACE_POLL: Duration = Duration::from_millis(10);

/// Serves `app` on `listener` until `shutdown` completes; then stops
/// accepting, lets the requests in flight finish and closes idle
/// connections. `at_cap` is `true` while the accept loop waits for a
/// connection to close because [`ServerLimits::max_connections`] are open.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    at_cap: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // The slot is taken before accepting, so that beyond the cap new
        // connections wait in the kernel's backlog instead of being
        // accepted and starved.
        at_cap.send_replace(slots.available_permits() == 0);
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        at_cap.send_replace(false);
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather
                    // than spin on an error that persists.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let Some(h2) = speaks_h2(&stream, limits.header_read_timeout).await else {
                return;
            };
            let service =
                hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
                    // The handlers read the client's address as axum's
                    // ConnectInfo.
                    request.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().oneshot(request)
                });
            let io = TokioIo::new(stream);
            let served = if h2 {
                let mut builder = http2::Builder::new(TokioExecutor::new());
                builder
                    .timer(TokioTimer::new())
                    .max_header_list_size(u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX));
                watcher.watch(builder.serve_connection(io, service)).await
            } else {
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .max_headers(limits.max_headers)
                    .max_buf_size(limits.max_head_bytes);
                watcher.watch(builder.serve_connection(io, service)).await
            };
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Whether the client opens with the HTTP/2 preface, looked at without
/// consuming it; `None` when the connection closes or does not say within
/// `within`, so that a silent client cannot hold its slot.
async fn speaks_h2(stream: &TcpStream, within: Duration) -> Option<bool> {
    let deadline = Instant::now() + within;
    let mut start = [0; H2_PREFACE.len()];
    loop {
        let read = tokio::time::timeout_at(deadline, stream.peek(&mut start))
            .await
            .ok()?
            .ok()?;
        let seen = start.get(..read)?;
        if read == 0 {
            return None;
        }
        if !H2_PREFACE.starts_with(seen) {
            return Some(false);
        }
        if read == H2_PREFACE.len() {
            return Some(true);
        }
        if Instant::now() + PREFACE_POLL >= deadline {
            return None;
        }
        tokio::time::sleep(PREFACE_POLL).await;
    }
}
