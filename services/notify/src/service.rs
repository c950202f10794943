//! `todo.notify.v1.NotifyService` and `NotifyInternalService`: each RPC
//! authenticates the caller where it has one, parses its request into
//! domain types, calls the use case (`use_cases`) and maps the result to
//! the response. Errors become a status in one place, `error`.

use tonic::{Request, Response, Status};

use todo_common::paging::page_size;
use todo_proto::todo::notify::v1::{
    CancelReminderRequest, EraseUserDataRequest, GetNotificationSettingsRequest,
    ListDeadEmailsRequest, ListDeadEmailsResponse, ListNotificationsRequest,
    ListNotificationsResponse, MarkAllReadRequest, MarkReadRequest, Notification, NotifyRequest,
    RequeueEmailRequest, RevokeAccessTokensRequest, ScheduleReminderRequest, SendEmailRequest,
    SetTimeZoneRequest, Settings, UpdateNotificationSettingsRequest,
    notify_internal_service_server::NotifyInternalService, notify_service_server::NotifyService,
};

use crate::State;
use crate::domain::{
    self, InboxQuery, NewEmail, Notice, ReminderChange, SettingsChange, TokenRevocation,
    UserErasure, ZoneChange,
};
use crate::error::Error;

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl NotifyService for State {
    async fn list_notifications(
        &self,
        request: Request<ListNotificationsRequest>,
    ) -> Rpc<ListNotificationsResponse> {
        let caller = self.verifier.authenticate(&request).await?;
        let query = InboxQuery::try_from(request.into_inner())?;
        let page = self.inbox_page(&caller.user_id, &query).await?;
        Ok(Response::new(page.into()))
    }

    async fn mark_read(&self, request: Request<MarkReadRequest>) -> Rpc<Notification> {
        let caller = self.verifier.authenticate(&request).await?;
        let id = domain::id(request.into_inner().id, "id", "must be a notification id")
            .map_err(Error::from)?;
        let read = self.read_one(&caller.user_id, &id).await?;
        Ok(Response::new(read.into()))
    }

    async fn mark_all_read(&self, request: Request<MarkAllReadRequest>) -> Rpc<()> {
        let caller = self.verifier.authenticate(&request).await?;
        self.read_all(&caller.user_id).await?;
        Ok(Response::new(()))
    }

    async fn get_notification_settings(
        &self,
        request: Request<GetNotificationSettingsRequest>,
    ) -> Rpc<Settings> {
        let caller = self.verifier.authenticate(&request).await?;
        let settings = self.settings(&caller.user_id).await?;
        Ok(Response::new(settings.into()))
    }

    async fn update_notification_settings(
        &self,
        request: Request<UpdateNotificationSettingsRequest>,
    ) -> Rpc<Settings> {
        let caller = self.verifier.authenticate(&request).await?;
        let change = SettingsChange::try_from(request.into_inner())?;
        let settings = self.update_settings(&caller.user_id, &change).await?;
        Ok(Response::new(settings.into()))
    }
}

#[tonic::async_trait]
impl NotifyInternalService for State {
    async fn send_email(&self, request: Request<SendEmailRequest>) -> Rpc<()> {
        let email = NewEmail::try_from(request.into_inner())?;
        self.queue_email(&email).await?;
        Ok(Response::new(()))
    }

    async fn notify(&self, request: Request<NotifyRequest>) -> Rpc<()> {
        let notice = Notice::try_from(request.into_inner())?;
        self.add_notice(&notice).await?;
        Ok(Response::new(()))
    }

    async fn schedule_reminder(&self, request: Request<ScheduleReminderRequest>) -> Rpc<()> {
        let change = ReminderChange::try_from(request.into_inner())?;
        self.schedule_change(&change).await?;
        Ok(Response::new(()))
    }

    async fn cancel_reminder(&self, request: Request<CancelReminderRequest>) -> Rpc<()> {
        let change = ReminderChange::try_from(request.into_inner())?;
        self.cancel_change(&change).await?;
        Ok(Response::new(()))
    }

    async fn set_time_zone(&self, request: Request<SetTimeZoneRequest>) -> Rpc<()> {
        let change = ZoneChange::try_from(request.into_inner())?;
        self.record_time_zone(&change).await?;
        Ok(Response::new(()))
    }

    async fn list_dead_emails(
        &self,
        request: Request<ListDeadEmailsRequest>,
    ) -> Rpc<ListDeadEmailsResponse> {
        let size = page_size(request.get_ref().page_size).map_err(Error::from)?;
        let emails = self.dead_emails(size).await?;
        Ok(Response::new(ListDeadEmailsResponse {
            emails: emails.into_iter().map(Into::into).collect(),
        }))
    }

    async fn requeue_email(&self, request: Request<RequeueEmailRequest>) -> Rpc<()> {
        let id = domain::id(request.into_inner().id, "id", "must be an e-mail id")
            .map_err(Error::from)?;
        self.requeue_dead_email(&id).await?;
        Ok(Response::new(()))
    }

    async fn erase_user_data(&self, request: Request<EraseUserDataRequest>) -> Rpc<()> {
        let erasure = UserErasure::try_from(request.into_inner())?;
        self.erase_user(&erasure).await?;
        Ok(Response::new(()))
    }

    async fn revoke_access_tokens(&self, request: Request<RevokeAccessTokensRequest>) -> Rpc<()> {
        let revocation = TokenRevocation::try_from(request.into_inner())?;
        self.revoke_tokens(&revocation).await?;
        Ok(Response::new(()))
    }
}

#[cfg(test)]
mod tests;
