//! Operational routes, answered by the edge itself: liveness and
//! readiness for load balancers and orchestrators.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::Method;
use tonic::Code;

use crate::error::{ApiError, EdgeError};
use crate::server::EdgeState;

/// How long readiness waits for each upstream's health check: a probe
/// must answer well within its own timeout, and a slow upstream is not
/// ready.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /healthz`: the edge process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    tracing::Span::current().record("route", "/healthz");
    Json(serde_json::json!({ "status": "SERVING" }))
}

/// `GET /readyz`: every upstream reports SERVING for its service.
pub async fn readyz(State(state): State<EdgeState>) -> Response {
    tracing::Span::current().record("route", "/readyz");
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

/// Any other method on an operational route.
pub async fn get_only() -> EdgeError {
    EdgeError::MethodNotAllowed(vec![Method::GET, Method::HEAD])
}
