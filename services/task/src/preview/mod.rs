//! Link previews: the URLs in a task's text, and what the pages they point
//! to say about themselves, fetched without letting a task's author reach
//! anything but public web servers.
//!
//! # Layout
//! - [`links`]: the first [`links::MAX_LINKS`] http(s) URLs in a text, and
//!   the key fetch results are shared under.
//! - [`guard`]: the SSRF defence. Which URLs, ports and addresses may be
//!   fetched from, and the resolver that checks every address before the
//!   client connects to it.
//! - [`fetch`]: one page, redirects followed by hand (each checked), body
//!   capped, time limited, HTML only, decoded from its charset.
//! - [`extract`]: the preview in a page (OpenGraph, Twitter card, head).
//! - [`Previewer`]: all of it behind a cap on concurrent fetches.

pub mod extract;
pub mod fetch;
pub mod guard;
pub mod links;
#[cfg(any(test, feature = "testing"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use url::Url;

pub use extract::Preview;
use fetch::{Fetcher, Limits};
use guard::{Guard, Refused};

/// Link preview settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `TODO_PREVIEW_ALLOW_LOOPBACK`, default `false`: lets fetches reach
    /// `127.0.0.0/8` and `::1`, so tests can serve pages locally. Nothing
    /// else non-public is ever allowed.
    pub allow_loopback: bool,
    /// `TODO_PREVIEW_PORTS`, default `80,443`: the ports a link may name.
    /// Other ports mostly reach services that are not web sites.
    pub ports: Vec<u16>,
    /// `TODO_PREVIEW_MAX_CONCURRENT`, default 16: fetches at once in this
    /// process; more wait their turn.
    pub max_concurrent: usize,
    /// `TODO_PREVIEW_FETCHES_PER_MINUTE`, default 60: the fetches one
    /// user's links (and `fromUrl` calls) may cause in a minute, counted
    /// in the database across replicas. Links beyond it stay PENDING and
    /// are fetched in a later minute.
    pub per_user_per_minute: u32,
    /// A whole fetch, redirects and body included: 5 s.
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            ports: vec![80, 443],
            max_concurrent: 16,
            per_user_per_minute: 60,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Parses a comma-separated list of ports (`TODO_PREVIEW_PORTS`).
///
/// # Errors
/// When an entry is not a port number from 1 to 65535, or none is given.
pub fn parse_ports(raw: &str) -> Result<Vec<u16>, String> {
    let ports = raw
        .split(',')
        .map(|p| match p.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("{:?} is not a port number", p.trim())),
            Ok(port) => Ok(port),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ports)
}

/// Why a page has no preview. [`Failure::code`] is what is stored; it is
/// for the task's own members, never for other users of the cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The guard refused the URL, a redirect target or an address.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The host name does not resolve.
    #[error("the host name does not resolve")]
    Dns,
    /// No connection (refused, reset, TLS handshake failed).
    #[error("could not connect")]
    Connect,
    /// Over the time limit.
    #[error("the page took too long")]
    Timeout,
    /// More redirects than allowed.
    #[error("too many redirects")]
    TooManyRedirects,
    /// A redirect without a usable `Location`.
    #[error("a redirect led nowhere")]
    BadRedirect,
    /// The final answer was not a success.
    #[error("the server answered {0}")]
    Status(u16),
    /// Not an HTML page (or no content type).
    #[error("not an HTML page")]
    NotHtml,
    /// The connection failed while reading.
    #[error("reading the page failed")]
    Read,
    /// The page says nothing to show.
    #[error("the page has no title, description or image")]
    Empty,
}

impl Failure {
    /// What the client of `CreateTaskFromUrl` is told: a code and a fixed
    /// text, never an address or a detail of the fetch. A name that
    /// resolves to a non-public address, a name that does not resolve and
    /// a host that refuses the connection all read "unreachable", so the
    /// answers cannot map internal names to their addresses.
    pub fn public(&self) -> (&'static str, &'static str) {
        match self {
            Self::Refused(Refused::Address(_)) | Self::Dns | Self::Connect => {
                ("UNREACHABLE", "the site could not be reached")
            }
            Self::Refused(Refused::Scheme(_)) => (
                "UNSUPPORTED_SCHEME",
                "only http and https pages can be read",
            ),
            Self::Refused(Refused::Credentials) => (
                "CREDENTIALS_IN_URL",
                "the address must not hold a user name or password",
            ),
            Self::Refused(Refused::Port(_)) => ("PORT_NOT_ALLOWED", "this port is not allowed"),
            Self::Refused(Refused::NoHost) => ("INVALID_URL", "the address names no host"),
            Self::Timeout => ("TIMEOUT", "the page took too long"),
            Self::TooManyRedirects => ("TOO_MANY_REDIRECTS", "the page redirects too often"),
            Self::BadRedirect => ("BAD_REDIRECT", "a redirect led nowhere"),
            Self::Status(_) => ("HTTP_STATUS", "the site did not return the page"),
            Self::NotHtml => ("NOT_HTML", "not an HTML page"),
            Self::Read => ("READ_FAILED", "reading the page failed"),
            Self::Empty => ("NO_PREVIEW", "the page has no title, description or image"),
        }
    }

    /// The stable code stored with a FAILED link.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(Refused::Scheme(_)) => "UNSUPPORTED_SCHEME",
            Self::Refused(Refused::Credentials) => "CREDENTIALS_IN_URL",
            Self::Refused(Refused::Port(_)) => "PORT_NOT_ALLOWED",
            Self::Refused(Refused::NoHost) => "INVALID_URL",
            Self::Refused(Refused::Address(_)) => "ADDRESS_NOT_ALLOWED",
            Self::Dns => "DNS_FAILED",
            Self::Connect => "CONNECT_FAILED",
            Self::Timeout => "TIMEOUT",
            Self::TooManyRedirects => "TOO_MANY_REDIRECTS",
            Self::BadRedirect => "BAD_REDIRECT",
            Self::Status(_) => "HTTP_STATUS",
            Self::NotHtml => "NOT_HTML",
            Self::Read => "READ_FAILED",
            Self::Empty => "NO_PREVIEW",
        }
    }
}

/// Fetches pages and reads their previews, at most
/// [`Settings::max_concurrent`] at once. Cheap to clone; clones share the
/// cap.
#[derive(Debug, Clone)]
pub struct Previewer {
    fetcher: Fetcher,
    permits: Arc<Semaphore>,
}

impl Previewer {
    /// A previewer resolving names with the system resolver.
    ///
    /// # Errors
    /// When the HTTP client cannot be set up.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self::with_fetcher(
            Fetcher::new(limits(settings))?,
            settings.max_concurrent,
        ))
    }

    fn with_fetcher(fetcher: Fetcher, max_concurrent: usize) -> Self {
        Self {
            fetcher,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    /// The preview of the page at `url`. Waits for a free slot first (the
    /// caller bounds the wait, if it must); the fetch itself is bounded by
    /// [`Settings::timeout`]. A page cut at the size limit is previewed
    /// from what was read.
    ///
    /// # Errors
    /// The [`Failure`] of the fetch, or [`Failure::Empty`].
    pub async fn preview(&self, url: &Url) -> Result<Preview, Failure> {
        // The semaphore is never closed, so this always gets a permit.
        let _permit = self.permits.acquire().await.map_err(|_| Failure::Connect)?;
        let page = self.fetcher.fetch(url).await?;
        // Parsing up to 1 MiB of HTML is CPU work: off the async threads,
        // at most `max_concurrent` at once (the permit is held).
        let preview = tokio::task::spawn_blocking(move || extract::extract(&page.html, &page.url))
            .await
            .map_err(|_| Failure::Read)?;
        if preview.is_empty() {
            return Err(Failure::Empty);
        }
        Ok(preview)
    }
}

fn limits(settings: &Settings) -> Limits {
    Limits {
        guard: Guard {
            allow_loopback: settings.allow_loopback,
            ports: settings.ports.clone(),
        },
        timeout: settings.timeout,
        ..Limits::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preview::testing::{Reply, Server, html};

    fn settings(server: &Server) -> Settings {
        Settings {
            allow_loopback: true,
            ports: vec![server.addr.port()],
            ..Settings::default()
        }
    }

    #[tokio::test]
    async fn a_page_becomes_a_preview() {
        let server = Server::start(|_| {
            html(
                r#"<html><head><title>Fallback</title>
                <meta property="og:title" content=" Rust &amp; you ">
                <meta property="og:image" content="/cover.png">
                </head></html>"#,
            )
        })
        .await;
        let previewer = Previewer::new(&settings(&server)).unwrap();
        let preview = previewer.preview(&server.url("/post")).await.unwrap();
        assert_eq!(preview.title.as_deref(), Some("Rust & you"));
        assert_eq!(preview.image_url, Some(server.url("/cover.png")));
    }

    #[tokio::test]
    async fn a_page_with_nothing_to_show_fails() {
        let server = Server::start(|_| html("<p>no head at all</p>")).await;
        let previewer = Previewer::new(&settings(&server)).unwrap();
        let failure = previewer.preview(&server.url("/")).await.unwrap_err();
        assert_eq!(failure, Failure::Empty);
        assert_eq!(failure.code(), "NO_PREVIEW");
    }

    #[tokio::test]
    async fn loopback_is_refused_by_default() {
        let server = Server::start(|_| html("<title>local</title>")).await;
        let settings = Settings {
            ports: vec![server.addr.port()],
            ..Settings::default()
        };
        let previewer = Previewer::new(&settings).unwrap();
        let failure = previewer.preview(&server.url("/")).await.unwrap_err();
        assert_eq!(failure.code(), "ADDRESS_NOT_ALLOWED");
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn concurrent_fetches_are_capped() {
        let (reached, mut reached_rx) = tokio::sync::mpsc::unbounded_channel();
        let server = Server::start(move |r| {
            let _ = reached.send(r.path.clone());
            match r.path.as_str() {
                "/stall" => Reply::Stall(Vec::new()),
                _ => html("<title>second</title>"),
            }
        })
        .await;
        let previewer = Previewer::new(&Settings {
            max_concurrent: 1,
            ..settings(&server)
        })
        .unwrap();
        let first = tokio::spawn({
            let previewer = previewer.clone();
            let url = server.url("/stall");
            async move { previewer.preview(&url).await }
        });
        assert_eq!(reached_rx.recv().await.as_deref(), Some("/stall"));

        // The one slot is taken: the second fetch waits, and never reaches
        // the server.
        let second_url = server.url("/second");
        let second = previewer.preview(&second_url);
        tokio::pin!(second);
        let waited = tokio::time::timeout(Duration::from_millis(200), &mut second).await;
        assert!(waited.is_err(), "the second fetch did not wait");
        assert!(reached_rx.try_recv().is_err());

        first.abort();
        let preview = second.await.unwrap();
        assert_eq!(preview.title.as_deref(), Some("second"));
    }

    #[test]
    fn ports_parse() {
        assert_eq!(parse_ports("80, 443,8443"), Ok(vec![80, 443, 8443]));
        assert!(parse_ports("80,http").is_err());
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("70000").is_err());
    }

    #[test]
    fn every_failure_has_its_own_code() {
        let failures = [
            Failure::Refused(Refused::Scheme("ftp".into())),
            Failure::Refused(Refused::Credentials),
            Failure::Refused(Refused::Port(22)),
            Failure::Refused(Refused::NoHost),
            Failure::Refused(Refused::Address(guard::Blocked {
                addr: std::net::Ipv4Addr::LOCALHOST.into(),
                class: guard::Class::Loopback,
            })),
            Failure::Dns,
            Failure::Connect,
            Failure::Timeout,
            Failure::TooManyRedirects,
            Failure::BadRedirect,
            Failure::Status(500),
            Failure::NotHtml,
            Failure::Read,
            Failure::Empty,
        ];
        let mut codes: Vec<_> = failures.iter().map(Failure::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), failures.len());
    }
}
