//! Calls to the other services' internal RPCs, bounded in time.

use std::time::Duration;

use tonic::{Code, Response, Status};

/// The longest wait for another service.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call to another service gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// It answered with this failure.
    #[error("{service} failed: {code}")]
    Failed { service: &'static str, code: Code },
    /// It did not answer within [`CALL_TIMEOUT`].
    #[error("{service} did not answer in time")]
    TimedOut { service: &'static str },
}

/// The answer of a call to `service`, `None` for NOT_FOUND.
///
/// # Errors
/// Any other failure, or no answer within [`CALL_TIMEOUT`]: worth trying
/// again later.
pub async fn call<T>(
    service: &'static str,
    call: impl Future<Output = Result<Response<T>, Status>>,
) -> Result<Option<T>, CallError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(answer)) => Ok(Some(answer.into_inner())),
        Ok(Err(s)) if s.code() == Code::NotFound => Ok(None),
        Ok(Err(s)) => Err(CallError::Failed {
            service,
            code: s.code(),
        }),
        Err(_) => Err(CallError::TimedOut { service }),
    }
}
