//! Which HTTP headers travel upstream as gRPC metadata, and what the edge
//! reads from the headers of trusted proxies.
//!
//! An allow-list, not a deny-list: a header reaches a service only if the
//! contract gives it a meaning there, so a client can never smuggle in
//! `x-service-token` or any other credential the services trust.
//!
//! `If-Match` is parsed here: its weak entity tags never match (RFC 9110
//! strong comparison), so only the strong ones travel, and a header with
//! none left fails at the edge.

use std::net::IpAddr;

use http::HeaderMap;
use todo_common::auth::ServiceCredential;
use todo_common::grpc::REQUEST_ID;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};

use crate::error::EdgeError;

/// Client headers forwarded unchanged, each with the spelling an error
/// names it by (the services name `Idempotency-Key` so too).
const FORWARDED: [(&str, &str); 2] = [
    ("authorization", "Authorization"),
    ("idempotency-key", "Idempotency-Key"),
];

const IF_MATCH: &str = "if-match";

/// The metadata key that carries the client's address upstream.
pub const CLIENT_ADDRESS: &str = "x-forwarded-for";

/// The client's address: the peer of the connection, or, behind
/// `trusted_hops` proxies, the address the outermost trusted proxy saw,
/// which is that many entries from the right of `X-Forwarded-For`
/// (counting the peer itself as the last hop). Entries further left were
/// written by the client and could say anything.
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted_hops: usize,
) -> Option<IpAddr> {
    if trusted_hops == 0 {
        return peer;
    }
    trusted_entry(headers, "x-forwarded-for", trusted_hops).and_then(|raw| {
        raw.parse::<IpAddr>()
            .ok()
            .or_else(|| raw.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
    })
}

/// Whether the outermost trusted proxy received the request over HTTPS,
/// by its `X-Forwarded-Proto` entry (counted as for
/// [`client_address`]); never without trusted proxies, since the client
/// could write the header itself.
pub fn forwarded_https(headers: &HeaderMap, trusted_hops: usize) -> bool {
    trusted_hops > 0
        && trusted_entry(headers, "x-forwarded-proto", trusted_hops)
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// The entry of the comma list in header `name` that the outermost of
/// `trusted_hops` proxies wrote: that many entries from the right.
fn trusted_entry<'h>(headers: &'h HeaderMap, name: &str, trusted_hops: usize) -> Option<&'h str> {
    if trusted_hops == 0 {
        return None;
    }
    let listed: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let index = listed.len().checked_sub(trusted_hops)?;
    listed.get(index).copied()
}

/// The `If-Match` condition a request states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// No `If-Match` header.
    Absent,
    /// `*` or the strong entity tags listed, as forwarded upstream.
    Strong(String),
    /// Only weak entity tags: under strong comparison nothing matches.
    NeverMatches,
}

/// Parses the `If-Match` header lines of `headers`: a comma list of
/// entity tags (`"v1"`, `W/"v1"`, commas allowed inside the quotes) or
/// `*`. An unquoted token is taken as a strong tag, as the services accept
/// one.
///
/// # Errors
/// [`EdgeError::InvalidField`] when a line is not visible ASCII.
pub fn if_match(headers: &HeaderMap) -> Result<IfMatch, EdgeError> {
    let mut lines = headers.get_all(IF_MATCH).iter().peekable();
    if lines.peek().is_none() {
        return Ok(IfMatch::Absent);
    }
    let mut strong = Vec::new();
    for line in lines {
        let line = line.to_str().map_err(|_| EdgeError::InvalidField {
            field: "If-Match".to_owned(),
            description: "is not valid ASCII".to_owned(),
        })?;
        strong.extend(
            entity_tags(line)
                .filter(|(weak, _)| !weak)
                .map(|(_, tag)| tag),
        );
    }
    if strong.is_empty() {
        return Ok(IfMatch::NeverMatches);
    }
    Ok(IfMatch::Strong(strong.join(", ")))
}

/// The entity tags of one `If-Match` line, each with whether it is weak,
/// as written (quotes kept).
fn entity_tags(line: &str) -> impl Iterator<Item = (bool, &str)> {
    let mut rest = line;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return None;
        }
        let weak = rest.starts_with("W/");
        let tag_start = if weak { &rest[2..] } else { rest };
        let end = match tag_start.strip_prefix('"') {
            // Up to and including the closing quote; an unclosed one takes
            // the rest.
            Some(inner) => inner.find('"').map_or(tag_start.len(), |at| at + 2),
            None => tag_start.find(',').unwrap_or(tag_start.len()),
        };
        let (tag, after) = tag_start.split_at(end);
        rest = after;
        Some((weak, tag.trim_end()))
    })
}

/// The metadata of the upstream call: the forwarded headers of `headers`,
/// the strong tags of `If-Match`, the request id the edge settled on, the
/// client's address and, when the edge has one, the service credential
/// that makes the services trust that address.
///
/// # Errors
/// [`EdgeError::InvalidField`] when a forwarded header is not ASCII;
/// [`EdgeError::PreconditionFailed`] when `If-Match` lists only weak tags.
pub fn forward(
    headers: &HeaderMap,
    request_id: &str,
    client: Option<IpAddr>,
    credential: Option<&ServiceCredential>,
) -> Result<MetadataMap, EdgeError> {
    let mut metadata = MetadataMap::new();
    for (name, spelled) in FORWARDED {
        for value in headers.get_all(name) {
            // gRPC ASCII metadata is printable ASCII; HTTP also allows
            // opaque bytes, which no service could interpret.
            let value = value
                .to_str()
                .ok()
                .and_then(|v| AsciiMetadataValue::try_from(v).ok())
                .ok_or_else(|| EdgeError::InvalidField {
                    field: spelled.to_owned(),
                    description: "is not valid ASCII".to_owned(),
                })?;
            metadata.append(name, value);
        }
    }
    match if_match(headers)? {
        IfMatch::Absent => {}
        IfMatch::NeverMatches => return Err(EdgeError::PreconditionFailed),
        IfMatch::Strong(tags) => {
            let tags = AsciiMetadataValue::try_from(tags).map_err(|_| EdgeError::InvalidField {
                field: "If-Match".to_owned(),
                description: "is not valid ASCII".to_owned(),
            })?;
            metadata.insert(IF_MATCH, tags);
        }
    }
    let request_id = AsciiMetadataValue::try_from(request_id)
        .map_err(|_| EdgeError::InvalidArgument("the request id is not valid ASCII".to_owned()))?;
    metadata.insert(REQUEST_ID, request_id);
    if let Some(ip) = client.and_then(|ip| AsciiMetadataValue::try_from(ip.to_string()).ok()) {
        metadata.insert(CLIENT_ADDRESS, ip);
    }
    // Inserted last, over anything of the same name: the allow-list above
    // never forwards a client's `x-service-token`, and this keeps it so.
    if let Some(credential) = credential {
        credential
            .attach(&mut metadata)
            .map_err(|_| EdgeError::InvalidArgument("invalid service credential".to_owned()))?;
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn forwards_only_the_allowed_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer abc"));
        headers.insert("idempotency-key", HeaderValue::from_static("k1"));
        headers.insert("if-match", HeaderValue::from_static("\"v1\""));
        headers.insert("x-service-token", HeaderValue::from_static("secret"));
        headers.insert("cookie", HeaderValue::from_static("session=1"));
        headers.insert(REQUEST_ID, HeaderValue::from_static("client-chosen"));

        let metadata = forward(&headers, "r1", None, None).unwrap().into_headers();
        let mut names: Vec<&str> = metadata.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["authorization", "idempotency-key", "if-match", REQUEST_ID]
        );
        assert_eq!(metadata[REQUEST_ID], "r1");
        assert_eq!(metadata["authorization"], "Bearer abc");
    }

    #[test]
    fn the_client_address_is_taken_only_from_trusted_hops() {
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
        );
        assert_eq!(
            client_address(&headers, Some(peer), 0),
            Some(peer),
            "nothing trusted: the peer"
        );
        assert_eq!(
            client_address(&headers, Some(peer), 1),
            "203.0.113.7".parse().ok(),
            "one trusted proxy"
        );
        assert_eq!(
            client_address(&headers, Some(peer), 2),
            "6.6.6.6".parse().ok()
        );
        assert_eq!(
            client_address(&headers, Some(peer), 3),
            None,
            "more hops than entries"
        );
        let upstream = forward(&headers, "r1", Some(peer), None)
            .unwrap()
            .into_headers();
        assert_eq!(upstream[CLIENT_ADDRESS], "10.0.0.9");
    }

    #[test]
    fn weak_entity_tags_never_match() {
        let parse = |lines: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for line in lines {
                headers.append("if-match", HeaderValue::from_static(line));
            }
            if_match(&headers).unwrap()
        };
        assert_eq!(parse(&[]), IfMatch::Absent);
        assert_eq!(parse(&["W/\"v1\""]), IfMatch::NeverMatches);
        assert_eq!(parse(&["W/\"a\", W/\"b\""]), IfMatch::NeverMatches);
        assert_eq!(
            parse(&["W/\"a\", \"b,c\"", "\"d\""]),
            IfMatch::Strong("\"b,c\", \"d\"".to_owned())
        );
        assert_eq!(parse(&["*"]), IfMatch::Strong("*".to_owned()));
        assert_eq!(parse(&["v1"]), IfMatch::Strong("v1".to_owned()));

        let mut headers = HeaderMap::new();
        headers.insert("if-match", HeaderValue::from_static("W/\"v1\""));
        assert!(matches!(
            forward(&headers, "r1", None, None),
            Err(EdgeError::PreconditionFailed)
        ));
    }

    #[test]
    fn https_is_taken_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(!forwarded_https(&headers, 0), "a client may write it");
        assert!(forwarded_https(&headers, 1));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!forwarded_https(&headers, 1));
    }

    #[test]
    fn the_service_credential_goes_upstream_and_a_clients_never_does() {
        let credential = ServiceCredential::new(&"s".repeat(32)).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-service-token", HeaderValue::from_static("forged"));
        let upstream = forward(&headers, "r1", None, Some(&credential))
            .unwrap()
            .into_headers();
        let tokens: Vec<_> = upstream.get_all("x-service-token").iter().collect();
        assert_eq!(tokens, [&"s".repeat(32)]);
    }

    #[test]
    fn non_ascii_forwarded_headers_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert!(matches!(
            forward(&headers, "r1", None, None),
            Err(EdgeError::InvalidField { field, .. }) if field == "Authorization"
        ));
    }
}
