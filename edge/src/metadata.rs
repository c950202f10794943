//! Which HTTP headers travel upstream as gRPC metadata.
//!
//! An allow-list, not a deny-list: a header reaches a service only if the
//! contract gives it a meaning there, so a client can never smuggle in
//! `x-service-token` or any other credential the services trust.

use std::net::IpAddr;

use http::HeaderMap;
use todo_common::auth::ServiceCredential;
use todo_common::grpc::REQUEST_ID;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};

use crate::error::EdgeError;

/// Client headers forwarded unchanged.
const FORWARDED: [&str; 3] = ["authorization", "idempotency-key", "if-match"];

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
    let listed: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let index = listed.len().checked_sub(trusted_hops)?;
    listed.get(index).and_then(|raw| {
        raw.parse::<IpAddr>()
            .ok()
            .or_else(|| raw.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
    })
}

/// The metadata of the upstream call: the forwarded headers of `headers`,
/// the request id the edge settled on, the client's address and, when the
/// edge has one, the service credential that makes the services trust
/// that address.
///
/// # Errors
/// [`EdgeError::InvalidArgument`] when a forwarded header is not ASCII.
pub fn forward(
    headers: &HeaderMap,
    request_id: &str,
    client: Option<IpAddr>,
    credential: Option<&ServiceCredential>,
) -> Result<MetadataMap, EdgeError> {
    let mut metadata = MetadataMap::new();
    for name in FORWARDED {
        for value in headers.get_all(name) {
            // gRPC ASCII metadata is printable ASCII; HTTP also allows
            // opaque bytes, which no service could interpret.
            let value = value
                .to_str()
                .ok()
                .and_then(|v| AsciiMetadataValue::try_from(v).ok())
                .ok_or_else(|| {
                    EdgeError::InvalidArgument(format!("the {name} header is not valid ASCII"))
                })?;
            metadata.append(name, value);
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
            Err(EdgeError::InvalidArgument(_))
        ));
    }
}
