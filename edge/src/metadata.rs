//! Which HTTP headers travel upstream as gRPC metadata.
//!
//! An allow-list, not a deny-list: a header reaches a service only if the
//! contract gives it a meaning there, so a client can never smuggle in
//! `x-service-token` or any other credential the services trust.

use http::HeaderMap;
use todo_common::grpc::REQUEST_ID;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};

use crate::error::EdgeError;

/// Client headers forwarded unchanged.
const FORWARDED: [&str; 3] = ["authorization", "idempotency-key", "if-match"];

/// The metadata of the upstream call: the forwarded headers of `headers`
/// and the request id the edge settled on.
///
/// # Errors
/// [`EdgeError::InvalidArgument`] when a forwarded header is not ASCII.
pub fn forward(headers: &HeaderMap, request_id: &str) -> Result<MetadataMap, EdgeError> {
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

        let metadata = forward(&headers, "r1").unwrap().into_headers();
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
    fn non_ascii_forwarded_headers_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert!(matches!(
            forward(&headers, "r1"),
            Err(EdgeError::InvalidArgument(_))
        ));
    }
}
