//! What every request handler of the task service shares.

use std::sync::Arc;
use todo_common::auth::{ServiceChannel, TokenVerifier};
use todo_common::paging::PageTokens;
use todo_proto::todo::user::v1::user_internal_service_client::UserInternalServiceClient;

use todo_store::db::Db;
use todo_store::erased::Records;
use todo_store::outbox::Relay;

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct State {
    pub(crate) db: Db,
    pub(crate) verifier: TokenVerifier,
    /// The verifier's copy of the erased users and token cut-offs, told
    /// when this process records one.
    pub(crate) revocations: Arc<Records>,
    pub(crate) relay: Relay,
    pub(crate) page_tokens: PageTokens,
    /// The user service's internal API: a caller's verified address and
    /// members' display names.
    pub(crate) users: UserInternalServiceClient<ServiceChannel>,
    /// Link previews: the fetcher, the worker's wake-up, the limits.
    pub(crate) previews: crate::links::Previews,
}
