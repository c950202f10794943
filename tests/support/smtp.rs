//! A real SMTP server for tests: it speaks the protocol over TCP to
//! lettre and hands each accepted message to the test. It can be told to
//! answer the next messages with an error code, and it can start out down:
//! every connection is turned away with `421` (service not available)
//! until it is opened.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

pub struct Listener {
    pub addr: SocketAddr,
    /// Codes to answer the next messages' DATA with instead of 250.
    failures: Arc<std::sync::Mutex<VecDeque<u16>>>,
    /// Whether connections are turned away.
    down: Arc<std::sync::atomic::AtomicBool>,
    turned_away: Arc<tokio::sync::Notify>,
    tx: mpsc::UnboundedSender<Received>,
    rx: Mutex<mpsc::UnboundedReceiver<Received>>,
}

impl Listener {
    /// A listener that accepts mail at once.
    pub async fn start() -> Self {
        Self::bind(false).await
    }

    /// A listener that turns every connection away until
    /// [`Listener::open`].
    pub async fn down() -> Self {
        Self::bind(true).await
    }

    /// Starts accepting mail.
    pub fn open(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// Waits until a connection was turned away while down.
    pub async fn turned_away(&self, within: Duration) {
        tokio::time::timeout(within, self.turned_away.notified())
            .await
            .expect("nobody tried to send");
    }

    async fn bind(down: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let this = Self {
            addr: listener.local_addr().unwrap(),
            failures: Arc::default(),
            down: Arc::new(AtomicBool::new(down)),
            turned_away: Arc::default(),
            tx,
            rx: Mutex::new(rx),
        };
        let tx = this.tx.clone();
        let failures = this.failures.clone();
        let down = this.down.clone();
        let turned_away = this.turned_away.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                // Replies are small writes; without this, Nagle's algorithm
                // and delayed ACKs add tens of milliseconds per message.
                let _ = stream.set_nodelay(true);
                if down.load(Ordering::SeqCst) {
                    let _ = stream
                        .write_all(b"421 4.3.2 service not available\r\n")
                        .await;
                    turned_away.notify_one();
                    continue;
                }
                let (tx, failures) = (tx.clone(), failures.clone());
                tokio::spawn(async move {
                    let _ = session(stream, tx, failures).await;
                });
            }
        });
        this
    }

    /// Answers the next messages with these codes, one each, then 250.
    pub fn fail_next(&self, codes: &[u16]) {
        self.failures.lock().unwrap().extend(codes);
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
