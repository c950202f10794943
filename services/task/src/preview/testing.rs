//! Test doubles: a resolver answering from a table, and a small HTTP/1.1
//! server on `127.0.0.1:0` with canned replies.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use super::guard::{Lookup, LookupFuture};

/// Answers lookups from a table and counts them.
#[derive(Debug, Default)]
pub struct Table {
    answers: HashMap<String, Vec<IpAddr>>,
    lookups: AtomicUsize,
}

impl Table {
    pub fn new(answers: &[(&str, &[&str])]) -> Self {
        let answers = answers
            .iter()
            .map(|(host, addrs)| {
                let addrs = addrs.iter().map(|a| a.parse().unwrap()).collect();
                ((*host).to_owned(), addrs)
            })
            .collect();
        Self {
            answers,
            lookups: AtomicUsize::new(0),
        }
    }

    /// How many lookups were made.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl Lookup for Table {
    fn lookup(&self, host: &str) -> LookupFuture {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers.get(host).cloned();
        Box::pin(async move {
            answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
        })
    }
}

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    /// The request head, header names lower-cased.
    pub head: String,
}

impl Request {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n == name).then(|| v.trim())
        })
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// These bytes, then the connection is closed.
    Bytes(Vec<u8>),
    /// These bytes, then nothing more, the connection held open.
    Stall(Vec<u8>),
}

/// A 200 with `content_type` (none when empty) and `body`.
pub fn page(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    let body = body.into();
    let mut head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n", body.len());
    if !content_type.is_empty() {
        head.push_str(&format!("content-type: {content_type}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend(body);
    Reply::Bytes(bytes)
}

/// An HTML page in UTF-8.
pub fn html(body: &str) -> Reply {
    page("text/html; charset=utf-8", body)
}

/// A 302 to `location`, with `extra` header lines.
pub fn redirect(location: &str, extra: &str) -> Reply {
    Reply::Bytes(
        format!(
            "HTTP/1.1 302 Found\r\nlocation: {location}\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n"
        )
        .into_bytes(),
    )
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A server on `127.0.0.1:0`, listening when [`Server::start`] returns.
#[derive(Debug, Clone)]
pub struct Server {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let head = head
                        .lines()
                        .enumerate()
                        .map(|(i, line)| match line.split_once(':') {
                            Some((n, v)) if i > 0 => format!("{}:{v}", n.to_ascii_lowercase()),
                            _ => line.to_owned(),
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    let request = Request { path, head };
                    seen.lock().unwrap().push(request.clone());
                    match handler(&request) {
                        Reply::Bytes(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            let _ = stream.shutdown().await;
                        }
                        Reply::Stall(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            std::future::pending::<()>().await;
                        }
                    }
                });
            }
        });
        Self { addr, requests }
    }

    /// `path` on this server, as `http://127.0.0.1:port/path`.
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    /// The requests read so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}
