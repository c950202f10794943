//! The outermost layer: settles the request id, opens the request's span,
//! logs its outcome once and records its metrics.
//!
//! Only the method, route template, RPC, status and latency are recorded:
//! bodies and the `authorization` header carry passwords and tokens.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use todo_common::grpc::REQUEST_ID;
use tokio::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

use crate::metrics::{Metrics, RouteLabel};

/// The id of the request being served: the client's `x-request-id` when it
/// is a sane token, otherwise a fresh one.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// Longest client-supplied request id kept; longer ones are replaced, so
/// that logs cannot be flooded through the id.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The middleware; see the module docs.
pub async fn observe(
    State(metrics): State<Arc<Metrics>>,
    mut request: Request,
    next: Next,
) -> Response {
    let _in_flight = metrics.start_request();
    let request_id: Arc<str> = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane_id(id))
        .map_or_else(|| todo_common::clock::new_id().into(), Arc::from);
    request
        .extensions_mut()
        .insert(RequestId(Arc::clone(&request_id)));
    let method = request.method().clone();

    let span = tracing::info_span!(
        "http",
        method = %method,
        route = Empty,
        rpc = Empty,
        request_id = %request_id,
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let elapsed = started.elapsed();
    // Whoever labelled the response recorded the route on the span as soon
    // as it was known, so that events inside the request carry it; a field
    // recorded twice is written twice by the log formatter.
    let route = match response.extensions().get::<RouteLabel>() {
        Some(label) => Arc::clone(&label.0),
        None => {
            let unmatched = metrics.unmatched();
            span.record("route", &*unmatched);
            unmatched
        }
    };
    metrics.observe_request(route, &method, response.status(), elapsed);
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms,
            "request served"
        )
    });
    response
}

/// Route middleware of the routes the router matches itself: records the
/// matched path on the request's span and labels the response with it, as
/// [`crate::proxy`] does with the binding's template.
pub async fn label_matched_path(request: Request, next: Next) -> Response {
    let label = request.extensions().get::<MatchedPath>().map(|path| {
        tracing::Span::current().record("route", path.as_str());
        RouteLabel(Arc::from(path.as_str()))
    });
    let mut response = next.run(request).await;
    if let Some(label) = label {
        response.extensions_mut().insert(label);
    }
    response
}

fn is_sane_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, PoisonError};

    use axum::body::Body;
    use tower::ServiceExt;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;
    use crate::testing::closed_config;
    use crate::{EdgeState, router};

    /// What the log formatter wrote, for the test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut out = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            out.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Captured {
        type Writer = Captured;

        fn make_writer(&self) -> Captured {
            self.clone()
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_access_log_names_the_route_once() {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let state = EdgeState::new(&closed_config()).unwrap();
        for uri in ["/healthz", "/v1/tasks/t1", "/v1/nowhere"] {
            let request = Request::get(uri).body(Body::empty()).unwrap();
            router(state.clone()).oneshot(request).await.unwrap();
        }
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let served: Vec<&str> = text
            .lines()
            .filter(|line| line.contains("request served"))
            .collect();
        assert_eq!(served.len(), 3, "{text}");
        for (line, route) in served
            .iter()
            .zip(["/healthz", "/v1/tasks/{id}", "unmatched"])
        {
            assert_eq!(line.matches("route=").count(), 1, "{line}");
            assert!(line.contains(&format!("route=\"{route}\"")), "{line}");
        }
    }

    #[test]
    fn only_short_printable_ids_are_kept() {
        assert!(is_sane_id("abc-123"));
        assert!(!is_sane_id(""));
        assert!(!is_sane_id("has space"));
        assert!(!is_sane_id(&"x".repeat(MAX_REQUEST_ID_LEN + 1)));
    }
}
