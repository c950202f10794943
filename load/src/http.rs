//! HTTP/1.1 to the edge: each worker keeps one keep-alive connection of
//! its own, as a browser or a load balancer does, and opens a new one when
//! the edge closes it.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST};
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::measure::Worker;

/// Most bytes of an error answer kept in its description.
const ERROR_BODY_BYTES: usize = 200;

/// One request, as a worker's request maker describes it.
#[derive(Debug)]
pub struct Call {
    pub method: Method,
    /// Path and query.
    pub target: String,
    /// A JSON body.
    pub body: Option<String>,
}

/// Makes a worker's `n`-th request.
pub type MakeCall = Box<dyn FnMut(u64) -> Call + Send>;

/// A worker with its own connection to the edge.
pub struct HttpWorker {
    addr: SocketAddr,
    host: HeaderValue,
    /// `Bearer <token>`, sent with every request when set.
    authorization: Option<HeaderValue>,
    /// A signed-in browser's cookies, for the web app's pages; set, an
    /// answer counts only as a whole page (see [`Self::with_cookies`]).
    cookies: Option<HeaderValue>,
    connection: Option<SendRequest<Full<Bytes>>>,
    make: MakeCall,
}

impl HttpWorker {
    /// A worker that connects to `addr` on its first request.
    pub fn new(addr: SocketAddr, authorization: Option<HeaderValue>, make: MakeCall) -> Self {
        let host = HeaderValue::from_str(&addr.to_string())
            .unwrap_or(HeaderValue::from_static("localhost"));
        Self {
            addr,
            host,
            authorization,
            cookies: None,
            connection: None,
            make,
        }
    }

    /// The worker sending `cookies` with every request, as a browser; an
    /// answer then succeeds only with 200 and the page whole to its
    /// `</html>`.
    pub fn with_cookies(self, cookies: HeaderValue) -> Self {
        Self {
            cookies: Some(cookies),
            ..self
        }
    }

    fn request(&self, call: Call) -> Result<Request<Full<Bytes>>, String> {
        let mut request = Request::builder()
            .method(call.method)
            .uri(call.target)
            .header(HOST, self.host.clone());
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if let Some(cookies) = &self.cookies {
            request = request.header(COOKIE, cookies.clone());
        }
        let body = match call.body {
            Some(json) => {
                request =
                    request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Full::new(Bytes::from(json))
            }
            None => Full::new(Bytes::new()),
        };
        request
            .body(body)
            .map_err(|e| format!("invalid request: {e}"))
    }
}

impl Worker for HttpWorker {
    async fn call(&mut self, n: u64) -> Result<(), String> {
        let call = (self.make)(n);
        let request = self.request(call)?;
        let mut connection = match self.connection.take() {
            Some(open) if !open.is_closed() => open,
            _ => connect(self.addr).await?,
        };
        connection
            .ready()
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        let response = connection
            .send_request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("answer cut short: {e}"))?
            .to_bytes();
        // Kept only once the whole answer is read: a connection that failed
        // midway is not reused.
        self.connection = Some(connection);
        let page_whole = body.trim_ascii_end().ends_with(b"</html>");
        if self.cookies.is_some() && status.is_success() && (status != 200 || !page_whole) {
            let end = &body[body.len().saturating_sub(ERROR_BODY_BYTES)..];
            Err(format!(
                "{status}, not a whole page: …{}",
                String::from_utf8_lossy(end)
            ))
        } else if status.is_success() {
            Ok(())
        } else {
            let shown = &body[..body.len().min(ERROR_BODY_BYTES)];
            Err(format!("{status}: {}", String::from_utf8_lossy(shown)))
        }
    }
}

pub async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr} failed: {e}"))?;
    tokio::spawn(async move {
        // Ends when the worker drops its sender or the edge closes.
        let _ = connection.await;
    });
    Ok(sender)
}
