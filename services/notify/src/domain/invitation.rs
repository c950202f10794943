//! The invitation an `EMAIL_TEMPLATE_INVITATION` e-mail carries: parsed
//! from the request, stored with the queued e-mail, worded by the mailer.

use todo_common::status::FieldViolation;
use todo_proto::todo::notify::v1::SendEmailRequest;

use crate::domain::fields;

/// As long as a list title may be (see the task service's lists).
pub const LIST_TITLE_MAX: usize = 200;
/// As long as a display name may be (see the user service).
pub const INVITER_NAME_MAX: usize = 100;

/// The role an invitation offers; an owner is never invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Editor,
    Viewer,
}

impl Role {
    /// As requests spell it and the queue stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [Self::Editor, Self::Viewer]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

/// An invitation to a shared list, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub list_title: String,
    pub inviter_name: String,
    pub role: Role,
}

impl Invitation {
    /// The invitation fields of `req`, checked.
    ///
    /// # Errors
    /// Every invalid field: a bounded line without control characters for
    /// the list title and the inviter's name, "editor" or "viewer" for the
    /// role.
    pub fn parse(req: &SendEmailRequest) -> Result<Self, Vec<FieldViolation>> {
        let list_title = fields::line(&req.list_title, "listTitle", LIST_TITLE_MAX);
        let inviter_name = fields::line(&req.inviter_name, "inviterName", INVITER_NAME_MAX);
        let role = Role::parse(&req.role)
            .ok_or_else(|| FieldViolation::new("role", "must be \"editor\" or \"viewer\""));
        match (list_title, inviter_name, role) {
            (Ok(list_title), Ok(inviter_name), Ok(role)) => Ok(Self {
                list_title,
                inviter_name,
                role,
            }),
            (a, b, c) => Err([a.err(), b.err(), c.err()].into_iter().flatten().collect()),
        }
    }

    /// The invitation a queued row holds; `None` when it holds none (or a
    /// role this release does not know), which the mailer refuses.
    pub fn from_stored(
        list_title: Option<String>,
        inviter_name: Option<String>,
        role: Option<String>,
    ) -> Option<Self> {
        Some(Self {
            list_title: list_title?,
            inviter_name: inviter_name?,
            role: Role::parse(&role?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(list_title: &str, inviter_name: &str, role: &str) -> SendEmailRequest {
        SendEmailRequest {
            list_title: list_title.into(),
            inviter_name: inviter_name.into(),
            role: role.into(),
            ..SendEmailRequest::default()
        }
    }

    #[test]
    fn an_invitation_is_parsed_trimmed() {
        let invitation = Invitation::parse(&request(" Groceries ", " Ada ", "viewer")).unwrap();
        assert_eq!(
            invitation,
            Invitation {
                list_title: "Groceries".into(),
                inviter_name: "Ada".into(),
                role: Role::Viewer,
            }
        );
    }

    #[test]
    fn an_invitation_names_every_invalid_field() {
        let long_title = "x".repeat(LIST_TITLE_MAX + 1);
        let errs = Invitation::parse(&request(&long_title, "Ada\u{7}", "owner")).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["listTitle", "inviterName", "role"]);

        let errs = Invitation::parse(&request("", " ", "Editor")).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(Invitation::parse(&request(&"x".repeat(LIST_TITLE_MAX), "A", "editor")).is_ok());
    }

    #[test]
    fn a_stored_invitation_needs_every_part() {
        let stored = |role: &str| {
            Invitation::from_stored(Some("L".into()), Some("A".into()), Some(role.into()))
        };
        assert_eq!(stored("editor").unwrap().role, Role::Editor);
        assert!(stored("owner").is_none());
        assert!(Invitation::from_stored(None, Some("A".into()), Some("viewer".into())).is_none());
    }
}
