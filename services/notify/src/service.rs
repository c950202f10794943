//! `todo.notify.v1.NotifyService` and `NotifyInternalService`.

use tonic::{Request, Response, Status};

use todo_common::clock::{from_timestamp, is_id, now_micros};
use todo_common::paging::page_size;
use todo_common::status::FieldViolation;
use todo_proto::todo::notify::v1::{
    CancelReminderRequest, EmailTemplate, EraseUserDataRequest, GetNotificationSettingsRequest,
    ListDeadEmailsRequest, ListDeadEmailsResponse, ListNotificationsRequest,
    ListNotificationsResponse, MarkAllReadRequest, MarkReadRequest, Notification, NotificationKind,
    NotifyRequest, RequeueEmailRequest, RevokeAccessTokensRequest, ScheduleReminderRequest,
    SendEmailRequest, Settings, UpdateNotificationSettingsRequest,
    notify_internal_service_server::NotifyInternalService, notify_service_server::NotifyService,
};
use todo_store::db::{is_contention, retry_contended};
use todo_store::erased;

use crate::State;
use crate::error::Error;
use crate::invitation::Invitation;
use crate::notice::Notice;
use crate::{fields, inbox, queue, reminders};

type Rpc<T> = Result<Response<T>, Status>;

fn reminder_ids(task_id: &str, user_id: &str, revision: i64) -> Vec<FieldViolation> {
    let mut errs = Vec::new();
    if !is_id(task_id) {
        errs.push(FieldViolation::new("taskId", "must be a task id"));
    }
    if !is_id(user_id) {
        errs.push(FieldViolation::new("userId", "must be a user id"));
    }
    if revision < 1 {
        errs.push(FieldViolation::new("revision", "must be positive"));
    }
    errs
}

/// Checks a `SendEmail` request; the invitation it carries when it is
/// one.
fn validate_send(req: &SendEmailRequest) -> Result<Option<Invitation>, Error> {
    let mut errs = Vec::new();
    errs.extend(fields::dedup_key(&req.dedup_key, fields::DEDUP_KEY_MAX));
    let template = EmailTemplate::try_from(req.template).unwrap_or(EmailTemplate::Unspecified);
    // An invitation may go to an address that has no account yet.
    let user_optional = template == EmailTemplate::Invitation && req.user_id.is_empty();
    if !user_optional && !is_id(&req.user_id) {
        errs.push(FieldViolation::new("userId", "must be a user id"));
    }
    if template == EmailTemplate::Unspecified {
        errs.push(FieldViolation::new("template", "must name a template"));
    }
    if req.to_email.is_empty() || req.to_email.len() > 320 {
        errs.push(FieldViolation::new("toEmail", "must be an address"));
    }
    let invitation = if template == EmailTemplate::Invitation {
        Invitation::parse(req).map_err(|v| errs.extend(v)).ok()
    } else {
        None
    };
    if errs.is_empty() {
        Ok(invitation)
    } else {
        Err(Error::Invalid(errs))
    }
}

/// The in-app notification that goes with an e-mail, if any: the welcome,
/// and every notice about the account's security, so the owner sees it
/// even when the mailbox is no longer theirs.
fn in_app(req: &SendEmailRequest) -> Option<(NotificationKind, &'static str, &'static str)> {
    let template = EmailTemplate::try_from(req.template).unwrap_or(EmailTemplate::Unspecified);
    match template {
        EmailTemplate::Welcome => Some((
            NotificationKind::Welcome,
            "Welcome to ToDo",
            "Your account is ready. Confirm your e-mail address with the link we sent you.",
        )),
        EmailTemplate::SecurityAlert => Some((
            NotificationKind::Security,
            "Your password was changed",
            "The password of your account was changed. If this was not you, reset your password at once.",
        )),
        EmailTemplate::EmailChangeAlert => Some((
            NotificationKind::Security,
            "Your e-mail address is being changed",
            "A change of your account's e-mail address was asked for; it takes effect when the new address is confirmed. If this was not you, change your password at once.",
        )),
        EmailTemplate::SignupAttempt => Some((
            NotificationKind::Security,
            "Someone tried to sign up with your address",
            "Someone tried to create an account with your e-mail address. Nothing was changed.",
        )),
        // The task service adds an invitation's notification itself, with
        // `Notify`, and only for an account: the e-mail may go to an
        // address that has none.
        EmailTemplate::Unspecified
        | EmailTemplate::PasswordReset
        | EmailTemplate::Reminder
        | EmailTemplate::VerifyEmail
        | EmailTemplate::Invitation => None,
    }
}

impl State {
    /// Whether the user's account was deleted and its data erased here:
    /// mail and reminders still on their way for it are dropped.
    async fn erased(&self, user_id: &str) -> Result<bool, Status> {
        let gone = erased::contains(&self.db.pool, user_id)
            .await
            .map_err(Error::from)?;
        if gone {
            tracing::info!(user_id = %user_id, "request for an erased user dropped");
        }
        Ok(gone)
    }
}

#[tonic::async_trait]
impl NotifyService for State {
    async fn list_notifications(
        &self,
        request: Request<ListNotificationsRequest>,
    ) -> Rpc<ListNotificationsResponse> {
        let caller = self.verifier.authenticate(&request).await?;
        let req = request.into_inner();
        let size = page_size(req.page_size).map_err(Error::from)?;
        // A token is good only for the caller and the filter it was made
        // with; newest first is the only order.
        let scope = format!("{}|{}", caller.user_id, req.unread_only);
        let before: Option<String> = self
            .page_tokens
            .decode(&scope, &req.page_token)
            .map_err(Error::from)?;
        let mut items = inbox::list(
            &self.db.pool,
            &caller.user_id,
            req.unread_only,
            before.as_deref(),
            i64::try_from(size + 1).unwrap_or(i64::MAX),
        )
        .await?;
        let more = items.len() > size;
        items.truncate(size);
        let next_page_token = match items.last() {
            Some(last) if more => self.page_tokens.encode(&scope, &last.id),
            _ => String::new(),
        };
        let unread_count = inbox::unread_count(&self.db.pool, &caller.user_id).await?;
        Ok(Response::new(ListNotificationsResponse {
            notifications: items,
            next_page_token,
            unread_count,
        }))
    }

    async fn mark_read(&self, request: Request<MarkReadRequest>) -> Rpc<Notification> {
        let caller = self.verifier.authenticate(&request).await?;
        let id = request.into_inner().id;
        if !is_id(&id) {
            return Err(Error::from(FieldViolation::new("id", "must be a notification id")).into());
        }
        Ok(Response::new(
            inbox::mark_read(&self.db.pool, &caller.user_id, &id, now_micros()).await?,
        ))
    }

    async fn mark_all_read(&self, request: Request<MarkAllReadRequest>) -> Rpc<()> {
        let caller = self.verifier.authenticate(&request).await?;
        inbox::mark_all_read(&self.db.pool, &caller.user_id, now_micros()).await?;
        Ok(Response::new(()))
    }

    async fn get_notification_settings(
        &self,
        request: Request<GetNotificationSettingsRequest>,
    ) -> Rpc<Settings> {
        let caller = self.verifier.authenticate(&request).await?;
        let email_reminders = inbox::email_reminders(&self.db.pool, &caller.user_id).await?;
        Ok(Response::new(Settings { email_reminders }))
    }

    async fn update_notification_settings(
        &self,
        request: Request<UpdateNotificationSettingsRequest>,
    ) -> Rpc<Settings> {
        let caller = self.verifier.authenticate(&request).await?;
        if let Some(on) = request.get_ref().email_reminders {
            inbox::set_email_reminders(&self.db.pool, &caller.user_id, on, now_micros()).await?;
        }
        let email_reminders = inbox::email_reminders(&self.db.pool, &caller.user_id).await?;
        Ok(Response::new(Settings { email_reminders }))
    }
}

#[tonic::async_trait]
impl NotifyInternalService for State {
    async fn send_email(&self, request: Request<SendEmailRequest>) -> Rpc<()> {
        let req = request.into_inner();
        let invitation = validate_send(&req)?;
        // An invitation to an address without an account names no user,
        // so there is no erased one to drop it for.
        if !req.user_id.is_empty() && self.erased(&req.user_id).await? {
            return Ok(Response::new(()));
        }
        let now = now_micros();
        let queued = queue::enqueue(&self.db.pool, &req, invitation.as_ref(), now)
            .await
            .map_err(Error::from)?;
        if let Some((kind, title, body)) = in_app(&req) {
            let dedup_key = format!("inbox:{}", req.dedup_key);
            let notification = inbox::NewNotification {
                user_id: &req.user_id,
                kind,
                title,
                body,
                task_id: "",
                dedup_key: &dedup_key,
            };
            inbox::add(&self.db.pool, &notification, now).await?;
        }
        if queued {
            self.worker.poke();
        }
        Ok(Response::new(()))
    }

    async fn notify(&self, request: Request<NotifyRequest>) -> Rpc<()> {
        let notice = Notice::parse(request.into_inner()).map_err(Error::Invalid)?;
        let new = notice.as_new();
        if self.erased(new.user_id).await? {
            return Ok(Response::new(()));
        }
        inbox::add(&self.db.pool, &new, now_micros()).await?;
        Ok(Response::new(()))
    }

    async fn schedule_reminder(&self, request: Request<ScheduleReminderRequest>) -> Rpc<()> {
        let req = request.into_inner();
        let at = req.remind_time.as_ref().and_then(from_timestamp);
        let mut errs = reminder_ids(&req.task_id, &req.user_id, req.revision);
        if at.is_none() {
            errs.push(FieldViolation::new("remindTime", "must be a valid time"));
        }
        if req.task_title.chars().count() > 500 {
            errs.push(FieldViolation::new(
                "taskTitle",
                "must be at most 500 characters long",
            ));
        }
        if !errs.is_empty() {
            return Err(Error::Invalid(errs).into());
        }
        if self.erased(&req.user_id).await? {
            return Ok(Response::new(()));
        }
        let change = reminders::Change {
            task_id: &req.task_id,
            user_id: &req.user_id,
            task_title: &req.task_title,
            remind_time: at,
            revision: req.revision,
        };
        reminders::apply(&self.db.pool, &change, now_micros()).await?;
        self.firer.poke();
        Ok(Response::new(()))
    }

    async fn cancel_reminder(&self, request: Request<CancelReminderRequest>) -> Rpc<()> {
        let req = request.into_inner();
        let errs = reminder_ids(&req.task_id, &req.user_id, req.revision);
        if !errs.is_empty() {
            return Err(Error::Invalid(errs).into());
        }
        let change = reminders::Change {
            task_id: &req.task_id,
            user_id: &req.user_id,
            task_title: "",
            remind_time: None,
            revision: req.revision,
        };
        reminders::apply(&self.db.pool, &change, now_micros()).await?;
        Ok(Response::new(()))
    }

    async fn list_dead_emails(
        &self,
        request: Request<ListDeadEmailsRequest>,
    ) -> Rpc<ListDeadEmailsResponse> {
        let size = page_size(request.get_ref().page_size).map_err(Error::from)?;
        let emails = queue::dead(&self.db.pool, i64::try_from(size).unwrap_or(i64::MAX))
            .await
            .map_err(Error::from)?;
        Ok(Response::new(ListDeadEmailsResponse { emails }))
    }

    async fn requeue_email(&self, request: Request<RequeueEmailRequest>) -> Rpc<()> {
        let id = request.into_inner().id;
        if !is_id(&id) {
            return Err(Error::from(FieldViolation::new("id", "must be an e-mail id")).into());
        }
        if !queue::requeue(&self.db.pool, &id, now_micros())
            .await
            .map_err(Error::from)?
        {
            return Err(Status::not_found("no dead e-mail with this id"));
        }
        tracing::info!(email_id = %id, "dead e-mail requeued");
        self.worker.poke();
        Ok(Response::new(()))
    }

    async fn erase_user_data(&self, request: Request<EraseUserDataRequest>) -> Rpc<()> {
        let user_id = request.into_inner().user_id;
        if !is_id(&user_id) {
            return Err(Error::from(FieldViolation::new("userId", "must be a user id")).into());
        }
        // The record refuses the user's unexpired access tokens from now on,
        // and drops mail and reminders that arrive for the user afterwards.
        let now = now_micros();
        retry_contended(is_contention, || async {
            let mut tx = self.db.begin_write().await?;
            erased::record(&mut tx, &user_id, now).await?;
            inbox::erase(&mut tx, &user_id).await?;
            reminders::erase(&mut tx, &user_id).await?;
            tx.commit().await
        })
        .await
        .map_err(Error::from)?;
        tracing::info!(user_id = %user_id, "user's notifications erased");
        erased::prune(&self.db.pool, now).await;
        Ok(Response::new(()))
    }

    async fn revoke_access_tokens(&self, request: Request<RevokeAccessTokensRequest>) -> Rpc<()> {
        let req = request.into_inner();
        if !is_id(&req.user_id) {
            return Err(Error::from(FieldViolation::new("userId", "must be a user id")).into());
        }
        let now = now_micros();
        retry_contended(is_contention, || async {
            let mut tx = self.db.begin_write().await?;
            erased::revoke_tokens_before(&mut tx, &req.user_id, req.issued_before, now).await?;
            tx.commit().await
        })
        .await
        .map_err(Error::from)?;
        tracing::info!(user_id = %req.user_id, "access tokens before a credential change refused");
        erased::prune_cutoffs(&self.db.pool, now).await;
        Ok(Response::new(()))
    }
}

#[cfg(test)]
mod tests;
