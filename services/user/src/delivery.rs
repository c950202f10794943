//! Delivers the outbox: e-mails and erasures to the services they are
//! for, and password reset requests to this service itself.

use std::sync::OnceLock;

use tonic::Status;

use todo_common::auth::ServiceChannel;
use todo_proto::todo::notify::v1::notify_internal_service_client::NotifyInternalServiceClient;
use todo_proto::todo::task::v1::task_internal_service_client::TaskInternalServiceClient;
use todo_store::db::Db;
use todo_store::outbox::{Deliver, Relay};

use crate::error::Error;
use crate::outbox::Outbox;
use crate::{service, store};

/// The relay's delivery of [`Outbox`] messages.
pub struct Delivery {
    pub db: Db,
    pub notify: NotifyInternalServiceClient<ServiceChannel>,
    pub task: TaskInternalServiceClient<ServiceChannel>,
    /// The relay that runs this delivery, to wake it when a delivery
    /// enqueues a follow-up; set once both exist.
    pub relay: OnceLock<Relay>,
}

/// A database failure inside a delivery: logged here, retried by the relay.
fn retry_later(e: Error) -> Status {
    tracing::warn!(error = %format!("{:#}", anyhow::Error::from(e)), "outbox delivery cannot use the database");
    Status::unavailable("database unavailable")
}

#[tonic::async_trait]
impl Deliver for Delivery {
    type Message = Outbox;

    async fn deliver(&self, message: Outbox) -> Result<(), Status> {
        match message {
            Outbox::SendEmail(req) => {
                // An account deleted since the e-mail was queued gets none.
                if !store::user_exists(&self.db.pool, &req.user_id)
                    .await
                    .map_err(retry_later)?
                {
                    return Ok(());
                }
                self.notify.clone().send_email(req).await.map(drop)
            }
            Outbox::IssuePasswordReset(req) => {
                let queued = service::issue_password_reset(&self.db, req)
                    .await
                    .map_err(retry_later)?;
                if let (true, Some(relay)) = (queued, self.relay.get()) {
                    relay.poke();
                }
                Ok(())
            }
            Outbox::EraseTasks(req) => self.task.clone().erase_user_tasks(req).await.map(drop),
            Outbox::TaskTimeZone(req) => self.task.clone().set_time_zone(req).await.map(drop),
            Outbox::NotifyTimeZone(req) => self.notify.clone().set_time_zone(req).await.map(drop),
            Outbox::EraseNotifications(req) => {
                self.notify.clone().erase_user_data(req).await.map(drop)
            }
            Outbox::RevokeTaskTokens(req) => {
                self.task.clone().revoke_access_tokens(req).await.map(drop)
            }
            Outbox::RevokeNotifyTokens(req) => self
                .notify
                .clone()
                .revoke_access_tokens(req)
                .await
                .map(drop),
            Outbox::AnnounceInvitations(req) => {
                self.task.clone().announce_invitations(req).await.map(drop)
            }
        }
    }
}
