//! The calls this service makes through its outbox: every message it may
//! write, with the kind it is stored under.

use prost::Message as _;
use todo_proto::todo::notify::v1::RevokeAccessTokensRequest as NotifyRevoke;
use todo_proto::todo::notify::v1::SetTimeZoneRequest as NotifyZone;
use todo_proto::todo::notify::v1::{EraseUserDataRequest, SendEmailRequest};
use todo_proto::todo::task::v1::RevokeAccessTokensRequest as TaskRevoke;
use todo_proto::todo::task::v1::SetTimeZoneRequest as TaskZone;
use todo_proto::todo::task::v1::{AnnounceInvitationsRequest, EraseUserTasksRequest};
use todo_store::outbox::{Message, Undecodable};

// The stored kinds. Rows written by an older release must still decode,
// so a kind is never renamed.
const SEND_EMAIL: &str = "notify.SendEmail";
const ISSUE_PASSWORD_RESET: &str = "user.IssuePasswordReset";
const ERASE_TASKS: &str = "task.EraseUserTasks";
const ERASE_NOTIFICATIONS: &str = "notify.EraseUserData";
const REVOKE_TASK_TOKENS: &str = "task.RevokeAccessTokens";
const REVOKE_NOTIFY_TOKENS: &str = "notify.RevokeAccessTokens";
const ANNOUNCE_INVITATIONS: &str = "task.AnnounceInvitations";
const TASK_TIME_ZONE: &str = "task.SetTimeZone";
const NOTIFY_TIME_ZONE: &str = "notify.SetTimeZone";

/// One message of the user service's outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbox {
    /// An e-mail for the notify service.
    SendEmail(SendEmailRequest),
    /// A password reset request, carried out by this service's own relay
    /// (see [`crate::delivery`]) so the RPC's work and timing do not depend
    /// on whether the address has an account. The e-mail to complete, with
    /// the typed address's key as `to_email`.
    IssuePasswordReset(SendEmailRequest),
    /// The erasure of a deleted user's tasks.
    EraseTasks(EraseUserTasksRequest),
    /// The erasure of a deleted user's notifications.
    EraseNotifications(EraseUserDataRequest),
    /// A token cut-off for the task service.
    RevokeTaskTokens(TaskRevoke),
    /// A token cut-off for the notify service.
    RevokeNotifyTokens(NotifyRevoke),
    /// An address just verified: the task service announces the pending
    /// invitations to it.
    AnnounceInvitations(AnnounceInvitationsRequest),
    /// A new time zone for the task service (all-day dues, recurrences).
    TaskTimeZone(TaskZone),
    /// A new time zone for the notify service (the daily digest).
    NotifyTimeZone(NotifyZone),
}

impl Message for Outbox {
    fn encode(&self) -> (&'static str, Vec<u8>) {
        match self {
            Self::SendEmail(m) => (SEND_EMAIL, m.encode_to_vec()),
            Self::IssuePasswordReset(m) => (ISSUE_PASSWORD_RESET, m.encode_to_vec()),
            Self::EraseTasks(m) => (ERASE_TASKS, m.encode_to_vec()),
            Self::EraseNotifications(m) => (ERASE_NOTIFICATIONS, m.encode_to_vec()),
            Self::RevokeTaskTokens(m) => (REVOKE_TASK_TOKENS, m.encode_to_vec()),
            Self::RevokeNotifyTokens(m) => (REVOKE_NOTIFY_TOKENS, m.encode_to_vec()),
            Self::AnnounceInvitations(m) => (ANNOUNCE_INVITATIONS, m.encode_to_vec()),
            Self::TaskTimeZone(m) => (TASK_TIME_ZONE, m.encode_to_vec()),
            Self::NotifyTimeZone(m) => (NOTIFY_TIME_ZONE, m.encode_to_vec()),
        }
    }

    fn decode(kind: &str, payload: &[u8]) -> Result<Self, Undecodable> {
        Ok(match kind {
            SEND_EMAIL => Self::SendEmail(SendEmailRequest::decode(payload)?),
            ISSUE_PASSWORD_RESET => Self::IssuePasswordReset(SendEmailRequest::decode(payload)?),
            ERASE_TASKS => Self::EraseTasks(EraseUserTasksRequest::decode(payload)?),
            ERASE_NOTIFICATIONS => Self::EraseNotifications(EraseUserDataRequest::decode(payload)?),
            REVOKE_TASK_TOKENS => Self::RevokeTaskTokens(TaskRevoke::decode(payload)?),
            REVOKE_NOTIFY_TOKENS => Self::RevokeNotifyTokens(NotifyRevoke::decode(payload)?),
            ANNOUNCE_INVITATIONS => {
                Self::AnnounceInvitations(AnnounceInvitationsRequest::decode(payload)?)
            }
            TASK_TIME_ZONE => Self::TaskTimeZone(TaskZone::decode(payload)?),
            NOTIFY_TIME_ZONE => Self::NotifyTimeZone(NotifyZone::decode(payload)?),
            other => return Err(Undecodable::UnknownKind(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_decodes_as_itself() {
        let user_id = "0190a0a0-0000-7000-8000-000000000000".to_owned();
        let mail = SendEmailRequest {
            dedup_key: "k".to_owned(),
            user_id: user_id.clone(),
            ..SendEmailRequest::default()
        };
        let messages = [
            Outbox::SendEmail(mail.clone()),
            Outbox::IssuePasswordReset(mail),
            Outbox::EraseTasks(EraseUserTasksRequest {
                user_id: user_id.clone(),
            }),
            Outbox::EraseNotifications(EraseUserDataRequest {
                user_id: user_id.clone(),
            }),
            Outbox::RevokeTaskTokens(TaskRevoke {
                user_id: user_id.clone(),
                issued_before: 7,
            }),
            Outbox::RevokeNotifyTokens(NotifyRevoke {
                user_id: user_id.clone(),
                issued_before: 7,
            }),
            Outbox::AnnounceInvitations(AnnounceInvitationsRequest {
                user_id: user_id.clone(),
            }),
            Outbox::TaskTimeZone(TaskZone {
                user_id: user_id.clone(),
                time_zone: "Europe/Berlin".to_owned(),
                revision: 9,
            }),
            Outbox::NotifyTimeZone(NotifyZone {
                user_id,
                time_zone: "Europe/Berlin".to_owned(),
                revision: 9,
            }),
        ];
        for message in messages {
            let (kind, payload) = message.encode();
            assert_eq!(Outbox::decode(kind, &payload).unwrap(), message);
        }
    }

    #[test]
    fn an_unknown_kind_is_refused() {
        assert!(matches!(
            Outbox::decode("user.Nothing", &[]),
            Err(Undecodable::UnknownKind(_))
        ));
    }
}
