//! The notifications other services add to a user's inbox with `Notify`
//! (invitations to shared lists, changes to them), parsed and checked at
//! the boundary.

use todo_common::clock::is_id;
use todo_common::status::FieldViolation;
use todo_proto::todo::notify::v1::{NotificationKind, NotifyRequest};

use crate::domain::fields;
use crate::domain::notification::NewNotification;
use crate::error::Error;

/// Callers' keys live under this prefix among the inbox's keys, so none
/// can stand for (and suppress) a reminder or an e-mail's notification.
const KEY_PREFIX: &str = "notify:";
pub const TITLE_MAX: usize = 200;
pub const BODY_MAX: usize = 2000;

/// A notification for a user's inbox, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    user_id: String,
    kind: NotificationKind,
    title: String,
    body: String,
    task_id: String,
    /// The caller's key under [`KEY_PREFIX`].
    dedup_key: String,
}

impl Notice {
    /// # Errors
    /// Every invalid field: the user id must be an id; the kind one that
    /// callers send (INVITATION or SHARING: this service makes the
    /// reminders, welcomes, security notices and digests itself, and no
    /// caller may pass one off as such); the title a line of 1 to
    /// [`TITLE_MAX`] characters, the body at most [`BODY_MAX`]; the task
    /// id empty or an id.
    pub fn parse(req: NotifyRequest) -> Result<Self, Vec<FieldViolation>> {
        let mut errs = Vec::new();
        errs.extend(fields::dedup_key(
            &req.dedup_key,
            fields::DEDUP_KEY_MAX - KEY_PREFIX.len(),
        ));
        if !is_id(&req.user_id) {
            errs.push(FieldViolation::new("userId", "must be a user id"));
        }
        let kind = match NotificationKind::try_from(req.kind) {
            Ok(kind @ (NotificationKind::Invitation | NotificationKind::Sharing)) => Some(kind),
            Ok(
                NotificationKind::Unspecified
                | NotificationKind::Welcome
                | NotificationKind::Reminder
                | NotificationKind::Security
                | NotificationKind::Digest,
            )
            | Err(_) => {
                errs.push(FieldViolation::new("kind", "must be INVITATION or SHARING"));
                None
            }
        };
        let title = fields::line(&req.title, "title", TITLE_MAX)
            .map_err(|v| errs.push(v))
            .ok();
        if req.body.chars().count() > BODY_MAX {
            errs.push(FieldViolation::new(
                "body",
                format!("must be at most {BODY_MAX} characters long"),
            ));
        }
        if !req.task_id.is_empty() && !is_id(&req.task_id) {
            errs.push(FieldViolation::new("taskId", "must be a task id or empty"));
        }
        match (kind, title) {
            (Some(kind), Some(title)) if errs.is_empty() => Ok(Self {
                user_id: req.user_id,
                kind,
                title,
                body: req.body,
                task_id: req.task_id,
                dedup_key: format!("{KEY_PREFIX}{}", req.dedup_key),
            }),
            _ => Err(errs),
        }
    }

    /// The row the inbox adds.
    pub fn as_new(&self) -> NewNotification<'_> {
        NewNotification {
            user_id: &self.user_id,
            kind: self.kind,
            title: &self.title,
            body: &self.body,
            task_id: &self.task_id,
            dedup_key: &self.dedup_key,
        }
    }
}

impl TryFrom<NotifyRequest> for Notice {
    type Error = Error;

    fn try_from(req: NotifyRequest) -> Result<Self, Error> {
        Self::parse(req).map_err(Error::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use todo_common::clock::new_id;

    use super::*;

    fn request() -> NotifyRequest {
        NotifyRequest {
            dedup_key: "invite:1".into(),
            user_id: new_id(),
            kind: NotificationKind::Invitation.into(),
            title: "Ada invited you to “Groceries”".into(),
            body: "Accept it under Invitations.".into(),
            task_id: String::new(),
        }
    }

    fn violations(req: NotifyRequest) -> Vec<String> {
        Notice::parse(req)
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn notify_accepts_invitations_and_sharing_changes() {
        for kind in [NotificationKind::Invitation, NotificationKind::Sharing] {
            let notice = Notice::parse(NotifyRequest {
                kind: kind.into(),
                ..request()
            })
            .unwrap();
            assert_eq!(notice.as_new().kind, kind);
        }
    }

    #[test]
    fn notify_refuses_the_kinds_this_service_makes_itself() {
        for kind in [
            NotificationKind::Unspecified,
            NotificationKind::Welcome,
            NotificationKind::Reminder,
            NotificationKind::Security,
            NotificationKind::Digest,
        ] {
            let req = NotifyRequest {
                kind: kind.into(),
                ..request()
            };
            assert_eq!(violations(req), ["kind"], "{kind:?}");
        }
        let unknown = NotifyRequest {
            kind: 99,
            ..request()
        };
        assert_eq!(violations(unknown), ["kind"]);
    }

    #[test]
    fn notify_refuses_invalid_fields_naming_each() {
        let req = NotifyRequest {
            dedup_key: String::new(),
            user_id: "someone".into(),
            kind: NotificationKind::Sharing.into(),
            title: " ".into(),
            body: "x".repeat(BODY_MAX + 1),
            task_id: "task".into(),
        };
        assert_eq!(
            violations(req),
            ["dedupKey", "userId", "title", "body", "taskId"]
        );
        let long_title = NotifyRequest {
            title: "x".repeat(TITLE_MAX + 1),
            ..request()
        };
        assert_eq!(violations(long_title), ["title"]);
        let long_key = NotifyRequest {
            dedup_key: "k".repeat(fields::DEDUP_KEY_MAX),
            ..request()
        };
        assert_eq!(violations(long_key), ["dedupKey"]);
    }

    #[test]
    fn notify_keys_cannot_stand_for_another_sources_keys() {
        let notice = Notice::parse(NotifyRequest {
            dedup_key: "reminder:t:1".into(),
            ..request()
        })
        .unwrap();
        assert_eq!(notice.as_new().dedup_key, "notify:reminder:t:1");
        let longest = "k".repeat(fields::DEDUP_KEY_MAX - KEY_PREFIX.len());
        let notice = Notice::parse(NotifyRequest {
            dedup_key: longest,
            task_id: new_id(),
            body: "x".repeat(BODY_MAX),
            ..request()
        })
        .unwrap();
        assert_eq!(notice.as_new().dedup_key.len(), fields::DEDUP_KEY_MAX);
    }
}
