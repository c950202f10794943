//! What every request handler of the notify service shares, and how it
//! is made.

use std::sync::Arc;

use todo_common::auth::ServiceChannel;
use todo_common::auth::{AttachServiceCredential, TokenVerifier};
use todo_common::paging::PageTokens;
use todo_proto::todo::task::v1::task_internal_service_client::TaskInternalServiceClient;
use todo_proto::todo::user::v1::user_internal_service_client::UserInternalServiceClient;
use todo_proto::todo::user::v1::user_service_client::UserServiceClient;
use todo_store::db::Db;
use todo_store::erased::Records;

use crate::workers::{digests, emails, reminders};
use crate::{Config, MIGRATOR, mail};

/// What every request handler shares.
#[derive(Clone, Debug)]
pub struct State {
    pub(crate) db: Db,
    pub(crate) verifier: TokenVerifier,
    /// The verifier's copy of the erased users and token cut-offs, told
    /// when this process records one.
    pub(crate) revocations: Arc<Records>,
    pub(crate) mail_worker: emails::Worker,
    pub(crate) firer: reminders::Firer,
    pub(crate) digester: digests::Digester,
    /// Contact data and time zones, with the service credential.
    pub(crate) users: UserInternalServiceClient<ServiceChannel>,
    pub(crate) page_tokens: PageTokens,
}

impl State {
    /// Everything the handlers share: the database connected and
    /// migrated, the e-mail, reminder and digest workers made but not
    /// started.
    ///
    /// # Errors
    /// When the database, the mail settings or the configuration are
    /// unusable.
    pub(crate) async fn new(config: &Config) -> anyhow::Result<Self> {
        let db = todo_store::db::connect(&config.db, &MIGRATOR).await?;
        let users = UserServiceClient::new(todo_common::upstream::channel(&config.user_url)?);
        let revocations = Arc::new(Records::new(db.pool.clone()));
        let verifier = TokenVerifier::new(&config.tokens, Arc::new(users))
            .refusing_revoked_tokens(revocations.clone());
        let mail_worker = emails::Worker::new(db.clone(), mail::Mailer::new(&config.mail)?);
        let user_contacts = UserInternalServiceClient::with_interceptor(
            todo_common::upstream::channel(&config.user_url)?,
            AttachServiceCredential(config.service_credential.clone()),
        );
        let tasks = TaskInternalServiceClient::with_interceptor(
            todo_common::upstream::channel(&config.task_url)?,
            AttachServiceCredential(config.service_credential.clone()),
        );
        let firer = reminders::Firer::new(db.clone(), user_contacts.clone(), mail_worker.clone());
        let digester = digests::Digester::new(
            db.clone(),
            user_contacts.clone(),
            tasks,
            mail_worker.clone(),
        );
        Ok(Self {
            db,
            verifier,
            revocations,
            mail_worker,
            firer,
            digester,
            users: user_contacts,
            page_tokens: PageTokens::new(&config.service_credential, "notifications"),
        })
    }
}
