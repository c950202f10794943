//! What every request handler of the notify service shares, and how it
//! is made.

use std::sync::Arc;

use todo_common::auth::{AttachServiceCredential, TokenVerifier};
use todo_common::paging::PageTokens;
use todo_proto::todo::user::v1::user_internal_service_client::UserInternalServiceClient;
use todo_proto::todo::user::v1::user_service_client::UserServiceClient;
use todo_store::db::Db;

use crate::workers::{emails, reminders};
use crate::{Config, MIGRATOR, mail};

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct State {
    pub(crate) db: Db,
    pub(crate) verifier: TokenVerifier,
    pub(crate) mail_worker: emails::Worker,
    pub(crate) firer: reminders::Firer,
    pub(crate) page_tokens: PageTokens,
}

impl State {
    /// Everything the handlers share: the database connected and
    /// migrated, the e-mail and reminder workers made but not started.
    ///
    /// # Errors
    /// When the database, the mail settings or the configuration are
    /// unusable.
    pub(crate) async fn new(config: &Config) -> anyhow::Result<Self> {
        let db = todo_store::db::connect(&config.db, &MIGRATOR).await?;
        let users = UserServiceClient::new(todo_common::grpc::channel(&config.user_url)?);
        let verifier = TokenVerifier::new(&config.tokens, Arc::new(users))
            .refusing_revoked_tokens(Arc::new(todo_store::erased::Records(db.pool.clone())));
        let mail_worker = emails::Worker::new(db.clone(), mail::Mailer::new(&config.mail)?);
        let user_contacts = UserInternalServiceClient::with_interceptor(
            todo_common::grpc::channel(&config.user_url)?,
            AttachServiceCredential(config.service_credential.clone()),
        );
        let firer = reminders::Firer::new(db.pool.clone(), user_contacts, mail_worker.clone());
        Ok(Self {
            db,
            verifier,
            mail_worker,
            firer,
            page_tokens: PageTokens::new(&config.service_credential, "notifications"),
        })
    }
}
