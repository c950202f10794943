//! The outermost layer: settles the request id, opens the request's span
//! and logs its outcome once.
//!
//! Only the method, route template, RPC, status and latency are recorded:
//! bodies and the `authorization` header carry passwords and tokens.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use todo_common::grpc::REQUEST_ID;
use tokio::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

/// The id of the request being served: the client's `x-request-id` when it
/// is a sane token, otherwise a fresh one.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// Longest client-supplied request id kept; longer ones are replaced, so
/// that logs cannot be flooded through the id.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The middleware; see the module docs.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let request_id: Arc<str> = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane_id(id))
        .map_or_else(|| todo_common::clock::new_id().into(), Arc::from);
    request
        .extensions_mut()
        .insert(RequestId(Arc::clone(&request_id)));

    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        route = Empty,
        rpc = Empty,
        request_id = %request_id,
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms,
            "request served"
        )
    });
    response
}

fn is_sane_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_printable_ids_are_kept() {
        assert!(is_sane_id("abc-123"));
        assert!(!is_sane_id(""));
        assert!(!is_sane_id("has space"));
        assert!(!is_sane_id(&"x".repeat(MAX_REQUEST_ID_LEN + 1)));
    }
}
