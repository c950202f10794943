//! What every request handler of the user service shares.

use todo_common::auth::{ServiceCredential, TokenSettings, TokenVerifier};
use todo_store::db::Db;
use todo_store::outbox::Relay;

use crate::config::Limits;
use crate::{keys, password};

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct State {
    pub(crate) db: Db,
    pub(crate) hasher: password::Hasher,
    pub(crate) keys: keys::KeyRing,
    pub(crate) verifier: TokenVerifier,
    pub(crate) tokens: TokenSettings,
    pub(crate) relay: Relay,
    pub(crate) limits: Limits,
    /// The credential of the platform's own services and edge: only a
    /// caller that presents it may name the client's address.
    pub(crate) service_credential: ServiceCredential,
}
