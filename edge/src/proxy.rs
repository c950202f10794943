//! The one handler behind every annotated route: look the route up,
//! transcode the request, call the upstream, transcode the answer.
//!
//! Nothing here knows any particular RPC; the route table and the
//! descriptors carry all of it.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_MATCH};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;
use tokio::time::Instant;
use tonic::Code;

use crate::error::{ApiError, EdgeError};
use crate::metadata;
use crate::metrics::RouteLabel;
use crate::observe::RequestId;
use crate::routes::{Binding, BodyRule, Lookup};
use crate::state::EdgeState;
use crate::template::Match;
use crate::transcode::{invalid_path_variable, request_message, response_json};
use crate::upstream;

/// The fallback handler of the router: admits the request under the
/// concurrency limit, then transcodes it.
pub async fn handle(
    State(state): State<EdgeState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    request: Request,
) -> Response {
    let deadline = Instant::now() + state.request_timeout();
    let (parts, body) = request.into_parts();
    let head = parts.method == Method::HEAD;
    let hit = match state.routes().lookup(&parts.method, parts.uri.path()) {
        Lookup::Found(hit) => hit,
        Lookup::MethodNotAllowed(allow) => {
            return EdgeError::MethodNotAllowed(allow).into_response();
        }
        Lookup::NotFound => return EdgeError::NoRoute.into_response(),
    };
    let route = RouteLabel(Arc::clone(&hit.value.route));
    let span = tracing::Span::current();
    span.record("route", hit.value.template.as_str());
    span.record("rpc", hit.value.rpc.name.as_str());

    let mut response = match state.admission().try_admit() {
        Some(_permit) => transcode(&state, &request_id, hit, parts, body, deadline)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        None => {
            state.metrics().observe_shed();
            EdgeError::Overloaded.into_response()
        }
    };
    response.extensions_mut().insert(route);
    if head {
        return without_body(response);
    }
    response
}

/// The answer to HEAD: the GET answer's head, its length kept, no body.
fn without_body(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    if let Some(length) = axum::body::HttpBody::size_hint(&body).exact() {
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    Response::from_parts(parts, Body::empty())
}

async fn transcode(
    state: &EdgeState,
    request_id: &str,
    hit: Match<'_, Arc<Binding>>,
    parts: Parts,
    body: Body,
    deadline: Instant,
) -> Result<Response, ApiError> {
    let binding = hit.value;

    let variables = hit
        .variables()
        .map_err(|e| invalid_path_variable(binding, e.index))?;
    let body = read_body(body, &parts.headers, state.body_limit(), deadline).await?;
    if !body.is_empty() && !is_json(&parts.headers) {
        return Err(EdgeError::UnsupportedMediaType.into());
    }
    let message = request_message(binding, &variables, parts.uri.query(), &body)?;
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let client = metadata::client_address(&parts.headers, peer, state.trusted_proxy_hops());
    let metadata = metadata::forward(
        &parts.headers,
        request_id,
        client,
        state.service_credential(),
    )?;
    let channel = state
        .upstreams()
        .channel(&binding.rpc.service)
        .ok_or_else(|| EdgeError::NoUpstream(binding.rpc.service.clone()))?;
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(EdgeError::DeadlineExceeded.into());
    }

    let request = Bytes::from(message.encode_to_vec());
    let path = binding.rpc.grpc_path.clone();
    let started = Instant::now();
    let outcome = upstream::unary(channel, path, request, metadata, remaining).await;
    let code = outcome
        .as_ref()
        .map_or_else(tonic::Status::code, |_| Code::Ok);
    state
        .metrics()
        .observe_upstream(Arc::clone(&binding.rpc.label), code, started.elapsed());
    match outcome {
        Ok(bytes) => {
            let (json, etag) = response_json(binding, bytes)?;
            let mut response = (StatusCode::OK, json).into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Some(etag) = etag {
                headers.insert(ETAG, etag);
            }
            Ok(response)
        }
        Err(status) => {
            let if_match = parts.headers.contains_key(IF_MATCH);
            let mut error = ApiError::from_upstream(&status, state.pool(), if_match);
            if let BodyRule::Field(body) = &binding.body {
                error.name_fields_within_body(body.json_name());
            }
            Err(error)
        }
    }
}

/// The whole body, refused beyond `limit` bytes (early, from
/// `Content-Length`, when the client declares it) or past `deadline`.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    deadline: Instant,
) -> Result<Bytes, EdgeError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(EdgeError::BodyTooLarge(limit));
    }
    match tokio::time::timeout_at(deadline, Limited::new(body, limit).collect()).await {
        Err(_) => Err(EdgeError::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(EdgeError::BodyTooLarge(limit))
        }
        Ok(Err(_)) => Err(EdgeError::InvalidArgument(
            "the request body could not be read".to_owned(),
        )),
    }
}

/// Whether the declared content type is JSON: `application/json` or a
/// `+json` type, parameters such as `charset` allowed.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        let with = |ct: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
