//! The notify service's errors and their one mapping to gRPC status.

use todo_common::status::{FieldViolation, internal, invalid_argument};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// INVALID_ARGUMENT with a BadRequest detail per field.
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// NOT_FOUND: missing, or another user's. Says what was not found.
    #[error("{0}")]
    NotFound(&'static str),
    /// UNAVAILABLE: a service this one needs did not answer; worth
    /// trying again. Says which.
    #[error("{0}")]
    Unavailable(&'static str),
    /// INTERNAL: logged with its cause chain, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The NOT_FOUND of a notification.
pub const NOTIFICATION: &str = "notification not found";
/// The NOT_FOUND of a dead e-mail to requeue.
pub const DEAD_EMAIL: &str = "no dead e-mail with this id";
/// The UNAVAILABLE of a user's time zone that could not be looked up.
pub const USER_SERVICE: &str = "the user service did not answer; try again";

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
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
            Error::Unavailable(_) => Status::unavailable(e.to_string()),
            Error::Internal(err) => internal(&err),
        }
    }
}
