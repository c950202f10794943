//! Delivers the outbox: reminder changes and sharing notices to the notify
//! service; invitations after asking the user service who has the address.

use tonic::{Code, Status};

use todo_common::auth::ServiceChannel;
use todo_proto::todo::notify::v1::notify_internal_service_client::NotifyInternalServiceClient;
use todo_proto::todo::notify::v1::{EmailTemplate, SendEmailRequest};
use todo_proto::todo::task::v1::InvitationNotice;
use todo_proto::todo::user::v1::user_internal_service_client::UserInternalServiceClient;
use todo_proto::todo::user::v1::{FindUserByEmailRequest, LookupUserRequest, UserContact};
use todo_store::outbox::Deliver;

use crate::access::Role;
use crate::outbox::{Outbox, invitation_notice};

/// The relay's delivery of [`Outbox`] messages.
pub struct Delivery {
    pub notify: NotifyInternalServiceClient<ServiceChannel>,
    pub users: UserInternalServiceClient<ServiceChannel>,
}

#[tonic::async_trait]
impl Deliver for Delivery {
    type Message = Outbox;

    async fn deliver(&self, message: Outbox) -> Result<(), Status> {
        let mut notify = self.notify.clone();
        match message {
            Outbox::ScheduleReminder(req) => notify.schedule_reminder(req).await.map(drop),
            Outbox::CancelReminder(req) => notify.cancel_reminder(req).await.map(drop),
            Outbox::Notify(req) => notify.notify(req).await.map(drop),
            Outbox::Invite(notice) => self.invite(notice).await,
        }
    }
}

impl Delivery {
    /// An invitation: an inbox notification when the address belongs to a
    /// verified account, and an e-mail to the address in any case. Each
    /// call carries its own deduplication key, so a retry after a partial
    /// delivery sends nothing twice.
    async fn invite(&self, notice: InvitationNotice) -> Result<(), Status> {
        let mut users = self.users.clone();
        let Some(inviter) = contact(users.lookup_user(LookupUserRequest {
            user_id: notice.inviter_id.clone(),
        }))
        .await?
        else {
            // The inviter's account is gone, and with it their lists.
            return Ok(());
        };
        let invitee = contact(users.find_user_by_email(FindUserByEmailRequest {
            email: notice.email.clone(),
        }))
        .await?
        .filter(|c| c.email_verified);
        let role = Role::word_of(notice.role);
        let mut notify = self.notify.clone();
        if let Some(invitee) = &invitee {
            let notice = invitation_notice(
                &notice.invitation_id,
                &invitee.user_id,
                &notice.list_title,
                &inviter.display_name,
                role,
            );
            notify.notify(notice).await?;
        }
        notify
            .send_email(SendEmailRequest {
                dedup_key: format!("invitation-mail:{}", notice.invitation_id),
                user_id: invitee
                    .as_ref()
                    .map(|c| c.user_id.clone())
                    .unwrap_or_default(),
                template: EmailTemplate::Invitation.into(),
                to_email: notice.email.clone(),
                display_name: invitee.map(|c| c.display_name).unwrap_or_default(),
                list_title: notice.list_title,
                inviter_name: inviter.display_name,
                role: role.to_owned(),
                ..SendEmailRequest::default()
            })
            .await
            .map(drop)
    }
}

/// The contact a lookup answered, `None` when there is no such account.
async fn contact(
    call: impl std::future::Future<Output = Result<tonic::Response<UserContact>, Status>>,
) -> Result<Option<UserContact>, Status> {
    match call.await {
        Ok(found) => Ok(Some(found.into_inner())),
        Err(status) if status.code() == Code::NotFound => Ok(None),
        Err(status) => Err(status),
    }
}
