//! The calls this service makes through its outbox: reminder changes and
//! sharing notices for the notify service, and invitations (which also ask
//! the user service who has the address), with the kind each is stored
//! under.

use prost::Message as _;
use todo_proto::todo::notify::v1::{
    CancelReminderRequest, NotificationKind, NotifyRequest, ScheduleReminderRequest,
};
use todo_proto::todo::task::v1::InvitationNotice;
use todo_store::outbox::{Message, Undecodable};

// The stored kinds. Rows written by an older release must still decode,
// so a kind is never renamed.
const SCHEDULE_REMINDER: &str = "notify.ScheduleReminder";
const CANCEL_REMINDER: &str = "notify.CancelReminder";
const NOTIFY: &str = "notify.Notify";
const INVITE: &str = "task.Invite";

/// One message of the task service's outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbox {
    /// A reminder set or moved (or its task renamed).
    ScheduleReminder(ScheduleReminderRequest),
    /// A reminder no longer wanted: cleared, task done or deleted.
    CancelReminder(CancelReminderRequest),
    /// An inbox notification, such as a shared list deleted.
    Notify(NotifyRequest),
    /// An invitation to a list: a notification and an e-mail.
    Invite(InvitationNotice),
}

/// The INVITATION notification of an invitation for `user_id`: sent when
/// the invitation is relayed (the address has a verified account) or when
/// the address is verified later, once either way (one deduplication key).
pub fn invitation_notice(
    invitation_id: &str,
    user_id: &str,
    list_title: &str,
    inviter_name: &str,
    role: &str,
) -> NotifyRequest {
    NotifyRequest {
        dedup_key: format!("invitation:{invitation_id}"),
        user_id: user_id.to_owned(),
        kind: NotificationKind::Invitation.into(),
        // A fixed title: the list's own (up to 200 characters) would not
        // fit the notification's, and the body names it.
        title: "Invitation to a shared list".to_owned(),
        body: format!(
            "{inviter_name} invited you to the list “{list_title}” as {role}. Accept or decline it under Invitations."
        ),
        task_id: String::new(),
    }
}

/// A SHARING notification for `user_id`, sent once per `event`.
pub fn sharing_notice(user_id: &str, event: &str, title: &str, body: &str) -> NotifyRequest {
    NotifyRequest {
        dedup_key: format!("{event}:{user_id}"),
        user_id: user_id.to_owned(),
        kind: NotificationKind::Sharing.into(),
        title: title.to_owned(),
        body: body.to_owned(),
        task_id: String::new(),
    }
}

impl Message for Outbox {
    fn encode(&self) -> (&'static str, Vec<u8>) {
        match self {
            Self::ScheduleReminder(m) => (SCHEDULE_REMINDER, m.encode_to_vec()),
            Self::CancelReminder(m) => (CANCEL_REMINDER, m.encode_to_vec()),
            Self::Notify(m) => (NOTIFY, m.encode_to_vec()),
            Self::Invite(m) => (INVITE, m.encode_to_vec()),
        }
    }

    fn decode(kind: &str, payload: &[u8]) -> Result<Self, Undecodable> {
        Ok(match kind {
            SCHEDULE_REMINDER => Self::ScheduleReminder(ScheduleReminderRequest::decode(payload)?),
            CANCEL_REMINDER => Self::CancelReminder(CancelReminderRequest::decode(payload)?),
            NOTIFY => Self::Notify(NotifyRequest::decode(payload)?),
            INVITE => Self::Invite(InvitationNotice::decode(payload)?),
            other => return Err(Undecodable::UnknownKind(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_decodes_as_itself() {
        let messages = [
            Outbox::ScheduleReminder(ScheduleReminderRequest {
                dedup_key: "schedule:t:2".to_owned(),
                revision: 2,
                ..ScheduleReminderRequest::default()
            }),
            Outbox::CancelReminder(CancelReminderRequest {
                dedup_key: "cancel:t:3".to_owned(),
                revision: 3,
                ..CancelReminderRequest::default()
            }),
            Outbox::Notify(sharing_notice("u", "list-deleted:l", "t", "b")),
            Outbox::Invite(InvitationNotice {
                invitation_id: "i".to_owned(),
                email: "a@example.com".to_owned(),
                ..InvitationNotice::default()
            }),
        ];
        for message in messages {
            let (kind, payload) = message.encode();
            assert_eq!(Outbox::decode(kind, &payload).unwrap(), message);
        }
    }

    #[test]
    fn an_invitation_notice_fits_the_inbox_whatever_the_list_is_called() {
        let title = "t".repeat(200);
        let name = "n".repeat(100);
        let notice = invitation_notice("i", "u", &title, &name, "viewer");
        // The notify service takes titles of up to 200 characters and
        // bodies of up to 2,000; a longer one would never be delivered.
        assert!(notice.title.chars().count() <= 200);
        assert!(notice.body.chars().count() <= 2_000);
        assert!(notice.body.contains(&title) && notice.body.contains("as viewer"));
    }

    #[test]
    fn a_corrupt_payload_is_refused() {
        assert!(matches!(
            Outbox::decode(SCHEDULE_REMINDER, &[0xff]),
            Err(Undecodable::Corrupt(_))
        ));
    }
}
