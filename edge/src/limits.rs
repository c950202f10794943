//! Bounds on what one request may cost the edge: the size of its URL and
//! headers and the number of headers (checked before routing), and how
//! many transcoded requests run at once ([`Admission`]). The body limit is
//! applied where the body is read, in [`crate::proxy`].
//!
//! The HTTP server parses the request head before any of this runs and
//! answers what it refuses itself with a bare status and no body. Its
//! limits ([`server_max_headers`], [`server_max_head_bytes`]) are therefore
//! set well above these, so that a request beyond the edge's limits gets
//! the edge's JSON error; only heads several times larger, and URLs over
//! hyper's fixed 64 KiB, still get the server's bare answer.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::EdgeError;

/// Most header fields one request may carry; more get 431.
pub const MAX_HEADER_COUNT: usize = 100;

/// The longest request target hyper accepts at all (its fixed limit);
/// the configured URL limit must be below it to be the one that answers.
pub const SERVER_MAX_URL: usize = 65_534;

/// The most header fields the HTTP server parses: above
/// [`MAX_HEADER_COUNT`], so that the edge answers a request just beyond
/// it.
pub fn server_max_headers() -> usize {
    MAX_HEADER_COUNT * 4
}

/// The largest request head the HTTP server buffers: room for the longest
/// URL hyper takes at all, twice the edge's header limit and the framing
/// of every header, so that the edge, not the server, refuses a head
/// beyond the edge's limits. hyper grows its buffer as a head arrives, so
/// only large heads use this much.
pub fn server_max_head_bytes(limits: SizeLimits) -> usize {
    SERVER_MAX_URL
        .max(limits.url)
        .saturating_add(limits.headers.saturating_mul(2))
        .saturating_add(16_384)
}

/// The size limits checked before routing.
#[derive(Debug, Clone, Copy)]
pub struct SizeLimits {
    /// Longest request target (path and query), in bytes.
    pub url: usize,
    /// Largest total of header names and values, in bytes.
    pub headers: usize,
}

/// The middleware: 414 for a long URL, 431 for large or too many headers.
pub async fn enforce_sizes(
    State(limits): State<SizeLimits>,
    request: Request,
    next: Next,
) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > limits.url {
        return EdgeError::UriTooLong(limits.url).into_response();
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers > limits.headers {
        return EdgeError::HeadersTooLarge(limits.headers).into_response();
    }
    if request.headers().len() > MAX_HEADER_COUNT {
        return EdgeError::TooManyHeaders(MAX_HEADER_COUNT).into_response();
    }
    next.run(request).await
}

/// The concurrency limit of transcoded requests: a request is admitted
/// while a permit is free and refused at once otherwise, so that overload
/// turns into fast 503s rather than a queue that delays everyone.
#[derive(Debug, Clone)]
pub struct Admission {
    permits: Arc<Semaphore>,
}

impl Admission {
    /// Admits at most `limit` requests at once (capped at what a
    /// semaphore can count, far beyond any real limit).
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// A permit held for the request's lifetime, or `None` when the limit
    /// is reached.
    pub fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    use super::*;

    const LIMITS: SizeLimits = SizeLimits {
        url: 20,
        headers: 100,
    };

    /// The status a request with `target` and `headers` gets behind
    /// `limits`.
    async fn status(limits: SizeLimits, target: &str, headers: &[(String, String)]) -> StatusCode {
        let app = axum::Router::new()
            .fallback(|| async { "ok" })
            .layer(axum::middleware::from_fn_with_state(limits, enforce_sizes));
        let mut request = Request::builder().uri(target);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(Body::empty()).unwrap();
        app.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn a_url_of_the_limit_passes_and_one_byte_more_is_414() {
        let target = |len: usize| format!("/{}", "a".repeat(len - 1));
        assert_eq!(status(LIMITS, &target(20), &[]).await, StatusCode::OK);
        assert_eq!(
            status(LIMITS, &target(21), &[]).await,
            StatusCode::URI_TOO_LONG
        );
    }

    #[tokio::test]
    async fn headers_of_the_limit_pass_and_one_byte_more_is_431() {
        // Names and values are counted together: 1 + 99 bytes.
        let header = |value_len: usize| vec![("x".to_owned(), "v".repeat(value_len))];
        assert_eq!(status(LIMITS, "/", &header(99)).await, StatusCode::OK);
        assert_eq!(
            status(LIMITS, "/", &header(100)).await,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }

    #[tokio::test]
    async fn the_most_headers_pass_and_one_more_is_431() {
        let roomy = SizeLimits {
            url: 20,
            headers: 10_000,
        };
        let headers = |n: usize| -> Vec<(String, String)> {
            (0..n).map(|i| (format!("h{i}"), String::new())).collect()
        };
        assert_eq!(
            status(roomy, "/", &headers(MAX_HEADER_COUNT)).await,
            StatusCode::OK
        );
        assert_eq!(
            status(roomy, "/", &headers(MAX_HEADER_COUNT + 1)).await,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }

    #[test]
    fn admission_refuses_beyond_the_limit_and_frees_on_drop() {
        let admission = Admission::new(2);
        let first = admission.try_admit();
        let second = admission.try_admit();
        assert!(first.is_some() && second.is_some());
        assert!(admission.try_admit().is_none());
        drop(first);
        assert!(admission.try_admit().is_some());
        assert!(Admission::new(usize::MAX).try_admit().is_some());
    }
}
