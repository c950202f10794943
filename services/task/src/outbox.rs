//! The calls this service makes through its outbox: reminder changes for
//! the notify service, with the kind each is stored under.

use prost::Message as _;
use todo_proto::todo::notify::v1::{CancelReminderRequest, ScheduleReminderRequest};
use todo_store::outbox::{Message, Undecodable};

// The stored kinds. Rows written by an older release must still decode,
// so a kind is never renamed.
const SCHEDULE_REMINDER: &str = "notify.ScheduleReminder";
const CANCEL_REMINDER: &str = "notify.CancelReminder";

/// One message of the task service's outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbox {
    /// A reminder set or moved (or its task renamed).
    ScheduleReminder(ScheduleReminderRequest),
    /// A reminder no longer wanted: cleared, task done or deleted.
    CancelReminder(CancelReminderRequest),
}

impl Message for Outbox {
    fn encode(&self) -> (&'static str, Vec<u8>) {
        match self {
            Self::ScheduleReminder(m) => (SCHEDULE_REMINDER, m.encode_to_vec()),
            Self::CancelReminder(m) => (CANCEL_REMINDER, m.encode_to_vec()),
        }
    }

    fn decode(kind: &str, payload: &[u8]) -> Result<Self, Undecodable> {
        Ok(match kind {
            SCHEDULE_REMINDER => Self::ScheduleReminder(ScheduleReminderRequest::decode(payload)?),
            CANCEL_REMINDER => Self::CancelReminder(CancelReminderRequest::decode(payload)?),
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
        ];
        for message in messages {
            let (kind, payload) = message.encode();
            assert_eq!(Outbox::decode(kind, &payload).unwrap(), message);
        }
    }

    #[test]
    fn a_corrupt_payload_is_refused() {
        assert!(matches!(
            Outbox::decode(SCHEDULE_REMINDER, &[0xff]),
            Err(Undecodable::Corrupt(_))
        ));
    }
}
