//! The task service's errors and their one mapping to gRPC status.

use std::time::Duration;

use todo_common::status::{
    FieldViolation, idempotency_key_reused, internal, invalid_argument, link_fetch_failed,
    resource_exhausted,
};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// INVALID_ARGUMENT with a BadRequest detail per field.
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// NOT_FOUND: missing, or in a list the caller is not a member of;
    /// the two are indistinguishable. Names what was not found.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// PERMISSION_DENIED: a member whose role does not allow the action.
    #[error("{0}")]
    Forbidden(&'static str),
    /// FAILED_PRECONDITION: the request is well-formed but the state does
    /// not allow it (the default list, an owner leaving, a limit reached).
    #[error("{0}")]
    Precondition(&'static str),
    /// RESOURCE_EXHAUSTED with `Retry-After`: a rate limit.
    #[error("{0}")]
    TooMany(&'static str, Duration),
    /// FAILED_PRECONDITION: `If-Match` names an etag that is no longer
    /// current (the edge answers 412).
    #[error("the task has changed since the given etag")]
    StaleEtag,
    /// INVALID_ARGUMENT with reason `IDEMPOTENCY_KEY_REUSED` (HTTP 422): an
    /// `Idempotency-Key` reused for a different request.
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    /// FAILED_PRECONDITION with reason `LINK_FETCH_FAILED` (HTTP 422): the
    /// page of a `CreateTaskFromUrl` could not be used. The failure's code
    /// and what it means; both say only what the caller's own URL did.
    #[error("the page could not be used: {1}")]
    LinkFetchFailed(&'static str, String),
    /// ABORTED: the task kept changing under a write; the client may retry.
    #[error("the task is being changed concurrently; retry")]
    Contended,
    /// UNAVAILABLE: a service this one asks is down; the client may retry.
    #[error("{0} unavailable")]
    Unavailable(&'static str),
    /// UNAVAILABLE: an inline SQLite read found the database busy past the
    /// busy timeout; the client may retry.
    #[error("the task database is busy; retry")]
    DatabaseBusy,
    /// A write needs the time zone of this user, which this service has
    /// not recorded yet: it is looked up and the write runs again (see
    /// `time_zones`). Never reaches a client in practice.
    #[error("the time zone of a task's creator is not known yet")]
    ZoneUnknown(crate::ids::UserId),
    /// INTERNAL: logged with its cause chain, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The NOT_FOUND of a task.
pub const TASK: &str = "task";
/// The NOT_FOUND of a list.
pub const LIST: &str = "list";

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // A unique key hit means a concurrent writer took the same spot
        // (a position, a default list): the write starts over.
        if todo_store::db::is_contention(&e) || todo_store::db::is_unique_violation(&e) {
            Self::Contended
        } else if todo_store::inline::is_busy(&e) {
            // An inline read or write waited out its busy handler: the
            // lock is held for long (a writer outside the process), which
            // an immediate retry would only wait for again.
            Self::DatabaseBusy
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
            Error::NotFound(_) => Status::not_found(e.to_string()),
            Error::Forbidden(_) => Status::permission_denied(e.to_string()),
            Error::Precondition(_) => Status::failed_precondition(e.to_string()),
            Error::TooMany(message, retry_after) => resource_exhausted(message, retry_after),
            Error::StaleEtag => Status::failed_precondition(e.to_string()),
            Error::IdempotencyKeyReused => idempotency_key_reused(&e.to_string()),
            Error::LinkFetchFailed(code, why) => link_fetch_failed("url", code, &why),
            Error::Contended => Status::aborted(e.to_string()),
            Error::Unavailable(_) | Error::DatabaseBusy | Error::ZoneUnknown(_) => {
                Status::unavailable(e.to_string())
            }
            Error::Internal(err) => internal(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_inline_read_is_unavailable_not_a_conflict_or_internal() {
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(5), None);
        let status = Status::from(Error::from(todo_store::inline::error(busy)));
        assert_eq!(status.code(), tonic::Code::Unavailable);
        let other = todo_store::inline::error(rusqlite::Error::InvalidQuery);
        assert_eq!(
            Status::from(Error::from(other)).code(),
            tonic::Code::Internal
        );
    }
}
