//! Fetching one page for a preview, within the guard and the limits.
//!
//! The client follows no redirect by itself: [`Fetcher::fetch`] follows
//! each one by hand so that the guard sees every URL before a connection
//! is made. It keeps no cookies, sends no credentials and no `Referer`,
//! uses no proxy (a proxy would connect to addresses the guard never saw),
//! and names itself with a fixed User-Agent.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue, LOCATION};
use scraper::Html;
use url::Url;

use super::Failure;
use super::guard::{Blocked, Guard, GuardedResolver, Lookup, Refused, SystemLookup, Unresolved};

/// Sent with every fetch: what is asking, and why.
pub const USER_AGENT: &str = concat!(
    "todo-link-preview/",
    env!("CARGO_PKG_VERSION"),
    " (fetches pages linked from to-do tasks to show their title)"
);

/// How far [`decode`] looks for `<meta charset>`, as browsers do.
const PRESCAN: usize = 1024;

/// What a fetch may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Where it may connect.
    pub guard: Guard,
    /// The whole fetch, every redirect and the body included.
    pub timeout: Duration,
    /// Bytes of body read; the rest of a longer page is never read.
    pub max_body: usize,
    /// Redirects followed; one more fails the fetch.
    pub max_redirects: usize,
}

impl Default for Limits {
    /// 5 s, 1 MiB, 5 redirects, ports 80 and 443, no loopback.
    fn default() -> Self {
        Self {
            guard: Guard::default(),
            timeout: Duration::from_secs(5),
            max_body: 1 << 20,
            max_redirects: 5,
        }
    }
}

/// A fetched HTML page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Where it came from, after redirects: relative URLs in it resolve
    /// against this.
    pub url: Url,
    /// Its text, decoded from its charset.
    pub html: String,
    /// Whether the page was longer than [`Limits::max_body`] and was cut.
    pub truncated: bool,
}

/// Fetches pages. One per process: it holds the connection settings, and
/// cloning it is cheap.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    limits: Arc<Limits>,
}

impl Fetcher {
    /// A fetcher resolving names with the system resolver.
    ///
    /// # Errors
    /// When the TLS backend cannot be set up.
    pub fn new(limits: Limits) -> Result<Self, reqwest::Error> {
        Self::with_lookup(limits, Arc::new(SystemLookup))
    }

    /// A fetcher resolving names with `lookup`.
    ///
    /// # Errors
    /// When the TLS backend cannot be set up.
    pub fn with_lookup(limits: Limits, lookup: Arc<dyn Lookup>) -> Result<Self, reqwest::Error> {
        let resolver = GuardedResolver::new(limits.guard.clone(), lookup);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(resolver))
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .no_proxy()
            .user_agent(USER_AGENT)
            // Fetches go to ever-changing hosts: idle connections would only
            // hold sockets.
            .pool_max_idle_per_host(0)
            .http1_only()
            .build()?;
        Ok(Self {
            client,
            limits: Arc::new(limits),
        })
    }

    /// `url`, following up to [`Limits::max_redirects`] redirects, each
    /// target checked by the guard, all within [`Limits::timeout`].
    ///
    /// # Errors
    /// The [`Failure`] that stopped it.
    pub async fn fetch(&self, url: &Url) -> Result<Page, Failure> {
        tokio::time::timeout(self.limits.timeout, self.follow(url.clone()))
            .await
            .unwrap_or(Err(Failure::Timeout))
    }

    async fn follow(&self, mut url: Url) -> Result<Page, Failure> {
        let mut redirects = 0;
        loop {
            url.set_fragment(None);
            self.limits.guard.check_url(&url)?;
            let response = self
                .client
                .get(url.clone())
                .header(
                    ACCEPT,
                    HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9"),
                )
                .send()
                .await
                .map_err(failure)?;
            let status = response.status();
            if is_followed_redirect(status) {
                if redirects == self.limits.max_redirects {
                    return Err(Failure::TooManyRedirects);
                }
                redirects += 1;
                url = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                    .ok_or(Failure::BadRedirect)?;
                continue;
            }
            if !status.is_success() {
                return Err(Failure::Status(status.as_u16()));
            }
            let charset = match response.headers().get(CONTENT_TYPE) {
                Some(value) => html_charset(value.to_str().unwrap_or_default())?,
                None => return Err(Failure::NotHtml),
            };
            return self.read(url, response, charset).await;
        }
    }

    /// The body, up to [`Limits::max_body`] bytes, decoded.
    async fn read(
        &self,
        url: Url,
        mut response: reqwest::Response,
        charset: Option<String>,
    ) -> Result<Page, Failure> {
        let max = self.limits.max_body;
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(failure)? {
            let room = max - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                // Dropping the response closes the connection: nothing
                // more is read.
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Page {
            url,
            html: decode(&body, charset.as_deref()),
            truncated,
        })
    }
}

/// Redirects that name a new location. 300, 304 and 305 do not.
fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The charset parameter of an HTML `Content-Type`.
///
/// # Errors
/// [`Failure::NotHtml`] for any other media type.
fn html_charset(content_type: &str) -> Result<Option<String>, Failure> {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != "text/html" && essence != "application/xhtml+xml" {
        return Err(Failure::NotHtml);
    }
    Ok(parts.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_owned())
    }))
}

/// `body` as text: in the encoding of its byte order mark, else of the
/// `Content-Type` charset, else of a `<meta charset>` (or `http-equiv`)
/// in its first 1024 bytes, else UTF-8. Bytes that do not decode become
/// U+FFFD.
pub fn decode(body: &[u8], header_charset: Option<&str>) -> String {
    let encoding = Encoding::for_bom(body)
        .map(|(encoding, _)| encoding)
        .or_else(|| header_charset.and_then(|l| Encoding::for_label(l.as_bytes())))
        .or_else(|| {
            let declared = declared_charset(&body[..body.len().min(PRESCAN)])?;
            // A page cannot declare itself UTF-16 in its own ASCII bytes:
            // such a declaration means UTF-8 (HTML standard).
            Encoding::for_label(declared.as_bytes()).map(Encoding::output_encoding)
        })
        .unwrap_or(UTF_8);
    // `decode` also strips the byte order mark.
    encoding.decode(body).0.into_owned()
}

/// The charset a page's `<meta>` declares in `head`, read as Windows-1252
/// (every byte maps to a character, and ASCII stays ASCII).
fn declared_charset(head: &[u8]) -> Option<String> {
    let (text, _) = WINDOWS_1252.decode_without_bom_handling(head);
    let doc = Html::parse_document(&text);
    doc.root_element().descendent_elements().find_map(|el| {
        if el.value().name() != "meta" {
            return None;
        }
        if let Some(charset) = el.attr("charset") {
            return Some(charset.trim().to_owned());
        }
        let http_equiv = el.attr("http-equiv")?;
        if !http_equiv.trim().eq_ignore_ascii_case("content-type") {
            return None;
        }
        let content = el.attr("content")?.to_ascii_lowercase();
        let value = &content[content.find("charset=")? + "charset=".len()..];
        let value = value.trim_start().trim_start_matches(['"', '\'']);
        let end = value
            .find(|c: char| c == ';' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(value.len());
        Some(value[..end].to_owned())
    })
}

/// What went wrong in the client, as a [`Failure`]: the guard's refusal
/// and the resolver's failure are found in the error's causes.
fn failure(error: reqwest::Error) -> Failure {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(e) = cause {
        if let Some(blocked) = e.downcast_ref::<Blocked>() {
            return Failure::Refused(Refused::Address(*blocked));
        }
        if e.is::<Unresolved>() {
            return Failure::Dns;
        }
        cause = e.source();
    }
    if error.is_timeout() {
        Failure::Timeout
    } else if error.is_connect() {
        Failure::Connect
    } else {
        Failure::Read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preview::guard::Class;
    use crate::preview::testing::{Reply, Server, Table, html, page, redirect};

    /// Limits that let the tests reach `server` on loopback.
    fn limits(server: &Server) -> Limits {
        Limits {
            guard: Guard {
                allow_loopback: true,
                ports: vec![80, 443, server.addr.port()],
            },
            ..Limits::default()
        }
    }

    fn fetcher(server: &Server) -> Fetcher {
        Fetcher::new(limits(server)).unwrap()
    }

    fn blocked(class: Class) -> impl Fn(&Result<Page, Failure>) -> bool {
        move |r| matches!(r, Err(Failure::Refused(Refused::Address(Blocked { class: c, .. }))) if *c == class)
    }

    #[tokio::test]
    async fn an_html_page_is_fetched_with_an_honest_user_agent_and_nothing_else() {
        let server = Server::start(|r| match r.path.as_str() {
            "/start" => redirect("/page", "set-cookie: session=secret; Path=/\r\n"),
            _ => html("<title>Hi</title>"),
        })
        .await;
        let mut start = server.url("/start");
        start.set_fragment(Some("section"));
        let page = fetcher(&server).fetch(&start).await.unwrap();
        assert_eq!(page.url, server.url("/page"));
        assert_eq!(page.html, "<title>Hi</title>");
        assert!(!page.truncated);

        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].path, "/start");
        for request in &requests {
            assert_eq!(request.header("user-agent"), Some(USER_AGENT));
            for header in ["cookie", "referer", "authorization", "proxy-authorization"] {
                assert_eq!(request.header(header), None, "{header} in {}", request.head);
            }
        }
    }

    #[tokio::test]
    async fn the_loopback_flag_is_needed_to_fetch_from_loopback() {
        let server = Server::start(|_| html("<title>Hi</title>")).await;
        let mut limits = limits(&server);
        limits.guard.allow_loopback = false;
        let result = Fetcher::new(limits).unwrap().fetch(&server.url("/")).await;
        assert!(blocked(Class::Loopback)(&result), "{result:?}");
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn a_port_not_configured_is_refused() {
        let server = Server::start(|_| html("<title>Hi</title>")).await;
        let mut limits = limits(&server);
        limits.guard.ports = vec![80, 443];
        let result = Fetcher::new(limits).unwrap().fetch(&server.url("/")).await;
        assert_eq!(
            result,
            Err(Failure::Refused(Refused::Port(server.addr.port())))
        );
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn a_redirect_to_a_non_public_address_is_refused() {
        let port = Arc::new(std::sync::OnceLock::<u16>::new());
        let server = Server::start({
            let port = Arc::clone(&port);
            move |r| {
                let p = port.get().copied().unwrap_or_default();
                match r.path.as_str() {
                    "/private" => redirect("http://10.0.0.1/", ""),
                    "/metadata" => redirect("http://169.254.169.254/latest/meta-data/", ""),
                    "/mapped" => redirect(&format!("http://[::ffff:127.0.0.1]:{p}/ok"), ""),
                    "/unspecified" => redirect(&format!("http://0.0.0.0:{p}/ok"), ""),
                    "/credentials" => redirect(&format!("http://user:pw@127.0.0.1:{p}/ok"), ""),
                    "/scheme" => redirect("file:///etc/passwd", ""),
                    _ => html("<title>reached</title>"),
                }
            }
        })
        .await;
        let _ = port.set(server.addr.port());
        let fetcher = fetcher(&server);
        for (path, class) in [
            ("/private", Class::Private),
            ("/metadata", Class::Metadata),
            ("/mapped", Class::Loopback),
            ("/unspecified", Class::Unspecified),
        ] {
            let result = fetcher.fetch(&server.url(path)).await;
            assert!(blocked(class)(&result), "{path}: {result:?}");
        }
        assert_eq!(
            fetcher.fetch(&server.url("/credentials")).await,
            Err(Failure::Refused(Refused::Credentials))
        );
        assert_eq!(
            fetcher.fetch(&server.url("/scheme")).await,
            Err(Failure::Refused(Refused::Scheme("file".into())))
        );
        assert!(server.requests().iter().all(|r| r.path != "/ok"));
    }

    #[tokio::test]
    async fn names_are_resolved_once_checked_and_connected_to_as_checked() {
        let server = Server::start(|r| match r.path.as_str() {
            "/to-internal" => redirect("http://internal.example/", ""),
            _ => html("<title>site</title>"),
        })
        .await;
        let port = server.addr.port();
        let table = Arc::new(Table::new(&[
            ("site.example", &["127.0.0.1"]),
            ("internal.example", &["192.168.1.10"]),
            ("mixed.example", &["127.0.0.1", "10.0.0.1"]),
        ]));
        let fetcher = Fetcher::with_lookup(limits(&server), table.clone()).unwrap();
        let site = |path: &str| Url::parse(&format!("http://site.example:{port}{path}")).unwrap();

        let page = fetcher.fetch(&site("/a")).await.unwrap();
        assert_eq!(page.html, "<title>site</title>");
        // One lookup: the connection went to the address that was checked.
        assert_eq!(table.lookups(), 1);
        assert_eq!(
            server.requests()[0].header("host"),
            Some(format!("site.example:{port}").as_str())
        );

        let result = fetcher.fetch(&site("/to-internal")).await;
        assert!(blocked(Class::Private)(&result), "{result:?}");
        let mixed = Url::parse(&format!("http://mixed.example:{port}/")).unwrap();
        let result = fetcher.fetch(&mixed).await;
        assert!(blocked(Class::Private)(&result), "{result:?}");
        let unknown = Url::parse(&format!("http://unknown.example:{port}/")).unwrap();
        assert_eq!(fetcher.fetch(&unknown).await, Err(Failure::Dns));
    }

    #[tokio::test]
    async fn at_most_five_redirects_are_followed() {
        // /hop/N redirects to /hop/N-1; /hop/0 is the page.
        let server = Server::start(|r| {
            let n: u32 = r.path.trim_start_matches("/hop/").parse().unwrap_or(0);
            if n == 0 {
                html("<title>end</title>")
            } else {
                redirect(&format!("/hop/{}", n - 1), "")
            }
        })
        .await;
        let fetcher = fetcher(&server);
        let page = fetcher.fetch(&server.url("/hop/5")).await.unwrap();
        assert_eq!(page.url, server.url("/hop/0"));
        assert_eq!(
            fetcher.fetch(&server.url("/hop/6")).await,
            Err(Failure::TooManyRedirects)
        );
    }

    #[tokio::test]
    async fn a_redirect_without_location_fails() {
        let server = Server::start(|_| {
            Reply::Bytes(b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\n\r\n".to_vec())
        })
        .await;
        assert_eq!(
            fetcher(&server).fetch(&server.url("/")).await,
            Err(Failure::BadRedirect)
        );
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_cut() {
        const MIB: usize = 1 << 20;
        let mut body = b"<title>big</title>".to_vec();
        body.resize(MIB, b' ');
        body.extend_from_slice(b"<p>BEYOND</p>");
        body.resize(2 * MIB, b'x');
        let server = Server::start(move |_| page("text/html", body.clone())).await;
        let page = fetcher(&server).fetch(&server.url("/")).await.unwrap();
        assert!(page.truncated);
        assert_eq!(page.html.len(), MIB);
        assert!(page.html.starts_with("<title>big</title>"));
        assert!(!page.html.contains("BEYOND"));
    }

    #[tokio::test]
    async fn only_html_is_read() {
        let server = Server::start(|r| match r.path.as_str() {
            "/json" => page("application/json", "{}"),
            "/png" => page("image/png", vec![0x89, b'P', b'N', b'G']),
            "/none" => page("", "<title>untyped</title>"),
            "/plain" => page("text/plain", "<title>plain</title>"),
            "/xhtml" => page("application/xhtml+xml", "<title>x</title>"),
            _ => page("Text/HTML ; charset=UTF-8", "<title>ok</title>"),
        })
        .await;
        let fetcher = fetcher(&server);
        for path in ["/json", "/png", "/none", "/plain"] {
            assert_eq!(
                fetcher.fetch(&server.url(path)).await,
                Err(Failure::NotHtml),
                "{path}"
            );
        }
        assert!(fetcher.fetch(&server.url("/xhtml")).await.is_ok());
        assert!(fetcher.fetch(&server.url("/html")).await.is_ok());
    }

    #[tokio::test]
    async fn an_error_status_fails() {
        let server = Server::start(|_| {
            Reply::Bytes(
                b"HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: 0\r\n\r\n"
                    .to_vec(),
            )
        })
        .await;
        assert_eq!(
            fetcher(&server).fetch(&server.url("/")).await,
            Err(Failure::Status(404))
        );
    }

    #[tokio::test]
    async fn a_slow_server_runs_into_the_total_limit() {
        let server = Server::start(|r| match r.path.as_str() {
            // Headers, then a body that never comes.
            "/body" => Reply::Stall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 100\r\n\r\n<ti"
                    .to_vec(),
            ),
            // Nothing at all.
            _ => Reply::Stall(Vec::new()),
        })
        .await;
        let limits = Limits {
            timeout: Duration::from_millis(300),
            ..limits(&server)
        };
        let fetcher = Fetcher::new(limits).unwrap();
        for path in ["/body", "/head"] {
            // Without the limit the fetch would hang: the test's own bound
            // turns that into a failure.
            let result =
                tokio::time::timeout(Duration::from_secs(3), fetcher.fetch(&server.url(path)))
                    .await
                    .unwrap_or_else(|_| panic!("{path}: no time limit"));
            assert_eq!(result, Err(Failure::Timeout), "{path}");
        }
    }

    #[tokio::test]
    async fn the_charset_comes_from_the_header_then_the_page() {
        let server = Server::start(|r| match r.path.as_str() {
            "/header" => page("text/html; charset=windows-1252", b"<title>caf\xe9</title>".to_vec()),
            "/meta" => page(
                "text/html",
                b"<meta charset=\"iso-8859-1\"><title>na\xefve</title>".to_vec(),
            ),
            "/http-equiv" => page(
                "text/html",
                b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\"><title>\xfcber</title>".to_vec(),
            ),
            // The header wins over the page.
            "/both" => page(
                "text/html; charset=\"utf-8\"",
                "<meta charset=\"iso-8859-1\"><title>café</title>".as_bytes().to_vec(),
            ),
            _ => page("text/html", "<title>ünïcode</title>".as_bytes().to_vec()),
        })
        .await;
        let fetcher = fetcher(&server);
        let html = async |path: &str| fetcher.fetch(&server.url(path)).await.unwrap().html;
        assert_eq!(html("/header").await, "<title>café</title>");
        assert!(html("/meta").await.ends_with("<title>naïve</title>"));
        assert!(html("/http-equiv").await.ends_with("<title>über</title>"));
        assert!(html("/both").await.ends_with("<title>café</title>"));
        assert_eq!(html("/default").await, "<title>ünïcode</title>");
    }

    #[test]
    fn decoding_follows_bom_header_meta_default() {
        let latin1 = b"<meta charset=latin1><p>\xe9";
        assert!(decode(latin1, None).ends_with('é'));
        assert!(decode(latin1, Some("utf-8")).ends_with('\u{FFFD}'));
        let bom = b"\xef\xbb\xbf<p>\xc3\xa9";
        assert_eq!(decode(bom, Some("windows-1252")), "<p>é");
        // A declaration after the first 1024 bytes is not looked for.
        let mut late = vec![b' '; PRESCAN];
        late.extend_from_slice(b"<meta charset=latin1>\xe9");
        assert!(decode(&late, None).ends_with('\u{FFFD}'));
        // UTF-16 declared in ASCII means UTF-8.
        assert!(decode("<meta charset=utf-16>é".as_bytes(), None).ends_with('é'));
        // An unknown label is ignored.
        assert!(decode("<p>é".as_bytes(), Some("x-made-up")).ends_with('é'));
    }
}
