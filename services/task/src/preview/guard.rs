//! Where a preview fetch may go: the SSRF defence, in one place.
//!
//! Three checks, all made by [`Guard`]:
//! - the URL ([`Guard::check_url`]): http or https, no user name or
//!   password, an allowed port, and a host that is an IP literal only if
//!   that address is public;
//! - every address a host name resolves to ([`GuardedResolver`]), before
//!   anything connects. The HTTP client connects to exactly the addresses
//!   the resolver returned, so a name cannot resolve to a public address
//!   for the check and to a private one for the connection (DNS
//!   rebinding): there is no second lookup;
//! - every redirect target, by the fetcher calling [`Guard::check_url`]
//!   again before following it (the client follows none by itself).
//!
//! The HTTP client skips the resolver for an IP literal, which is why
//! [`Guard::check_url`] checks literals itself.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use url::{Host, Url};

/// Why an address is not fetched from. Every class but [`Class::Loopback`]
/// is refused whatever the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `0.0.0.0/8`, `::`: "this host"; connecting to it reaches the local
    /// machine on Linux.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// Carrier-grade NAT, `100.64.0.0/10` (RFC 6598).
    SharedAddressSpace,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `fc00::/7` (and the deprecated site-local `fec0::/10`).
    UniqueLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`,
    /// `3fff::/20`.
    Documentation,
    /// Instance metadata services of cloud providers, which hand out
    /// credentials to whoever asks from inside the instance.
    Metadata,
    /// Anything else that is not globally routable unicast: benchmarking,
    /// protocol assignments, `240.0.0.0/4`, IPv6 outside `2000::/3`.
    Reserved,
}

/// A refused address and its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("address {addr} is not public ({class:?})")]
pub struct Blocked {
    pub addr: IpAddr,
    pub class: Class,
}

/// A URL the guard refuses, before any address is looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Neither http nor https.
    #[error("scheme {0} is not fetched")]
    Scheme(String),
    /// A user name or password in the URL: previews send no credentials.
    #[error("the URL carries credentials")]
    Credentials,
    /// A port outside the configured ones (80 and 443 by default).
    #[error("port {0} is not allowed")]
    Port(u16),
    /// No host, or none the client could connect to.
    #[error("the URL has no host")]
    NoHost,
    /// An address that is not public, given as a literal or resolved.
    #[error(transparent)]
    Address(#[from] Blocked),
}

/// Cloud instance metadata addresses, refused by name so that they stay
/// refused even if the range around them were ever allowed: AWS, GCP,
/// Azure and OCI (`169.254.169.254`), AWS ECS task metadata
/// (`169.254.170.2`), AWS's resolver (`169.254.169.253`), Alibaba
/// (`100.100.100.200`), Oracle Cloud Classic (`192.0.0.192`), and AWS's
/// IPv6 endpoint (`fd00:ec2::254`).
const METADATA: [IpAddr; 7] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 253)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 0, 192)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x253)),
];

/// The class of a non-public address, or `None` for a public one.
///
/// IPv6 forms that carry an IPv4 address (mapped `::ffff:a.b.c.d`,
/// compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) have
/// the class of that address: `::ffff:10.0.0.1` is [`Class::Private`].
pub fn classify(ip: IpAddr) -> Option<Class> {
    if METADATA.contains(&ip) {
        return Some(Class::Metadata);
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify(IpAddr::V4(v4)),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    let [a, b, c, _] = ip.octets();
    let class = match (a, b, c) {
        (0, ..) => Class::Unspecified,
        (127, ..) => Class::Loopback,
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => Class::Private,
        (100, 64..=127, _) => Class::SharedAddressSpace,
        (169, 254, _) => Class::LinkLocal,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Class::Documentation,
        (224..=239, ..) => Class::Multicast,
        _ if ip == Ipv4Addr::BROADCAST => Class::Broadcast,
        // IETF protocol assignments, benchmarking, the 6to4 relay anycast,
        // and the old class E.
        (192, 0, 0) | (198, 18..=19, _) | (192, 88, 99) | (240..=255, ..) => Class::Reserved,
        _ => return None,
    };
    Some(class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    let s = ip.segments();
    let class = if ip.is_unspecified() {
        Class::Unspecified
    } else if ip.is_loopback() {
        Class::Loopback
    } else if s[0] & 0xffc0 == 0xfe80 {
        Class::LinkLocal
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        Class::UniqueLocal
    } else if s[0] & 0xff00 == 0xff00 {
        Class::Multicast
    } else if (s[0], s[1]) == (0x2001, 0x0db8) || s[0] == 0x3fff && s[1] < 0x1000 {
        Class::Documentation
    } else if s[0] & 0xe000 != 0x2000 || s[0] == 0x2001 && s[1] < 0x0200 {
        // Only 2000::/3 is global unicast; 2001::/23 holds protocol
        // assignments (Teredo, benchmarking, ORCHID).
        Class::Reserved
    } else {
        return None;
    };
    Some(class)
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms
/// that reach an IPv4 host: mapped, compatible (except `::` and `::1`,
/// which are IPv6's own), NAT64's well-known prefix, and 6to4.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let [.., a, b, c, d] = ip.octets();
    let low = Ipv4Addr::new(a, b, c, d);
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] => Some(low),
        [0, 0, 0, 0, 0, 0, ..] if !ip.is_unspecified() && !ip.is_loopback() => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(low),
        [0x2002, hi, lo, ..] => {
            let [a, b] = hi.to_be_bytes();
            let [c, d] = lo.to_be_bytes();
            Some(Ipv4Addr::new(a, b, c, d))
        }
        _ => None,
    }
}

/// The policy of one fetcher: which ports URLs may name and whether
/// loopback is allowed (tests only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// `127.0.0.0/8` and `::1` (their plain forms, not mapped ones) are
    /// allowed. For tests that fetch from a local server; nothing else is
    /// ever allowed.
    pub allow_loopback: bool,
    /// The ports a URL may name (or imply: 80 for http, 443 for https).
    pub ports: Vec<u16>,
}

impl Default for Guard {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            ports: vec![80, 443],
        }
    }
}

impl Guard {
    /// Whether a connection to `ip` is allowed.
    ///
    /// # Errors
    /// [`Blocked`] when it is not public (loopback aside, if allowed).
    pub fn check_addr(&self, ip: IpAddr) -> Result<(), Blocked> {
        match classify(ip) {
            None => Ok(()),
            Some(Class::Loopback) if self.allow_loopback && plain_loopback(ip) => Ok(()),
            Some(class) => Err(Blocked { addr: ip, class }),
        }
    }

    /// Whether `url` may be fetched, as far as the URL itself tells: its
    /// scheme, credentials, port, and its host if that is an address. A
    /// host name is checked when it resolves ([`GuardedResolver`]).
    ///
    /// # Errors
    /// [`Refused`] naming the first check that failed.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials);
        }
        let port = url.port_or_known_default().ok_or(Refused::NoHost)?;
        if !self.ports.contains(&port) {
            return Err(Refused::Port(port));
        }
        match url.host() {
            Some(Host::Ipv4(v4)) => Ok(self.check_addr(IpAddr::V4(v4))?),
            Some(Host::Ipv6(v6)) => Ok(self.check_addr(IpAddr::V6(v6))?),
            Some(Host::Domain(name)) if !name.is_empty() => Ok(()),
            Some(Host::Domain(_)) | None => Err(Refused::NoHost),
        }
    }
}

fn plain_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

/// A future as the resolver's lookups return it.
pub type LookupFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses: the system resolver in service,
/// fixed answers in tests.
pub trait Lookup: Send + Sync + 'static {
    /// Every address `host` resolves to.
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The operating system's resolver (`getaddrinfo`, off the runtime's
/// threads).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A host name that does not resolve: the lookup failed or found no
/// address.
#[derive(Debug, thiserror::Error)]
#[error("{host} does not resolve")]
pub struct Unresolved {
    host: String,
    #[source]
    cause: Option<io::Error>,
}

/// The HTTP client's resolver: looks a name up, refuses the whole answer
/// if any address in it is not allowed, and hands the checked addresses
/// to the client, which connects to them and to nothing else.
///
/// The whole answer is refused rather than the bad addresses dropped: a
/// public site has no reason to answer with a private address, and a name
/// that does is probably aimed at one.
#[derive(Clone)]
pub struct GuardedResolver {
    guard: Arc<Guard>,
    lookup: Arc<dyn Lookup>,
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl GuardedResolver {
    pub fn new(guard: Guard, lookup: Arc<dyn Lookup>) -> Self {
        Self {
            guard: Arc::new(guard),
            lookup,
        }
    }

    /// The checked addresses of `host`.
    ///
    /// # Errors
    /// [`Blocked`] for the first address not allowed, [`Unresolved`] when
    /// the lookup fails or finds nothing.
    pub async fn resolve_checked(
        &self,
        host: &str,
    ) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let unresolved = |cause| Unresolved {
            host: host.to_owned(),
            cause,
        };
        let addrs = self
            .lookup
            .lookup(host)
            .await
            .map_err(|e| unresolved(Some(e)))?;
        if addrs.is_empty() {
            return Err(Box::new(unresolved(None)));
        }
        for &addr in &addrs {
            self.guard.check_addr(addr)?;
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolver.resolve_checked(&host).await?;
            // Port 0: the client puts in the URL's port.
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preview::testing::Table;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// `(address, class)` for every refused range, at both ends where the
    /// range has an edge a typo could move.
    const REFUSED: &[(&str, Class)] = &[
        ("0.0.0.0", Class::Unspecified),
        ("0.1.2.3", Class::Unspecified),
        ("127.0.0.1", Class::Loopback),
        ("127.255.255.254", Class::Loopback),
        ("10.0.0.1", Class::Private),
        ("10.255.255.255", Class::Private),
        ("172.16.0.1", Class::Private),
        ("172.31.255.255", Class::Private),
        ("192.168.0.1", Class::Private),
        ("192.168.255.255", Class::Private),
        ("100.64.0.1", Class::SharedAddressSpace),
        ("100.127.255.254", Class::SharedAddressSpace),
        ("169.254.0.1", Class::LinkLocal),
        ("169.254.255.255", Class::LinkLocal),
        ("224.0.0.1", Class::Multicast),
        ("239.255.255.250", Class::Multicast),
        ("255.255.255.255", Class::Broadcast),
        ("192.0.2.1", Class::Documentation),
        ("198.51.100.7", Class::Documentation),
        ("203.0.113.255", Class::Documentation),
        ("192.0.0.8", Class::Reserved),
        ("198.18.0.1", Class::Reserved),
        ("198.19.255.255", Class::Reserved),
        ("192.88.99.1", Class::Reserved),
        ("240.0.0.1", Class::Reserved),
        ("169.254.169.254", Class::Metadata),
        ("169.254.170.2", Class::Metadata),
        ("169.254.169.253", Class::Metadata),
        ("100.100.100.200", Class::Metadata),
        ("192.0.0.192", Class::Metadata),
        ("::", Class::Unspecified),
        ("::1", Class::Loopback),
        ("fe80::1", Class::LinkLocal),
        ("febf:ffff::1", Class::LinkLocal),
        ("fc00::1", Class::UniqueLocal),
        ("fdff:ffff::1", Class::UniqueLocal),
        ("fec0::1", Class::UniqueLocal),
        ("ff02::1", Class::Multicast),
        ("ff0e::1", Class::Multicast),
        ("2001:db8::1", Class::Documentation),
        ("3fff:fff::1", Class::Documentation),
        ("100::1", Class::Reserved),
        ("2001::1", Class::Reserved),
        ("2001:1ff::1", Class::Reserved),
        ("4000::1", Class::Reserved),
        ("fd00:ec2::254", Class::Metadata),
        ("fd00:ec2::253", Class::Metadata),
    ];

    const PUBLIC: &[&str] = &[
        "1.1.1.1",
        "8.8.8.8",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "169.255.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "192.169.0.0",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "2001:200::1",
        "2001:db9::1",
        "3ffe::1",
        "3fff:1000::1",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "::ffff:8.8.8.8",
    ];

    #[test]
    fn every_non_public_range_is_refused_with_its_class() {
        let guard = Guard::default();
        for &(addr, class) in REFUSED {
            assert_eq!(classify(ip(addr)), Some(class), "{addr}");
            assert_eq!(
                guard.check_addr(ip(addr)),
                Err(Blocked {
                    addr: ip(addr),
                    class
                }),
                "{addr}"
            );
        }
    }

    #[test]
    fn public_addresses_pass() {
        let guard = Guard::default();
        for addr in PUBLIC {
            assert_eq!(classify(ip(addr)), None, "{addr}");
            assert_eq!(guard.check_addr(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_have_the_ipv4_class() {
        for &(addr, class) in REFUSED {
            let IpAddr::V4(v4) = ip(addr) else { continue };
            let [a, b, c, d] = v4.octets();
            let low = [u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])];
            let forms = [
                v4.to_ipv6_mapped(),
                Ipv6Addr::new(0, 0, 0, 0, 0, 0, low[0], low[1]),
                Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, low[0], low[1]),
                Ipv6Addr::new(0x2002, low[0], low[1], 0, 0, 0, 0, 1),
            ];
            for v6 in forms {
                // `::` and `::1` are IPv6's own, not 0.0.0.0 and 0.0.0.1.
                if v6.is_unspecified() {
                    continue;
                }
                assert_eq!(classify(IpAddr::V6(v6)), Some(class), "{v6} ({addr})");
            }
        }
    }

    #[test]
    fn loopback_is_allowed_by_the_flag_and_nothing_else_is() {
        let guard = Guard {
            allow_loopback: true,
            ..Guard::default()
        };
        for addr in ["127.0.0.1", "127.1.2.3", "::1"] {
            assert_eq!(guard.check_addr(ip(addr)), Ok(()), "{addr}");
        }
        for &(addr, class) in REFUSED {
            if class != Class::Loopback {
                assert!(guard.check_addr(ip(addr)).is_err(), "{addr}");
            }
        }
        // Mapped and compatible loopback stay refused: the flag names the
        // plain forms only.
        for addr in ["::ffff:127.0.0.1", "::127.0.0.1", "0.0.0.0", "::"] {
            assert!(guard.check_addr(ip(addr)).is_err(), "{addr}");
        }
        assert!(Guard::default().check_addr(ip("127.0.0.1")).is_err());
        assert!(Guard::default().check_addr(ip("::1")).is_err());
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn urls_other_than_http_and_https_are_refused() {
        let guard = Guard::default();
        assert_eq!(guard.check_url(&url("http://example.com/")), Ok(()));
        assert_eq!(guard.check_url(&url("https://example.com/a?b")), Ok(()));
        for (u, scheme) in [
            ("ftp://example.com/", "ftp"),
            ("file:///etc/passwd", "file"),
            ("javascript:alert(1)", "javascript"),
            ("data:text/html,hi", "data"),
            ("gopher://example.com:70/", "gopher"),
        ] {
            assert_eq!(
                guard.check_url(&url(u)),
                Err(Refused::Scheme(scheme.into())),
                "{u}"
            );
        }
    }

    #[test]
    fn credentials_in_a_url_are_refused() {
        let guard = Guard::default();
        for u in [
            "http://user@example.com/",
            "http://user:pw@example.com/",
            "https://:pw@example.com/",
        ] {
            assert_eq!(guard.check_url(&url(u)), Err(Refused::Credentials), "{u}");
        }
    }

    #[test]
    fn only_the_configured_ports_are_allowed() {
        let guard = Guard::default();
        assert_eq!(guard.check_url(&url("http://example.com:80/")), Ok(()));
        assert_eq!(guard.check_url(&url("https://example.com/")), Ok(()));
        assert_eq!(guard.check_url(&url("http://example.com:443/")), Ok(()));
        for (u, port) in [
            ("http://example.com:8080/", 8080),
            ("https://example.com:22/", 22),
            ("http://example.com:6379/", 6379),
        ] {
            assert_eq!(guard.check_url(&url(u)), Err(Refused::Port(port)), "{u}");
        }
        let guard = Guard {
            ports: vec![80, 443, 8080],
            ..Guard::default()
        };
        assert_eq!(guard.check_url(&url("http://example.com:8080/")), Ok(()));
    }

    #[test]
    fn address_literals_are_checked_in_every_spelling() {
        let guard = Guard::default();
        for (u, class) in [
            ("http://127.0.0.1/", Class::Loopback),
            ("http://2130706433/", Class::Loopback),
            ("http://0x7f.1/", Class::Loopback),
            ("http://0177.0.0.1/", Class::Loopback),
            ("http://[::1]/", Class::Loopback),
            ("http://[::ffff:7f00:1]/", Class::Loopback),
            ("http://[::ffff:10.0.0.1]/", Class::Private),
            ("http://169.254.169.254/latest/meta-data/", Class::Metadata),
            ("http://[fd00:ec2::254]/", Class::Metadata),
            ("http://0.0.0.0/", Class::Unspecified),
            ("http://[::]/", Class::Unspecified),
            ("http://10.1.2.3/", Class::Private),
        ] {
            let refused = guard.check_url(&url(u));
            assert!(
                matches!(refused, Err(Refused::Address(Blocked { class: c, .. })) if c == class),
                "{u}: {refused:?}"
            );
        }
        assert_eq!(guard.check_url(&url("http://93.184.215.14/")), Ok(()));
    }

    fn resolver(guard: Guard, table: &[(&'static str, &[&str])]) -> GuardedResolver {
        GuardedResolver::new(guard, Arc::new(Table::new(table)))
    }

    #[tokio::test]
    async fn every_address_of_an_answer_is_checked() {
        let r = resolver(
            Guard::default(),
            &[
                ("public.example", &["93.184.215.14", "2606:2800:21f::1"]),
                ("mixed.example", &["93.184.215.14", "10.0.0.1"]),
                ("metadata.example", &["169.254.169.254"]),
                ("mapped.example", &["::ffff:192.168.1.1"]),
                ("empty.example", &[]),
            ],
        );
        assert_eq!(
            r.resolve_checked("public.example").await.unwrap(),
            vec![ip("93.184.215.14"), ip("2606:2800:21f::1")]
        );
        for (host, class) in [
            ("mixed.example", Class::Private),
            ("metadata.example", Class::Metadata),
            ("mapped.example", Class::Private),
        ] {
            let error = r.resolve_checked(host).await.unwrap_err();
            let blocked = error.downcast_ref::<Blocked>();
            assert_eq!(blocked.map(|b| b.class), Some(class), "{host}: {error}");
        }
        for host in ["empty.example", "missing.example"] {
            let error = r.resolve_checked(host).await.unwrap_err();
            assert!(error.is::<Unresolved>(), "{host}: {error}");
        }
    }

    #[tokio::test]
    async fn the_system_resolver_is_checked_too() {
        let r = GuardedResolver::new(Guard::default(), Arc::new(SystemLookup));
        let error = r.resolve_checked("localhost").await.unwrap_err();
        let blocked = error.downcast_ref::<Blocked>();
        assert_eq!(blocked.map(|b| b.class), Some(Class::Loopback), "{error}");

        let allowed = Guard {
            allow_loopback: true,
            ..Guard::default()
        };
        let r = GuardedResolver::new(allowed, Arc::new(SystemLookup));
        let addrs = r.resolve_checked("localhost").await.unwrap();
        assert!(addrs.iter().all(|a| a.is_loopback()), "{addrs:?}");
    }
}
