//! Every error the edge answers with, in the one JSON shape of the public
//! contract (see the README):
//!
//! ```json
//! {"error": {"code": 404, "status": "NOT_FOUND", "message": "...", "details": []}}
//! ```
//!
//! [`http_status`] is the single table from gRPC codes to HTTP statuses;
//! upstream failures ([`ApiError::from_upstream`]) and the edge's own
//! ([`EdgeError`]) both go through it.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, CONNECTION, HeaderValue, RETRY_AFTER};
use http::{Method, StatusCode};
use prost_reflect::DescriptorPool;
use tonic::Code;

use crate::details;

/// The HTTP status for an `ErrorInfo` reason that HTTP has a more precise
/// status for than the gRPC code's.
fn reason_status(reason: &str) -> Option<StatusCode> {
    match reason {
        todo_common::status::IDEMPOTENCY_KEY_REUSED | todo_common::status::LINK_FETCH_FAILED => {
            Some(StatusCode::UNPROCESSABLE_ENTITY)
        }
        _ => None,
    }
}

/// The HTTP status for a gRPC code.
///
/// FAILED_PRECONDITION is 400 here; [`ApiError::from_upstream`] turns it
/// into 412 when the request carried `If-Match`, because the only
/// precondition a client states in HTTP terms is its etag.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => CLIENT_CLOSED_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The canonical name of a gRPC code, as `google.rpc.Code` spells it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Every gRPC code, in `google.rpc.Code` order.
pub const ALL_CODES: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

/// 499, nginx's "client closed request": what a CANCELLED call means.
const CLIENT_CLOSED_REQUEST: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// Codes whose upstream message may carry internal detail (SQL, paths) and
/// is therefore replaced before it reaches a client.
fn hides_detail(code: Code) -> bool {
    matches!(code, Code::Unknown | Code::Internal | Code::DataLoss)
}

/// What RESOURCE_EXHAUSTED sends as `Retry-After` when the upstream gave
/// no `google.rpc.RetryInfo`, and what a shed request is told.
const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

/// A failure of the edge itself, before or after the upstream call.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// 404 NOT_FOUND: no route has this path.
    #[error("no route matches this path")]
    NoRoute,
    /// 405 with `Allow`: the path exists for other methods only.
    #[error("method not allowed on this path")]
    MethodNotAllowed(Vec<Method>),
    /// 400 INVALID_ARGUMENT: the request cannot become the request message
    /// and no one field is at fault (malformed JSON, a body on a route that
    /// takes none).
    #[error("{0}")]
    InvalidArgument(String),
    /// 400 INVALID_ARGUMENT with a `google.rpc.BadRequest` detail: one
    /// field cannot be decoded (wrong JSON type, malformed timestamp,
    /// unknown enum name or field, bad query parameter or path variable).
    /// `field` is named as the client wrote it, in the JSON names the
    /// services use for their own violations.
    #[error("{field}: {description}")]
    InvalidField { field: String, description: String },
    /// 413: the body exceeds the configured limit.
    #[error("the request body exceeds {0} bytes")]
    BodyTooLarge(usize),
    /// 415: a body that is not JSON.
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// 408: the client did not send its body within the request timeout.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// 503 UNAVAILABLE: no upstream serves the route's service.
    #[error("{0} is unavailable")]
    NoUpstream(String),
    /// 504 DEADLINE_EXCEEDED: the upstream did not answer in time.
    #[error("the upstream service did not answer in time")]
    DeadlineExceeded,
    /// 500 INTERNAL: the upstream answered with bytes that are not its
    /// declared response message.
    #[error("internal error")]
    BadUpstreamResponse,
    /// 414: the request target exceeds the configured limit.
    #[error("the URL exceeds {0} bytes")]
    UriTooLong(usize),
    /// 431: the request headers exceed the configured limit.
    #[error("the request headers exceed {0} bytes")]
    HeadersTooLarge(usize),
    /// 431: the request has more header fields than allowed.
    #[error("the request has more than {0} headers")]
    TooManyHeaders(usize),
    /// 503 UNAVAILABLE with `Retry-After`: the edge is serving as many
    /// requests as it is allowed to and sheds this one.
    #[error("the server is overloaded; retry later")]
    Overloaded,
    /// 412 FAILED_PRECONDITION: `If-Match` lists only weak entity tags,
    /// which strong comparison never matches; the upstream is not called.
    #[error("If-Match lists only weak entity tags, which never match")]
    PreconditionFailed,
    /// 503 UNAVAILABLE: shutdown began, the edge takes no new work.
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// An error response in the one JSON error shape.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: Code,
    message: String,
    details: Vec<serde_json::Value>,
    retry_after: Option<u64>,
    allow: Vec<Method>,
    /// The request body was left unread, so the server closes the
    /// connection after this answer; the answer says so (`Connection:
    /// close`) rather than let the client find out by a failed write.
    closes_connection: bool,
}

impl ApiError {
    /// An error whose HTTP status comes from [`http_status`].
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            status: http_status(code),
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            allow: Vec::new(),
            closes_connection: false,
        }
    }

    /// The HTTP status this error is sent with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The gRPC code this error is named by.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message the client sees.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An HTTP status that gRPC has no code for (405, 408, 413, 414, 415,
    /// 431).
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Names the fields of upstream violations as a REST client wrote
    /// them. A service names a field by its path in the request message
    /// (`task.title`, what a gRPC client wrote); a route whose body is the
    /// field `body` (`body: "task"`) received `title` from its client, so
    /// the `body.` prefix goes, in the details and in a message that starts
    /// with a field's name.
    pub fn name_fields_within_body(&mut self, body: &str) {
        let prefix = format!("{body}.");
        let strip = |text: &str| text.strip_prefix(&prefix).map(str::to_owned);
        if let Some(rest) = strip(&self.message) {
            self.message = rest;
        }
        for detail in &mut self.details {
            let is_bad_request = detail
                .get("@type")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|t| t.ends_with("/google.rpc.BadRequest"));
            if !is_bad_request {
                continue;
            }
            let violations = detail
                .get_mut("fieldViolations")
                .and_then(serde_json::Value::as_array_mut);
            for violation in violations.into_iter().flatten() {
                let renamed = violation
                    .get("field")
                    .and_then(serde_json::Value::as_str)
                    .and_then(strip);
                if let (Some(renamed), Some(field)) = (renamed, violation.get_mut("field")) {
                    *field = serde_json::Value::String(renamed);
                }
            }
        }
    }

    /// The error response for a failed upstream call.
    ///
    /// `if_match` tells whether the request carried `If-Match`, which makes
    /// FAILED_PRECONDITION a 412. INTERNAL, UNKNOWN and DATA_LOSS lose
    /// their message and details.
    ///
    /// A status that carries a transport error as its source was not sent
    /// by the service: the connection to it was refused or broke while the
    /// call was in flight (tonic reports the latter as UNKNOWN "transport
    /// error"). That is UNAVAILABLE with `Retry-After`, whatever code tonic
    /// chose, since another attempt may well reach a healthy connection or
    /// replica; its message names internal addresses and is dropped.
    pub fn from_upstream(status: &tonic::Status, pool: &DescriptorPool, if_match: bool) -> Self {
        let code = status.code();
        if let Some(cause) = std::error::Error::source(status) {
            tracing::error!(
                grpc.code = code_name(code),
                grpc.message = status.message(),
                error = %cause,
                "upstream connection failed"
            );
            return Self {
                retry_after: Some(DEFAULT_RETRY_AFTER_SECS),
                ..Self::new(Code::Unavailable, "upstream service unavailable")
            };
        }
        if hides_detail(code) {
            tracing::error!(
                grpc.code = code_name(code),
                grpc.message = status.message(),
                "upstream call failed"
            );
            return Self::new(code, "internal error");
        }
        let mut error = Self::new(code, status.message());
        if code == Code::FailedPrecondition && if_match {
            error.status = StatusCode::PRECONDITION_FAILED;
        }
        let decoded = details::decode(pool, status.details());
        error.details = decoded.details;
        if let Some(http) = decoded.reason.as_deref().and_then(reason_status) {
            error.status = http;
        }
        if code == Code::ResourceExhausted {
            error.retry_after = Some(decoded.retry_after_secs.unwrap_or(DEFAULT_RETRY_AFTER_SECS));
        }
        error
    }
}

impl From<EdgeError> for ApiError {
    fn from(err: EdgeError) -> Self {
        let message = err.to_string();
        match err {
            EdgeError::NoRoute => Self::new(Code::NotFound, message),
            EdgeError::MethodNotAllowed(allow) => Self {
                allow,
                ..Self::new(Code::Unimplemented, message)
                    .with_status(StatusCode::METHOD_NOT_ALLOWED)
            },
            EdgeError::InvalidArgument(_) => Self::new(Code::InvalidArgument, message),
            EdgeError::InvalidField { field, description } => Self {
                details: vec![details::bad_request(&field, &description)],
                ..Self::new(Code::InvalidArgument, message)
            },
            EdgeError::BodyTooLarge(_) => Self {
                closes_connection: true,
                ..Self::new(Code::InvalidArgument, message)
                    .with_status(StatusCode::PAYLOAD_TOO_LARGE)
            },
            EdgeError::UnsupportedMediaType => Self::new(Code::InvalidArgument, message)
                .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            EdgeError::BodyTimeout => Self {
                closes_connection: true,
                ..Self::new(Code::DeadlineExceeded, message)
                    .with_status(StatusCode::REQUEST_TIMEOUT)
            },
            EdgeError::NoUpstream(_) => Self::new(Code::Unavailable, message),
            EdgeError::DeadlineExceeded => Self::new(Code::DeadlineExceeded, message),
            EdgeError::BadUpstreamResponse => Self::new(Code::Internal, message),
            EdgeError::UriTooLong(_) => {
                Self::new(Code::InvalidArgument, message).with_status(StatusCode::URI_TOO_LONG)
            }
            EdgeError::HeadersTooLarge(_) | EdgeError::TooManyHeaders(_) => {
                Self::new(Code::InvalidArgument, message)
                    .with_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            }
            EdgeError::Overloaded => Self {
                retry_after: Some(DEFAULT_RETRY_AFTER_SECS),
                ..Self::new(Code::Unavailable, message)
            },
            EdgeError::ShuttingDown => Self::new(Code::Unavailable, message),
            EdgeError::PreconditionFailed => Self::new(Code::FailedPrecondition, message)
                .with_status(StatusCode::PRECONDITION_FAILED),
        }
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "code": self.status.as_u16(),
                "status": code_name(self.code),
                "message": self.message,
                "details": self.details,
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.closes_connection {
            // HTTP/1.1 only in effect: hyper drops the header over HTTP/2,
            // where streams end without closing the connection.
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if !self.allow.is_empty() {
            let allow: Vec<&str> = self.allow.iter().map(Method::as_str).collect();
            if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                headers.insert(ALLOW, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(todo_proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    #[test]
    fn every_code_has_its_http_status() {
        let expected = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        assert_eq!(expected.len(), ALL_CODES.len());
        for (code, status) in expected {
            assert_eq!(http_status(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn code_names_are_the_canonical_ones() {
        for code in ALL_CODES {
            let name = code_name(code);
            let spelled = format!("{code:?}")
                .chars()
                .fold(String::new(), |mut acc, c| {
                    if c.is_uppercase() && !acc.is_empty() {
                        acc.push('_');
                    }
                    acc.push(c.to_ascii_uppercase());
                    acc
                });
            assert_eq!(name, spelled);
        }
    }

    #[test]
    fn a_stale_etag_is_412_and_other_preconditions_400() {
        let status = tonic::Status::failed_precondition("etag mismatch");
        assert_eq!(
            ApiError::from_upstream(&status, &pool(), true).status(),
            412
        );
        assert_eq!(
            ApiError::from_upstream(&status, &pool(), false).status(),
            400
        );
    }

    #[test]
    fn a_reused_idempotency_key_is_422_and_other_invalid_arguments_400() {
        let reused = todo_common::status::idempotency_key_reused("key reused");
        let error = ApiError::from_upstream(&reused, &pool(), false);
        assert_eq!(error.status(), 422);
        assert_eq!(error.details.len(), 2, "ErrorInfo and BadRequest kept");
        let invalid =
            todo_common::status::invalid_argument(&[todo_common::status::FieldViolation::new(
                "title", "too long",
            )]);
        assert_eq!(
            ApiError::from_upstream(&invalid, &pool(), false).status(),
            400
        );
    }

    #[test]
    fn internal_messages_never_reach_the_client() {
        for code in [Code::Internal, Code::Unknown, Code::DataLoss] {
            let status = tonic::Status::new(code, "SELECT * FROM users failed at /srv/db.rs:42");
            let error = ApiError::from_upstream(&status, &pool(), false);
            assert_eq!(error.status(), 500);
            assert_eq!(error.message(), "internal error");
        }
    }

    #[test]
    fn a_broken_upstream_connection_is_503_with_retry_after() {
        for code in [Code::Unknown, Code::Unavailable, Code::Internal] {
            let mut status = tonic::Status::new(code, "transport error");
            let broken = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
            status.set_source(std::sync::Arc::new(broken));
            let error = ApiError::from_upstream(&status, &pool(), false);
            assert_eq!(error.status(), 503, "{code:?}");
            assert_eq!(error.code(), Code::Unavailable);
            assert_eq!(error.retry_after, Some(DEFAULT_RETRY_AFTER_SECS));
            assert_eq!(error.message(), "upstream service unavailable");
        }
    }

    #[test]
    fn violations_of_a_body_field_are_named_as_the_rest_client_wrote_them() {
        use todo_common::status::{FieldViolation, invalid_argument};
        let one = invalid_argument(&[FieldViolation::new("task.title", "is required")]);
        let mut error = ApiError::from_upstream(&one, &pool(), false);
        error.name_fields_within_body("task");
        assert_eq!(error.message(), "title: is required");
        assert_eq!(error.details[0]["fieldViolations"][0]["field"], "title");

        let two = invalid_argument(&[
            FieldViolation::new("task.labels", "too many"),
            FieldViolation::new("updateMask", "unknown field"),
        ]);
        let mut error = ApiError::from_upstream(&two, &pool(), false);
        error.name_fields_within_body("task");
        let fields: Vec<&str> = error.details[0]["fieldViolations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["labels", "updateMask"]);
        assert_eq!(error.message(), "request has invalid fields");
    }

    #[test]
    fn client_errors_keep_their_message() {
        let status = tonic::Status::not_found("task not found");
        let error = ApiError::from_upstream(&status, &pool(), false);
        assert_eq!(
            (error.status().as_u16(), error.message()),
            (404, "task not found")
        );
    }

    #[test]
    fn edge_errors_use_their_own_statuses() {
        let cases = [
            (EdgeError::NoRoute, 404, "NOT_FOUND"),
            (
                EdgeError::MethodNotAllowed(vec![Method::GET]),
                405,
                "UNIMPLEMENTED",
            ),
            (
                EdgeError::InvalidArgument("bad".into()),
                400,
                "INVALID_ARGUMENT",
            ),
            (
                EdgeError::InvalidField {
                    field: "dueTime".into(),
                    description: "bad".into(),
                },
                400,
                "INVALID_ARGUMENT",
            ),
            (EdgeError::BodyTooLarge(10), 413, "INVALID_ARGUMENT"),
            (EdgeError::UnsupportedMediaType, 415, "INVALID_ARGUMENT"),
            (EdgeError::BodyTimeout, 408, "DEADLINE_EXCEEDED"),
            (EdgeError::NoUpstream("x".into()), 503, "UNAVAILABLE"),
            (EdgeError::DeadlineExceeded, 504, "DEADLINE_EXCEEDED"),
            (EdgeError::BadUpstreamResponse, 500, "INTERNAL"),
            (EdgeError::UriTooLong(10), 414, "INVALID_ARGUMENT"),
            (EdgeError::HeadersTooLarge(10), 431, "INVALID_ARGUMENT"),
            (EdgeError::TooManyHeaders(10), 431, "INVALID_ARGUMENT"),
            (EdgeError::Overloaded, 503, "UNAVAILABLE"),
            (EdgeError::ShuttingDown, 503, "UNAVAILABLE"),
            (EdgeError::PreconditionFailed, 412, "FAILED_PRECONDITION"),
        ];
        for (err, status, name) in cases {
            let error = ApiError::from(err);
            assert_eq!(
                (error.status().as_u16(), code_name(error.code())),
                (status, name)
            );
        }
    }

    #[test]
    fn an_answer_that_leaves_the_body_unread_says_the_connection_closes() {
        let connection = |err: EdgeError| {
            err.into_response()
                .headers()
                .get(CONNECTION)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            connection(EdgeError::BodyTooLarge(10)).as_deref(),
            Some("close")
        );
        assert_eq!(connection(EdgeError::BodyTimeout).as_deref(), Some("close"));
        assert_eq!(connection(EdgeError::UnsupportedMediaType), None);
    }
}
