//! A real SMTP server for tests: it speaks the protocol over TCP to
//! lettre and hands each accepted message to the test. It can be told to
//! answer the next messages with an error code, and it can start out down:
//! its port is closed, so connections are refused, until it is opened.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;
use tokio::sync::{Mutex, mpsc};

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A "code" for [`Listener::fail_next`]: take the whole message, then never
/// answer it, like a server whose client went down mid-send.
pub const HANG: u16 = 0;

pub struct Listener {
    pub addr: SocketAddr,
    /// The bound socket until it listens.
    socket: std::sync::Mutex<Option<TcpSocket>>,
    /// Codes to answer the next messages' DATA with instead of 250;
    /// [`HANG`] for no answer at all.
    failures: Arc<std::sync::Mutex<VecDeque<u16>>>,
    /// Told when a message is left without an answer.
    hung: Arc<tokio::sync::Notify>,
    tx: mpsc::UnboundedSender<Received>,
    rx: Mutex<mpsc::UnboundedReceiver<Received>>,
}

impl Listener {
    /// A listener that accepts mail at once.
    pub async fn start() -> Self {
        let this = Self::on_free_port();
        this.open().await;
        this
    }

    /// A listener whose port refuses connections until [`Listener::open`].
    pub async fn down() -> Self {
        Self::on_free_port()
    }

    fn on_free_port() -> Self {
        // Bound but not listening: the port is this listener's, and
        // connections to it are refused until it listens.
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            addr: socket.local_addr().unwrap(),
            socket: std::sync::Mutex::new(Some(socket)),
            failures: Arc::default(),
            hung: Arc::default(),
            tx,
            rx: Mutex::new(rx),
        }
    }

    /// Starts listening on the port and accepting mail.
    pub async fn open(&self) {
        let socket = self.socket.lock().unwrap().take().expect("opened twice");
        let listener = socket.listen(64).unwrap();
        let tx = self.tx.clone();
        let failures = self.failures.clone();
        let hung = self.hung.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // Replies are small writes; without this, Nagle's algorithm
                // and delayed ACKs add tens of milliseconds per message.
                let _ = stream.set_nodelay(true);
                let (tx, failures, hung) = (tx.clone(), failures.clone(), hung.clone());
                tokio::spawn(async move {
                    let _ = session(stream, tx, failures, hung).await;
                });
            }
        });
    }

    /// Answers the next messages with these codes, one each, then 250.
    pub fn fail_next(&self, codes: &[u16]) {
        self.failures.lock().unwrap().extend(codes);
    }

    /// Waits until a message was left without an answer ([`HANG`]).
    pub async fn hung(&self, within: Duration) {
        tokio::time::timeout(within, self.hung.notified())
            .await
            .expect("no message was left hanging");
    }

    /// The next accepted message whose text contains `needle` (its
    /// quoted-printable decoded), skipping others, waiting at most `within`
    /// in all.
    pub async fn next_containing(&self, needle: &str, within: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let mail = self.next(left).await;
            if super::decoded(&mail.data).contains(needle) {
                return mail;
            }
        }
    }

    /// The next accepted message, waiting at most `within`.
    pub async fn next(&self, within: Duration) -> Received {
        tokio::time::timeout(within, self.rx.lock().await.recv())
            .await
            .expect("no e-mail arrived in time")
            .expect("SMTP listener stopped")
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    tx: mpsc::UnboundedSender<Received>,
    failures: Arc<std::sync::Mutex<VecDeque<u16>>>,
    hung: Arc<tokio::sync::Notify>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 test.smtp ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write
                .write_all(b"250-test.smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            write.write_all(b"250 test.smtp\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().to_owned();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().to_owned());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let failure = failures.lock().unwrap().pop_front();
            if failure == Some(HANG) {
                hung.notify_one();
                // Holds the connection until the client drops it.
                while lines.read_line(&mut line).await? > 0 {}
                return Ok(());
            }
            if let Some(code) = failure {
                write
                    .write_all(format!("{code} test failure\r\n").as_bytes())
                    .await?;
                to.clear();
                continue;
            }
            let _ = tx.send(Received {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            write.write_all(b"250 OK\r\n").await?;
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
}
