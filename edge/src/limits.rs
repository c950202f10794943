//! Bounds on what one request may cost the edge: the size of its URL and
//! headers (checked before routing), and how many transcoded requests run
//! at once ([`Admission`]). The body limit is applied where the body is
//! read, in [`crate::proxy`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::EdgeError;

/// The size limits checked before routing.
#[derive(Debug, Clone, Copy)]
pub struct SizeLimits {
    /// Longest request target (path and query), in bytes.
    pub url: usize,
    /// Largest total of header names and values, in bytes.
    pub headers: usize,
}

/// The middleware: 414 for a long URL, 431 for large headers.
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
    use super::*;

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
