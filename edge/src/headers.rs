//! Headers every response carries, whichever layer produced it: the
//! operational routes, the transcoded API, errors and CORS preflights.
//!
//! - `X-Content-Type-Options: nosniff`: a browser must not read a JSON
//!   error as HTML or script.
//! - `Cache-Control: no-store` unless the response set its own (the
//!   OpenAPI document may be cached): API answers carry tokens and
//!   personal data that no shared or browser cache should keep.
//! - `Strict-Transport-Security` when a trusted proxy reports that the
//!   client came over HTTPS (the edge itself speaks plain HTTP behind it).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use http::header::{CACHE_CONTROL, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS};

use crate::metadata;

/// One year, as HSTS preload lists expect; subdomains are not included,
/// since the edge cannot know what else is served under the domain.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// The middleware; its state is the number of trusted proxy hops.
pub async fn secure(State(trusted_hops): State<usize>, request: Request, next: Next) -> Response {
    let https = metadata::forwarded_https(request.headers(), trusted_hops);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if https {
        headers.insert(STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}
