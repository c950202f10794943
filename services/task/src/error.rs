//! The task service's errors and their one mapping to gRPC status.

use todo_common::status::{FieldViolation, idempotency_key_reused, internal, invalid_argument};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// INVALID_ARGUMENT with a BadRequest detail per field.
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// NOT_FOUND: missing, or another user's; the two are indistinguishable.
    #[error("task not found")]
    NotFound,
    /// FAILED_PRECONDITION: `If-Match` names an etag that is no longer
    /// current (the edge answers 412).
    #[error("the task has changed since the given etag")]
    StaleEtag,
    /// INVALID_ARGUMENT with reason `IDEMPOTENCY_KEY_REUSED` (HTTP 422): an
    /// `Idempotency-Key` reused for a different request.
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    /// ABORTED: the task kept changing under a write; the client may retry.
    #[error("the task is being changed concurrently; retry")]
    Contended,
    /// INTERNAL: logged with its cause chain, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if todo_store::db::is_contention(&e) {
            Self::Contended
        } else {
            Self::Internal(e.into())
        }
    }
}

impl From<FieldViolation> for Error {
    fn from(v: FieldViolation) -> Self {
        Self::Invalid(vec![v])
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(v) => invalid_argument(&v),
            Error::NotFound => Status::not_found(e.to_string()),
            Error::StaleEtag => Status::failed_precondition(e.to_string()),
            Error::IdempotencyKeyReused => idempotency_key_reused(&e.to_string()),
            Error::Contended => Status::aborted(e.to_string()),
            Error::Internal(err) => internal(&err),
        }
    }
}
