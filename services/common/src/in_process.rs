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
//! Closer still, once a server runs, a caller of this process calls its
//! routes without any connection ([`direct`], see [`crate::direct`]).
//!
//! Separate processes never share this table, so they keep TCP. A server
//! that stops removes its entry, and dials fall back to TCP (and so are
//! refused like any dial to a closed port).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::direct::Direct;

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
    /// Lets callers of this process call the server without a connection
    /// from now on, until `direct` closes (see [`crate::direct`]).
    pub fn call_directly(&self, direct: Direct) {
        let mut served = served();
        // A later server on the same address owns the entry by now.
        if let Some(entry) = served
            .get_mut(&self.addr)
            .filter(|e| e.acceptor.same_channel(&self.acceptor))
        {
            entry.direct = Some(direct);
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

/// The running server of this process bound to `addr`, to call without a
/// connection; `None` when no server here is bound there, it does not
/// run yet or it is stopping (the caller takes its channel).
pub fn direct(addr: SocketAddr) -> Option<Direct> {
    served()
        .get(&addr)?
        .direct
        .as_ref()
        .filter(|d| d.is_open())
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

/// What a server sees of a peer in this process: a loopback address, as
/// the same call over TCP would show.
pub(crate) fn peer_of_this_process(addr: SocketAddr) -> TcpConnectInfo {
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

    use super::*;

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
