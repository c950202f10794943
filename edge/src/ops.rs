//! Operational routes, answered by the edge itself: liveness and
//! readiness for load balancers and orchestrators, metrics for Prometheus
//! and the OpenAPI document.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method};
use tonic::Code;

use crate::error::{ApiError, EdgeError};
use crate::state::EdgeState;

/// How long readiness waits for each upstream's health check: a probe
/// must answer well within its own timeout, and a slow upstream is not
/// ready.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The media type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /healthz`: the edge process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "SERVING" }))
}

/// `GET /readyz`: shutdown has not begun and every upstream reports
/// SERVING for its service.
pub async fn readyz(State(state): State<EdgeState>) -> Response {
    if state.is_shutting_down() {
        return EdgeError::ShuttingDown.into_response();
    }
    match state
        .upstreams()
        .first_not_serving(READY_CHECK_TIMEOUT)
        .await
    {
        None => Json(serde_json::json!({ "status": "SERVING" })).into_response(),
        Some((service, why)) => ApiError::new(
            Code::Unavailable,
            format!("{service} is not serving: {why}"),
        )
        .into_response(),
    }
}

/// `GET /metrics`: see [`crate::metrics`].
pub async fn metrics(State(state): State<EdgeState>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT))],
        state.metrics().render(),
    )
        .into_response()
}

/// `GET /openapi.json`: the document generated at start-up.
pub async fn openapi(State(state): State<EdgeState>) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        state.openapi(),
    )
        .into_response()
}

/// Any other method on an operational route.
pub async fn get_only() -> EdgeError {
    EdgeError::MethodNotAllowed(vec![Method::GET, Method::HEAD])
}
