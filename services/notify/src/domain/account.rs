//! What other services ask of a user's account here: erase its data,
//! refuse its older access tokens.

use todo_proto::todo::notify::v1::{EraseUserDataRequest, RevokeAccessTokensRequest};

use crate::domain::id;
use crate::error::Error;

/// A user whose notifications, settings, e-mails and reminders go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserErasure {
    pub user_id: String,
}

impl TryFrom<EraseUserDataRequest> for UserErasure {
    type Error = Error;

    fn try_from(req: EraseUserDataRequest) -> Result<Self, Error> {
        Ok(Self {
            user_id: id(req.user_id, "userId", "must be a user id")?,
        })
    }
}

/// A user's access tokens issued (`iat`, Unix seconds) before
/// `issued_before`, refused from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRevocation {
    pub user_id: String,
    pub issued_before: i64,
}

impl TryFrom<RevokeAccessTokensRequest> for TokenRevocation {
    type Error = Error;

    fn try_from(req: RevokeAccessTokensRequest) -> Result<Self, Error> {
        Ok(Self {
            user_id: id(req.user_id, "userId", "must be a user id")?,
            issued_before: req.issued_before,
        })
    }
}
