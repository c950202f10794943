//! `tonic::Status` values that clients can act on. The edge renders them as
//! the one JSON error shape; grpcurl shows them as they are.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One invalid request field: its proto3 JSON path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// INVALID_ARGUMENT with a `google.rpc.BadRequest` detail naming each field.
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let message = match violations {
        [one] => format!("{}: {}", one.field, one.description),
        _ => "request has invalid fields".to_owned(),
    };
    let mut details = ErrorDetails::new();
    for v in violations {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The `google.rpc.ErrorInfo` reason of a request whose `Idempotency-Key`
/// was used before for a different request. The edge answers it with 422,
/// as the IETF Idempotency-Key draft asks.
pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";

/// The `google.rpc.ErrorInfo` reason of a task made from a web page that
/// could not be fetched, or said nothing. The edge answers it with 422.
pub const LINK_FETCH_FAILED: &str = "LINK_FETCH_FAILED";

/// The `google.rpc.ErrorInfo` domain of the platform's own reasons.
pub const ERROR_DOMAIN: &str = "todo";

/// FAILED_PRECONDITION for a page that could not be used: an `ErrorInfo`
/// with [`LINK_FETCH_FAILED`] whose `reason` metadata is the failure's
/// code, and a `BadRequest` naming `field` with `description`.
pub fn link_fetch_failed(field: &str, code: &str, description: &str) -> Status {
    let mut details = ErrorDetails::with_error_info(
        LINK_FETCH_FAILED,
        ERROR_DOMAIN,
        std::collections::HashMap::from([("reason".to_owned(), code.to_owned())]),
    );
    details.add_bad_request_violation(field, description);
    Status::with_error_details(
        Code::FailedPrecondition,
        "the page could not be used",
        details,
    )
}

/// INVALID_ARGUMENT for an `Idempotency-Key` reused with a different
/// request: an `ErrorInfo` with [`IDEMPOTENCY_KEY_REUSED`] and a
/// `BadRequest` naming the header.
pub fn idempotency_key_reused(message: &str) -> Status {
    let mut details = ErrorDetails::with_error_info(
        IDEMPOTENCY_KEY_REUSED,
        ERROR_DOMAIN,
        std::collections::HashMap::new(),
    );
    details.add_bad_request_violation("Idempotency-Key", "was used for a different request");
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// RESOURCE_EXHAUSTED with a `google.rpc.RetryInfo` detail, which the edge
/// turns into `Retry-After`.
pub fn resource_exhausted(message: &str, retry_after: std::time::Duration) -> Status {
    let details = ErrorDetails::with_retry_info(Some(retry_after));
    Status::with_error_details(Code::ResourceExhausted, message, details)
}

/// INTERNAL without detail for the client; the cause is logged here, once,
/// with its whole chain.
pub fn internal(err: &anyhow::Error) -> Status {
    tracing::error!(error = format!("{err:#}"), "internal error");
    Status::internal("internal error")
}
