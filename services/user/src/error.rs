//! The user service's errors and their one mapping to gRPC status.

use std::time::Duration;

use todo_common::status::{FieldViolation, internal, invalid_argument, resource_exhausted};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// INVALID_ARGUMENT with a BadRequest detail per field.
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// ALREADY_EXISTS: the new address of an address change has an account
    /// by the time its token is used. Registration never answers it: that
    /// would tell anyone which addresses have accounts.
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    /// UNAUTHENTICATED: wrong address or password; deliberately does not
    /// say which.
    #[error("invalid e-mail address or password")]
    BadCredentials,
    /// UNAUTHENTICATED: a refresh, verification or reset token that is
    /// unknown, spent, revoked or expired.
    #[error("invalid or expired token")]
    BadToken,
    /// PERMISSION_DENIED: the caller is signed in, but the password given to
    /// confirm an account change is wrong. Not UNAUTHENTICATED, which would
    /// tell the client its access token is bad.
    #[error("the password is wrong")]
    WrongPassword,
    /// RESOURCE_EXHAUSTED with a RetryInfo detail: too many attempts from
    /// this client or against this account; try again after `retry_after`.
    #[error("too many attempts; try again later")]
    Throttled { retry_after: Duration },
    /// FAILED_PRECONDITION: a verification e-mail was asked for, but the
    /// address is verified already.
    #[error("the e-mail address is already verified")]
    AlreadyVerified,
    /// NOT_FOUND: the account does not exist (any more).
    #[error("user not found")]
    NotFound,
    /// INTERNAL: logged with its cause chain, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

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
            Error::EmailTaken => Status::already_exists(e.to_string()),
            Error::BadCredentials | Error::BadToken => Status::unauthenticated(e.to_string()),
            Error::WrongPassword => Status::permission_denied(e.to_string()),
            Error::Throttled { retry_after } => resource_exhausted(&e.to_string(), retry_after),
            Error::AlreadyVerified => Status::failed_precondition(e.to_string()),
            Error::NotFound => Status::not_found(e.to_string()),
            Error::Internal(err) => internal(&err),
        }
    }
}
