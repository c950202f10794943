//! What every request handler of the task service shares.

use todo_common::auth::TokenVerifier;
use todo_common::paging::PageTokens;
use todo_store::db::Db;
use todo_store::outbox::Relay;

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct State {
    pub(crate) db: Db,
    pub(crate) verifier: TokenVerifier,
    pub(crate) relay: Relay,
    pub(crate) page_tokens: PageTokens,
}
